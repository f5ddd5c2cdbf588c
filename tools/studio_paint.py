"""The studio's painting primitives: the working frame and look, noise, floors in perspective, skies,
walls and surface textures. Every family's painter (studio, indoor, outdoor) paints with these, so they
live below all three painter modules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage

from productshot.tools.studio_scenes import RGB, SceneFamily

Array = np.ndarray


@dataclass(frozen=True)
class Look:
    """The family and what the modifiers make of it (resolved colours and light switches)."""

    family: SceneFamily
    wall: RGB
    floor: RGB
    tint: RGB | None  # a colour word's grade on outdoor scenes
    sunset: bool
    night: bool
    minimal: bool
    pastel: bool
    bright: bool


@dataclass(frozen=True)
class Frame:
    """The working canvas: size, the horizon/wall line, the key-light spot and how loud texture may be."""

    w: int
    h: int
    line: float  # row of the horizon or the wall/floor line
    light_x: float  # key-light spot, fractions of the canvas
    light_y: float
    side: float  # -1 light from the left, +1 from the right
    detail: float  # texture gain (minimal → quieter)
    rng: np.random.Generator
    surface_fixed: bool = False  # the surface line was placed for a product: painters add no jitter to it
    offset: float | None = None  # rows from the horizon to the standable surface (beach, sea), when placed

    @property
    def unit(self) -> float:
        """Size reference for things drawn flat on screen (tiles, bokeh): the height, capped on tall canvases."""
        return min(float(self.h), 1.5 * self.w)

    def rows(self) -> Array:
        return (np.arange(self.h, dtype=np.float32) + 0.5)[:, None]

    def cols(self) -> Array:
        return (np.arange(self.w, dtype=np.float32) + 0.5)[None, :]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def noise(rng: np.random.Generator, h: int, w: int, cells_y: float, cells_x: float) -> Array:
    """Smooth value noise in about [-1, 1]: a random grid upscaled bicubically."""
    gy, gx = max(2, round(cells_y) + 3), max(2, round(cells_x) + 3)
    grid = rng.standard_normal((gy, gx)).astype(np.float32)
    big = Image.fromarray(grid, "F").resize(
        (w, h), Image.Resampling.BICUBIC, box=(1.0, 1.0, gx - 2.0, gy - 2.0)
    )
    return np.asarray(big, dtype=np.float32) * 0.7


def fbm(rng: np.random.Generator, h: int, w: int, cells_y: float, cells_x: float, octaves: int = 3) -> Array:
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for i in range(octaves):
        total += amp * noise(rng, h, w, cells_y * 2**i, cells_x * 2**i)
        norm += amp
        amp *= 0.5
    return total / norm


def smoothstep(edge0: float, edge1: float, x: Array) -> Array:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def ramp(h: int, stops: list[tuple[float, RGB]]) -> Array:
    """A vertical gradient through (row, colour) stops; returns (h, 1, 3)."""
    ys = np.arange(h, dtype=np.float32) + 0.5
    pos = np.array([p for p, _ in stops], np.float32)
    out = np.stack([np.interp(ys, pos, [c[k] for _, c in stops]) for k in range(3)], axis=-1)
    return out.astype(np.float32)[:, None, :]


def rgb(c: RGB) -> Array:
    return np.array(c, np.float32)


@dataclass(frozen=True)
class Plane:
    """Perspective coordinates of a floor from row `top` down: X across, Z into depth (1 at the bottom)."""

    top: int
    y: Array  # (rows, 1) pixel-row centres
    x: Array  # (rows, w) lateral world units
    z: Array  # (rows, 1) depth, grows toward the horizon
    dz: Array  # (rows, 1) depth one pixel row covers (to fade texture before it aliases)
    dx: Array  # (rows, 1) lateral units one pixel column covers


def plane(fr: Frame, top: float, vanish: float) -> Plane:
    first = min(fr.h - 1, max(0, int(np.floor(top))))
    ys = np.arange(first, fr.h, dtype=np.float32)[:, None] + 0.5
    d = np.maximum(ys - vanish, 0.5)
    ref = fr.h - vanish
    xs = fr.cols() - fr.w * 0.5
    return Plane(first, ys, xs / d, ref / d, ref / (d * d), 1.0 / d)


def fade(per_pixel: Array, period: float) -> Array:
    """How much of a texture of this period survives where one pixel spans `per_pixel` world units."""
    ratio = per_pixel * 3.0 / period
    return 1.0 / (1.0 + ratio * ratio)


TILE = 256  # texels per side of a floor texture tile (a power of two: indices wrap with a mask)


def noise_tile(rng: np.random.Generator, cycles: Sequence[float]) -> Array:
    """Tileable noise, one channel per entry: detail up to `cycles` per tile side, unit deviation."""
    white = rng.standard_normal((TILE, TILE)).astype(np.float32)
    spectrum = sfft.rfft2(white)
    ky = sfft.fftfreq(TILE)[:, None] * TILE
    kx = sfft.rfftfreq(TILE)[None, :] * TILE
    k2 = (kx * kx + ky * ky).astype(np.float32)
    layers = []
    for c in cycles:
        layer = sfft.irfft2(spectrum * np.exp(-k2 / (c * c)), s=(TILE, TILE))
        layers.append(layer / max(float(layer.std()), 1e-6))
    return np.stack(layers, axis=-1).astype(np.float32)


def on_plane(tile: Array, pl: Plane, span: float, stretch: float, rng: np.random.Generator) -> Array:
    """Bilinear, wrapping lookup of a tile laid on the floor (`span` world units per tile side)."""
    n, mask = tile.shape[0], tile.shape[0] - 1
    scale = n / span
    fz = pl.z[:, 0] * (scale / stretch) + rng.uniform(0, n)
    iz = np.floor(fz)
    tz = (fz - iz).astype(np.float32)[:, None, None]
    iz_i = iz.astype(np.int32) & mask
    rows = tile[iz_i] * (1.0 - tz) + tile[(iz_i + 1) & mask] * tz  # (rows, n, C)
    rows = np.concatenate([rows, rows[:, :1]], axis=1)  # one extra column: ix + 1 never wraps
    fx = pl.x * scale + rng.uniform(0, n)
    ix = np.floor(fx)
    tx = (fx - ix).astype(np.float32)[..., None]
    index = (ix.astype(np.int32) & mask) + (np.arange(rows.shape[0], dtype=np.int32) * (n + 1))[:, None]
    flat = rows.reshape(-1, tile.shape[2])
    left, right = flat[index], flat[index + 1]
    return left + (right - left) * tx


def floor_noise(
    fr: Frame, pl: Plane, span: float, bands: Sequence[tuple[float, float]], stretch: float = 1.0
) -> Array:
    """Noise on the floor plane: (cycles per tile, weight) bands, each faded where it would alias."""
    tile = noise_tile(fr.rng, [c for c, _ in bands])
    sampled = on_plane(tile, pl, span, stretch, fr.rng)
    footprint = np.maximum(pl.dz / stretch, pl.dx)
    total = np.zeros(pl.x.shape, np.float32)
    for i, (c, weight) in enumerate(bands):
        total += sampled[..., i] * (weight * fade(footprint, span / c))
    return total


def paste(
    img: Array, pl: Plane, floor: Array, edge: Array | float, soft: float, front: Array | None = None
) -> None:
    """Lay `floor` (rows from pl.top) over `img` below `edge` (a row, or one per column), over `soft` rows;
    `front` (h, w), where given, is the opacity of what stands in front of the floor and keeps it."""
    soft = max(soft, 0.75)
    alpha = smoothstep(-soft, soft, pl.y - edge)
    if front is not None:
        alpha = alpha * (1.0 - front[pl.top :])
    alpha = alpha[..., None]
    img[pl.top :] = img[pl.top :] * (1.0 - alpha) + floor * alpha


def speckle(fr: Frame, rows: int, amount: float) -> Array:
    """Per-pixel grain for the near floor (sand, stone), strongest at the bottom edge."""
    grain = fr.rng.standard_normal((rows, fr.w)).astype(np.float32)
    near = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None] ** 1.5
    return grain * near * amount


def sky_gradient(fr: Frame, look: Look, horizon: float) -> Array:
    """Sky down to the horizon (and its colour below it): day, sunset or night, with soft clouds."""
    h, w = fr.h, fr.w
    if look.night:
        top, mid, low = (0.02, 0.03, 0.09), (0.05, 0.07, 0.16), (0.13, 0.15, 0.27)
    elif look.sunset:
        top, mid, low = (0.24, 0.27, 0.50), (0.80, 0.50, 0.50), (1.00, 0.76, 0.48)
    else:
        top, mid, low = (0.34, 0.57, 0.86), mix((0.34, 0.57, 0.86), look.family.wall, 0.6), look.family.wall
    stops = [(0.0, top), (horizon * 0.6, mid), (horizon, low), (float(h), low)]
    sky = np.broadcast_to(ramp(h, stops), (h, w, 3)).copy()
    ys, xs = fr.rows(), fr.cols()
    if look.night:
        lit = (fr.rng.random((h, w)) > 0.9985) & (ys < horizon * 0.85)
        stars = (lit * fr.rng.uniform(0.3, 0.9, (h, w))).astype(np.float32)
        sky += ndimage.gaussian_filter(stars, 0.5)[..., None] * 0.9
    elif fr.detail > 0.5:
        cloud = fbm(fr.rng, h, w, 3.0, 2.0, 3)
        cover = smoothstep(0.05, 0.6, cloud) * smoothstep(horizon, horizon * 0.35, ys) * 0.35
        shade = rgb((1.0, 0.78, 0.70)) if look.sunset else rgb((1.0, 1.0, 1.0))
        sky = sky * (1.0 - cover[..., None]) + shade * cover[..., None]
    if look.sunset:
        sx = fr.light_x * w
        r2 = ((xs - sx) / (0.30 * w)) ** 2 + ((ys - horizon * 0.93) / (0.22 * h)) ** 2
        sky += np.exp(-r2)[..., None] * rgb((0.30, 0.16, 0.02))
        dist = np.sqrt((xs - sx) ** 2 + (ys - horizon * 0.97) ** 2) / h
        sky += smoothstep(0.045, 0.038, dist)[..., None] * rgb((0.20, 0.18, 0.12))
    return sky


def ground_light(look: Look) -> Array:
    if look.night:
        return rgb((0.26, 0.29, 0.42))
    if look.sunset:
        return rgb((1.0, 0.80, 0.64)) * 0.92
    return rgb((1.0, 1.0, 1.0))


def haze(pl: Plane, strength: float) -> Array:
    """How much of the horizon colour veils the ground at each row (more with distance)."""
    return (strength * (1.0 - 1.0 / np.maximum(pl.z, 1.0)) ** 2)[..., None].astype(np.float32)


def ridge_mask(
    fr: Frame, base: float, height: float, cells: float, sharp: float, bumps: float = 0.0
) -> Array:
    """A soft ridge standing on row `base` (hills, dunes, a treeline): 1 below its crest, 0 above."""
    cells = cells * max(1.0, fr.w / fr.h / 1.4)  # same hill size on wide banners
    ridge = noise(fr.rng, 1, fr.w, 1, cells)[0]
    if bumps:
        ridge = ridge + bumps * noise(fr.rng, 1, fr.w, 1, cells * 8)[0]
    crest = base - height * (0.55 + 0.45 * ridge)
    return smoothstep(-sharp, sharp, fr.rows() - crest[None, :])


def wall(fr: Frame, colour: RGB, falloff: float) -> Array:
    """A wall lit from the front and one side: darker toward the top and the far side."""
    ys, xs = fr.rows(), fr.cols()
    vertical = 1.0 - falloff * np.clip(1.0 - ys / max(fr.line, 1.0), 0.0, 1.0) ** 1.5
    lateral = 1.0 - 0.07 * (xs / fr.w - 0.5 + 0.5 * fr.side) ** 2
    return rgb(colour) * (vertical * lateral)[..., None]


def window_light(fr: Frame, amount: float) -> Array:
    """Soft diagonal bars of window light across a wall: a quiet cue that this is a room."""
    ys, xs = fr.rows(), fr.cols()
    u = (xs + fr.side * ys * 0.7) / fr.h * 1.1 + fr.rng.uniform(0, 1)
    bars = smoothstep(0.2, 0.6, np.abs(np.sin(np.pi * u)))
    reach = smoothstep(fr.line, fr.line * 0.2, ys) * smoothstep(
        0.35, 1.0, 0.5 + 0.5 * fr.side * (xs / fr.w - 0.5) * 2
    )
    return (1.0 + amount * fr.detail * (bars - 0.5) * reach)[..., None]


def marble(fr: Frame, pl: Plane, base: Array) -> Array:
    """White marble: soft grey clouding and thin veins along a drift direction, broken by turbulence."""
    tile = noise_tile(fr.rng, [2.0, 5.0, 12.0, 30.0])
    s = on_plane(tile, pl, 3.0, 1.0, fr.rng)
    footprint = np.maximum(pl.dz, pl.dx)
    turbulence = s[..., 0] + 0.5 * s[..., 1] + 0.25 * s[..., 2] * fade(footprint, 0.25)
    angle = fr.rng.uniform(0.25, 0.9) * (1.0 if fr.rng.random() < 0.5 else -1.0)
    phase = (pl.x * np.cos(angle) + pl.z * np.sin(angle)) * 1.3 + turbulence * 0.28
    strength = np.clip(0.55 + 0.45 * s[..., 1], 0.0, 1.0)
    ridge = 1.0 - np.abs(np.sin(phase * np.pi))
    main = (ridge**16 + 0.25 * ridge**4) * strength * fade(footprint, 0.05)
    fine = np.exp(-((s[..., 3] / 0.06) ** 2)) * np.clip(s[..., 2], 0.0, 1.0) * fade(footprint, 0.02)
    cloud = 0.035 * s[..., 1] * fade(footprint, 0.4)
    vein = (0.20 * main + 0.06 * fine) * fr.detail
    if float(base.mean()) < 0.4:  # dark marble (nero marquina) has pale veins
        return base * (1.0 + cloud * fr.detail)[..., None] + vein[..., None] * rgb((1.5, 1.5, 1.45))
    return base * (1.0 + cloud * fr.detail)[..., None] - vein[..., None] * rgb((0.95, 0.95, 0.88))


def wood(fr: Frame, pl: Plane, base: Array, wide: bool) -> Array:
    """Planks running into depth, each with its own tone, soft seams and warped grain along its length."""
    rng = fr.rng
    width = 0.34 if wide else 0.25
    u = pl.x / width + rng.uniform(0, 1)
    index = np.floor(u).astype(np.int32)
    tone = rng.uniform(-0.08, 0.08, 64).astype(np.float32)[index & 63]
    seam = np.exp(-(((u - np.round(u)) * width / 0.005) ** 2)) * fade(pl.dx, 0.02)
    tile = noise_tile(rng, [4.0, 24.0])
    s = on_plane(tile, pl, 2.0, 6.0, rng)
    grain_phase = (pl.x * 70.0 + s[..., 0] * 3.0 + index * 1.7) * np.pi
    grain = np.sin(grain_phase) * fade(pl.dx, 1.0 / 35.0)
    streak = s[..., 1] * fade(np.maximum(pl.dx, pl.dz / 6.0), 2.0 / 24.0)
    shade = 1.0 + (tone + 0.06 * grain + 0.05 * streak - 0.30 * seam) * fr.detail
    return base * shade[..., None]


def bokeh(fr: Frame, img: Array, colour: RGB, amount: float, bottom: float) -> Array:
    """Out-of-focus points of light (string lights, sun through leaves) above row `bottom`."""
    if fr.detail < 0.5:
        return img
    canvas = np.zeros((fr.h, fr.w), np.float32)
    count = 36
    ys = fr.rng.uniform(0.03, 1.0, count) ** 1.4 * bottom
    xs = fr.rng.uniform(0.0, 1.0, count) * fr.w
    radii = fr.rng.uniform(0.012, 0.035, count) * fr.unit
    level = fr.rng.uniform(0.25, 1.0, count)
    yy, xx = fr.rows(), fr.cols()
    for y, x, r, lv in zip(ys, xs, radii, level, strict=True):
        y0, y1 = max(0, int(y - r - 2)), min(fr.h, int(y + r + 3))
        x0, x1 = max(0, int(x - r - 2)), min(fr.w, int(x + r + 3))
        if y0 >= y1 or x0 >= x1:
            continue
        dist = np.sqrt((yy[y0:y1] - y) ** 2 + (xx[:, x0:x1] - x) ** 2)
        disc = lv * smoothstep(r, r * 0.7, dist) * (0.85 + 0.15 * dist / r)
        canvas[y0:y1, x0:x1] = np.maximum(canvas[y0:y1, x0:x1], disc)
    canvas = ndimage.gaussian_filter(canvas, max(1.0, fr.unit / 300))
    return img + canvas[..., None] * rgb(colour) * amount
