"""The worker's parts wired together: device, model cache, job table, scheduler, metrics.

One `WorkerRuntime` per worker process, owned by the app (`app.state.runtime`) and started and stopped by
its lifespan. The HTTP layer only translates requests into calls here and answers into models.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from productshot import __version__
from productshot.errors import BadImageError, ModelError
from productshot.hosts import is_local_host
from productshot.models.devices import device_memory, free_memory, is_out_of_memory, pick_device
from productshot.models.generators import effective_guidance, effective_steps
from productshot.models.registry import ModelPreset, Registry, list_presets
from productshot.models.runner import spec_for
from productshot.server.worker.config import WorkerConfig
from productshot.server.worker.cutout_jobs import (
    CutoutRunner,
    CutoutTask,
    check_cutout_model,
    cutout_model_names,
    cutout_models,
)
from productshot.server.worker.generate_jobs import GenerateRunner, GenerateTask
from productshot.server.worker.jobs import Job, JobTable, encode_png
from productshot.server.worker.metrics import Sample, WorkerMetrics
from productshot.server.worker.models_cache import ModelCache
from productshot.server.worker.scheduler import Scheduler, TaskRunner
from productshot.server.worker.schemas import (
    CutoutJobRequest,
    CutoutModelInfo,
    GenerateJobRequest,
    HealthInfo,
    JobAccepted,
    ModelsInfo,
)
from productshot.settings import Settings

log = logging.getLogger(__name__)

_CPU_BUDGET_FRACTION = 0.5  # models share system RAM with everything else on a CPU or Apple machine
_GPU_BUDGET_FRACTION = 0.9  # leave room for activations and the allocator's slack


def default_memory_budget(device: str) -> int:
    """Bytes of loaded models the worker keeps by default: most of a GPU, half the RAM otherwise."""
    from productshot.models.devices import total_memory_bytes

    total = total_memory_bytes(device)
    if total is not None:
        return int(total * _GPU_BUDGET_FRACTION)
    import psutil

    return int(psutil.virtual_memory().total * _CPU_BUDGET_FRACTION)


def decode_b64_image(data: str, *, max_bytes: int) -> bytes:
    """Bytes of a base64 image (a `data:` URL prefix is accepted); BadImageError when it is not base64."""
    payload = data.split(",", 1)[1] if data.startswith("data:") and "," in data else data
    if len(payload) > (max_bytes * 4) // 3 + 4:
        raise BadImageError(
            f"image_b64 holds more than {max_bytes / 1024**2:.0f} MB, the upload limit "
            "(PRODUCTSHOT_MAX_UPLOAD_BYTES); send a smaller image"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImageError(f"image_b64 is not valid base64: {exc}") from exc


class WorkerRuntime:
    """Everything one worker holds, and the operations the HTTP API exposes."""

    engine: Literal["local", "ray"] = "local"

    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        *,
        runners: Mapping[str, TaskRunner] | None = None,
        executors: int = 1,
    ) -> None:
        """`runners` replace the in-process generate/cutout runners (the Ray engine's remote ones), and
        `executors` is how many batches may be out at once (1 for the one local device)."""
        self.settings = settings
        self.config = config
        self.started_mono = time.monotonic()
        self.device = pick_device()
        self.registry = Registry.default(settings)  # built once: plugins are imported at start-up
        self.metrics = WorkerMetrics()
        self._encoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="productshot-encode")
        self.table = JobTable(
            result_ttl_s=config.result_ttl_s,
            max_kept=config.max_kept_jobs,
            max_result_bytes=config.max_result_bytes,
            encode=lambda image: self._encoders.submit(encode_png, image),
        )
        self.table.subscribe(self.metrics.job_changed)
        self.cache = ModelCache(
            config.memory_budget_bytes or default_memory_budget(self.device),
            metrics=self.metrics,
            is_out_of_memory=is_out_of_memory,
            release_memory=lambda: free_memory(self.device),
        )
        self._generate = GenerateRunner(
            self.cache, settings, registry=self.registry, device=self.device, metrics=self.metrics
        )
        self._cutout = CutoutRunner(self.cache, settings, self.registry.cutout_models())
        self.scheduler = Scheduler(
            self.table,
            runners if runners is not None else {"generate": self._generate, "cutout": self._cutout},
            metrics=self.metrics,
            queue_size=config.queue_size,
            max_batch=config.max_batch,
            executors=executors,
        )
        self._preload = [self._preload_target(name) for name in config.preload]
        self._last_activity = time.monotonic()

    # ---- life ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.scheduler.start(warmup=self._warm_up if self._preload else None)

    def begin_shutdown(self) -> None:
        """Stop taking jobs now; running ones get the grace period (called on SIGTERM, before draining HTTP)."""
        self.scheduler.begin_shutdown(self.config.grace_s)

    def stop(self) -> None:
        self.scheduler.stop(self.config.grace_s)
        self._encoders.shutdown(wait=True, cancel_futures=True)
        self.cache.close_all()

    def touch(self) -> None:
        """Note a client's request (the idle timeout counts from the last one)."""
        self._last_activity = time.monotonic()

    def idle_seconds(self) -> float:
        """Seconds since the last client request, or 0 while jobs are queued or running."""
        if self.scheduler.busy():
            self._last_activity = time.monotonic()
            return 0.0
        return time.monotonic() - self._last_activity

    def _preload_target(self, name: str) -> tuple[Literal["generator", "cutout"], str | ModelPreset]:
        if name in cutout_model_names():
            return ("cutout", name)
        preset, _ = self.resolve_model(name)
        return ("generator", preset)

    def _warm_up(self) -> None:
        for kind, target in self._preload:
            try:
                if isinstance(target, str):
                    self._cutout.load(target)
                else:
                    self._generate.load(target)
            except ModelError as exc:
                log.error(
                    "could not preload %s %s: %s",
                    kind,
                    target if isinstance(target, str) else target.name,
                    exc,
                )

    # ---- jobs ------------------------------------------------------------------------------------------
    def resolve_model(self, name: str) -> tuple[ModelPreset, str | None]:
        """The preset for a model name (`auto` resolved, with the reason); ModelError when unknown."""
        return self._generate.models.resolve(name)

    def submit_generate(self, request: GenerateJobRequest) -> JobAccepted:
        if not is_local_host(self.config.host):
            # Reachable from other machines: a model folder must be in the allowed folders or the model
            # cache, refused in one message, so the answers cannot probe this machine's disk.
            from productshot.models.weights import hf_cache_dir
            from productshot.tools.paths import check_model_folder

            check_model_folder(request.model, self.settings.allowed_dirs, [hf_cache_dir(self.settings)])
        preset, note = self.resolve_model(request.model)
        if not self.cache.is_loaded("generator", preset.name):
            missing = self.registry.missing(preset, self.settings)  # reads files only: fail fast, not queued
            if missing:
                raise ModelError(f"model {preset.name!r} cannot run here: {missing}")
        spec = spec_for(
            preset,
            request.prompt,
            negative_prompt=request.negative_prompt,
            scene=request.scene,
            width=request.width,
            height=request.height,
            seed=request.seed,
            steps=request.steps,
            guidance=request.guidance,
        )
        steps = effective_steps(preset, spec)
        job = Job(
            type="generate",
            model=preset.name,
            task=GenerateTask(preset, spec),
            timeout_s=request.timeout_s or self.config.default_timeout_s,
            steps_total=max(1, steps),
            model_note=note,
            seed=spec.seed,
            width=spec.width,
            height=spec.height,
            steps=steps,
            guidance=effective_guidance(preset, spec),
        )
        self.touch()
        return self.scheduler.submit(job)

    def submit_cutout(self, request: CutoutJobRequest) -> JobAccepted:
        data = decode_b64_image(request.image_b64, max_bytes=self.settings.max_upload_bytes)
        return self.submit_cutout_bytes(
            data,
            model=request.model,
            alpha_matting=request.alpha_matting,
            decontaminate=request.decontaminate,
            timeout_s=request.timeout_s,
        )

    def submit_cutout_bytes(
        self, data: bytes, *, model: str, alpha_matting: bool, decontaminate: bool, timeout_s: float | None
    ) -> JobAccepted:
        """Queue a cutout of an uploaded photo; the photo is decoded and validated now, not on the device."""
        from productshot.tools.imageio import load_image

        check_cutout_model(model, self.registry.cutout_models())
        if len(data) > self.settings.max_upload_bytes:
            raise BadImageError(
                f"image is {len(data) / 1024**2:.1f} MB, more than the upload limit of "
                f"{self.settings.max_upload_bytes / 1024**2:.0f} MB (PRODUCTSHOT_MAX_UPLOAD_BYTES)"
            )
        loaded = load_image(data, max_pixels=self.settings.max_image_pixels)
        job = Job(
            type="cutout",
            model=model,
            task=CutoutTask(loaded.image, model, alpha_matting, decontaminate),
            timeout_s=timeout_s or self.config.default_timeout_s,
            steps_total=1,
            width=loaded.image.width,
            height=loaded.image.height,
        )
        self.touch()
        return self.scheduler.submit(job)

    # ---- reports ---------------------------------------------------------------------------------------
    def health(self) -> HealthInfo:
        return HealthInfo(
            status="ok" if self.scheduler.accepting else "stopping",
            version=__version__,
            device=self.device,
            pid=os.getpid(),
            home=str(self.settings.home),
            queue_depth=self.scheduler.queue_depth(),
            queue_size=self.scheduler.queue_size,
            running=len(self.table.running_ids()),
            loaded_models=[model.name for model in self.cache.loaded()],
            uptime=round(time.monotonic() - self.started_mono, 3),
            autostarted=self.config.autostarted,
            engine=self.engine,
        )

    def models(self) -> ModelsInfo:
        loaded = self.cache.loaded()
        loaded_cutters = {model.name for model in loaded if model.kind == "cutout"}
        cutout = [
            CutoutModelInfo(
                name=row["name"], available=bool(row["available"]), loaded=row["name"] in loaded_cutters
            )
            for row in cutout_models(self.settings.u2net_home, self.registry.cutout_models())
        ]
        return ModelsInfo(
            device=self.device,
            memory_budget_bytes=self.cache.budget_bytes,
            memory_used_bytes=self.cache.used_bytes(),
            known=list_presets(self.settings, registry=self.registry),
            cutout=cutout,
            loaded=loaded,
        )

    def metrics_text(self) -> str:
        gauges = [
            Sample("queue_depth", "Jobs waiting in the queue.", self.scheduler.queue_depth()),
            Sample(
                "queue_size", "Most jobs the queue holds before answering 429.", self.scheduler.queue_size
            ),
            Sample(
                "uptime_seconds", "Seconds since the worker started.", time.monotonic() - self.started_mono
            ),
            Sample("memory_budget_bytes", "Memory budget for loaded models.", self.cache.budget_bytes),
        ]
        for (job_type, status), count in sorted(self.table.counts().items()):
            gauges.append(
                Sample(
                    "jobs",
                    "Jobs held now, by type and status.",
                    count,
                    (("type", job_type), ("status", status)),
                )
            )
        loaded = self.cache.loaded()
        gauges.append(Sample("loaded_models", "Models loaded now.", len(loaded)))
        for model in loaded:
            labels = (("kind", model.kind), ("model", model.name), ("device", model.device))
            gauges.append(
                Sample(
                    "loaded_model_memory_bytes",
                    "Memory held by each loaded model.",
                    model.memory_bytes,
                    labels,
                )
            )
        for key, value in device_memory(self.device).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                gauges.append(
                    Sample(
                        "device_memory_bytes",
                        "Device and process memory (total, free, allocated, reserved, peak, rss).",
                        float(value),
                        (("device", self.device), ("kind", key)),
                    )
                )
        return self.metrics.render(gauges)


__all__ = ["WorkerRuntime", "decode_b64_image", "default_memory_budget"]
