"""A CLI command module with a bug, for tests only: `productshot broken` raises an exception no handler
expects, so a test can watch the real front report an internal error (exit 3, no traceback, a log)."""

from __future__ import annotations

import argparse

from productshot.cli.output import add_json_flag
from productshot.settings import Settings

MESSAGE = "a bug planted by tests.support.broken_command"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broken", help="raise an unexpected exception (tests only)")
    add_json_flag(p)
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace, settings: Settings) -> int:
    raise ZeroDivisionError(MESSAGE)
