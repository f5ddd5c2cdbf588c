"""The CLI's exit statuses, and how a failure reaches the user: one line on stderr, or with `--json` one JSON
object on stdout (`{"error": {"type": ..., "message": ...}}`); never a traceback unless asked for.

0: done. 1: it ran, but the result is not OK (a failed check, a batch with failures). 2: usage or input the
user can fix. 3: a failure that is not the user's (a crashed worker, the store, a bug); an unexpected
exception's traceback goes to the data home's `logs/cli-errors.log`, and `PRODUCTSHOT_DEBUG=1` prints it too.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import traceback
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import NoReturn

from productshot.errors import ProductshotError

ERROR_LOG = "cli-errors.log"


class ExitCode(IntEnum):
    """What `productshot` exits with; handlers return DONE or NOT_OK, the front turns errors into the rest."""

    DONE = 0
    NOT_OK = 1  # it ran, but the result is not OK: a failed check, a batch with failures
    USAGE = 2  # usage or input the user can fix: a bad argument, a missing file, an unknown model
    INTERNAL = 3  # not the user's fault: a crashed or unreachable worker, the store, a service, a bug
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class UsageError(Exception):
    """A command line argparse refused; raised instead of argparse's own print-and-exit."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are raised (so `--json` can report them as JSON), not printed."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def exit_code_for(exc: BaseException) -> ExitCode:
    """USAGE for a named error the caller can fix (its HTTP status is 4xx: bad input, a missing file, asset
    or model), INTERNAL for one that is not theirs (5xx: worker, store, LLM or Slack service) or any other."""
    if isinstance(exc, ProductshotError) and 400 <= exc.http_status < 500:
        return ExitCode.USAGE
    return ExitCode.INTERNAL


def wants_json(argv: Sequence[str]) -> bool:
    """Whether `--json` is among the options (before a `--` that ends them)."""
    for token in argv:
        if token == "--":
            return False
        if token == "--json":
            return True
    return False


def error_object(kind: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON shape of every CLI error: `{"error": {"type": ..., "message": ...}}`."""
    return {"error": {"type": kind, "message": message}}


def write_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def report_usage(exc: UsageError, *, as_json: bool) -> ExitCode:
    """argparse's usage error: its usage line and message on stderr, or the JSON error on stdout."""
    if as_json:
        write_json(error_object("usage", f"{exc.parser.prog}: {exc}"))
    else:
        exc.parser.print_usage(sys.stderr)
        sys.stderr.write(f"{exc.parser.prog}: error: {exc}\n")
    return ExitCode.USAGE


def report_error(exc: ProductshotError, *, as_json: bool, debug: bool) -> ExitCode:
    """A named error: its message (it says what to do), as a line on stderr or the JSON error."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if as_json:
        write_json(error_object(exc.code, str(exc)))
    else:
        sys.stderr.write(f"productshot: error: {exc}\n")
    return exit_code_for(exc)


def report_internal(
    exc: BaseException, argv: Sequence[str], *, as_json: bool, debug: bool, logs_dir: Path | None
) -> ExitCode:
    """An unexpected exception (a bug): one line saying where its traceback is, never the traceback itself
    unless `debug`. With no log to write (no settings, a read-only home) the traceback goes to stderr."""
    logged = _log_traceback(exc, argv, logs_dir) if logs_dir is not None else None
    if debug or logged is None:
        traceback.print_exception(exc, file=sys.stderr)
    where = f"its traceback is in {logged}" if logged is not None else "its traceback is above"
    message = f"{type(exc).__name__}: {exc} (a bug in productshot; {where}; PRODUCTSHOT_DEBUG=1 prints it)"
    if as_json:
        write_json(error_object("internal", message))
    else:
        sys.stderr.write(f"productshot: internal error: {message}\n")
    return ExitCode.INTERNAL


def _log_traceback(exc: BaseException, argv: Sequence[str], logs_dir: Path) -> Path | None:
    """Append the command line and traceback to the error log; None when it cannot be written."""
    path = logs_dir / ERROR_LOG
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    entry = f"--- {stamp} productshot {' '.join(argv)}\n{''.join(traceback.format_exception(exc))}\n"
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(entry)
    except OSError:
        return None
    return path


__all__ = [
    "ERROR_LOG",
    "ExitCode",
    "Parser",
    "UsageError",
    "error_object",
    "exit_code_for",
    "report_error",
    "report_internal",
    "report_usage",
    "wants_json",
    "write_json",
]
