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
from productshot.tools.anchors import ANCHOR_ALIGN, Position
from productshot.tools.ground import Footprint, Ground, Light
from productshot.tools.harmonize import Harmony
from productshot.tools.notes import Note, note
from productshot.tools.positions import parse_position

# The default size is a fit rule on the product's bbox against the canvas, so every shape is the hero: the
# product grows until its bbox reaches FIT_WIDTH of the canvas width (a knife lying down), FIT_HEIGHT of
# its height (a tall bottle) or FIT_AREA of its area (a compact box or a wide bag), whichever comes first.
# Under an anchor that is not centred on an axis the product also keeps its centre in that third of the
# frame. It is never smaller than MIN_FIT_SCALE (longest side over the canvas short side) unless the
# canvas itself leaves no room.
FIT_WIDTH: float = 0.80
FIT_HEIGHT: float = 0.72
FIT_AREA: float = 0.26
MIN_FIT_SCALE: float = 0.30
# An explicit `scale` is the product's longest side over the canvas short side (unchanged meaning): a long
# thin product on a wide canvas may exceed 1, so the bound is generous; the margins still cap it.
MAX_SCALE: float = 4.0
# Kept for callers that want the old fixed size: about half a landscape frame's height.
DEFAULT_SCALE: float = 0.55
# Margin between the product's bbox and the canvas edges, as a fraction of the canvas short side.
DEFAULT_MARGIN: float = 0.05
# A margin above this would leave too little canvas to place anything.
MAX_MARGIN: float = 0.25

# Alpha below this is treated as haze when measuring the product's bbox (cutouts often carry a faint halo).
_BBOX_ALPHA = 8
# Enlarging a cutout more than this makes it soft; the result says so (with a hint: a larger photo).
SOFT_UPSCALE = 1.25


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
    light: Light | None = None  # the light the cast shadow was thrown from (None: contact shadow only)
    grounded: bool | None = None  # the base stands on the background's surface (None: no surface known)
    upscale: float = 1.0  # how much the cutout was enlarged (>1) or reduced (<1)
    harmony: Harmony | None = None  # what harmonisation did (None: off)


@dataclass(frozen=True)
class Placement:
    """Where and how big the product goes: its bbox's top-left, size, the scale that is, and what was noted."""

    corner: tuple[int, int]
    size: tuple[int, int]
    scale: float
    position: Position
    factor: float  # cutout pixels → canvas pixels
    notes: tuple[Note, ...]

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.corner[0], self.corner[1], self.corner[0] + self.size[0], self.corner[1] + self.size[1])

    @property
    def footprint(self) -> Footprint:
        return Footprint.from_box(self.box)


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


def plan_placement(
    canvas: tuple[int, int],
    alpha_box: tuple[int, int, int, int],
    position: str | Position = "bottom",
    *,
    scale: float | None = None,
    margin: float | None = None,
) -> Placement:
    """Where a product whose visible alpha spans `alpha_box` goes on a canvas: size from `scale` (longest
    side over the canvas short side) or the fit rule, corner from the position. Pure geometry, so the
    pipeline can render a backdrop for the product's footprint before compositing."""
    pos = parse_position(position)
    margin_frac = _check_fraction(
        "margin", DEFAULT_MARGIN if margin is None else margin, low=None, high=MAX_MARGIN
    )
    if scale is not None:
        scale = _check_fraction("scale", scale, low=0.0, high=MAX_SCALE)
    width, height = canvas
    pos.check_on_canvas(width, height)
    notes: list[Note] = []
    margin_px = round(margin_frac * min(width, height))
    size, scale_used, factor = _fit_size(alpha_box, canvas, scale, margin_px, pos, notes)
    x0, y0 = place_box(canvas, size, pos, margin_px=margin_px)
    if not pos.is_anchor:
        keep = 0 if pos.unit == "px" else margin_px  # an exact pixel position is honoured to the edge
        x0, y0, pos = _keep_on_canvas((x0, y0), size, canvas, pos, notes, keep)
    return Placement((x0, y0), size, scale_used, pos, factor, tuple(notes))


def composite(
    background: Image.Image,
    product: Image.Image,
    *,
    position: str | Position = "bottom",
    scale: float | None = None,
    margin: float | None = None,
    shadow: bool = True,
    light: str | Light | None = None,
    ground: Ground | None = None,
    harmonize: bool = False,
    floating: bool = False,
) -> CompositeResult:
    """Place the `product` cutout (RGBA) on `background` and return the RGB result and its bbox.

    `scale` is the product's longest side as a fraction of the canvas short side (default: the fit rule),
    `margin` the gap to the canvas edges as a fraction of the short side (default DEFAULT_MARGIN),
    `light` a light name (see shadow.LIGHTS) or a `Light` for a cast shadow, `ground` what the background
    offers (its surface and light: shadows fall only on the surface, from its light unless `light` says
    otherwise). The product goes exactly where asked; a note says when no surface is under it.
    `harmonize` matches the product's white balance, exposure, edges and grain to the background (see
    tools/harmonize.py). `floating` says the product floats or hangs on purpose: no surface is looked for
    under it and it casts no shadow. Inputs are not modified.
    """
    started = time.perf_counter()
    light_used = shadows.as_light(light) if light is not None else None
    notes: list[Note] = []

    canvas = _background_copy(background, notes)
    width, height = canvas.size
    parse_position(position).check_on_canvas(width, height)  # a bad position is named before the product
    cutout, alpha_box = _cutout(product, notes)
    placement = plan_placement((width, height), alpha_box, position, scale=scale, margin=margin)
    notes.extend(placement.notes)
    x0, y0 = placement.corner
    size = placement.size

    placed = _resize(cutout, alpha_box, size)
    harmony = None
    if harmonize:
        from productshot.tools.harmonize import harmonize as match_scene

        placed, harmony = match_scene(placed, canvas, (x0, y0))
    alpha = np.asarray(placed.getchannel("A"))
    grounded = None
    if floating:
        notes.append(note("composition_floating"))
    elif ground is not None:
        if ground.surface.shape != (height, width):
            raise BadRequestError(
                f"ground surface is {ground.surface.shape[1]}x{ground.surface.shape[0]}, "
                f"the background {width}x{height}"
            )
        grounded = ground.carries(placement.footprint)
        if not grounded:
            notes.append(note("composition_no_surface"))
        if light_used is None:
            light_used = ground.light
    drawn = shadow and not floating and grounded is not False  # over no surface: no shadow on the sky
    if drawn:
        _draw_shadows(canvas, alpha, (x0, y0), light_used, ground)
    elif light is not None:
        notes.append(note("composite_light_ignored", light=str(light)))
    # "Over": where alpha is 0 the background stays exactly as it was.
    canvas.paste(placed, (x0, y0), placed)

    return CompositeResult(
        image=canvas,
        bbox=_placed_bbox(alpha, (x0, y0)),
        position=placement.position.canonical(),
        scale=placement.scale,
        shadow=drawn,
        backend="composite",
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
        light=light_used if drawn else None,
        grounded=grounded,
        upscale=placement.factor,
        harmony=harmony,
    )


def alpha_bbox(product: Image.Image) -> tuple[int, int, int, int]:
    """The bbox of a cutout's visible alpha (faint halo ignored); BadImageError when it is not a cutout."""
    return _cutout(product, [])[1]


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


def fit_factor(
    alpha_box: tuple[int, int, int, int], canvas: tuple[int, int], position: Position, margin_px: int
) -> float:
    """The default enlargement (cutout px → canvas px) of the fit rule (see FIT_WIDTH, FIT_HEIGHT, FIT_AREA)."""
    bw, bh = alpha_box[2] - alpha_box[0], alpha_box[3] - alpha_box[1]
    width, height = canvas
    room_w, room_h = FIT_WIDTH * width, FIT_HEIGHT * height
    if position.anchor is not None:  # keep the centre in the anchor's third of the frame
        ax, ay = ANCHOR_ALIGN[position.anchor]
        if ax != 0.5:
            room_w = min(room_w, 1.94 * (width / 3.0 - margin_px))
        if ay != 0.5:
            room_h = min(room_h, 1.94 * (height / 3.0 - margin_px))
    factor = min(room_w / bw, room_h / bh, math.sqrt(FIT_AREA * width * height / (bw * bh)))
    return max(factor, MIN_FIT_SCALE * min(width, height) / max(bw, bh))


def _fit_size(
    alpha_box: tuple[int, int, int, int],
    canvas: tuple[int, int],
    scale: float | None,
    margin_px: int,
    position: Position,
    notes: list[Note],
) -> tuple[tuple[int, int], float, float]:
    """Pixel size of the product at `scale` (None: the fit rule), shrunk to fit inside the margins; the
    scale that gives, and the enlargement factor from the cutout."""
    bw, bh = alpha_box[2] - alpha_box[0], alpha_box[3] - alpha_box[1]
    width, height = canvas
    short = min(width, height)
    if scale is None:
        factor = fit_factor(alpha_box, canvas, position, margin_px)
    else:
        factor = scale * short / max(bw, bh)
    room_w, room_h = max(1, width - 2 * margin_px), max(1, height - 2 * margin_px)
    fit = min(room_w / bw, room_h / bh)
    capped = factor > fit
    if capped:
        factor = fit
        if scale is not None:
            notes.append(
                note(
                    "composition_scale_capped",
                    asked=round(scale, 3),
                    used=round(max(bw, bh) * fit / short, 3),
                )
            )
    if factor > SOFT_UPSCALE:
        notes.append(note("composition_upscaled", factor=round(factor, 2)))
    size = (min(room_w, max(1, round(bw * factor))), min(room_h, max(1, round(bh * factor))))
    used = scale if scale is not None and not capped else max(bw, bh) * factor / short
    return size, used, factor


def _keep_on_canvas(
    corner: tuple[int, int],
    size: tuple[int, int],
    canvas: tuple[int, int],
    position: Position,
    notes: list[Note],
    keep: int = 0,
) -> tuple[int, int, Position]:
    """Shift an exact placement so the product's box stays `keep` px inside the canvas edges; the position
    then names the point used."""
    (x0, y0), (w, h), (width, height) = corner, size, canvas
    keep_x = min(keep, max(0, (width - w) // 2))
    keep_y = min(keep, max(0, (height - h) // 2))
    x = min(max(x0, keep_x), width - w - keep_x)
    y = min(max(y0, keep_y), height - h - keep_y)
    if (x, y) == (x0, y0):
        return x0, y0, position
    moves = []
    if x != x0:
        moves.append(f"{abs(x - x0)} px {'right' if x > x0 else 'left'}")
    if y != y0:
        moves.append(f"{abs(y - y0)} px {'down' if y > y0 else 'up'}")
    if keep:
        notes.append(note("composition_kept_in_margin", moves=" and ".join(moves)))
    else:
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
    canvas: Image.Image,
    alpha: npt.NDArray[np.uint8],
    origin: tuple[int, int],
    light: Light | None,
    ground: Ground | None,
) -> None:
    """Multiply the contact shadow (and the cast shadow, given a light) onto the canvas under the product:
    one implementation for `composite --light` and the pipeline; only on the ground's surface when known."""
    base = shadows.find_base(alpha, origin)
    if base is None:
        return
    canvas_size = canvas.size
    luminance = shadows.surface_luminance(canvas, base)
    opacity = shadows.opacity_for(luminance)
    view = ground.view if ground is not None else "eye-level"
    if view == "flat-lay":  # seen from above: the product lies on the surface, its shadow hugs it
        layer = shadows.flat_lay_shadow(
            alpha, origin, canvas_size, light=light or Light(), luminance=luminance
        )
        if layer is not None:
            shadows.apply_shadow(canvas, layer, ground.surface if ground is not None else None)
        return
    layers = [shadows.contact_shadow(base, origin, canvas_size, opacity=opacity, luminance=luminance)]
    if light is not None:
        layers.append(
            shadows.cast_shadow(
                alpha, origin, base, canvas_size, light=light, opacity=opacity, luminance=luminance, view=view
            )
        )
    surface = (
        ground.surface
        if ground is not None and ground.carries(Footprint(base.left, base.right, base.contact_y))
        else None
    )
    for layer in layers:
        if layer is not None:
            shadows.apply_shadow(canvas, layer, surface)


def _placed_bbox(alpha: npt.NDArray[np.uint8], origin: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bbox (exclusive) of the visible alpha of the placed product, in canvas pixels."""
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    cols = np.flatnonzero(alpha.max(axis=0) > 0)
    x0, y0 = origin
    if rows.size == 0:
        return x0, y0, x0, y0
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1
