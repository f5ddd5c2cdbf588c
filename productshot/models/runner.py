"""One way to make a background: a request becomes a `GenerateSpec` (`spec_for`), and a `ModelRunner` loads the
model once and runs specs on it. The worker's queue, the in-process path (`--local`, the embedded defaults)
and the model comparison all go through here, so a request means the same spec, and the same pixels, on
every path. Each caller says where loaded models are kept: the worker's budgeted cache, or `LoadedModels`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

from PIL import Image

from productshot.models.fitting import MAX_SIDE, MIN_SIDE, native_size_for
from productshot.models.generators import (
    MAX_SEED,
    GenerateSpec,
    GeneratorBackend,
    StepCallback,
    StopCheck,
    effective_guidance,
    effective_steps,
    load_backend,
)
from productshot.models.registry import AUTO, ModelPreset, Registry, get_preset, resolve_auto

if TYPE_CHECKING:
    from productshot.settings import Settings


def output_size(native: tuple[int, int], width: int | None, height: int | None) -> tuple[int, int]:
    """The requested size; a missing side follows the model's native aspect, both missing: native."""
    if width is not None and height is not None:
        return width, height
    native_w, native_h = native
    if width is None and height is None:
        return _clamp(native_w), _clamp(native_h)
    if width is not None:
        return width, _clamp(round(width * native_h / native_w))
    assert height is not None
    return _clamp(round(height * native_w / native_h)), height


def _clamp(side: int) -> int:
    return max(MIN_SIDE, min(MAX_SIDE, int(side)))


def spec_for(
    preset: ModelPreset,
    prompt: str,
    *,
    negative_prompt: str = "",
    scene: str | None = None,
    width: int | None = None,
    height: int | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    footprint: tuple[float, float, float] | None = None,
    view: str | None = None,
) -> GenerateSpec:
    """The spec a request means on `preset`: a missing side follows the model's native aspect (output_size),
    a missing seed is drawn, missing steps and guidance are the preset's. GenerateSpec checks every field
    (BadRequestError naming it)."""
    width, height = output_size(preset.native_size, width, height)
    return GenerateSpec(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=width,
        height=height,
        seed=seed if seed is not None else secrets.randbelow(MAX_SEED + 1),
        steps=steps if steps is not None else preset.default_steps,
        guidance=guidance if guidance is not None else preset.default_guidance,
        scene=scene,
        footprint=footprint,
        view=view,
    )


@dataclass(frozen=True)
class Generated:
    """One image a generator made, and what made it."""

    image: Image.Image
    model: str  # the preset's name
    backend: str  # the name results report (a local folder's own name for a folder model)
    device: str
    dtype: str
    seed: int
    width: int
    height: int
    steps: int
    guidance: float
    native_size: tuple[int, int]  # the size the model ran at before fitting to width×height
    seconds: float  # the backend call that made it (shared by the specs of one batch)
    load_seconds: float = 0.0  # loading the model for this call (0 when it was loaded already)


class ModelKeeper(Protocol):
    """Where loaded generators are kept: the worker's `ModelCache` (a memory budget) or `LoadedModels`."""

    def acquire(
        self,
        kind: Literal["generator"],
        name: str,
        load: Callable[[], GeneratorBackend],
        *,
        estimate_bytes: int = 0,
    ) -> GeneratorBackend: ...

    def close_all(self) -> None: ...


class LoadedModels:
    """Generators loaded in this process, each once (concurrent first calls share one load: two copies of a
    diffusion pipeline would not fit side by side), kept until `close_all`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, GeneratorBackend] = {}

    def acquire(
        self,
        kind: Literal["generator"],
        name: str,
        load: Callable[[], GeneratorBackend],
        *,
        estimate_bytes: int = 0,
    ) -> GeneratorBackend:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                model = self._models[name] = load()
            return model

    def close_all(self) -> None:
        with self._lock:
            models = list(self._models.values())
            self._models.clear()
        for model in models:
            model.close()


class ModelRunner:
    """Resolves model names, loads each generator once into its keeper, and runs specs on it."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: Registry | None = None,
        device: str | None = None,
        keep: ModelKeeper | None = None,
    ) -> None:
        """`device` None picks the best one here; `keep` None keeps models in this object until close()."""
        self.settings = settings
        self.device = device
        self._registry = registry
        self._keep: ModelKeeper = keep if keep is not None else LoadedModels()

    @property
    def registry(self) -> Registry:
        """The registry, built on first use (plugins are imported then, not when a runner is made)."""
        if self._registry is None:
            self._registry = Registry.default(self.settings)
        return self._registry

    def resolve(self, model: str) -> tuple[ModelPreset, str | None]:
        """The preset for a model name, and for "auto" the reason in words; ModelError when unknown."""
        if isinstance(model, str) and model.strip().lower() == AUTO:
            return resolve_auto(self.settings, registry=self.registry, device=self.device)
        return get_preset(model, self.settings, registry=self.registry), None

    def load(self, preset: ModelPreset) -> GeneratorBackend:
        """The preset's backend, loaded once and then kept by the keeper."""
        return self._keep.acquire(
            "generator",
            preset.name,
            lambda: load_backend(preset, self.settings, device=self.device, registry=self.registry),
            estimate_bytes=int(max(0.0, preset.memory_gb) * 1024**3),
        )

    def run(
        self,
        backend: GeneratorBackend,
        specs: Sequence[GenerateSpec],
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> list[Generated]:
        """One result per spec, in order, from a loaded backend (see GeneratorBackend.generate)."""
        preset = backend.preset
        started = time.perf_counter()
        images = backend.generate(specs, on_step=on_step, should_stop=should_stop)
        seconds = time.perf_counter() - started
        if len(images) != len(specs):
            raise RuntimeError(
                f"backend {backend.name} returned {len(images)} images for {len(specs)} requests"
            )
        return [
            Generated(
                image=image,
                model=preset.name,
                backend=backend.name,
                device=backend.device,
                dtype=backend.dtype,
                seed=spec.seed,
                width=spec.width,
                height=spec.height,
                steps=effective_steps(preset, spec),
                guidance=effective_guidance(preset, spec),
                native_size=native_size_for(preset, spec.width, spec.height),
                seconds=seconds,
            )
            for spec, image in zip(specs, images, strict=True)
        ]

    def generate(
        self, preset: ModelPreset, spec: GenerateSpec, *, on_step: StepCallback | None = None
    ) -> Generated:
        """Load `preset` (once) and make the image `spec` asks for."""
        started = time.perf_counter()
        backend = self.load(preset)
        load_seconds = time.perf_counter() - started
        [result] = self.run(backend, [spec], on_step=on_step)
        return replace(result, load_seconds=load_seconds)

    def close(self) -> None:
        """Close every generator this runner's keeper holds and give the memory back."""
        self._keep.close_all()


__all__ = [
    "Generated",
    "LoadedModels",
    "ModelKeeper",
    "ModelRunner",
    "output_size",
    "spec_for",
]
