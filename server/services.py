"""Where model work runs for a caller: in this process, or on the resident worker.

The pipeline asks for a cutout or a background through `ModelServices`; `LocalServices` holds its own
rembg session and generators (for `--local` and the embedded defaults), `WorkerServices` sends the work to
the resident worker so heavy models are loaded once for every client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from productshot.tools.notes import Note

if TYPE_CHECKING:
    from productshot.server.worker.client import WorkerClient
    from productshot.server.worker.schemas import JobInfo
    from productshot.settings import Settings
    from productshot.tools.cutout import CutoutModel, Cutter

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class CutoutOutcome:
    image: Image.Image
    bbox: tuple[int, int, int, int]
    backend: str
    seconds: float
    job_id: str | None = None  # the store's record of this model job, when one is kept
    confidence: float = 1.0  # how far to trust the cutout (0..1); below 0.5 `notes` says why
    notes: tuple[Note, ...] = ()

    def quality_params(self) -> dict[str, Any]:
        """Confidence and note codes, as a cutout asset's params keep them."""
        return {"confidence": self.confidence, "notes": [n.to_dict() for n in self.notes]}


@dataclass(frozen=True)
class GenerateOutcome:
    image: Image.Image
    backend: str
    seed: int
    seconds: float
    job_id: str | None = None  # the store's record of this model job, when one is kept


@dataclass(frozen=True)
class GenerateAsk:
    """One background to make: the diffusion prompt, and the plain scene words the studio generator reads."""

    prompt: str
    negative_prompt: str
    scene: str
    width: int
    height: int
    seed: int
    model: str = "auto"
    steps: int | None = None  # None: the model's default (the studio generator has no steps)
    guidance: float | None = None
    # Where the product's base will stand (left, right, base row in pixels): the studio draws its surface
    # there. Only in-process generation reads it; the worker's wire format does not carry it.
    footprint: tuple[float, float, float] | None = None
    view: str | None = None  # studio: "flat-lay" paints the family's surface seen from above


class ModelServices(Protocol):
    @property
    def where(self) -> str:
        """`local` (in this process) or `worker` (the resident worker)."""
        ...

    def cutout(self, image: Image.Image, *, model: str, alpha_matting: bool = False) -> CutoutOutcome: ...

    def generate(self, ask: GenerateAsk, *, on_progress: ProgressFn | None = None) -> GenerateOutcome: ...

    def close(self) -> None: ...


class LocalServices:
    """Model work in this process: rembg sessions and generators loaded on first use and kept by this object."""

    where = "local"

    def __init__(self, settings: Settings) -> None:
        from productshot.models.runner import ModelRunner

        self._settings = settings
        self._cutters: dict[str, Cutter] = {}
        # Calls arrive on several threads at once (MCP tool calls): a model is loaded by one of them only
        # (the runner's keeper does the same for generators).
        self._loading = threading.Lock()
        self._runner = ModelRunner(settings)

    def cutout(self, image: Image.Image, *, model: str, alpha_matting: bool = False) -> CutoutOutcome:
        from productshot.tools.cutout import Cutter

        with self._loading:
            cutter = self._cutters.get(model)
            if cutter is None:
                cutter = self._cutters[model] = Cutter(
                    model, u2net_home=self._settings.u2net_home, models=_cutout_table(self._settings, model)
                )
        result = cutter.cut(image, alpha_matting=alpha_matting)
        return CutoutOutcome(
            result.image,
            result.bbox,
            result.backend,
            result.seconds,
            confidence=result.confidence,
            notes=result.notes,
        )

    def generate(self, ask: GenerateAsk, *, on_progress: ProgressFn | None = None) -> GenerateOutcome:
        """Generate here; a diffusion pipeline is loaded once and reused (split retries, later calls)."""
        from productshot.models.runner import spec_for

        started = time.perf_counter()
        preset, _ = self._runner.resolve(ask.model)
        spec = spec_for(
            preset,
            ask.prompt,
            negative_prompt=ask.negative_prompt,
            scene=ask.scene,
            width=ask.width,
            height=ask.height,
            seed=ask.seed,
            steps=ask.steps,
            guidance=ask.guidance,
            footprint=ask.footprint,
            view=ask.view,
        )
        made = self._runner.generate(preset, spec, on_step=on_progress)
        return GenerateOutcome(
            made.image.convert("RGB"), made.backend, made.seed, time.perf_counter() - started
        )

    def close(self) -> None:
        """Free the generators and rembg sessions held here."""
        self._runner.close()
        with self._loading:
            self._cutters.clear()


def _cutout_table(settings: Settings, model: str) -> Mapping[str, CutoutModel]:
    """The built-in cutout models, plus the plugins' when `model` is not one of them."""
    from productshot.models.registry import Registry
    from productshot.tools.cutout import CUTOUT_MODELS

    return CUTOUT_MODELS if model in CUTOUT_MODELS else Registry.default(settings).cutout_models()


class JobWatcher(Protocol):
    """Told which worker job a call is waiting on, so the caller can cancel it from another thread."""

    def started(self, client: WorkerClient, job_id: str) -> None: ...

    def finished(self, job_id: str) -> None: ...


class WorkerServices:
    """Model work on the resident worker (started detached when none answers and autostart is on)."""

    where = "worker"

    def __init__(
        self, client: WorkerClient, *, watch: JobWatcher | None = None, owns_client: bool = True
    ) -> None:
        self._client = client
        self._watch = watch
        self._owns_client = owns_client

    def cutout(self, image: Image.Image, *, model: str, alpha_matting: bool = False) -> CutoutOutcome:
        from productshot.server.worker.client import cutout_result

        handle = self._client.submit_cutout(image, model=model, alpha_matting=alpha_matting)
        info = self._follow(handle.job_id, None)
        result = cutout_result(info, self._client.result_png(handle.job_id))
        return CutoutOutcome(
            result.image.convert("RGBA"),
            tuple(result.bbox),  # type: ignore[arg-type]  # bbox: 4 ints by the worker schema
            result.backend,
            result.seconds,
            confidence=result.confidence,
            notes=result.notes,
        )

    def generate(self, ask: GenerateAsk, *, on_progress: ProgressFn | None = None) -> GenerateOutcome:
        from productshot.server.worker.client import generate_result

        handle = self._client.submit_generate(
            ask.prompt,
            model=ask.model,
            negative_prompt=ask.negative_prompt,
            scene=ask.scene,
            width=ask.width,
            height=ask.height,
            seed=ask.seed,
            steps=ask.steps,
            guidance=ask.guidance,
        )
        info = self._follow(handle.job_id, on_progress)
        result = generate_result(info, self._client.result_png(handle.job_id))
        return GenerateOutcome(result.image.convert("RGB"), result.backend, result.seed, result.seconds)

    def _follow(self, job_id: str, on_progress: ProgressFn | None) -> JobInfo:
        """Wait for a job, reporting each new denoising step once as (step, steps)."""
        if self._watch is not None:
            self._watch.started(self._client, job_id)
        last_step = -1

        def progress(info: JobInfo) -> None:
            nonlocal last_step
            step, steps = info.progress.step, info.progress.steps
            if on_progress is not None and info.type == "generate" and steps and step > last_step:
                last_step = step
                on_progress(step, steps)

        try:
            return self._client.wait(job_id, on_progress=progress)
        finally:
            if self._watch is not None:
                self._watch.finished(job_id)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def choose_services(settings: Settings, model: str = "auto", where: str = "auto") -> ModelServices:
    """Pick where model work runs: "local" (this process), "worker" (resident worker, auto-started), or "auto".

    "auto" uses a worker that already answers; otherwise the embedded `studio` generator and the small
    u2netp cutout run in-process (nothing heavy to share), and any diffusion model goes to the worker, which
    is started detached when autostart is on, so it is loaded once for every client.
    """
    from productshot.errors import BadRequestError

    if where not in {"auto", "local", "worker"}:
        raise BadRequestError(f"where must be auto, local or worker, got {where!r}")
    if where == "local":
        return LocalServices(settings)
    from productshot.hosts import is_local_host
    from productshot.server.worker.client import WorkerClient
    from productshot.server.worker.lifecycle import ensure_worker, probe, url_address

    if probe(settings.worker_url, settings) is not None:
        return WorkerServices(WorkerClient.from_settings(settings))
    from productshot.errors import ModelError
    from productshot.models.registry import Registry, get_preset

    registry = Registry.default(settings)
    preset = get_preset(model, settings, registry=registry)
    if where == "auto" and preset.kind == "studio":
        return LocalServices(settings)
    # Starting a worker here takes seconds and loads nothing useful when the weights are not on this
    # machine: say so now. (With auto-start off, or a worker elsewhere, ensure_worker says what to do.)
    if settings.worker_autostart and is_local_host(url_address(settings.worker_url)[0]):
        missing = registry.missing(preset, settings)
        if missing is not None:
            raise ModelError(f"model {preset.name!r} cannot run here, so no worker was started: {missing}")
    url = ensure_worker(settings)
    return WorkerServices(WorkerClient.from_settings(settings, base_url=url))
