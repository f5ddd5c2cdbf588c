"""Model work on the resident worker for one MCP tool call, cancellable from the call's event loop.

A tool runs its work in a thread; when the client cancels the request, the tool stops waiting at once and
asks the worker to cancel the job the thread was following (`JobWatch.cancel`), so a cancelled request
never leaves the device busy. Progress arrives from the worker's event stream as denoising steps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from productshot.errors import JobCancelledError, ProductshotError
from productshot.server.worker.client import WorkerClient

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


class JobWatch:
    """The worker job one tool call is waiting on; `cancel()` (from any thread) cancels it on the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: tuple[WorkerClient, str] | None = None
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def started(self, client: WorkerClient, job_id: str) -> None:
        """Record the job now followed; if the call was cancelled meanwhile, cancel the job right away."""
        with self._lock:
            self._job = (client, job_id)
            cancelled = self._cancelled
        if cancelled:
            self._cancel_job(client, job_id)
            raise JobCancelledError(f"job {job_id} was cancelled: the MCP request was cancelled")

    def finished(self, job_id: str) -> None:
        with self._lock:
            if self._job is not None and self._job[1] == job_id:
                self._job = None

    def cancel(self) -> str | None:
        """Mark the call cancelled and cancel the job it follows, if any; returns that job's id."""
        with self._lock:
            self._cancelled = True
            job = self._job
        if job is None:
            return None
        self._cancel_job(*job)
        return job[1]

    @staticmethod
    def _cancel_job(client: WorkerClient, job_id: str) -> None:
        try:
            client.cancel(job_id)
        except ProductshotError as exc:
            # The job already ended or the worker is gone: there is nothing left to stop.
            logger.info("cancel of worker job %s not needed: %s", job_id, exc)


__all__ = ["JobWatch"]
