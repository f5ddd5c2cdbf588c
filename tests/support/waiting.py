"""Waiting for a state a test needs (a job queued, a task started) instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], *, what: str, timeout: float = 30.0, every: float = 0.01
) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout` seconds.

    The timeout is a generous bound against a hang, not a speed check.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout:.0f} s")
        time.sleep(every)


__all__ = ["wait_until"]
