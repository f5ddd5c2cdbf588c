"""How the bot is configured: transport, the admin's limits, pool size, the agent's canvas; tokens checked.

Cheap to import (no Slack, agent or model libraries), so the CLI can build its parser and validate flags
before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from productshot.agent.context import AgentContext
from productshot.errors import BadRequestError
from productshot.settings import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, Settings

MODES = ("auto", "socket", "http")
DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PATH = "/slack/events"
DEFAULT_PORT = 3000
DEFAULT_RATE = 10  # requests per user per minute
DEFAULT_WORKERS = 2
DEFAULT_QUEUE_SIZE = 16
DEFAULT_REQUEST = "a clean product shot"


@dataclass(frozen=True)
class BotPolicy:
    """The admin's limits and the bot's defaults for a request."""

    channels: frozenset[str] | None = None  # None: every channel the bot was invited to
    allow_dms: bool = True
    follow_ups_without_mention: bool = True  # the requester's plain replies in a thread holding a shot
    max_file_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    default_request: str = DEFAULT_REQUEST  # for a photo sent with no words

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise BadRequestError(f"max_file_bytes must be positive, got {self.max_file_bytes}")
        if self.channels is not None and not self.channels:
            raise BadRequestError("channels: an empty list would shut the bot out of every channel; omit it")
        if not self.default_request.strip():
            raise BadRequestError("default_request must not be empty")


@dataclass(frozen=True)
class SlackOptions:
    """How to run the bot: transport, limits, pool size, and the agent's canvas and generator."""

    mode: str = "auto"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str = DEFAULT_PATH
    api_url: str = DEFAULT_API_URL
    policy: BotPolicy = field(default_factory=BotPolicy)
    rate_per_minute: int = DEFAULT_RATE
    workers: int = DEFAULT_WORKERS
    queue_size: int = DEFAULT_QUEUE_SIZE
    mcp_url: str | None = None
    context: AgentContext = field(default_factory=AgentContext)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadRequestError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.api_url.startswith(("http://", "https://")):
            raise BadRequestError(
                f"api_url {self.api_url!r} must start with https:// (or http:// for a local stand-in)"
            )
        if not self.path.startswith("/"):
            raise BadRequestError(f"path must start with '/', got {self.path!r}")
        if not 0 <= self.port <= 65535:
            raise BadRequestError(f"port must be within 0..65535, got {self.port}")
        if self.rate_per_minute < 0:
            raise BadRequestError(
                f"rate must be 0 (no limit) or more requests a minute, got {self.rate_per_minute}"
            )

    def resolved_mode(self, settings: Settings) -> str:
        """socket or http: `auto` picks Socket Mode exactly when an app-level token is set."""
        if self.mode != "auto":
            return self.mode
        return "socket" if settings.slack_app_token else "http"


def parse_channels(raw: str) -> frozenset[str]:
    """`C0123ABCD,C0456EFGH` → channel ids; BadRequestError for anything that is not one."""
    ids = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not ids:
        raise BadRequestError("channels: give channel ids separated by commas, e.g. C0123ABCD,C0456EFGH")
    bad = sorted(c for c in ids if c[:1] not in ("C", "G") or not c.isalnum() or not c.isupper())
    if bad:
        raise BadRequestError(
            f"channels: {', '.join(bad)} is not a channel id (C… or G…, found in the channel's details)"
        )
    return ids


def check_tokens(settings: Settings, mode: str) -> None:
    """BadRequestError naming the variable that is missing or malformed for `mode`."""
    bot = settings.slack_bot_token
    if not bot:
        raise BadRequestError(
            "SLACK_BOT_TOKEN is not set; put the app's Bot User OAuth Token (xoxb-…) in .env (see docs/slack.md)"
        )
    if not bot.startswith("xoxb-"):
        raise BadRequestError(
            "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (not a user or app token)"
        )
    if mode == "socket":
        app_token = settings.slack_app_token
        if not app_token:
            raise BadRequestError(
                "Socket Mode needs SLACK_APP_TOKEN, an app-level token (xapp-…) with the connections:write scope"
            )
        if not app_token.startswith("xapp-"):
            raise BadRequestError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    elif not settings.slack_signing_secret:
        raise BadRequestError(
            "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → Signing Secret) to verify Slack's "
            "requests; or set SLACK_APP_TOKEN to use Socket Mode"
        )


__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_RATE",
    "DEFAULT_REQUEST",
    "DEFAULT_WORKERS",
    "MODES",
    "BotPolicy",
    "SlackOptions",
    "check_tokens",
    "parse_channels",
]
