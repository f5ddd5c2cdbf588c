"""Cutout jobs: the worker keeps one rembg session per cutout model (on the GPU when onnxruntime-gpu is
installed) and runs `productshot.tools.cutout` with it. Each cutout runs on its own: a batch key per job.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from productshot.errors import ModelError
from productshot.server.worker.jobs import JobOutput
from productshot.server.worker.models_cache import ModelCache
from productshot.server.worker.scheduler import BatchControl, QueuedJob
from productshot.settings import Settings

if TYPE_CHECKING:
    from productshot.tools.cutout import CutoutModel, CutoutResult, Cutter


def cutout_model_names(models: Mapping[str, CutoutModel] | None = None) -> tuple[str, ...]:
    from productshot.tools.cutout import CUTOUT_MODELS

    return tuple(CUTOUT_MODELS if models is None else models)


def check_cutout_model(name: str, models: Mapping[str, CutoutModel] | None = None) -> str:
    """The model name if the cutout registry has it, else ModelError naming the valid ones."""
    names = cutout_model_names(models)
    if name not in names:
        raise ModelError(f"unknown cutout model {name!r}; valid cutout models: {', '.join(names)}")
    return name


def cutout_models(u2net_home: Path, models: Mapping[str, CutoutModel] | None = None) -> list[dict[str, Any]]:
    """Every cutout model with its licence and whether its weights are on this machine."""
    from productshot.tools.cutout import CUTOUT_MODELS, available_cutout_models

    return available_cutout_models(u2net_home, CUTOUT_MODELS if models is None else models)


@dataclass(frozen=True)
class CutoutTask:
    """One photo to cut out, decoded and validated when the job was submitted."""

    image: Image.Image
    model: str
    alpha_matting: bool
    decontaminate: bool
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def batch_key(self) -> tuple[str, str]:
        # A rembg session takes one image per call, so cutouts never share a batch.
        return (self.model, self.token)


class CutterModel:
    """A loaded Cutter as the model cache sees it: its device, its size and how to drop it."""

    def __init__(self, cutter: Cutter) -> None:
        self._cutter: Cutter | None = cutter
        self._size = cutter.weights.stat().st_size

    @classmethod
    def load(
        cls, model: str, settings: Settings, models: Mapping[str, CutoutModel] | None = None
    ) -> CutterModel:
        """Create the rembg session now (CUDA provider first when onnxruntime has it)."""
        from productshot.tools.cutout import CUTOUT_MODELS, Cutter

        table = CUTOUT_MODELS if models is None else models
        cutter = Cutter(model, u2net_home=settings.u2net_home, models=table)
        cutter.load()
        return cls(cutter)

    @property
    def device(self) -> str:
        if self._cutter is None:
            return "closed"
        return "cuda" if "CUDAExecutionProvider" in self._cutter.providers else "cpu"

    def memory_bytes(self) -> int:
        # onnxruntime holds about the weights' size plus its arena; the file size is the honest lower bound.
        return self._size

    def close(self) -> None:
        self._cutter = None

    def cut(self, image: Image.Image, *, alpha_matting: bool, decontaminate: bool) -> CutoutResult:
        if self._cutter is None:
            raise ModelError("this cutout model was unloaded; submit the job again to reload it")
        return self._cutter.cut(image, alpha_matting=alpha_matting, decontaminate=decontaminate)


class CutoutRunner:
    """Runs cutout jobs one at a time with the cached session of their model."""

    def __init__(
        self, cache: ModelCache, settings: Settings, models: Mapping[str, CutoutModel] | None = None
    ) -> None:
        self._cache = cache
        self._settings = settings
        self._models = models

    def load(self, model: str) -> CutterModel:
        return self._cache.acquire(
            "cutout", model, lambda: CutterModel.load(model, self._settings, self._models)
        )

    def run_batch(self, jobs: Sequence[QueuedJob], control: BatchControl) -> None:
        for job in jobs:
            task = job.task
            if not isinstance(task, CutoutTask):
                raise TypeError(f"cutout runner got a {type(task).__name__}")
            single = control.subset([job])
            if not single.live():
                continue
            cutter = self.load(task.model)
            single.begin()
            single.on_step(0, 1)
            result = cutter.cut(
                task.image, alpha_matting=task.alpha_matting, decontaminate=task.decontaminate
            )
            single.on_step(1, 1)
            single.finish(
                job,
                JobOutput(
                    image=result.image,
                    backend=result.backend,
                    seconds=result.seconds,
                    bbox=result.bbox,
                    confidence=result.confidence,
                    notes=tuple(n.to_dict() for n in result.notes),
                ),
            )


__all__ = [
    "CutoutRunner",
    "CutoutTask",
    "CutterModel",
    "check_cutout_model",
    "cutout_model_names",
    "cutout_models",
]
