"""Shadows for a placed product: a soft contact shadow under its base and an optional cast shadow.

Each shadow is a darkness map over a small region of the canvas (never the whole canvas), built on a
downscaled grid, blurred there and upscaled: shadows are soft, so that costs no visible quality. The map is
multiplied onto the background before the product goes on top, so the shadow darkens the scene's own
texture and colour instead of pasting a grey blob over it. numpy + Pillow only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter, ImageStat

from productshot.errors import BadRequestError
from productshot.tools.ground import NAMED_LIGHTS, CastGeometry, Light, View, cast_geometry

FloatArray = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]

# Longest side of the working grid a shadow is drawn on; the result is upscaled to the canvas region.
_GRID_MAX = 192
# Alpha at or above this counts as solid product when finding the base (the contact line).
_SOLID_ALPHA = 128


# Where the light comes from, as the viewer sees the picture (`composite --light`); the studio reports its
# own `Light`, and both throw the shadow through the same `cast_geometry`.
LIGHTS: dict[str, Light] = NAMED_LIGHTS

# Measured minimum contrast, in CIELAB L* units, between the shadow and the bare surface next to it: the
# contact core right under the base, and the cast shadow near the base. On dark floors a multiplied
# shadow alone would vanish (the seed shots showed none on night scenes), so darkness rises to meet these.
MIN_CONTACT_DL = 10.0
MIN_CAST_DL = 5.0
_MAX_DARKNESS = 0.88


@dataclass(frozen=True, eq=False)
class ShadowLayer:
    """A darkness map (0 = untouched, 1 = black) whose top-left pixel sits at (x0, y0) on the canvas."""

    x0: int
    y0: int
    darkness: FloatArray


@dataclass(frozen=True, eq=False)
class Base:
    """Where a placed product touches the ground, in canvas pixels.

    Contacts may sit at different heights: in a photo taken from slightly above, a motorcycle's rear wheel
    or a shoe's heel touches the ground higher up in the picture than the part nearest the camera.
    """

    contact_y: float  # the lowest contact line: just below the lowest solid row
    left: float  # horizontal extent of the touching columns
    right: float
    skirt: tuple[float, float]  # horizontal extent of the product's lowest part (bottom tenth of its height)
    height: float  # from the lowest contact line up to the product's top
    footprint: FloatArray  # per product column, how firmly it touches the ground (0..1)
    ground: FloatArray  # per product column, canvas y of its contact line (the nearest contact's if none)


def parse_light(light: str) -> str:
    """The canonical light name for `light` ("top left", "Top_Left" → "top-left"); BadRequestError if unknown."""
    key = re.sub(r"[\s_]+", "-", light.strip().lower()) if isinstance(light, str) else ""
    if key not in LIGHTS:
        raise BadRequestError(f"light: unknown direction {light!r}; use one of {', '.join(LIGHTS)}")
    return key


def as_light(light: str | Light) -> Light:
    """A `Light` from a name (see LIGHTS) or a `Light` itself."""
    return light if isinstance(light, Light) else LIGHTS[parse_light(light)]


def _lstar(v: float) -> float:
    """CIELAB L* of an sRGB grey of value v (0..1)."""
    lin = v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    return 116.0 * lin ** (1.0 / 3.0) - 16.0 if lin > 0.008856 else 903.3 * lin


def darkness_for_contrast(luminance: float, delta_l: float) -> float:
    """The least darkness (0..1, multiplied onto sRGB values) that lowers a surface of this luminance by
    `delta_l` L* units; capped where the surface is too dark to lose that much."""
    v = min(max(luminance, 0.0), 1.0)
    target = _lstar(v) - delta_l
    if target <= _lstar(v * (1.0 - _MAX_DARKNESS)):
        return _MAX_DARKNESS
    lo, hi = 0.0, _MAX_DARKNESS
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        if _lstar(v * (1.0 - mid)) > target:
            lo = mid
        else:
            hi = mid
    return hi


def find_base(alpha: ByteArray, origin: tuple[int, int]) -> Base | None:
    """The base of a product whose alpha (h, w) is placed with its top-left at `origin`; None if empty.

    A column touches the ground where its lowest solid pixel is a local low point of the product's bottom
    outline (a wheel, a foot, a flat base) and not lifted far above the lowest one: a stool's seat between
    its legs, or the rounded corners of a bottle, do not touch.
    """
    solid = alpha >= _SOLID_ALPHA
    if not solid.any():
        solid = alpha > 0
        if not solid.any():
            return None
    rows, cols = solid.shape
    has = solid.any(axis=0)
    bottom = np.where(has, rows - 1 - np.argmax(solid[::-1], axis=0), -1)
    lowest = int(bottom.max())
    top = int(np.argmax(solid.any(axis=1)))
    tall = lowest + 1 - top
    near = max(2.0, 0.02 * tall)  # anti-aliasing and a slightly uneven base still count as one level
    lift_max = max(near, 0.2 * tall)  # how far up the picture a farther contact may sit
    window = max(3, round(0.08 * cols)) | 1
    neighbourhood = np.lib.stride_tricks.sliding_window_view(
        np.pad(bottom, window // 2, constant_values=-1), window
    ).max(axis=1)
    lift = (lowest - bottom).astype(np.float32)
    touching = has & (bottom >= neighbourhood - near) & (lift <= lift_max)
    # A farther contact is seen more edge-on and shades less of the visible ground.
    firmness = 1.0 - 0.5 * np.clip((lift - near) / (lift_max - near + 1e-6), 0.0, 1.0)
    footprint = np.where(touching, firmness, 0.0).astype(np.float32)
    contact_cols = np.flatnonzero(touching)
    skirt_cols = np.flatnonzero(
        solid[max(top, lowest + 1 - max(2, round(0.1 * tall))) : lowest + 1].any(axis=0)
    )
    ox, oy = origin
    # Each touching column stands on the level of its local low point: a rounded base's edge columns shade
    # the ground under them, not a curve following the product's outline up.
    ground = np.interp(np.arange(cols), contact_cols, neighbourhood[contact_cols] + 1.0) + oy
    return Base(
        contact_y=float(oy + lowest + 1),
        left=float(ox + contact_cols[0]),
        right=float(ox + contact_cols[-1] + 1),
        skirt=(float(ox + skirt_cols[0]), float(ox + skirt_cols[-1] + 1)),
        height=float(tall),
        footprint=footprint,
        ground=ground.astype(np.float32),
    )


def opacity_for(luminance: float) -> float:
    """Shadow strength for a surface of this mean luminance (0..1).

    A multiplied shadow already fades on dark ground and can look heavy on white; scale it gently so both
    read as the same light.
    """
    return 0.75 + 0.4 * min(max(luminance, 0.0), 1.0)


def surface_luminance(canvas: Image.Image, base: Base) -> float:
    """Mean luminance (0..1) of the background just around the product's base."""
    reach = max(2.0, 0.1 * (base.right - base.left))
    x0, x1 = _clip_span(base.left - reach, base.right + reach, canvas.width)
    y0, y1 = _clip_span(base.contact_y - reach, base.contact_y + reach, canvas.height)
    if x1 <= x0 or y1 <= y0:
        return 0.5
    return float(ImageStat.Stat(canvas.crop((x0, y0, x1, y1)).convert("L")).mean[0]) / 255.0


def contact_shadow(
    base: Base,
    origin: tuple[int, int],
    canvas_size: tuple[int, int],
    *,
    opacity: float,
    luminance: float | None = None,
) -> ShadowLayer | None:
    """The soft shadow where the product meets the ground: dark and tight at the contact line, fading out.

    Two layers: a wide, light ambient pool (along the touching parts and elliptical under the whole base),
    drawn on a coarse grid; and a thin dark core on each touching column's own contact line (so separate
    feet or wheels get separate spots), drawn at full resolution because it is sharp.
    """
    base_w = base.right - base.left
    # Contact width (how much of the base touches) vs spread (how far apart the touching parts are): a
    # stool's thin legs get tight dark contact spots, its wide stance a broad, faint pool of shade.
    contact_w = max(1.0, float(base.footprint.sum()))
    spread = max(4.0, min(base_w, 2.0 * base.height))
    ry_core = max(1.5, 0.03 * math.sqrt(spread * min(contact_w, spread)))
    ry_amb = max(3.0, 0.10 * spread)
    lo, hi = min(base.left, base.skirt[0]), max(base.right, base.skirt[1])  # everything near the ground
    rx_amb = 0.5 * (hi - lo) * 1.06 + 0.4 * ry_amb
    sigma_amb = 0.45 * ry_amb
    highest = float(base.ground[base.footprint > 0].min())
    cx = 0.5 * (lo + hi)
    cy = 0.5 * (highest + base.contact_y)  # the ellipse spans contacts at every height
    ry_ell = ry_amb + 0.5 * (base.contact_y - highest)
    pad = 3.0 * sigma_amb
    grid = _Grid.around(
        (cx - rx_amb - pad, highest - ry_amb - pad, cx + rx_amb + pad, base.contact_y + ry_amb + pad),
        canvas_size,
    )
    if grid is None:
        return None
    xs, ys = grid.canvas_x(), grid.canvas_y()
    foot = grid.column_means(base.footprint, origin[0], outside=0.0)
    below = ys[:, None] - grid.column_means(base.ground, origin[0], outside=None)[None, :]
    r2 = ((xs[None, :] - cx) / rx_amb) ** 2 + ((ys[:, None] - cy) / ry_ell) ** 2
    along_feet = np.exp(-0.5 * (below / (0.6 * ry_amb)) ** 2) * foot[None, :]
    pool = 0.55 * along_feet + 0.45 * np.clip(1.0 - r2, 0.0, 1.0)
    ambient = np.clip(grid.upscale(grid.blur(pool.astype(np.float32), sigma_amb)), 0.0, 1.0)
    darkness = min(0.6, 0.36 * opacity) * ambient
    core_strength = min(0.9, 0.5 * opacity)
    if luminance is not None:  # the core must read on this surface: at least MIN_CONTACT_DL darker
        core_strength = max(core_strength, darkness_for_contrast(luminance, MIN_CONTACT_DL))

    core = _core(base, origin, (grid.x0, grid.y0, grid.x0 + grid.width, grid.y0 + grid.height), ry_core)
    if core is not None:
        (x0, y0), values = core
        region = darkness[
            y0 - grid.y0 : y0 - grid.y0 + values.shape[0], x0 - grid.x0 : x0 - grid.x0 + values.shape[1]
        ]
        region[...] = 1.0 - (1.0 - region) * (1.0 - core_strength * values)
    return ShadowLayer(grid.x0, grid.y0, np.clip(darkness, 0.0, 1.0).astype(np.float32))


def _core(
    base: Base, origin: tuple[int, int], bounds: tuple[int, int, int, int], ry: float
) -> tuple[tuple[int, int], FloatArray] | None:
    """The contact core (0..1) at full resolution inside `bounds`, and the canvas pixel of its top-left.

    Each column's footprint, blurred sideways so spots have soft round ends, over a vertical profile that
    is darkest on that column's contact line and fades faster upwards (into the gap under a rounded base)
    than outwards over the ground.
    """
    sigma = 0.6 * ry
    spread = math.ceil(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-spread, spread + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    foot = np.convolve(base.footprint, kernel)  # covers product columns -spread .. w + spread
    # Contact line per column, weighted by how firmly each neighbour touches, so levels blend smoothly.
    weighted = np.convolve(base.footprint * base.ground, kernel)
    ground = np.where(foot > 1e-3, weighted / np.maximum(foot, 1e-3), base.contact_y)
    first = origin[0] - spread
    x0 = max(bounds[0], first)
    x1 = min(bounds[2], first + foot.size)
    highest = float(base.ground[base.footprint > 0].min())
    y0 = max(bounds[1], math.floor(highest - 2 * ry))
    y1 = min(bounds[3], math.ceil(base.contact_y + 4 * ry))
    if x1 <= x0 or y1 <= y0:
        return None
    cols = slice(x0 - first, x1 - first)
    below = (np.arange(y0, y1) + 0.5)[:, None] - ground[cols][None, :]
    reach = np.where(below < 0, 0.6 * ry, 1.15 * ry)
    values = np.exp(-0.5 * (below / reach) ** 2) * foot[cols][None, :]
    return (x0, y0), values.astype(np.float32)


def cast_shadow(
    alpha: ByteArray,
    origin: tuple[int, int],
    base: Base,
    canvas_size: tuple[int, int],
    *,
    light: str | Light,
    opacity: float,
    luminance: float | None = None,
    view: View = "eye-level",
) -> ShadowLayer | None:
    """The product's silhouette thrown onto the ground away from `light` (a name or the scene's `Light`),
    softer and lighter with distance; near the base at least MIN_CAST_DL darker than the surface."""
    geometry: CastGeometry = cast_geometry(as_light(light), view)
    ox, oy = origin
    h, w = alpha.shape
    yb = base.contact_y
    reach = max(1.0, yb - oy)  # the tallest point's height above the contact line
    side = geometry.shear * reach
    depth = geometry.squash * reach
    sign = -1.0 if geometry.forward else 1.0  # +1: the shadow lies behind (up), -1: in front (down)
    sigma_near, sigma_far = max(1.0, 0.012 * reach), max(2.0, 0.06 * reach)
    pad = 3.0 * sigma_far
    y_far = yb - sign * depth
    grid = _Grid.around(
        (
            ox + min(0.0, side) - pad,
            min(yb, y_far) - pad,
            ox + w + max(0.0, side) + pad,
            max(yb, y_far) + pad,
        ),
        canvas_size,
    )
    if grid is None:
        return None

    # The silhouette at the grid's resolution, then mapped with one affine transform: output grid pixel
    # (u, v) -> canvas (X, Y) -> height t = sign * (yb - Y) / squash -> product pixel (X - shear * t, yb - t).
    ds = grid.step
    small_size = (max(1, math.ceil(w / ds)), max(1, math.ceil(h / ds)))
    silhouette = Image.fromarray(alpha).resize(small_size, Image.Resampling.BOX)
    k = sign / geometry.squash
    data = (
        1.0,
        geometry.shear * k,
        ((grid.x0 - ox) - geometry.shear * k * (yb - grid.y0)) / ds,
        0.0,
        k,
        ((yb - oy) - k * (yb - grid.y0)) / ds,
    )
    thrown = silhouette.transform(
        (grid.cols, grid.rows), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR
    )
    shape = np.asarray(thrown, dtype=np.float32) / 255.0

    # Blur grows and strength fades with the distance from the contact line.
    near = grid.blur(shape, sigma_near)
    far = grid.blur(shape, sigma_far)
    height_above = np.clip(sign * (yb - grid.canvas_y()) / (geometry.squash * reach), 0.0, 1.0)
    mix = height_above[:, None].astype(np.float32)
    soft = (1.0 - mix) * near + mix * far
    strength = min(0.8, 0.42 * opacity)
    if luminance is not None:
        strength = max(strength, min(0.8, darkness_for_contrast(luminance, MIN_CAST_DL)))
    fade = (1.0 - 0.7 * mix) * strength
    darkness = np.clip(grid.upscale((soft * fade).astype(np.float32)), 0.0, 1.0)
    return ShadowLayer(grid.x0, grid.y0, darkness.astype(np.float32))


def flat_lay_shadow(
    alpha: ByteArray,
    origin: tuple[int, int],
    canvas_size: tuple[int, int],
    *,
    light: str | Light,
    luminance: float,
) -> ShadowLayer | None:
    """The shadow of a product lying on a surface seen from straight above: a tight, dark occlusion
    hugging the silhouette and a soft copy of it offset away from the light (as a low object throws)."""
    lit = as_light(light)
    h, w = alpha.shape
    size = float(max(h, w))
    length = min(0.06, 0.03 / math.tan(math.radians(lit.elevation))) * size
    az = math.radians(lit.azimuth)
    dx, dy = (
        -math.sin(az) * length,
        -math.cos(az) * length,
    )  # away from the light; "front" is the frame's bottom
    sigma_core, sigma_drop = max(1.0, 0.008 * size), max(2.0, 0.03 * size)
    pad = math.ceil(abs(dx) + abs(dy) + 3 * sigma_drop) + 2
    ox, oy = origin
    x0, x1 = _clip_span(ox - pad, ox + w + pad, canvas_size[0])
    y0, y1 = _clip_span(oy - pad, oy + h + pad, canvas_size[1])
    if x1 <= x0 or y1 <= y0:
        return None
    silhouette = Image.new("L", (x1 - x0, y1 - y0), 0)
    silhouette.paste(Image.fromarray(alpha), (ox - x0, oy - y0))
    shifted = Image.new("L", silhouette.size, 0)
    shifted.paste(Image.fromarray(alpha), (round(ox - x0 + dx), round(oy - y0 + dy)))
    core = np.asarray(silhouette.filter(ImageFilter.GaussianBlur(sigma_core)), np.float32) / 255.0
    drop = np.asarray(shifted.filter(ImageFilter.GaussianBlur(sigma_drop)), np.float32) / 255.0
    core_strength = max(0.45, darkness_for_contrast(luminance, MIN_CONTACT_DL))
    drop_strength = max(0.30, min(0.8, darkness_for_contrast(luminance, MIN_CAST_DL)))
    darkness = 1.0 - (1.0 - core_strength * core) * (1.0 - drop_strength * drop)
    return ShadowLayer(x0, y0, np.clip(darkness, 0.0, 1.0).astype(np.float32))


def apply_shadow(
    canvas: Image.Image, layer: ShadowLayer, surface: npt.NDArray[np.bool_] | None = None
) -> None:
    """Multiply a shadow onto an RGB canvas in place (the caller's own copy); only its region is touched.

    With a `surface` mask (canvas-sized) the shadow falls only on the surface (softened by a pixel or two
    at its edge): never on the sky or on a wall behind.
    """
    rows, cols = layer.darkness.shape
    box = (layer.x0, layer.y0, layer.x0 + cols, layer.y0 + rows)
    darkness = layer.darkness
    if surface is not None:
        hard = surface[box[1] : box[3], box[0] : box[2]]
        soft = Image.fromarray(hard.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(1.2))
        darkness = darkness * (np.asarray(soft, dtype=np.float32) / 255.0) * hard
    # Keep-factor in 1/256ths: an untouched pixel (factor 256) comes back exactly, and 255 * 256 + 128 fits.
    keep = np.rint((1.0 - darkness) * 256.0).astype(np.uint16)
    # Only the box of pixels that darken changes (a factor of 256 gives a pixel back exactly): read and
    # write just that.
    shaded_rows = np.flatnonzero((keep < 256).any(axis=1))
    shaded_cols = np.flatnonzero((keep < 256).any(axis=0))
    if shaded_rows.size == 0:
        return
    r0, r1 = int(shaded_rows[0]), int(shaded_rows[-1]) + 1
    c0, c1 = int(shaded_cols[0]), int(shaded_cols[-1]) + 1
    corner = (box[0] + c0, box[1] + r0)
    region = np.array(canvas.crop((*corner, box[0] + c1, box[1] + r1)), dtype=np.uint16)
    shaded = ((region * keep[r0:r1, c0:c1, None] + 128) >> 8).astype(np.uint8)
    canvas.paste(Image.fromarray(shaded), corner)


@dataclass(frozen=True)
class _Grid:
    """A canvas region (x0, y0, width, height) sampled every `step` canvas pixels."""

    x0: int
    y0: int
    width: int
    height: int
    step: int

    @staticmethod
    def around(box: tuple[float, float, float, float], canvas_size: tuple[int, int]) -> _Grid | None:
        """The grid over `box` clipped to the canvas, coarse enough that its long side is at most _GRID_MAX."""
        cw, ch = canvas_size
        x0, x1 = _clip_span(box[0], box[2], cw)
        y0, y1 = _clip_span(box[1], box[3], ch)
        if x1 <= x0 or y1 <= y0:
            return None
        width, height = x1 - x0, y1 - y0
        return _Grid(x0, y0, width, height, max(1, math.ceil(max(width, height) / _GRID_MAX)))

    @property
    def cols(self) -> int:
        return math.ceil(self.width / self.step)

    @property
    def rows(self) -> int:
        return math.ceil(self.height / self.step)

    def canvas_x(self) -> npt.NDArray[np.float64]:
        """Canvas x of each grid column's centre."""
        return self.x0 + (np.arange(self.cols, dtype=np.float64) + 0.5) * self.step

    def canvas_y(self) -> npt.NDArray[np.float64]:
        """Canvas y of each grid row's centre."""
        return self.y0 + (np.arange(self.rows, dtype=np.float64) + 0.5) * self.step

    def column_means(self, profile: FloatArray, start: int, *, outside: float | None) -> FloatArray:
        """Mean over each grid column of a per-canvas-column `profile` whose first entry is column `start`.

        Averaging (not point sampling) keeps a leg thinner than a grid column. Columns beyond the profile
        read `outside`, or the nearest end value when `outside` is None.
        """
        index = self.x0 + np.arange(self.cols * self.step) - start
        values = profile[np.clip(index, 0, profile.size - 1)]
        if outside is not None:
            values = np.where((index >= 0) & (index < profile.size), values, outside)
        means: FloatArray = values.reshape(self.cols, self.step).mean(axis=1).astype(np.float32)
        return means

    def blur(self, values: FloatArray, sigma_px: float) -> FloatArray:
        """Gaussian blur of values in 0..1, with sigma given in canvas pixels (Pillow's, on 8 bits)."""
        levels = Image.fromarray(np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8))
        blurred = levels.filter(ImageFilter.GaussianBlur(sigma_px / self.step))
        result: FloatArray = np.asarray(blurred, dtype=np.float32) / np.float32(255.0)
        return result

    def upscale(self, values: FloatArray) -> FloatArray:
        """Values on this grid resampled (bilinear) to every canvas pixel of the region it covers."""
        if self.step == 1:
            return values
        image = Image.fromarray(values).resize(
            (self.cols * self.step, self.rows * self.step), Image.Resampling.BILINEAR
        )
        full: FloatArray = np.asarray(image, dtype=np.float32)[: self.height, : self.width]
        return full


def _clip_span(start: float, stop: float, limit: int) -> tuple[int, int]:
    return max(0, math.floor(start)), min(limit, math.ceil(stop))
