"""Small procedural landscapes for the split detector's labelled set: sky over sea and sand, sky over a
field, mountains, sunsets, desert, and a lake that mirrors the scene below its water line.

They are deliberately unlike the studio generator (different code, palettes and horizon placement), so the
set does not only test the detector against the backdrops it was tuned beside. Deterministic per seed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

KINDS: tuple[str, ...] = ("sea", "field", "mountain", "sunset", "desert")

Array = np.ndarray


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> Array:
    grid = rng.standard_normal((cells[0] + 3, cells[1] + 3)).astype(np.float32)
    image = Image.fromarray(grid, "F").resize(
        (w, h), Image.Resampling.BICUBIC, box=(1.0, 1.0, cells[1] + 1.0, cells[0] + 1.0)
    )
    return np.asarray(image, dtype=np.float32) * 0.7


def _ridge(rng: np.random.Generator, w: int, base: float, height: float, cells: int) -> Array:
    line = _smooth_noise(rng, 1, w, (1, cells))[0] + 0.3 * _smooth_noise(rng, 1, w, (1, cells * 5))[0]
    return base - height * (0.5 + 0.5 * np.tanh(line))


def _vertical(h: int, w: int, stops: list[tuple[float, tuple[float, float, float]]]) -> Array:
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    channels = [np.interp(ys, [p for p, _ in stops], [c[k] for _, c in stops]) for k in range(3)]
    return np.broadcast_to(np.stack(channels, -1)[:, None, :], (h, w, 3)).astype(np.float32).copy()


def _colour(values: Array) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def _sky(rng: np.random.Generator, h: int, w: int, horizon: float, sunset: bool) -> Array:
    if sunset:
        top, low = (0.20, 0.18, 0.42), (0.98, 0.62, 0.30)
        mid = _colour(rng.uniform([0.70, 0.35, 0.40], [0.90, 0.50, 0.55]))
    else:
        top = _colour(rng.uniform([0.20, 0.40, 0.70], [0.40, 0.60, 0.92]))
        mid = (0.55, 0.72, 0.92)
        low = (0.85, 0.90, 0.95)
    frac = horizon / h
    sky = _vertical(h, w, [(0.0, top), (frac * 0.6, mid), (frac, low), (1.0, low)])
    clouds = np.clip(_smooth_noise(rng, h, w, (4, 3)) - 0.2, 0, None)
    fade = np.clip(1.0 - (np.arange(h)[:, None] / max(horizon, 1.0)), 0, 1) ** 0.5
    sky += (clouds * fade * rng.uniform(0.1, 0.35))[..., None]
    if sunset:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        sx = rng.uniform(0.2, 0.8) * w
        r = np.sqrt((xs - sx) ** 2 + (ys - horizon) ** 2) / h
        sky += (np.exp(-((r / 0.25) ** 2)) * 0.35)[..., None] * np.array([1.0, 0.6, 0.2], np.float32)
        sky[r < 0.05] = (1.0, 0.92, 0.70)
    return sky


def _ground(rng: np.random.Generator, h: int, w: int, horizon: float, colour: Array, texture: float) -> Array:
    """Ground from the horizon down: the colour darkens toward the viewer with perspective-ish stripes."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    near = np.clip((ys - horizon) / max(h - horizon, 1.0), 0, 1)
    detail = _smooth_noise(rng, h, w, (int(10 + 30 * rng.random()), 12)) * texture
    shade = 1.0 + 0.15 * (0.5 - near) + detail * (0.3 + near)
    return colour[None, None, :] * shade[..., None]


def landscape(kind: str, width: int, height: int, seed: int, horizon: float | None = None) -> Image.Image:
    """One single scene of this kind; `horizon` (fraction of the height) defaults to a seeded 0.35..0.65."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    frac = rng.uniform(0.35, 0.65) if horizon is None else horizon
    h, w = height, width
    line = frac * h
    img = _sky(rng, h, w, line, kind == "sunset")
    ys = np.arange(h, dtype=np.float32)[:, None]
    if kind in ("sea", "sunset"):
        shore = line + rng.uniform(0.12, 0.3) * (h - line)
        sea_colour = np.array([0.10, 0.30, 0.50] if kind == "sea" else [0.30, 0.20, 0.30], np.float32)
        sea = _ground(rng, h, w, line, sea_colour, 0.08)
        sand_colour = np.array([0.85, 0.76, 0.58] if kind == "sea" else [0.55, 0.38, 0.30], np.float32)
        sand = _ground(rng, h, w, line, sand_colour, 0.12)
        edge = shore + _smooth_noise(rng, 1, w, (1, 6))[0] * 0.02 * h
        img = np.where((ys >= line)[..., None], sea, img)
        img = np.where((ys >= edge[None, :])[..., None], sand, img)
    elif kind in ("field", "mountain"):
        if kind == "mountain":
            for layer, tone in ((0, 0.55), (1, 0.40)):
                crest = _ridge(rng, w, line, rng.uniform(0.15, 0.35) * h / (1 + layer), 4 + 3 * layer)
                rock = np.array([0.45, 0.48, 0.55], np.float32) * (tone + 0.4)
                img = np.where((ys >= crest[None, :])[..., None], rock[None, None, :], img)
        trees = _ridge(rng, w, line, 0.03 * h, 40)
        img = np.where((ys >= trees[None, :])[..., None], np.array([0.15, 0.28, 0.15], np.float32), img)
        field = np.array(rng.uniform([0.30, 0.50, 0.15], [0.55, 0.70, 0.30]), np.float32)
        img = np.where((ys >= line)[..., None], _ground(rng, h, w, line, field, 0.15), img)
    else:
        crest = _ridge(rng, w, line, 0.08 * h, 3)
        img = np.where((ys >= crest[None, :])[..., None], np.array([0.80, 0.60, 0.40], np.float32), img)
        dunes = _ground(rng, h, w, line, np.array([0.90, 0.70, 0.48], np.float32), 0.2)
        img = np.where((ys >= line)[..., None], dunes, img)
    img = ndimage.gaussian_filter(img, (0.7, 0.7, 0))
    img += rng.standard_normal((h, w, 1)).astype(np.float32) * 0.012
    return Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")


def lake(width: int, height: int, seed: int, water: float) -> Image.Image:
    """A mountain or field scene above the water line (`water`, a fraction of the height) and its
    mirror image below it, darkened, tinted and rippled: a reflection, not a second scene."""
    rng = np.random.default_rng([seed, 99])
    line = round(water * height)
    kind = "mountain" if rng.random() < 0.6 else "field"
    above = np.asarray(landscape(kind, width, line, seed, horizon=rng.uniform(0.84, 0.97)), np.float32) / 255
    below_h = height - line
    rows = np.clip(line - 1 - np.arange(below_h), 0, line - 1)
    mirror = above[rows].copy()
    ripple = np.sin(np.arange(below_h) * rng.uniform(0.4, 0.9)) * rng.uniform(0.5, 2.5)
    for i, shift in enumerate(ripple.astype(int)):
        mirror[i] = np.roll(mirror[i], shift, axis=0)
    mirror = ndimage.gaussian_filter(mirror, (rng.uniform(0.5, 1.5), rng.uniform(1.0, 2.5), 0))
    darken = rng.uniform(0.65, 0.85)
    tint = np.array([0.92, 0.97, 1.05], np.float32)
    depth = 1.0 - 0.15 * (np.arange(below_h, dtype=np.float32) / max(below_h, 1))[:, None, None]
    below = mirror * darken * tint * depth
    img = np.concatenate([above, below], axis=0)
    return Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
