"""Thread (conversation) ids: made and checked here, light to import for the CLI's early checks."""

from __future__ import annotations

import re
import uuid

from productshot.errors import BadRequestError

_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def new_thread_id() -> str:
    """A fresh conversation id (short, safe in file names and URLs)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def check_thread_id(thread: str) -> str:
    """A thread id is 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)."""
    if not isinstance(thread, str) or not _THREAD_ID.match(thread):
        raise BadRequestError(
            f"thread {thread!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return thread


__all__ = ["check_thread_id", "new_thread_id"]
