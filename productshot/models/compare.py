"""Model comparison: load each model from disk, time its first and warm generations at native size, measure
its memory, and lay the same prompts and seeds out as a contact sheet (one labelled row per model).

The experiments did this by hand per model; `productshot bench models` runs it in one go.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont, ImageOps

from productshot.errors import BadRequestError, ProductshotError
from productshot.models import devices, weights
from productshot.models.registry import Registry, get_preset
from productshot.models.runner import ModelRunner, spec_for

if TYPE_CHECKING:
    from productshot.models.registry import ModelPreset
    from productshot.settings import Settings

DEFAULT_PROMPTS: tuple[str, ...] = (
    "a simple sunny beach with soft sand, one single scene, empty foreground, product photography backdrop",
    "white marble tabletop in a bright minimal studio, one single scene, soft light",
)
DEFAULT_SEEDS: tuple[int, ...] = (42,)
NEGATIVE_PROMPT = "text, watermark, people, two scenes, split image, clutter"

_BACKGROUND = (28, 28, 30)
_EMPTY_CELL = (60, 60, 64)
_TEXT = (235, 235, 235)
_ERROR_TEXT = (255, 140, 120)


@dataclass(frozen=True)
class ModelRun:
    """One model's figures and images (one per prompt × seed, prompt-major), or the error that stopped it."""

    model: str
    backend: str
    device: str
    dtype: str
    native_size: tuple[int, int]
    steps: int
    load_seconds: float
    first_seconds: float
    warm_seconds: float
    weights_bytes: int
    peak_bytes: int
    peak_source: str  # what peak_bytes measures on this device
    images: tuple[Image.Image, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "backend": self.backend,
            "device": self.device,
            "dtype": self.dtype,
            "native_size": list(self.native_size),
            "steps": self.steps,
            "load_seconds": round(self.load_seconds, 4),
            "first_seconds": round(self.first_seconds, 4),
            "warm_seconds": round(self.warm_seconds, 4),
            "weights_bytes": self.weights_bytes,
            "peak_bytes": self.peak_bytes,
            "peak_source": self.peak_source,
            "error": self.error,
        }


@dataclass(frozen=True)
class Comparison:
    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: tuple[ModelRun, ...]


@dataclass(frozen=True)
class ContactSheet:
    """The sheet and its layout: a header band, then one row of `cell`-px squares per model."""

    image: Image.Image
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cell: int
    header_height: int
    label_width: int


def _peak(device: str, baseline_rss: int) -> tuple[int, str]:
    memory = devices.device_memory(device)
    if device.startswith("cuda"):
        return int(memory["peak"]), "cuda max_memory_allocated"
    return max(0, int(memory["rss"]) - baseline_rss), "process RSS growth while loaded"


def _import_classes(preset: ModelPreset, settings: Settings) -> None:
    """Import the pipeline's classes before the clock starts: "load" means reading this model from disk,
    not diffusers' and transformers' lazy first imports (seconds on their own)."""
    if preset.kind != "diffusers" or weights.missing_weights(preset, settings) is not None:
        return
    folder = weights.locate_weights(preset, settings)
    index = weights.read_model_index(folder)
    wanted = [("diffusers", str(index["_class_name"])), ("diffusers", preset.pipeline_class)]
    for library, cls in [*wanted, *weights.components(index).values()]:
        getattr(importlib.import_module(library), cls, None)


def _failed(name: str, error: str) -> ModelRun:
    return ModelRun(name, name, "-", "-", (0, 0), 0, 0.0, 0.0, 0.0, 0, 0, "-", (), error)


def run_model(
    name: str,
    settings: Settings,
    *,
    prompts: Sequence[str],
    seeds: Sequence[int],
    steps: int | None = None,
    device: str | None = None,
    registry: Registry | None = None,
) -> ModelRun:
    """Load `name` from disk, time a first and a warm generation, make every prompt × seed cell, unload.
    Requests are at the preset's native size (kept inside the servable range for tiny test models)."""
    registry = registry or Registry.default(settings)
    preset = get_preset(name, settings, registry=registry)
    target = devices.pick_device(device) if preset.kind != "studio" else "cpu"
    devices.free_memory(target)
    devices.reset_peak_memory(target)
    baseline = int(devices.device_memory(target)["rss"])
    _import_classes(preset, settings)
    specs = [
        spec_for(preset, prompt, negative_prompt=NEGATIVE_PROMPT, seed=seed, steps=steps)
        for prompt in prompts
        for seed in seeds
    ]
    runner = ModelRunner(settings, registry=registry, device=device)
    started = time.perf_counter()
    try:
        backend = runner.load(preset)
        loaded = time.perf_counter()
        first = runner.run(backend, specs[:1])
        first_done = time.perf_counter()
        runner.run(backend, specs[:1])
        warm_done = time.perf_counter()
        rest = runner.run(backend, specs[1:])
        peak, source = _peak(backend.device, baseline)
        weights_bytes = backend.memory_bytes()
    finally:
        runner.close()
    return ModelRun(
        model=preset.name,
        backend=backend.name,
        device=backend.device,
        dtype=backend.dtype,
        native_size=preset.native_size,
        steps=first[0].steps,
        load_seconds=loaded - started,
        first_seconds=first_done - loaded,
        warm_seconds=warm_done - first_done,
        weights_bytes=weights_bytes,
        peak_bytes=peak,
        peak_source=source,
        images=tuple(result.image for result in first + rest),
    )


def compare_models(
    models: Sequence[str],
    settings: Settings,
    *,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    steps: int | None = None,
    device: str | None = None,
    on_model: Callable[[str], None] | None = None,
    registry: Registry | None = None,
) -> Comparison:
    """Run `run_model` for each model in turn (one loaded at a time). A model that cannot load or run gets a
    row carrying its error, so one missing download does not spoil the comparison."""
    if not models:
        raise BadRequestError("models must name at least one model")
    if not prompts or not seeds:
        raise BadRequestError("prompts and seeds must each have at least one entry")
    registry = registry or Registry.default(settings)
    runs = []
    for name in models:
        if on_model is not None:
            on_model(name)
        try:
            runs.append(
                run_model(
                    name,
                    settings,
                    prompts=prompts,
                    seeds=seeds,
                    steps=steps,
                    device=device,
                    registry=registry,
                )
            )
        except ProductshotError as exc:
            runs.append(_failed(name, str(exc)))
    return Comparison(tuple(prompts), tuple(seeds), tuple(runs))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _label(run: ModelRun) -> list[str]:
    if run.error:
        return [
            run.model,
            "failed:",
            *[run.error[i : i + 30] for i in range(0, min(len(run.error), 150), 30)],
        ]
    return [
        run.backend,
        f"{run.device} {run.dtype}",
        f"native {run.native_size[0]}x{run.native_size[1]}, {run.steps} steps",
        f"load {run.load_seconds:.2f}s",
        f"first {run.first_seconds:.2f}s warm {run.warm_seconds:.2f}s",
        f"peak {run.peak_bytes / 2**20:.0f} MiB",
    ]


def contact_sheet(comparison: Comparison, *, cell: int = 192, label_width: int = 260) -> ContactSheet:
    """One row per model, one column per prompt × seed (each image padded into a `cell` square), with the
    model's figures on the left and the prompt and seed above each column."""
    if not 32 <= cell <= 1024:
        raise BadRequestError(f"cell must be from 32 to 1024 pixels, got {cell}")
    columns = tuple(f"seed {seed}: {prompt}" for prompt in comparison.prompts for seed in comparison.seeds)
    header = 44
    width = label_width + cell * len(columns)
    height = header + cell * len(comparison.runs)
    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    small, big = _font(11), _font(14)
    for col, text in enumerate(columns):
        x = label_width + col * cell + 4
        chars = max(8, cell // 7)
        draw.text((x, 4), text[:chars], fill=_TEXT, font=small)
        draw.text((x, 20), text[chars : 2 * chars], fill=_TEXT, font=small)
    for row, run in enumerate(comparison.runs):
        y = header + row * cell
        for line, text in enumerate(_label(run)):
            colour = _ERROR_TEXT if run.error and line > 0 else _TEXT
            draw.text((8, y + 8 + line * 18), text, fill=colour, font=big if line == 0 else small)
        for col in range(len(columns)):
            box = (label_width + col * cell, y)
            if col < len(run.images):
                sheet.paste(ImageOps.pad(run.images[col], (cell, cell), color=_BACKGROUND), box)
            else:
                sheet.paste(Image.new("RGB", (cell - 2, cell - 2), _EMPTY_CELL), (box[0] + 1, box[1] + 1))
    return ContactSheet(sheet, tuple(r.model for r in comparison.runs), columns, cell, header, label_width)
