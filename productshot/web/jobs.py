"""Turns the page started, as jobs it polls: status, progress events so far, and the result or the error.

A browser cannot hold one request open for a whole shot reliably, so a turn runs as a job on the server's
event loop and the page long-polls `GET /api/jobs/{id}?after=N&wait=S`: the answer comes as soon as
something happened after event N (or the job ended), or after S seconds with nothing new. The table is bounded:
at most `capacity` turns unfinished at once (past that the studio says it is busy), and finished jobs are
forgotten oldest first past `keep`.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from productshot.agent.toolbox import ProgressEvent
from productshot.errors import NotFoundError, ProductshotError

# Steps the pipeline announces ("cutout: cutting the product out"); the page has a label for each.
STEPS = ("plan", "cutout", "prompt", "generate", "check_split", "composite", "undo")
DEFAULT_CAPACITY = 8
DEFAULT_KEEP = 200


class StudioBusyError(ProductshotError):
    """Too many shots are being made at once; the page asks the seller to try again shortly."""

    code = "busy"
    http_status = 503


@dataclass
class TurnJob:
    """One turn of one thread: what the page polls."""

    id: str
    thread: str
    status: str = "running"  # running, done, failed
    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    started: float = field(default_factory=time.monotonic)
    _waiters: list[anyio.Event] = field(default_factory=list, repr=False)

    def listen(self, event: ProgressEvent) -> None:
        """The runtime's progress listener for this turn: keep what the page shows."""
        step = event.message.split(":", 1)[0].strip() if event.kind == "progress" else ""
        self.events.append(
            {
                "kind": event.kind,
                "tool": event.tool,
                "step": step if step in STEPS else None,
                "message": event.message,
                "ok": event.ok,
                "progress": event.progress,
                "total": event.total,
            }
        )
        self._wake()

    def finish(self, result: Mapping[str, Any]) -> None:
        self.result = dict(result)
        self.status = "done"
        self._wake()

    def fail(self, code: str, message: str) -> None:
        self.error = {"error": code, "message": message}  # the same shape as an HTTP error body
        self.status = "failed"
        self._wake()

    async def wait_after(self, after: int, timeout: float) -> None:
        """Return once there is an event past `after` or the job ended, or after `timeout` seconds."""
        if self.status != "running" or len(self.events) > after or timeout <= 0:
            return
        changed = anyio.Event()
        self._waiters.append(changed)
        with anyio.move_on_after(timeout):
            await changed.wait()
        if changed in self._waiters:
            self._waiters.remove(changed)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for changed in waiters:
            changed.set()

    def view(self, after: int = 0) -> dict[str, Any]:
        """What the page needs since event `after`: status, new events, the next cursor, result or error."""
        start = max(0, min(after, len(self.events)))
        return {
            "job": self.id,
            "thread": self.thread,
            "status": self.status,
            "events": self.events[start:],
            "next": len(self.events),
            "result": self.result,
            "error": self.error,
            "seconds": round(time.monotonic() - self.started, 1),
        }


class TurnJobs:
    """The jobs of one running studio (no global state: the app holds one)."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY, keep: int = DEFAULT_KEEP) -> None:
        self.capacity = capacity
        self.keep = keep
        self._jobs: OrderedDict[str, TurnJob] = OrderedDict()

    @property
    def unfinished(self) -> int:
        return sum(1 for job in self._jobs.values() if job.status == "running")

    def create(self, thread: str) -> TurnJob:
        if self.unfinished >= self.capacity:
            raise StudioBusyError(f"{self.capacity} shots are being made already; try again in a moment")
        job = TurnJob(id=f"j-{secrets.token_urlsafe(12)}", thread=thread)
        self._jobs[job.id] = job
        self._forget_old()
        return job

    def get(self, job_id: str) -> TurnJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}; it finished long ago or never existed")
        return job

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.status != "running"]
        for key in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[key]


__all__ = ["DEFAULT_CAPACITY", "STEPS", "StudioBusyError", "TurnJob", "TurnJobs"]
