"""Generate jobs: run a batch of same-model, same-size requests as one backend call, with OOM fallback.

Each spec carries its own seed and the backend uses one random generator per spec, so a job's pixels do
not depend on which jobs shared its batch. When the device runs out of memory, the batch is retried one
job at a time; a job that still does not fit fails with `out_of_memory` and the worker carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from productshot.errors import DeviceOutOfMemoryError, JobCancelledError
from productshot.models.devices import free_memory, is_out_of_memory
from productshot.models.generators import GenerateSpec, GeneratorBackend, batch_key
from productshot.models.registry import ModelPreset, Registry
from productshot.models.runner import ModelRunner
from productshot.server.worker.jobs import JobOutput
from productshot.server.worker.metrics import WorkerMetrics
from productshot.server.worker.models_cache import ModelCache
from productshot.server.worker.scheduler import BatchControl, QueuedJob
from productshot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateTask:
    """One image to generate with a resolved preset (model, steps, guidance, size and seed all fixed)."""

    preset: ModelPreset
    spec: GenerateSpec

    @property
    def batch_key(self) -> Hashable:
        return (self.preset.name, self.preset.hub_id, batch_key(self.preset, self.spec))


def _task(job: QueuedJob) -> GenerateTask:
    if not isinstance(job.task, GenerateTask):
        raise TypeError(f"generate runner got a {type(job.task).__name__}")
    return job.task


class GenerateRunner:
    """The queue's side of generation: batches of generate jobs run on the model library's `ModelRunner`
    (models kept in the worker's budgeted cache), with the out-of-memory fallback and each job's output."""

    def __init__(
        self,
        cache: ModelCache,
        settings: Settings,
        *,
        registry: Registry,
        device: str,
        metrics: WorkerMetrics,
    ) -> None:
        self.models = ModelRunner(settings, registry=registry, device=device, keep=cache)
        self._device = device
        self._metrics = metrics

    def load(self, preset: ModelPreset) -> GeneratorBackend:
        """The preset's backend, loaded once and then kept under the memory budget."""
        return self.models.load(preset)

    def run_batch(self, jobs: Sequence[QueuedJob], control: BatchControl) -> None:
        preset = _task(jobs[0]).preset
        backend = self.load(preset)
        attempted = len(control.live())
        try:
            self._generate(backend, control)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            free_memory(self._device)
            live = control.live()
            if attempted <= 1:
                self._fail_oom(control, live, preset, exc)
                return
            log.warning(
                "out of memory on a batch of %d %s jobs; retrying one at a time", attempted, preset.name
            )
            self._metrics.oom_retry(preset.name)
            for job in live:
                self._retry_alone(backend, control.subset([job]), preset)

    def _retry_alone(self, backend: GeneratorBackend, control: BatchControl, preset: ModelPreset) -> None:
        try:
            self._generate(backend, control)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            free_memory(self._device)
            self._fail_oom(control, control.live(), preset, exc)

    def _generate(self, backend: GeneratorBackend, control: BatchControl) -> None:
        live = control.live()
        if not live:
            return
        control = control.subset(live)
        specs = [_task(job).spec for job in live]
        control.begin()
        try:
            made = self.models.run(backend, specs, on_step=control.on_step, should_stop=control.should_stop)
        except JobCancelledError:
            log.info("batch of %d %s job(s) stopped early: cancelled or timed out", len(live), backend.name)
            return
        for job, result in zip(live, made, strict=True):
            control.finish(
                job, JobOutput(image=result.image, backend=result.backend, seconds=round(result.seconds, 4))
            )

    def _fail_oom(
        self, control: BatchControl, jobs: Sequence[QueuedJob], preset: ModelPreset, exc: BaseException
    ) -> None:
        for job in jobs:
            spec = _task(job).spec
            error = DeviceOutOfMemoryError(
                f"the {self._device} device ran out of memory generating {spec.width}×{spec.height} with "
                f"{preset.name} even at batch size 1 ({type(exc).__name__}); use a smaller model or one with "
                "CPU offload, lower --memory-budget-gb so fewer models stay loaded, or a larger device"
            )
            control.fail(job, error)


__all__ = ["GenerateRunner", "GenerateTask"]
