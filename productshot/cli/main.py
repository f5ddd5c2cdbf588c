"""`productshot` command line: argparse front, each command group in its own module.

Command modules only declare arguments at import time; heavy libraries (torch, diffusers, rembg) are
imported inside the handlers that need them, so `productshot --help` and pixel-only commands stay fast.
Exit statuses and error reporting (`--json` included) follow `productshot.cli.exits`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from productshot.cli.exits import (
    ExitCode,
    Parser,
    UsageError,
    error_object,
    report_error,
    report_internal,
    report_usage,
    wants_json,
    write_json,
)
from productshot.errors import ProductshotError

# One row per command group; each module exposes `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "productshot.cli.run_cmd",
    "productshot.cli.chat_cmd",
    "productshot.cli.imaging",
    "productshot.cli.listing_cmds",
    "productshot.cli.planning",
    "productshot.cli.worker_cmds",
    "productshot.cli.models_cmds",
    "productshot.cli.mcp_cmds",
    "productshot.cli.slack_cmd",
    "productshot.cli.store_cmds",
    "productshot.cli.setup_cmd",
    "productshot.cli.web_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="productshot",
        description="A product-photo studio you talk to: cut out, place, generate backgrounds.",
    )
    from productshot import __version__

    parser.add_argument("--version", action="version", version=f"productshot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (see `ExitCode`), never a traceback unless PRODUCTSHOT_DEBUG=1."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(tokens)
    try:
        args = build_parser().parse_args(tokens)
    except UsageError as exc:
        return report_usage(exc, as_json=as_json)
    from productshot.settings import Settings

    settings: Settings | None = None
    try:
        settings = Settings.load()
        code = args.handler(args, settings)
    except ProductshotError as exc:
        return report_error(exc, as_json=as_json, debug=settings is not None and settings.debug)
    except KeyboardInterrupt:
        if as_json:
            write_json(error_object("interrupted", "interrupted"))
        print("productshot: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # anything else is a bug: one line for the user, the traceback in the log
        debug = settings is not None and settings.debug
        logs = settings.logs_dir if settings is not None else None
        return report_internal(exc, tokens, as_json=as_json, debug=debug, logs_dir=logs)
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
