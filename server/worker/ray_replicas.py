"""What runs inside a Ray Serve model replica: the worker's own runners, driven by a replica-local job table.

A replica gets jobs (already resolved and validated by the ingress) and runs them with the same
`GenerateRunner` / `CutoutRunner` and `ModelCache` the single-process worker uses, so loading, batching
rules, out-of-memory fallback and cancellation are one code. Progress goes to the `JobBoard` actor, and the
board's stop flags (set by the ingress on cancel or timeout) stop a batch at its next step.

Only the Ray engine imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Literal

import ray

from productshot.errors import ProductshotError
from productshot.server.worker.cutout_jobs import CutoutTask
from productshot.server.worker.generate_jobs import GenerateTask
from productshot.server.worker.jobs import Job, JobOutput, JobTable, error_body
from productshot.server.worker.scheduler import BatchControl, QueuedJob, TaskRunner
from productshot.server.worker.schemas import ErrorBody, JobInfo, JobState

log = logging.getLogger(__name__)

ReplicaKind = Literal["generator", "cutout"]
_NO_TIMEOUT_S = 365 * 24 * 3600.0  # the ingress owns deadlines; a replica only honours stop flags


@dataclass(frozen=True)
class RemoteItem:
    """One job as a replica receives it: its id, the resolved task and how many steps it reports."""

    job_id: str
    task: GenerateTask | CutoutTask
    steps_total: int


@dataclass(frozen=True)
class RemoteOutcome:
    """What a replica answers for one job: its output or its error, and which replica served it."""

    job_id: str
    replica: str
    output: JobOutput | None = None
    error: ErrorBody | None = None


class JobBoard:
    """A small Ray actor (0 CPU) both sides agree on: per-job progress and stop flags, and the replicas
    that are up with the models each holds. The ingress's job table stays the one record of job state."""

    def __init__(self) -> None:
        self._progress: dict[str, tuple[int, int, str]] = {}
        self._stopped: set[str] = set()
        self._replicas: dict[str, dict[str, Any]] = {}

    def step(self, job_id: str, step: int, steps: int, replica: str) -> None:
        self._progress[job_id] = (step, steps, replica)

    def progress(self, job_ids: list[str]) -> dict[str, tuple[int, int, str]]:
        return {job_id: self._progress[job_id] for job_id in job_ids if job_id in self._progress}

    def stop(self, job_ids: list[str]) -> None:
        self._stopped.update(job_ids)

    def stopped(self, job_ids: list[str]) -> list[str]:
        return [job_id for job_id in job_ids if job_id in self._stopped]

    def forget(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._progress.pop(job_id, None)
            self._stopped.discard(job_id)

    def register(self, replica: str, kind: str, device: str, node: str, pid: int) -> None:
        self._replicas[replica] = {
            "replica": replica,
            "kind": kind,
            "device": device,
            "node": node,
            "pid": pid,
            "loaded_models": [],
        }

    def loaded(self, replica: str, models: list[str]) -> None:
        if replica in self._replicas:
            self._replicas[replica]["loaded_models"] = list(models)

    def unregister(self, replica: str) -> None:
        self._replicas.pop(replica, None)

    def replicas(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._replicas.values()]


def _done_future(_: object) -> Future[bytes]:
    """A replica hands images back to the ingress, which encodes them; the local table encodes nothing."""
    future: Future[bytes] = Future()
    future.set_result(b"")
    return future


class ReplicaExecutor:
    """Runs items of one job type on this replica with a worker runner, reporting to the board."""

    def __init__(self, runner: TaskRunner, board: Any, *, replica: str, job_type: str) -> None:
        self._runner = runner
        self._board = board
        self._replica = replica
        self._type = job_type

    def run(self, items: Sequence[RemoteItem]) -> list[RemoteOutcome]:
        """Run the items as one batch (the runner splits it by batch key) and answer one outcome each."""
        table = JobTable(result_ttl_s=3600.0, max_kept=10_000, max_result_bytes=2**62, encode=_done_future)
        for item in items:
            table.add(
                Job(
                    type="generate" if self._type == "generate" else "cutout",
                    model=getattr(item.task, "model", "") or "",
                    task=item.task,
                    timeout_s=_NO_TIMEOUT_S,
                    steps_total=item.steps_total,
                    id=item.job_id,
                )
            )
        unsubscribe = table.subscribe(self._report)
        try:
            ids = table.start([item.job_id for item in items], batch_size=len(items))
            jobs = [
                QueuedJob(item.job_id, self._job_type(), item.task) for item in items if item.job_id in ids
            ]
            control = BatchControl(table, jobs, expire=lambda: self._apply_stops(table), armed=lambda: None)
            try:
                self._runner.run_batch(jobs, control)
            except ProductshotError as exc:
                log.warning("batch of %d %s job(s) failed: %s", len(jobs), self._type, exc)
                control.fail_live(exc)
            except Exception as exc:
                log.exception("batch of %d %s job(s) failed unexpectedly", len(jobs), self._type)
                control.fail_live(exc)
            return [self._outcome(table, item.job_id) for item in items]
        finally:
            unsubscribe()

    def _job_type(self) -> Literal["generate", "cutout"]:
        return "generate" if self._type == "generate" else "cutout"

    def _report(self, info: JobInfo) -> None:
        if info.status is JobState.RUNNING:
            self._board.step.remote(info.job_id, info.progress.step, info.progress.steps, self._replica)

    def _apply_stops(self, table: JobTable) -> None:
        """Cancel the jobs the ingress no longer wants (cancelled, timed out): checked at every step."""
        live = [job_id for job_id in table.running_ids()]
        if not live:
            return
        for job_id in ray.get(self._board.stopped.remote(live)):
            table.cancel(job_id, "cancelled through the ingress")

    def _outcome(self, table: JobTable, job_id: str) -> RemoteOutcome:
        info = table.info(job_id)
        if info.status is JobState.DONE:
            _, output, _ = table.result(job_id)
            output = replace(output, replica=self._replica, batch_size=info.batch_size)
            return RemoteOutcome(job_id, self._replica, output=output)
        error = info.error or error_body(RuntimeError("the runner returned without a result for this job"))
        return RemoteOutcome(job_id, self._replica, error=error)


__all__ = ["JobBoard", "RemoteItem", "RemoteOutcome", "ReplicaExecutor", "ReplicaKind"]
