"""Native-size choice and fitting: models run at the resolution they were trained for, then the image is fitted.

Generating off the native size is a known cause of stacked two-scene backgrounds (seed findings, lesson 7),
so a request for 1000×333 is generated at the model's own size (or, for SDXL-class models, at the trained
bucket whose aspect is closest) and then cover-cropped and resized to exactly 1000×333.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from productshot.errors import BadRequestError

if TYPE_CHECKING:
    from productshot.models.registry import ModelPreset

MIN_SIDE = 64
MAX_SIDE = 4096

# SDXL's training buckets at 1024² area (width, height), landscape and square; portrait ones are transposes.
# SD3 and FLUX were trained on similar multi-aspect buckets at the same area, so they share the table.
SDXL_BUCKETS: tuple[tuple[int, int], ...] = ((1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640))
_BUCKET_BASE = 1024

# How a preset chooses its generation size (ModelPreset.sizing).
SIZING_FIXED = "fixed"  # always native_size; the result is cover-cropped (SD 1.x, the turbo models)
SIZING_BUCKETS = "buckets"  # the aspect-closest SDXL bucket scaled to native_size's area (SDXL, SD3, FLUX)
SIZING_ANY = "any"  # renders any size directly (the procedural studio)
SIZINGS = (SIZING_FIXED, SIZING_BUCKETS, SIZING_ANY)


def check_size(width: object, height: object) -> tuple[int, int]:
    """Validate an output size: whole numbers from MIN_SIDE to MAX_SIDE per side, else BadRequestError."""
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequestError(f"{name} must be a whole number of pixels, got {value!r}")
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise BadRequestError(f"{name} must be from {MIN_SIDE} to {MAX_SIDE} pixels, got {value}")
    return int(width), int(height)  # type: ignore[call-overload]  # the loop proved both int; mypy cannot narrow through it


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def bucket_sizes(native: tuple[int, int], multiple: int) -> tuple[tuple[int, int], ...]:
    """All buckets (landscape, square, portrait) scaled to the area of `native`, rounded to `multiple`."""
    scale = math.sqrt(native[0] * native[1]) / _BUCKET_BASE
    sizes: list[tuple[int, int]] = []
    for bw, bh in SDXL_BUCKETS:
        size = (_round_to(bw * scale, multiple), _round_to(bh * scale, multiple))
        for candidate in (size, (size[1], size[0])):
            if candidate not in sizes:
                sizes.append(candidate)
    return tuple(sizes)


def native_size_for(preset: ModelPreset, width: int, height: int) -> tuple[int, int]:
    """The size `preset` should generate at for a width×height request (see the module docstring)."""
    width, height = check_size(width, height)
    if preset.sizing == SIZING_ANY:
        return width, height
    if preset.sizing == SIZING_FIXED:
        return preset.native_size
    wanted = math.log(width / height)
    return min(
        bucket_sizes(preset.native_size, preset.size_multiple),
        key=lambda s: abs(math.log(s[0] / s[1]) - wanted),
    )


def fit_to_size(image: Image.Image, width: int, height: int) -> Image.Image:
    """Cover-crop `image` around its centre to the target aspect, then resize (LANCZOS) to exactly width×height."""
    width, height = check_size(width, height)
    if image.size == (width, height):
        return image.copy()
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
