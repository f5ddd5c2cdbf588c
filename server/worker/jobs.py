"""The worker's job table: every job's state, progress, error and result, behind one lock.

States move queued → running → done | failed | cancelled and never leave a terminal state, so a job that
was cancelled or timed out while its batch kept running stays cancelled when the batch returns. Finished
jobs (and their images) are kept for a while, bounded by count and age, then forgotten.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

from productshot.errors import NotFoundError, ProductshotError
from productshot.server.worker.schemas import ErrorBody, JobInfo, JobState, JobTimings, Progress
from productshot.store import png_writer

log = logging.getLogger(__name__)

JobType = Literal["generate", "cutout"]
Listener = Callable[[JobInfo], None]
# Starts encoding a finished job's image (on some thread) and returns the future PNG bytes.
ResultEncoder = Callable[[Image.Image], "Future[bytes]"]


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of a result: the store's fast writer for 8-bit images (half Pillow's CPU at its fastest
    level, with the GIL released), else Pillow at level 1; the image crosses a local socket once."""
    if png_writer.can_write(image):
        return png_writer.write_png(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class Task(Protocol):
    """What a queued job runs; jobs whose tasks have equal batch keys may share one device call."""

    @property
    def batch_key(self) -> Hashable: ...


@dataclass(frozen=True)
class JobOutput:
    """What a finished job produced: the image and what served it."""

    image: Image.Image
    backend: str
    seconds: float
    bbox: tuple[int, int, int, int] | None = None
    confidence: float | None = None  # cutout: how far to trust it
    notes: tuple[dict[str, Any], ...] = ()  # cutout: {code, params, text} each
    replica: str | None = None
    batch_size: int | None = None  # set by a remote replica: the device call it shared


@dataclass
class Job:
    """One job's record. Mutable, but only `JobTable` changes it, under its lock."""

    type: JobType
    model: str
    task: Task
    timeout_s: float
    steps_total: int
    model_note: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    status: JobState = JobState.QUEUED
    step: int = 0
    submitted_at: float = field(default_factory=time.time)
    submitted_mono: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    started_mono: float | None = None
    deadline_mono: float | None = None
    finished_at: float | None = None
    finished_mono: float | None = None
    error: ErrorBody | None = None
    output: JobOutput | None = None
    png: Future[bytes] | None = None
    backend: str | None = None
    seconds: float | None = None
    bbox: tuple[int, int, int, int] | None = None
    confidence: float | None = None
    notes: tuple[dict[str, Any], ...] = ()
    result_dropped: bool = False
    batch_size: int | None = None
    replica: str | None = None

    def result_bytes(self) -> int:
        """Memory held by this job's result: the decoded image plus its PNG once encoded."""
        if self.output is None:
            return 0
        image = self.output.image
        encoded = (
            self.png.result()
            if self.png is not None and self.png.done() and not self.png.cancelled()
            else b""
        )
        return image.width * image.height * len(image.getbands()) + len(encoded)

    def info(self) -> JobInfo:
        queue_end = self.started_mono if self.started_mono is not None else self.finished_mono
        return JobInfo(
            job_id=self.id,
            type=self.type,
            status=self.status,
            model=self.model,
            model_note=self.model_note,
            progress=Progress(step=self.step, steps=self.steps_total),
            error=self.error,
            backend=self.backend,
            seed=self.seed,
            width=self.width,
            height=self.height,
            steps=self.steps,
            guidance=self.guidance,
            bbox=self.bbox,
            confidence=self.confidence,
            notes=list(self.notes),
            batch_size=self.batch_size,
            replica=self.replica,
            seconds=self.seconds,
            timings=JobTimings(
                submitted_at=self.submitted_at,
                started_at=self.started_at,
                finished_at=self.finished_at,
                queue_seconds=None if queue_end is None else round(queue_end - self.submitted_mono, 4),
                run_seconds=(
                    None
                    if self.started_mono is None or self.finished_mono is None
                    else round(self.finished_mono - self.started_mono, 4)
                ),
            ),
            result_available=self.output is not None,
        )


class JobUnfinishedError(ProductshotError):
    """A result asked of a job without one: still queued or running (`not_ready`), or it ended without an
    image (then the code is the job's own error code: timeout, cancelled, out_of_memory, ...)."""

    http_status = 409

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def error_body(exc: BaseException) -> ErrorBody:
    """The error a failed job reports: a ProductshotError's own code, anything else as worker_error."""
    if isinstance(exc, ProductshotError):
        return ErrorBody(error=exc.code, message=str(exc))
    return ErrorBody(error="worker_error", message=f"{type(exc).__name__}: {exc}")


class JobTable:
    """All jobs this worker knows, with thread-safe state transitions and change notifications.

    A finished job's PNG is encoded by `encode` (off the executor thread, so the device moves on to the next
    batch at once); a request for the result waits for that future.
    """

    def __init__(
        self, *, result_ttl_s: float, max_kept: int, max_result_bytes: int, encode: ResultEncoder
    ) -> None:
        self._encode = encode
        self._max_result_bytes = max_result_bytes
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._listeners: list[Listener] = []
        self._result_ttl_s = result_ttl_s
        self._max_kept = max_kept

    # ---- listeners -------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(info)` after every change of any job; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, infos: Iterable[JobInfo]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for info in infos:
            for listener in listeners:
                try:
                    listener(info)
                except Exception:  # a broken listener must not stop the executor; it is logged, not hidden
                    log.exception("job listener %r failed on job %s", listener, info.job_id)

    # ---- reading ---------------------------------------------------------------------------------------
    def info(self, job_id: str) -> JobInfo:
        with self._lock:
            return self._get(job_id).info()

    def result(self, job_id: str) -> tuple[JobInfo, JobOutput, Future[bytes]]:
        """A done job's info, output and (future) PNG bytes; JobUnfinishedError when it has none."""
        with self._lock:
            job = self._get(job_id)
            if job.output is not None and job.png is not None:
                return job.info(), job.output, job.png
            if job.result_dropped:
                raise NotFoundError(
                    f"job {job_id}'s image was discarded to keep the worker's memory bounded (it keeps the newest "
                    f"{self._max_result_bytes / 1024**2:.0f} MB of results); fetch results soon after they finish"
                )
            status, error = job.status, job.error
        if not status.terminal:
            raise JobUnfinishedError(
                f"job {job_id} has no result yet: it is {status.value}; follow GET /jobs/{job_id}/events, "
                "or ask again with ?wait=SECONDS",
                code="not_ready",
            )
        verb = "was cancelled" if status is JobState.CANCELLED else "failed"
        message = error.message if error else "no reason recorded"
        raise JobUnfinishedError(
            f"job {job_id} {verb}: {message}", code=error.error if error else "worker_error"
        )

    def is_live(self, job_id: str) -> bool:
        """True while the job is queued or running (not yet cancelled, failed or done)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and not job.status.terminal

    def counts(self) -> dict[tuple[str, str], int]:
        """Jobs held now, by (type, status)."""
        with self._lock:
            result: dict[tuple[str, str], int] = {}
            for job in self._jobs.values():
                key = (job.type, job.status.value)
                result[key] = result.get(key, 0) + 1
            return result

    def running_ids(self) -> list[str]:
        with self._lock:
            return [job.id for job in self._jobs.values() if job.status is JobState.RUNNING]

    def _get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"job {job_id!r} is not known to this worker: it never existed, the worker restarted, or it "
                f"finished more than {self._result_ttl_s:.0f} s ago and was forgotten"
            )
        return job

    # ---- transitions -----------------------------------------------------------------------------------
    def add(self, job: Job) -> JobInfo:
        with self._lock:
            self._prune_locked(time.monotonic())
            self._jobs[job.id] = job
            info = job.info()
        self._notify([info])
        return info

    def start(self, job_ids: Iterable[str], *, batch_size: int) -> list[str]:
        """Mark queued jobs running (the scheduler pulled them); returns those that were still queued."""
        now, mono = time.time(), time.monotonic()
        started: list[str] = []
        infos: list[JobInfo] = []
        with self._lock:
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is None or job.status is not JobState.QUEUED:
                    continue
                job.status = JobState.RUNNING
                job.started_at, job.started_mono = now, mono
                job.batch_size = batch_size
                started.append(job_id)
                infos.append(job.info())
        self._notify(infos)
        return started

    def arm_deadlines(self, job_ids: Iterable[str], *, batch_size: int) -> None:
        """Start the jobs' timeout clocks (once, after the model is loaded) and record their batch size.

        A retry of the same job (after out-of-memory) keeps the first deadline.
        """
        mono = time.monotonic()
        with self._lock:
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is not None and job.status is JobState.RUNNING:
                    if job.deadline_mono is None:
                        job.deadline_mono = mono + job.timeout_s
                    job.batch_size = batch_size
                    job.step = 0

    def progress(self, job_ids: Iterable[str], step: int, steps: int, *, replica: str | None = None) -> None:
        """Record step `step` of `steps` (and, on the Ray engine, the replica running the jobs)."""
        infos: list[JobInfo] = []
        with self._lock:
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is None or job.status is not JobState.RUNNING:
                    continue
                job.step, job.steps_total = max(0, min(step, steps)), max(steps, 1)
                if replica is not None:
                    job.replica = replica
                infos.append(job.info())
        self._notify(infos)

    def finish(self, job_id: str, output: JobOutput) -> bool:
        """Record a job's result and start encoding it; False (nothing changes) when it ended meanwhile."""
        if not self.is_live(job_id):
            return False
        png = self._encode(output.image)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status is not JobState.RUNNING:
                png.cancel()
                return False
            job.output, job.png = output, png
            job.backend, job.seconds, job.bbox = output.backend, output.seconds, output.bbox
            job.confidence, job.notes = output.confidence, output.notes
            job.replica = output.replica
            if output.batch_size is not None:
                job.batch_size = output.batch_size
            job.width, job.height = output.image.width, output.image.height
            job.step = job.steps_total
            info = self._close_locked(job, JobState.DONE)
        self._notify([info])
        return True

    def fail(self, job_id: str, error: ErrorBody) -> bool:
        """Fail a queued or running job; False when it had already finished."""
        return self._terminate(job_id, JobState.FAILED, error)

    def cancel(self, job_id: str, reason: str) -> JobState:
        """Cancel a job and return its state before; a finished job is left as it is (NotFoundError if unknown)."""
        with self._lock:
            before = self._get(job_id).status
        if not before.terminal:
            self._terminate(job_id, JobState.CANCELLED, ErrorBody(error="cancelled", message=reason))
        return before

    def expired(self, now_mono: float) -> list[str]:
        """Running jobs whose deadline has passed."""
        with self._lock:
            return [
                job.id
                for job in self._jobs.values()
                if job.status is JobState.RUNNING
                and job.deadline_mono is not None
                and job.deadline_mono <= now_mono
            ]

    def next_deadline(self) -> float | None:
        with self._lock:
            deadlines = [
                job.deadline_mono
                for job in self._jobs.values()
                if job.status is JobState.RUNNING and job.deadline_mono is not None
            ]
        return min(deadlines) if deadlines else None

    def timeout_of(self, job_id: str) -> float:
        with self._lock:
            return self._get(job_id).timeout_s

    def prune(self) -> None:
        with self._lock:
            self._prune_locked(time.monotonic())

    def _terminate(self, job_id: str, state: JobState, error: ErrorBody) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status.terminal:
                return False
            job.error = error
            info = self._close_locked(job, state)
        self._notify([info])
        return True

    def _close_locked(self, job: Job, state: JobState) -> JobInfo:
        job.status = state
        job.finished_at, job.finished_mono = time.time(), time.monotonic()
        job.deadline_mono = None
        return job.info()

    def _prune_locked(self, now_mono: float) -> None:
        """Forget finished jobs past the age or count limit; drop the oldest images past the memory limit."""
        finished = sorted(
            (job for job in self._jobs.values() if job.finished_mono is not None),
            key=lambda job: job.finished_mono or 0.0,
        )
        excess = len(finished) - self._max_kept
        kept: list[Job] = []
        for index, job in enumerate(finished):
            too_old = now_mono - (job.finished_mono or now_mono) > self._result_ttl_s
            if index < excess or too_old:
                del self._jobs[job.id]
            else:
                kept.append(job)
        held = sum(job.result_bytes() for job in kept)
        for job in kept:
            if held <= self._max_result_bytes:
                break
            if job.output is not None:
                held -= job.result_bytes()
                job.output, job.png, job.result_dropped = None, None, True
                log.info("dropped the image of job %s to stay under the result memory limit", job.id)


__all__ = [
    "Job",
    "JobOutput",
    "JobTable",
    "JobType",
    "JobUnfinishedError",
    "ResultEncoder",
    "Task",
    "encode_png",
    "error_body",
]
