"""The bolt `App`: Slack's events in, acknowledged at once, handed to the `SlackBot`.

`process_before_response` stays False (bolt's default): bolt acknowledges an Events API request before the
listener runs, and the listener runs on bolt's own thread pool, so Slack gets its 200 well within 3 seconds
whatever the bot does next. Bolt verifies every HTTP request's signature and timestamp (`SignatureVerifier`:
a bad signature or a timestamp over five minutes old is answered 401) and calls auth.test once at start,
which is where a wrong token or an unreachable Slack shows up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from productshot.slack.config import DEFAULT_API_URL
from productshot.slack.errors import SlackUnavailableError, slack_error
from productshot.slack.handlers import SlackBot

logger = logging.getLogger(__name__)

DEFAULT_LISTENER_THREADS = 8
HTTP_TIMEOUT_S = 30


def make_client(token: str, api_url: str = DEFAULT_API_URL) -> WebClient:
    """The bot's Web API client (a proxy or a local stand-in is just another `api_url`)."""
    base = api_url if api_url.endswith("/") else f"{api_url}/"
    return WebClient(token=token, base_url=base, timeout=HTTP_TIMEOUT_S)


def listener_executor(threads: int = DEFAULT_LISTENER_THREADS) -> ThreadPoolExecutor:
    """The threads bolt runs listeners on (after it has acknowledged the event); the caller shuts it down."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="productshot-slack-listener")


class _NoRejectedBodies(logging.Filter):
    """Bolt logs the whole body of a request whose signature fails (a stranger's post, or a replay): keep
    the fact, drop the body and signature, so logs never hold what an attacker sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature detected"):
            record.msg, record.args = "refused a request with an invalid Slack signature or timestamp", ()
        return True


def bolt_logger(*, log_rejected_bodies: bool = False) -> logging.Logger:
    """The logger bolt's parts copy their level and filters from (bolt configures each from this one)."""
    base = logging.getLogger("productshot.slack.bolt")
    if not log_rejected_bodies and not any(isinstance(f, _NoRejectedBodies) for f in base.filters):
        base.addFilter(_NoRejectedBodies())
    return base


def create_app(
    bot: SlackBot, *, signing_secret: str, executor: ThreadPoolExecutor, log_rejected_bodies: bool = False
) -> App:
    """A bolt App on the bot's client, listening to `app_mention` and `message` events.

    Requests refused for their signature are logged without their body unless `log_rejected_bodies`.
    SlackUnavailableError when Slack refuses the token (auth.test) or cannot be reached.
    """
    try:
        app = App(
            name="productshot",
            logger=bolt_logger(log_rejected_bodies=log_rejected_bodies),
            client=bot.client,
            signing_secret=signing_secret,
            process_before_response=False,
            listener_executor=executor,
            raise_error_for_unhandled_request=False,
        )
    except BoltError as exc:
        # bolt wraps auth.test's SlackApiError; its error code is what a person can act on.
        reason = slack_error(exc.__context__) if isinstance(exc.__context__, SlackApiError) else str(exc)
        raise SlackUnavailableError(f"Slack refused SLACK_BOT_TOKEN at auth.test: {reason}") from exc
    except (SlackApiError, OSError) as exc:
        raise SlackUnavailableError(
            f"Slack's Web API at {bot.client.base_url} could not be reached: {exc}"
        ) from exc

    def on_event(event: Mapping[str, Any], body: Mapping[str, Any], context: BoltContext) -> None:
        bot.on_event(event, body, context.bot_user_id)

    app.event("app_mention")(on_event)
    app.event("message")(on_event)

    @app.error
    def on_error(error: Exception, body: Mapping[str, Any]) -> None:
        # A bug in a listener: the bot answers what it can in the thread itself; this records the rest.
        logger.error("unhandled error for event %s", body.get("event_id"), exc_info=error)

    return app


__all__ = ["DEFAULT_LISTENER_THREADS", "bolt_logger", "create_app", "listener_executor", "make_client"]
