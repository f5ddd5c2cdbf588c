"""Place a product cutout on a background: position, scale, margin, ground line and shadows.

The product is measured by its alpha bbox (not the padded cutout), resized once with premultiplied alpha
(so no light or dark fringe leaks in from the cutout's transparent pixels), and laid over the background
with the "over" operator. Shadows are multiplied onto the background first, in the product's region only.
numpy + Pillow only, so importing this stays cheap for the CLI and the MCP server.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from productshot.errors import BadImageError, BadRequestError
from productshot.tools import shadow as shadows
from productshot.tools.notes import Note, note
from productshot.tools.positions import ANCHOR_ALIGN, Position, parse_position

# The product's longest side as a fraction of the canvas short side. 0.55 makes the product the hero: about
# half the frame's height on a landscape canvas, while the margins, the shadow and enough of the scene stay
# visible around it. The seed experiments found that naive resizing left products far too small to lead.
DEFAULT_SCALE: float = 0.55
# Margin between the product's bbox and the canvas edges, as a fraction of the canvas short side.
DEFAULT_MARGIN: float = 0.05
# A margin above this would leave too little canvas to place anything.
MAX_MARGIN: float = 0.25

# Alpha below this is treated as haze when measuring the product's bbox (cutouts often carry a faint halo).
_BBOX_ALPHA = 8
# Enlarging a cutout more than this makes it soft; the result says so.
_SOFT_UPSCALE = 2.0


@dataclass(frozen=True)
class CompositeResult:
    """A finished composite and what was done to make it."""

    image: Image.Image  # RGB, the background's size
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) of the product's alpha in `image`
    position: str  # canonical position used, after any shift to keep the product on the canvas
    scale: float  # the scale used (after any shrink to fit)
    shadow: bool
    backend: str
    seconds: float
    notes: tuple[Note, ...]


def place_box(
    canvas: tuple[int, int], product_size: tuple[int, int], position: Position, *, margin_px: int
) -> tuple[int, int]:
    """Top-left corner of the product's bbox on the canvas (pure geometry, no clamping).

    An anchor aligns the bbox with the margin on its sides (bottom anchors stand it on the ground line, the
    canvas bottom minus the margin; centred ones centre it); an exact point is the bbox's bottom-centre.
    """
    width, height = canvas
    w, h = product_size
    if position.anchor is not None:
        ax, ay = ANCHOR_ALIGN[position.anchor]
        x = margin_px + round(ax * (width - 2 * margin_px - w))
        y = margin_px + round(ay * (height - 2 * margin_px - h))
        return x, y
    px, py = position.point_px(width, height)
    return round(px - w / 2), round(py - h)


def composite(
    background: Image.Image,
    product: Image.Image,
    *,
    position: str | Position = "bottom",
    scale: float | None = None,
    margin: float | None = None,
    shadow: bool = True,
    light: str | None = None,
) -> CompositeResult:
    """Place the `product` cutout (RGBA) on `background` and return the RGB result and its bbox.

    `scale` is the product's longest side as a fraction of the canvas short side (default DEFAULT_SCALE),
    `margin` the gap to the canvas edges as a fraction of the short side (default DEFAULT_MARGIN),
    `light` an optional light direction (see shadow.LIGHTS) for a cast shadow. Inputs are not modified.
    """
    started = time.perf_counter()
    pos = parse_position(position)
    scale_asked = _check_fraction("scale", DEFAULT_SCALE if scale is None else scale, low=0.0, high=1.0)
    margin_frac = _check_fraction(
        "margin", DEFAULT_MARGIN if margin is None else margin, low=None, high=MAX_MARGIN
    )
    light_name = shadows.parse_light(light) if light is not None else None
    notes: list[Note] = []

    canvas = _background_copy(background, notes)
    width, height = canvas.size
    pos.check_on_canvas(width, height)
    cutout, alpha_box = _cutout(product, notes)

    short = min(width, height)
    margin_px = round(margin_frac * short)
    size, scale_used = _fit_size(alpha_box, (width, height), scale_asked, margin_px, notes)

    x0, y0 = place_box((width, height), size, pos, margin_px=margin_px)
    if not pos.is_anchor:
        x0, y0, pos = _keep_on_canvas((x0, y0), size, (width, height), pos, notes)

    placed = _resize(cutout, alpha_box, size)
    alpha = np.asarray(placed.getchannel("A"))
    if shadow:
        _draw_shadows(canvas, alpha, (x0, y0), light_name)
    elif light_name is not None:
        notes.append(note("composite_light_ignored", light=light_name))
    # "Over": where alpha is 0 the background stays exactly as it was.
    canvas.paste(placed, (x0, y0), placed)

    return CompositeResult(
        image=canvas,
        bbox=_placed_bbox(alpha, (x0, y0)),
        position=pos.canonical(),
        scale=scale_used,
        shadow=shadow,
        backend="composite",
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def _check_fraction(name: str, value: float, *, low: float | None, high: float) -> float:
    """`value` as a float, or BadRequestError naming `name` when it is not a number in its range.

    `low` is exclusive (None: 0 inclusive), `high` inclusive.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequestError(f"{name} must be a number, got {value!r}")
    ok = (value > low if low is not None else value >= 0.0) and value <= high
    if not ok:
        lower = f"greater than {low:g}" if low is not None else "at least 0"
        what = (
            "the product's longest side as a fraction of the canvas short side"
            if name == "scale"
            else "a fraction of the canvas short side"
        )
        raise BadRequestError(f"{name} must be {lower} and at most {high:g} ({what}), got {value!r}")
    return float(value)


def _background_copy(background: Image.Image, notes: list[Note]) -> Image.Image:
    """An RGB copy of the background to draw on; a transparent background is flattened onto white."""
    if not isinstance(background, Image.Image):
        raise BadImageError(f"background must be an image, got {type(background).__name__}")
    if background.width < 1 or background.height < 1:
        raise BadImageError(f"background is empty ({background.width}x{background.height})")
    if background.mode == "RGB":
        return background.copy()
    if _has_alpha(background):
        rgba = background.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append(note("composite_flattened"))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return background.convert("RGB")


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info


def _cutout(product: Image.Image, notes: list[Note]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The product as RGBA and the bbox of its visible alpha; BadImageError when it is not a cutout."""
    if not isinstance(product, Image.Image):
        raise BadImageError(f"product must be an image, got {type(product).__name__}")
    if not _has_alpha(product):
        raise BadImageError(
            f"product has no transparency (mode {product.mode}); cut it out first (remove_background) "
            "so only the product is placed"
        )
    rgba = product if product.mode == "RGBA" else product.convert("RGBA")
    alpha = rgba.getchannel("A")
    box = alpha.point(lambda v: 255 if v >= _BBOX_ALPHA else 0).getbbox()
    if box is None:
        raise BadImageError("product is fully transparent: its cutout has no visible pixels")
    if alpha.getextrema()[0] == 255:
        notes.append(note("composite_no_alpha"))
    return rgba, box


def _fit_size(
    alpha_box: tuple[int, int, int, int],
    canvas: tuple[int, int],
    scale: float,
    margin_px: int,
    notes: list[Note],
) -> tuple[tuple[int, int], float]:
    """Pixel size of the product at `scale`, shrunk to fit inside the margins; and the scale that gives."""
    bw, bh = alpha_box[2] - alpha_box[0], alpha_box[3] - alpha_box[1]
    width, height = canvas
    short = min(width, height)
    factor = scale * short / max(bw, bh)
    room_w, room_h = max(1, width - 2 * margin_px), max(1, height - 2 * margin_px)
    fit = min(room_w / bw, room_h / bh)
    used = scale
    if factor > fit:
        factor = fit
        used = max(bw, bh) * fit / short
        notes.append(note("composite_shrunk", scale=scale, width=width, height=height, used=round(used, 3)))
    if factor > _SOFT_UPSCALE:
        notes.append(note("composite_soft", factor=round(factor, 1)))
    size = (min(room_w, max(1, round(bw * factor))), min(room_h, max(1, round(bh * factor))))
    return size, used


def _keep_on_canvas(
    corner: tuple[int, int],
    size: tuple[int, int],
    canvas: tuple[int, int],
    position: Position,
    notes: list[Note],
) -> tuple[int, int, Position]:
    """Shift an exact placement so the product's box stays on the canvas; the position then names the point used."""
    (x0, y0), (w, h), (width, height) = corner, size, canvas
    x = min(max(x0, 0), width - w)
    y = min(max(y0, 0), height - h)
    if (x, y) == (x0, y0):
        return x0, y0, position
    moves = []
    if x != x0:
        moves.append(f"{abs(x - x0)} px {'right' if x > x0 else 'left'}")
    if y != y0:
        moves.append(f"{abs(y - y0)} px {'down' if y > y0 else 'up'}")
    notes.append(note("composite_shifted", moves=" and ".join(moves)))
    px, py = x + w / 2, float(y + h)
    if position.unit == "px":
        return x, y, Position(x=px, y=py, unit="px")
    return x, y, Position(x=px / width, y=py / height, unit="fraction")


def _resize(product: Image.Image, alpha_box: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    """The alpha-bbox region of the RGBA `product` resized to `size`, as RGBA.

    Colour is resized premultiplied by alpha, then un-premultiplied, so the cutout's invisible pixels (often
    the old white or green backdrop) never bleed into the edges as a light or dark fringe; un-premultiplying
    also clips filter overshoot (colour brighter than its coverage), which would glow. LANCZOS when
    shrinking, BICUBIC when enlarging (less ringing); the crop keeps a few pixels of context so the filter
    sees the real soft edge rather than a cut.
    """
    bw, bh = alpha_box[2] - alpha_box[0], alpha_box[3] - alpha_box[1]
    shrink = max(bw / size[0], bh / size[1])
    pad = math.ceil(3 * max(1.0, shrink)) + 1
    crop = (
        max(0, alpha_box[0] - pad),
        max(0, alpha_box[1] - pad),
        min(product.width, alpha_box[2] + pad),
        min(product.height, alpha_box[3] + pad),
    )
    region = product.crop(crop).convert("RGBa")
    box = (alpha_box[0] - crop[0], alpha_box[1] - crop[1], alpha_box[2] - crop[0], alpha_box[3] - crop[1])
    resample = Image.Resampling.LANCZOS if shrink >= 1.0 else Image.Resampling.BICUBIC
    return region.resize(size, resample, box=box, reducing_gap=3.0).convert("RGBA")


def _draw_shadows(
    canvas: Image.Image, alpha: npt.NDArray[np.uint8], origin: tuple[int, int], light: str | None
) -> None:
    """Multiply the contact shadow (and the cast shadow, given a light) onto the canvas under the product."""
    base = shadows.find_base(alpha, origin)
    if base is None:
        return
    canvas_size = canvas.size
    opacity = shadows.opacity_for(shadows.surface_luminance(canvas, base))
    layers = [shadows.contact_shadow(base, origin, canvas_size, opacity=opacity)]
    if light is not None:
        layers.append(shadows.cast_shadow(alpha, origin, base, canvas_size, light=light, opacity=opacity))
    for layer in layers:
        if layer is not None:
            shadows.apply_shadow(canvas, layer)


def _placed_bbox(alpha: npt.NDArray[np.uint8], origin: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bbox (exclusive) of the visible alpha of the placed product, in canvas pixels."""
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    cols = np.flatnonzero(alpha.max(axis=0) > 0)
    x0, y0 = origin
    if rows.size == 0:
        return x0, y0, x0, y0
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1
