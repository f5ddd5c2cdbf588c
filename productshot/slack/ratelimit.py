"""A per-user sliding-window rate limit: at most N requests in any 60 seconds (0 turns it off).

Kept in memory: a restart forgets the window, which errs on the side of the user.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from productshot.errors import BadRequestError

WINDOW_S = 60.0


class RateLimiter:
    """`check(user)` admits a request (and counts it) or says how long the user must wait."""

    def __init__(
        self, per_minute: int, *, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not isinstance(per_minute, int) or per_minute < 0:
            raise BadRequestError(
                f"rate must be a whole number of requests per minute (0 = no limit), got {per_minute!r}"
            )
        if window_s <= 0:
            raise BadRequestError(f"window_s must be positive, got {window_s}")
        self.per_minute = per_minute
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, user: str) -> float:
        """0.0 when `user` may go ahead (the request is counted), else the seconds until they may."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            stamps = self._seen.setdefault(user, deque())
            while stamps and now - stamps[0] >= self.window_s:
                stamps.popleft()
            if len(stamps) >= self.per_minute:
                return max(0.0, self.window_s - (now - stamps[0]))
            stamps.append(now)
            self._forget_idle(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop users whose window has emptied, so the table does not grow with every user ever seen."""
        idle = [
            user for user, stamps in self._seen.items() if not stamps or now - stamps[-1] >= self.window_s
        ]
        for user in idle:
            del self._seen[user]


__all__ = ["WINDOW_S", "RateLimiter"]
