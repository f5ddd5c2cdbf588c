"""`productshot slack`: run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP events on a port).

Tokens come from `.env` through the settings (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET); the
admin's limits and the pool size come from PRODUCTSHOT_SLACK_* there too, and a flag overrides its variable.
The bot runs until Ctrl-C or SIGTERM, then lets running requests finish briefly. Logs go to the data home's logs/slack.log and stderr. See docs/slack.md.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from productshot.cli.output import add_json_flag, emit
from productshot.slack.config import (
    DEFAULT_API_URL,
    DEFAULT_PATH,
    DEFAULT_PORT,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_RATE,
    DEFAULT_WORKERS,
    BotPolicy,
    SlackOptions,
    check_tokens,
    parse_channels,
)

if TYPE_CHECKING:
    from productshot.settings import Settings

T = TypeVar("T")

LOG_NAME = "slack.log"
MANIFEST = "manifest.yaml"  # package data of productshot.slack
_LOG_MAX_BYTES = 5 * 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slack",
        help="run the Slack bot: product shots from a channel or DM, follow-ups in the thread",
        description="Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP events at "
        "http://HOST:PORT/slack/events (behind your HTTPS proxy) checked with SLACK_SIGNING_SECRET. "
        "Create the app from the manifest `productshot slack manifest` prints; see docs/slack.md.",
    )
    p.add_argument(
        "--mode",
        choices=("auto", "socket", "http"),
        default="auto",
        help="auto (default): socket when SLACK_APP_TOKEN is set, else http",
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP mode: address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"HTTP mode: port (default {DEFAULT_PORT}; 0 picks one)",
    )
    p.add_argument("--path", default=DEFAULT_PATH, help=f"HTTP mode: events path (default {DEFAULT_PATH})")
    p.add_argument(
        "--channels",
        default=None,
        metavar="C1,C2",
        help="only answer in these channel ids (default: PRODUCTSHOT_SLACK_CHANNELS, else every channel the "
        "bot is invited to)",
    )
    p.add_argument("--no-dms", action="store_true", help="do not answer direct messages")
    p.add_argument(
        "--mentions-only",
        action="store_true",
        help="in channel threads, act only on mentions (default: the requester's plain replies are follow-ups)",
    )
    p.add_argument(
        "--rate",
        type=int,
        default=None,
        metavar="N",
        help=f"requests per user per minute (default: PRODUCTSHOT_SLACK_RATE, else {DEFAULT_RATE}; 0 = no limit)",
    )
    p.add_argument(
        "--max-file-mb",
        type=float,
        default=None,
        metavar="MB",
        help="largest photo accepted (default: PRODUCTSHOT_MAX_UPLOAD_BYTES, 40 MB)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"requests run at once on the shared agent (default: PRODUCTSHOT_SLACK_WORKERS, else {DEFAULT_WORKERS})",
    )
    p.add_argument(
        "--queue",
        type=int,
        default=None,
        help=f"requests that may wait before 'busy' (default: PRODUCTSHOT_SLACK_QUEUE, else {DEFAULT_QUEUE_SIZE})",
    )
    p.add_argument("-W", "--width", type=int, default=None, help="canvas width (default 1024)")
    p.add_argument("-H", "--height", type=int, default=None, help="canvas height (default 768)")
    p.add_argument(
        "--model", default="auto", help="background generator (default auto; see `productshot models`)"
    )
    p.add_argument(
        "--mcp-url",
        default=None,
        metavar="URL",
        help="use a running `productshot mcp --transport http` instead of starting one over stdio",
    )
    p.add_argument(
        "--api-url",
        default=DEFAULT_API_URL,
        help=f"Slack Web API base URL (default {DEFAULT_API_URL}; a proxy or a local stand-in)",
    )
    p.set_defaults(handler=run)
    inner = p.add_subparsers(dest="slack_command", metavar="SUBCOMMAND")
    manifest = inner.add_parser(
        "manifest",
        help="print the Slack app manifest (YAML) to create the app from",
        description="Prints the app manifest: paste it at api.slack.com/apps → Create New App → From a "
        "manifest. It grants the scopes and events the bot uses (docs/slack.md explains each).",
    )
    add_json_flag(manifest)
    manifest.set_defaults(handler=print_manifest)


def print_manifest(args: argparse.Namespace, settings: Settings) -> int:
    from importlib import resources

    started = time.perf_counter()
    text = resources.files("productshot.slack").joinpath(MANIFEST).read_text(encoding="utf-8")
    payload = {"manifest": text, "backend": "package", "seconds": round(time.perf_counter() - started, 3)}
    emit(args, payload, text)
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the bot and serve until interrupted."""
    options = options_from_args(args, settings)
    check_tokens(settings, options.resolved_mode(settings))  # before the heavy imports below
    from productshot.slack.service import SlackService

    service = SlackService(settings, options)
    handlers = _configure_logging(settings)
    stop = threading.Event()
    previous = _on_signals(stop)
    try:
        service.start()
        where = service.url if service.mode == "http" else "Socket Mode (no public URL needed)"
        sys.stderr.write(
            f"productshot slack: ready, {service.mode} mode, {where}; home {settings.home}; Ctrl-C to stop\n"
        )
        sys.stderr.flush()
        while not stop.wait(0.5):
            pass
        sys.stderr.write("productshot slack: stopping (letting running requests finish)\n")
        sys.stderr.flush()
    finally:
        service.stop()
        _restore_signals(previous)
        root = logging.getLogger()
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
    return 0


def options_from_args(args: argparse.Namespace, settings: Settings) -> SlackOptions:
    """The bot's options from the flags, then PRODUCTSHOT_SLACK_* (each value checked, errors naming the
    flag or variable it came from)."""
    from productshot.agent.context import AgentContext
    from productshot.errors import BadRequestError

    raw_channels, source = _chosen(
        args.channels, "--channels", settings.slack_channels, "PRODUCTSHOT_SLACK_CHANNELS"
    )
    try:
        channels = parse_channels(raw_channels) if raw_channels is not None else None
    except BadRequestError as exc:
        raise BadRequestError(f"{source}: {str(exc).removeprefix('channels: ')}") from exc
    rate, rate_source = _chosen(args.rate, "--rate", settings.slack_rate, "PRODUCTSHOT_SLACK_RATE")
    workers, workers_source = _chosen(
        args.workers, "--workers", settings.slack_workers, "PRODUCTSHOT_SLACK_WORKERS"
    )
    queue, queue_source = _chosen(args.queue, "--queue", settings.slack_queue, "PRODUCTSHOT_SLACK_QUEUE")
    rate = DEFAULT_RATE if rate is None else rate
    workers = DEFAULT_WORKERS if workers is None else workers
    queue = DEFAULT_QUEUE_SIZE if queue is None else queue
    if rate < 0:
        raise BadRequestError(f"{rate_source} must be 0 (no limit) or more, got {rate}")
    if not 1 <= workers <= 64:
        raise BadRequestError(f"{workers_source} must be within 1..64, got {workers}")
    if not 0 <= queue <= 10_000:
        raise BadRequestError(f"{queue_source} must be within 0..10000, got {queue}")
    if args.max_file_mb is not None and not 0 < args.max_file_mb <= 1024:
        raise BadRequestError(f"--max-file-mb must be within (0, 1024], got {args.max_file_mb}")
    max_bytes = (
        int(args.max_file_mb * 1024 * 1024) if args.max_file_mb is not None else settings.max_upload_bytes
    )
    if not 0 <= args.port <= 65535:
        raise BadRequestError(f"--port must be within 0..65535, got {args.port}")
    return SlackOptions(
        mode=args.mode,
        host=args.host,
        port=args.port,
        path=args.path,
        api_url=args.api_url,
        policy=BotPolicy(
            channels=channels,
            allow_dms=not args.no_dms,
            follow_ups_without_mention=not args.mentions_only,
            max_file_bytes=max_bytes,
            max_image_pixels=settings.max_image_pixels,
        ),
        rate_per_minute=rate,
        workers=workers,
        queue_size=queue,
        mcp_url=args.mcp_url,
        context=AgentContext(width=args.width, height=args.height, model=args.model),
    )


def _chosen(flag_value: T | None, flag: str, setting: T | None, variable: str) -> tuple[T | None, str]:
    """The flag's value when given, else the setting's; and which of the two it was (for errors)."""
    if flag_value is not None:
        return flag_value, flag
    return setting, variable if setting is not None else flag


def _configure_logging(settings: Settings) -> list[logging.Handler]:
    settings.ensure_home()
    formatter = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(
            settings.logs_dir / LOG_NAME, maxBytes=_LOG_MAX_BYTES, backupCount=3, encoding="utf-8"
        ),
        logging.StreamHandler(sys.stderr),
    ]
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handlers


def _on_signals(stop: threading.Event) -> dict[int, object]:
    """SIGINT and SIGTERM set `stop` (the main thread then shuts the bot down in order)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)
    return previous


def _restore_signals(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]  # handler is what signal.signal() returned for sig
