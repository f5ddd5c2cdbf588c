"""Generator backends: load a model once, then turn batches of GenerateSpecs into images.

Loading is apart from running (as in diffusers): `load_backend` places a pipeline on its device once, and
`generate` runs it many times. Each spec gets its own torch.Generator seeded with spec.seed, so a result
never depends on which other specs shared its batch: bit for bit on the CPU, where a batch's samples run one
at a time (batched CPU kernels round differently for each batch size, which flips the odd pixel), and up to
float rounding on GPUs, where a batch is one pipeline call for throughput. Models run at their native size
(fitting.native_size_for) and each image is fitted to the spec's own width×height afterwards.
torch and diffusers are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from PIL import Image

from productshot.errors import BadRequestError, JobCancelledError, ModelError
from productshot.models import devices, weights
from productshot.models.fitting import check_size, fit_to_size, native_size_for
from productshot.models.registry import (
    KIND_DIFFUSERS,
    KIND_STUDIO,
    BackendKind,
    LoadOptions,
    ModelPreset,
    Registry,
)

if TYPE_CHECKING:
    from productshot.settings import Settings

MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1  # fits every client (JSON numbers, numpy seeds)

StepCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class GenerateSpec:
    """One image to make: prompt, size of the result, seed, and optional steps/guidance (else the preset's)."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    steps: int | None = None
    guidance: float | None = None
    scene: str | None = None  # plain scene words for the studio generator; diffusion models read the prompt
    footprint: tuple[float, float, float] | None = None  # studio: the product's base (left, right, row) in px
    view: str | None = None  # studio: "flat-lay" or "eye-level" (None: eye-level)

    def __post_init__(self) -> None:
        if self.scene is not None and (not isinstance(self.scene, str) or len(self.scene) > MAX_PROMPT_CHARS):
            raise BadRequestError(f"scene must be text of at most {MAX_PROMPT_CHARS} characters")
        for name in ("prompt", "negative_prompt"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise BadRequestError(f"{name} must be text, got {type(value).__name__}")
            if len(value) > MAX_PROMPT_CHARS:
                raise BadRequestError(
                    f"{name} must be at most {MAX_PROMPT_CHARS} characters, got {len(value)}"
                )
        if not self.prompt.strip():
            raise BadRequestError("prompt must not be empty")
        check_size(self.width, self.height)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise BadRequestError(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.steps is not None and (
            isinstance(self.steps, bool)
            or not isinstance(self.steps, int)
            or not 1 <= self.steps <= MAX_STEPS
        ):
            raise BadRequestError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {self.steps!r}")
        if self.guidance is not None and (
            isinstance(self.guidance, bool)
            or not isinstance(self.guidance, int | float)
            or not 0.0 <= float(self.guidance) <= MAX_GUIDANCE
        ):
            raise BadRequestError(
                f"guidance must be a number from 0 to {MAX_GUIDANCE}, got {self.guidance!r}"
            )


@runtime_checkable
class GeneratorBackend(Protocol):
    """A loaded model that turns specs into images; one per model per device, owned by the worker."""

    name: str
    device: str
    dtype: str
    preset: ModelPreset

    def generate(
        self,
        specs: Sequence[GenerateSpec],
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> list[Image.Image]: ...

    def memory_bytes(self) -> int: ...

    def close(self) -> None: ...


def effective_steps(preset: ModelPreset, spec: GenerateSpec) -> int:
    return spec.steps if spec.steps is not None else preset.default_steps


def effective_guidance(preset: ModelPreset, spec: GenerateSpec) -> float:
    return float(spec.guidance if spec.guidance is not None else preset.default_guidance)


def batch_key(preset: ModelPreset, spec: GenerateSpec) -> tuple[Any, ...]:
    """Specs with equal keys run in one pipeline call: same model, native size, steps, guidance, and
    negative prompt present or not (SDXL treats a missing negative prompt differently from an empty one)."""
    native = native_size_for(preset, spec.width, spec.height)
    return (
        preset.name,
        native,
        effective_steps(preset, spec),
        effective_guidance(preset, spec),
        bool(spec.negative_prompt.strip()),
    )


def _groups(preset: ModelPreset, specs: Sequence[GenerateSpec]) -> list[list[int]]:
    """Indices of `specs` grouped by batch_key, groups in order of first appearance."""
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for index, spec in enumerate(specs):
        by_key.setdefault(batch_key(preset, spec), []).append(index)
    return list(by_key.values())


def _check_stop(should_stop: StopCheck | None, done: int, total: int) -> None:
    if should_stop is not None and should_stop():
        raise JobCancelledError(f"generation was cancelled after {done} of {total} steps")


# ---- diffusers ---------------------------------------------------------------------------------------


def _supported_device_maps() -> tuple[str, ...]:
    """Pipeline-level device_map strategies the installed diffusers accepts (0.42: balanced, the
    accelerator's name, cpu). "auto" is only for single models and is refused for pipelines."""
    from diffusers.pipelines import pipeline_utils

    return tuple(dict.fromkeys(getattr(pipeline_utils, "SUPPORTED_DEVICE_MAP", ("balanced",))))


def _check_device_map(device_map: str | None) -> str | None:
    if device_map is None:
        return None
    import diffusers

    supported = _supported_device_maps()
    if device_map not in supported:
        raise ModelError(
            f"device_map {device_map!r} is not supported for a whole pipeline by diffusers {diffusers.__version__} "
            f"(supported here: {', '.join(supported)}); leave it unset to place the model on one device"
        )
    return device_map


def _quiet_libraries() -> None:
    """Turn off diffusers' and transformers' per-component progress bars (the worker's stderr is a log)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


class DiffusersBackend:
    """A diffusers text-to-image pipeline placed on one device."""

    def __init__(
        self,
        preset: ModelPreset,
        pipe: Any,
        *,
        device: str,
        dtype: str,
        folder: Path,
        offloaded: bool,
        exact_batches: bool,
    ) -> None:
        self.preset = preset
        self.name = preset.backend_name
        self.device = device
        self.dtype = dtype
        self.folder = folder
        self.offloaded = offloaded
        self.exact_batches = exact_batches
        self._pipe: Any = pipe
        self._lock = threading.Lock()
        self._params = frozenset(inspect.signature(pipe.__call__).parameters)

    @classmethod
    def load(cls, preset: ModelPreset, settings: Settings, options: LoadOptions) -> DiffusersBackend:
        """Load from local files only (never a download), then place: `.to(device)`, CPU offload for a
        preset too big for the GPU, or a supported pipeline device_map. Every failure is a ModelError."""
        folder = weights.locate_weights(preset, settings)
        device = devices.pick_device(options.device)
        device_map = _check_device_map(options.device_map)
        dtype_name = devices.dtype_name_for(preset, device)
        import diffusers

        _quiet_libraries()
        pipeline_cls = getattr(diffusers, preset.pipeline_class, None)
        if pipeline_cls is None or not hasattr(pipeline_cls, "from_pretrained"):
            raise ModelError(
                f"{preset.name}: diffusers {diffusers.__version__} has no pipeline class {preset.pipeline_class!r}"
            )
        kwargs: dict[str, Any] = {
            "dtype": devices.dtype_for(preset, device),
            "use_safetensors": True,
            "local_files_only": True,
        }
        if weights.has_variant(folder, preset.variant):
            kwargs["variant"] = preset.variant
        if device_map is not None:
            kwargs["device_map"] = device_map
        try:
            pipe = pipeline_cls.from_pretrained(str(folder), **kwargs)
        except Exception as exc:  # diffusers/transformers raise many types; each becomes one clear error
            devices.free_memory(device)
            if devices.is_out_of_memory(exc):
                raise ModelError(
                    f"{preset.name} does not fit in memory while loading on {device}: {exc}"
                ) from exc
            raise ModelError(
                f"{preset.name} could not be loaded from {folder}: {type(exc).__name__}: {exc} "
                f"(if the files are damaged, run `productshot models pull {preset.name}` again)"
            ) from exc
        offloaded = False
        try:
            if device_map is None:
                offloaded = cls._place(pipe, preset, device)
        except Exception as exc:  # a failed placement must not leave half a model on the device
            del pipe
            devices.free_memory(device)
            raise ModelError(
                f"{preset.name} could not be placed on {device}: {type(exc).__name__}: {exc}"
            ) from exc
        pipe.set_progress_bar_config(disable=True)
        exact = options.exact_batches if options.exact_batches is not None else device == "cpu"
        return cls(
            preset,
            pipe,
            device=device,
            dtype=dtype_name,
            folder=folder,
            offloaded=offloaded,
            exact_batches=exact,
        )

    @staticmethod
    def _place(pipe: Any, preset: ModelPreset, device: str) -> bool:
        """Move the pipeline to `device`, or offload it when the preset says so and the GPU is too small.
        Returns True when offloaded."""
        total = devices.total_memory_bytes(device)
        if preset.cpu_offload and total is not None and total < preset.memory_gb * 1024**3:
            pipe.enable_model_cpu_offload(device=device)
            return True
        pipe.to(device)
        return False

    def _require_pipe(self) -> Any:
        if self._pipe is None:
            raise ModelError(f"{self.name} was unloaded; load it again")
        return self._pipe

    def generate(
        self,
        specs: Sequence[GenerateSpec],
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> list[Image.Image]:
        """Images for `specs`, in order. Specs sharing a batch key run in one pipeline call (one at a time
        when exact_batches); on_step(i, n) follows every denoising step over all calls; should_stop() is
        checked at each step and raises JobCancelledError."""
        specs = list(specs)
        if not specs:
            return []
        calls = (
            [[i] for g in _groups(self.preset, specs) for i in g]
            if self.exact_batches
            else _groups(self.preset, specs)
        )
        total = sum(effective_steps(self.preset, specs[call[0]]) for call in calls)
        results: list[Image.Image | None] = [None] * len(specs)
        done = 0
        with self._lock:
            pipe = self._require_pipe()
            for call in calls:
                _check_stop(should_stop, done, total)
                batch = [specs[i] for i in call]
                images = self._run(
                    pipe, batch, done=done, total=total, on_step=on_step, should_stop=should_stop
                )
                for index, image in zip(call, images, strict=True):
                    results[index] = fit_to_size(image, specs[index].width, specs[index].height)
                done += effective_steps(self.preset, batch[0])
        return [image for image in results if image is not None]

    def _run(
        self,
        pipe: Any,
        batch: list[GenerateSpec],
        *,
        done: int,
        total: int,
        on_step: StepCallback | None,
        should_stop: StopCheck | None,
    ) -> list[Image.Image]:
        import torch

        first = batch[0]
        width, height = native_size_for(self.preset, first.width, first.height)
        steps = effective_steps(self.preset, first)
        reported = 0

        def step_end(_pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            nonlocal reported
            reported = index + 1
            if on_step is not None:
                on_step(min(done + reported, total), total)
            _check_stop(should_stop, done + reported, total)
            return tensors

        kwargs: dict[str, Any] = {
            "prompt": [s.prompt for s in batch],
            "width": width,
            "height": height,
            "num_inference_steps": steps,
            "guidance_scale": effective_guidance(self.preset, first),
            # One CPU generator per image: the same noise on every device and in any batch.
            "generator": [torch.Generator(device="cpu").manual_seed(s.seed) for s in batch],
            "output_type": "pil",
        }
        # FLUX-style pipelines (true_cfg_scale) only use negative prompts under true CFG: leave them out there.
        if (
            first.negative_prompt.strip()
            and "negative_prompt" in self._params
            and "true_cfg_scale" not in self._params
        ):
            kwargs["negative_prompt"] = [s.negative_prompt for s in batch]
        if "callback_on_step_end" in self._params:
            kwargs["callback_on_step_end"] = step_end
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
        except Exception as exc:
            if devices.is_out_of_memory(exc):
                devices.free_memory(self.device)  # leave room for the caller's retry at a smaller batch
            raise
        if reported < steps and on_step is not None:  # a pipeline without step callbacks
            on_step(done + steps, total)
        return [image.convert("RGB") for image in output.images]

    def memory_bytes(self) -> int:
        """Bytes held by the pipeline's weights and buffers (on whichever device they sit)."""
        import torch

        pipe = self._pipe
        if pipe is None:
            return 0
        total = 0
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                total += sum(t.numel() * t.element_size() for t in component.parameters())
                total += sum(t.numel() * t.element_size() for t in component.buffers())
        return total

    def close(self) -> None:
        """Drop the pipeline and give its memory back to the device."""
        with self._lock:
            pipe, self._pipe = self._pipe, None
            if pipe is not None and self.offloaded:
                pipe.remove_all_hooks()
            del pipe
        devices.free_memory(self.device)


# ---- studio ------------------------------------------------------------------------------------------


class StudioBackend:
    """The embedded procedural generator (productshot.tools.studio): renders any size directly on the CPU."""

    device = "cpu"
    dtype = "float32"

    def __init__(self, preset: ModelPreset, render: Callable[..., Any]) -> None:
        self.preset = preset
        self.name = preset.backend_name
        self._render = render

    @classmethod
    def load(cls, preset: ModelPreset, settings: Settings, options: LoadOptions) -> StudioBackend:
        try:
            from productshot.tools.studio import render_backdrop
        except ImportError as exc:
            raise ModelError(
                f"the studio generator is not installed (productshot.tools.studio): {exc}"
            ) from exc
        return cls(preset, render_backdrop)

    def generate(
        self,
        specs: Sequence[GenerateSpec],
        *,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> list[Image.Image]:
        """One backdrop per spec from its scene words (else the prompt's), seeded by spec.seed."""
        images = []
        for index, spec in enumerate(specs):
            _check_stop(should_stop, index, len(specs))
            width, height = native_size_for(self.preset, spec.width, spec.height)
            footprint = None
            if spec.footprint is not None and (width, height) == (spec.width, spec.height):
                from productshot.tools.ground import Footprint

                footprint = Footprint(*spec.footprint)
            backdrop = self._render(
                spec.scene or spec.prompt, width, height, seed=spec.seed, footprint=footprint, view=spec.view
            )
            images.append(fit_to_size(backdrop.image.convert("RGB"), spec.width, spec.height))
            if on_step is not None:
                on_step(index + 1, len(specs))
        return images

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        """Nothing to free: the studio holds no model."""


def _studio_missing(preset: ModelPreset, settings: Settings) -> str | None:
    if importlib.util.find_spec("productshot.tools.studio") is None:
        return "the studio generator (productshot.tools.studio) is not installed"
    return None


def register(registry: Registry) -> None:
    """The built-in backends, registered through the same hook plugins use."""
    registry.register_backend(BackendKind(KIND_DIFFUSERS, DiffusersBackend.load, weights.missing_weights))
    registry.register_backend(BackendKind(KIND_STUDIO, StudioBackend.load, _studio_missing))


# ---- entry points ------------------------------------------------------------------------------------


def load_backend(
    preset: ModelPreset,
    settings: Settings,
    *,
    device: str | None = None,
    device_map: str | None = None,
    exact_batches: bool | None = None,
    registry: Registry | None = None,
) -> GeneratorBackend:
    """Load `preset` with the backend registered for its kind (see LoadOptions for the placement options).
    ModelError naming the fix for missing or damaged weights, a gated model without a token, an unsupported
    device_map or a failed placement; BadRequestError for a device this machine does not have."""
    registry = registry or Registry.default(settings)
    options = LoadOptions(device=device, device_map=device_map, exact_batches=exact_batches)
    return registry.backend(preset.kind).load(preset, settings, options)
