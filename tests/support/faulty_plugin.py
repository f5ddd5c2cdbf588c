"""A test plugin (PRODUCTSHOT_PLUGINS=tests.support.faulty_plugin) whose backends fail the way GPUs do.

It registers a backend kind `faulty` through the registry's real plugin hook, with three presets:
- `faulty-oom-batch`: raises a CUDA out-of-memory RuntimeError for any batch of more than one spec;
- `faulty-oom-always`: raises it for every batch, even one spec;
- `faulty-slow`: sleeps STEP_SECONDS per step, reporting progress and honouring `should_stop`.
Images are seeded noise at exactly the requested size, so results stay checkable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from PIL import Image

from productshot.errors import JobCancelledError, ModelError
from productshot.models.fitting import SIZING_ANY
from productshot.models.generators import GenerateSpec, effective_steps
from productshot.models.registry import BackendKind, LoadOptions, ModelPreset, Registry
from productshot.settings import Settings

KIND = "faulty"
STEP_SECONDS = 0.1
OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; injected by tests.support.faulty_plugin)"
)


@dataclass(frozen=True)
class Fault:
    """How a preset misbehaves: out of memory above a batch size (None: never), and seconds per step."""

    oom_above_batch: int | None
    step_seconds: float


FAULTS = MappingProxyType(
    {
        "faulty-oom-batch": Fault(oom_above_batch=1, step_seconds=0.0),
        "faulty-oom-always": Fault(oom_above_batch=0, step_seconds=0.0),
        "faulty-slow": Fault(oom_above_batch=None, step_seconds=STEP_SECONDS),
    }
)


def noise_image(spec: GenerateSpec) -> Image.Image:
    """The image a faulty backend returns for a spec: noise from its seed, at its size."""
    rng = np.random.default_rng(spec.seed)
    return Image.fromarray(rng.integers(0, 256, (spec.height, spec.width, 3), dtype=np.uint8))


class FaultyBackend:
    """A GeneratorBackend that runs out of memory or takes its time, as its preset's Fault says."""

    device = "cpu"
    dtype = "float32"

    def __init__(self, preset: ModelPreset, fault: Fault) -> None:
        self.preset = preset
        self.name = preset.name
        self._fault = fault
        self.batch_sizes: list[int] = []

    @classmethod
    def load(cls, preset: ModelPreset, settings: Settings, options: LoadOptions) -> FaultyBackend:
        fault = FAULTS.get(preset.name)
        if fault is None:
            raise ModelError(f"faulty plugin has no preset {preset.name!r}")
        return cls(preset, fault)

    def generate(
        self,
        specs: Sequence[GenerateSpec],
        *,
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Image.Image]:
        self.batch_sizes.append(len(specs))
        limit = self._fault.oom_above_batch
        if limit is not None and len(specs) > limit:
            raise RuntimeError(OOM_MESSAGE)
        steps = effective_steps(self.preset, specs[0])
        for step in range(steps):
            if should_stop is not None and should_stop():
                raise JobCancelledError(f"stopped after {step} of {steps} steps")
            time.sleep(self._fault.step_seconds)
            if on_step is not None:
                on_step(step + 1, steps)
        return [noise_image(spec) for spec in specs]

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        self.batch_sizes.clear()


def _preset(name: str, description: str) -> ModelPreset:
    return ModelPreset(
        name=name,
        kind=KIND,
        hub_id=None,
        pipeline_class="tests.support.faulty_plugin.FaultyBackend",
        native_size=(64, 64),
        default_steps=4,
        default_guidance=0.0,
        dtype="float32",
        variant=None,
        gated=False,
        licence="test only",
        commercial_ok=True,
        memory_gb=0.0,
        cpu_offload=False,
        text_encoder="none",
        description=description,
        sizing=SIZING_ANY,
    )


def register(registry: Registry) -> None:
    """The plugin hook: one backend kind and its presets."""
    registry.register_backend(BackendKind(KIND, FaultyBackend.load, lambda preset, settings: None))
    registry.register_preset(_preset("faulty-oom-batch", "out of memory for batches larger than one"))
    registry.register_preset(_preset("faulty-oom-always", "out of memory always"))
    registry.register_preset(_preset("faulty-slow", f"{STEP_SECONDS} s per step"))
