"""The bounded job queue and the device's executor thread, which runs queued jobs in batches.

The executor pulls the oldest job, gathers the queued jobs that share its batch key (same model, size,
steps) up to `max_batch`, and hands them to the runner for their type as one device call. A watchdog thread
fails jobs that pass their deadline; a runner sees that through `BatchControl.should_stop` and stops the
device call at the next step once no job in the batch still wants its result.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from productshot.errors import JobTimeoutError, ProductshotError, WorkerUnavailableError
from productshot.server.worker.jobs import Job, JobOutput, JobTable, JobType, Task, error_body
from productshot.server.worker.metrics import WorkerMetrics
from productshot.server.worker.schemas import JobAccepted, JobInfo, JobState

log = logging.getLogger(__name__)


class QueueFullError(WorkerUnavailableError):
    """The queue holds `queue_size` jobs already; the caller should retry after `retry_after` seconds."""

    code = "queue_full"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, queue_size: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.queue_size = queue_size


@dataclass(frozen=True)
class QueuedJob:
    """The immutable part of a job the executor needs: its id, type and task."""

    id: str
    type: JobType
    task: Task

    @property
    def batch_key(self) -> tuple[str, Hashable]:
        return (self.type, self.task.batch_key)


class TaskRunner(Protocol):
    """Runs one batch of jobs of one type on the device and reports each outcome through `control`."""

    def run_batch(self, jobs: Sequence[QueuedJob], control: BatchControl) -> None: ...


class BatchControl:
    """What a runner uses while its batch runs: which jobs still want a result, progress, stop, outcomes."""

    def __init__(
        self,
        table: JobTable,
        jobs: Sequence[QueuedJob],
        *,
        expire: Callable[[], None],
        armed: Callable[[], None],
    ) -> None:
        self._table = table
        self.jobs = tuple(jobs)
        self._expire = expire
        self._armed = armed

    def subset(self, jobs: Sequence[QueuedJob]) -> BatchControl:
        """A control for part of this batch (a retry of some jobs on their own)."""
        return BatchControl(self._table, jobs, expire=self._expire, armed=self._armed)

    def begin(self) -> None:
        """The model is loaded and the device call starts now: start the jobs' timeout clocks."""
        self._table.arm_deadlines([job.id for job in self.jobs], batch_size=len(self.jobs))
        self._armed()

    def live(self) -> list[QueuedJob]:
        """Jobs of this batch that are still running (not cancelled, timed out or failed meanwhile)."""
        return [job for job in self.jobs if self._table.is_live(job.id)]

    def on_step(self, step: int, steps: int, *, replica: str | None = None) -> None:
        """Progress callback for the device call: step `step` of `steps` is done (on `replica`, if remote)."""
        self._expire()
        self._table.progress([job.id for job in self.jobs], step, steps, replica=replica)

    def should_stop(self) -> bool:
        """True once no job of the batch wants its result any more; the device call should stop."""
        self._expire()
        return not self.live()

    def finish(self, job: QueuedJob, output: JobOutput) -> bool:
        return self._table.finish(job.id, output)

    def fail(self, job: QueuedJob, exc: BaseException) -> bool:
        return self._table.fail(job.id, error_body(exc))

    def fail_live(self, exc: BaseException) -> None:
        for job in self.live():
            self.fail(job, exc)


class Scheduler:
    """Bounded FIFO queue in front of one device executor thread, with batching and deadlines."""

    def __init__(
        self,
        table: JobTable,
        runners: Mapping[str, TaskRunner],
        *,
        metrics: WorkerMetrics,
        queue_size: int,
        max_batch: int,
        executors: int = 1,
    ) -> None:
        self._table = table
        self._executor_count = max(1, executors)
        self._runners = dict(runners)
        self._metrics = metrics
        self.queue_size = queue_size
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: deque[QueuedJob] = deque()
        self._accepting = True
        self._closing = False
        self._force_at: float | None = None
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._executors: list[threading.Thread] = []
        self._watchdog: threading.Thread | None = None
        self._batch_seconds = 1.0  # moving average, for Retry-After
        self._running_batch = 0

    # ---- life ------------------------------------------------------------------------------------------
    def start(self, warmup: Callable[[], None] | None = None) -> None:
        """Start the executor (which first runs `warmup`, e.g. preloading models) and the watchdog."""
        if self._executors:
            raise RuntimeError("the scheduler is already started")
        # One executor per device call that may run at once: 1 for a local device, more when the calls go
        # to remote replicas (the Ray engine); only the first runs the warm-up.
        self._executors = [
            threading.Thread(
                target=self._executor_loop,
                args=(warmup if index == 0 else None,),
                name=f"productshot-executor-{index}",
                daemon=True,
            )
            for index in range(self._executor_count)
        ]
        self._watchdog = threading.Thread(
            target=self._watchdog_loop, name="productshot-watchdog", daemon=True
        )
        for thread in self._executors:
            thread.start()
        self._watchdog.start()

    def begin_shutdown(self, grace_s: float) -> None:
        """Refuse new jobs, fail the queued ones, and give running ones `grace_s` seconds to finish."""
        with self._cond:
            if not self._accepting:
                return
            self._accepting = False
            self._closing = True
            dropped = list(self._queue)
            self._queue.clear()
            self._force_at = time.monotonic() + grace_s
            self._cond.notify_all()
        shutdown = WorkerUnavailableError(
            "the worker is shutting down; the job was not started, submit it again"
        )
        for job in dropped:
            self._table.fail(job.id, error_body(shutdown))
        self._wake.set()

    def stop(self, grace_s: float) -> None:
        """Shut down (see `begin_shutdown`) and wait for the threads to end."""
        self.begin_shutdown(grace_s)
        # The watchdog fails running jobs at the grace deadline; their batch then stops at its next step.
        until = time.monotonic() + grace_s + 5.0
        for thread in self._executors:
            thread.join(timeout=max(0.0, until - time.monotonic()))
            if thread.is_alive():
                log.error("an executor did not stop within %.0f s; leaving it behind", grace_s + 5.0)
        self._stopped.set()
        self._wake.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5.0)

    @property
    def accepting(self) -> bool:
        with self._cond:
            return self._accepting

    # ---- submitting and cancelling ----------------------------------------------------------------------
    def submit(self, job: Job) -> JobAccepted:
        """Queue a job; QueueFullError (429) when the queue is full, WorkerUnavailableError when stopping."""
        if job.type not in self._runners:
            raise ValueError(f"no runner for job type {job.type!r}")
        with self._cond:
            if not self._accepting:
                self._metrics.rejected("shutting_down")
                raise WorkerUnavailableError(
                    "the worker is shutting down and takes no new jobs; retry shortly"
                )
            if len(self._queue) >= self.queue_size:
                retry = self._retry_after_locked()
                self._metrics.rejected("queue_full")
                raise QueueFullError(
                    f"the worker's queue is full ({self.queue_size} jobs waiting); retry after {retry} s",
                    retry_after=retry,
                    queue_size=self.queue_size,
                )
            self._table.add(job)
            self._queue.append(QueuedJob(job.id, job.type, job.task))
            position = len(self._queue) - 1
            self._cond.notify_all()
        self._metrics.submitted(job.type)
        return JobAccepted(job_id=job.id, status=JobState.QUEUED, queue_position=position)

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued job (removed from the queue) or a running one (its batch stops at the next step)."""
        with self._cond:
            for queued in self._queue:
                if queued.id == job_id:
                    self._queue.remove(queued)
                    break
        self._table.cancel(job_id, "cancelled by the caller")
        return self._table.info(job_id)

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def busy(self) -> bool:
        """True while jobs are queued or a batch is on the device."""
        with self._cond:
            return bool(self._queue) or self._running_batch > 0

    def _retry_after_locked(self) -> int:
        batches_ahead = math.ceil(max(1, len(self._queue)) / self.max_batch)
        return int(min(30, max(1, math.ceil(self._batch_seconds * batches_ahead))))

    # ---- executor --------------------------------------------------------------------------------------
    def _executor_loop(self, warmup: Callable[[], None] | None) -> None:
        if warmup is not None:
            try:
                warmup()
            except Exception:  # a model that fails to preload is reported here and fails its jobs later
                log.exception("preloading failed; the worker serves on and loads models when jobs ask")
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._running_batch -= len(batch)

    def _next_batch(self) -> list[QueuedJob] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            head = self._queue.popleft()
            batch = [head]
            if self.max_batch > 1:
                for queued in list(self._queue):
                    if len(batch) >= self.max_batch:
                        break
                    if queued.batch_key == head.batch_key:
                        self._queue.remove(queued)
                        batch.append(queued)
            self._running_batch += len(batch)
            return batch

    def _run(self, batch: list[QueuedJob]) -> None:
        started = set(self._table.start([job.id for job in batch], batch_size=len(batch)))
        jobs = [job for job in batch if job.id in started]
        if not jobs:
            return
        job_type = jobs[0].type
        self._metrics.batch_ran(job_type, len(jobs))
        control = BatchControl(self._table, jobs, expire=self._expire_due, armed=self._wake.set)
        began = time.perf_counter()
        try:
            self._runners[job_type].run_batch(jobs, control)
        except ProductshotError as exc:
            log.warning("batch of %d %s job(s) failed: %s", len(jobs), job_type, exc)
            control.fail_live(exc)
        except Exception as exc:
            log.exception("batch of %d %s job(s) failed unexpectedly", len(jobs), job_type)
            control.fail_live(exc)
        leftover = control.live()
        if leftover:
            missing = RuntimeError("the runner returned without a result for this job")
            log.error("runner for %s left %d job(s) without an outcome", job_type, len(leftover))
            control.fail_live(missing)
        elapsed = time.perf_counter() - began
        with self._cond:
            self._batch_seconds = 0.7 * self._batch_seconds + 0.3 * elapsed

    # ---- deadlines ----------------------------------------------------------------------------------------
    def _expire_due(self) -> None:
        """Fail running jobs past their deadline, and all running jobs once the shutdown grace is over."""
        now = time.monotonic()
        for job_id in self._table.expired(now):
            timeout = self._table.timeout_of(job_id)
            error = JobTimeoutError(
                f"job {job_id} ran longer than its timeout_s of {timeout:g} s and was stopped; "
                "give a larger timeout_s, fewer steps or a smaller model"
            )
            if self._table.fail(job_id, error_body(error)):
                log.warning("job %s timed out after %g s", job_id, timeout)
        with self._cond:
            force = self._force_at is not None and now >= self._force_at
        if force:
            gone = WorkerUnavailableError("the worker shut down before the job finished; submit it again")
            for job_id in self._table.running_ids():
                self._table.fail(job_id, error_body(gone))

    def _watchdog_loop(self) -> None:
        while not self._stopped.is_set():
            self._expire_due()
            self._table.prune()
            now = time.monotonic()
            waits = [1.0]
            upcoming = self._table.next_deadline()
            if upcoming is not None:
                waits.append(upcoming - now)
            with self._cond:
                if self._force_at is not None:
                    waits.append(self._force_at - now)
            self._wake.wait(max(0.005, min(waits)))
            self._wake.clear()


__all__ = ["BatchControl", "QueueFullError", "QueuedJob", "Scheduler", "TaskRunner"]
