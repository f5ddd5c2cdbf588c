"""Small procedural single scenes with strong horizontal lines that are NOT two stacked pictures: a wall over
a floor, shelves, a window frame, an empty table, a printed page of text, and flat textures.

They give the split detector's wide labelled set (tests/support/split_wide.py) the indoor single scenes a
person would never call "two pictures": full-width lines, repeated rows and hard edges inside one scene.
Deterministic per seed; written apart from the studio generator so the set does not only test the detector
against the backdrops it ships beside.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

INTERIORS: tuple[str, ...] = ("wall-floor", "shelf", "window", "table")
TEXTURE_KINDS: tuple[str, ...] = ("noise", "stripes", "tiles", "fibres")

Array = np.ndarray

_TEXT = (
    "the quick brown fox jumps over a lazy dog while seven bright lamps glow near the quiet harbour "
    "product photo studio light shadow ceramic bottle glass leather wooden table marble linen morning "
    "order number total price shipping return policy customer review size colour material care warranty"
)
_WORDS = tuple(_TEXT.split())


def _noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> Array:
    grid = rng.standard_normal((cells[0] + 3, cells[1] + 3)).astype(np.float32)
    image = Image.fromarray(grid, "F").resize(
        (w, h), Image.Resampling.BICUBIC, box=(1.0, 1.0, cells[1] + 1.0, cells[0] + 1.0)
    )
    return np.asarray(image, dtype=np.float32)


def _colour(rng: np.random.Generator, low: float, high: float) -> Array:
    base = rng.uniform(low, high)
    tint = rng.uniform(-0.08, 0.08, 3)
    return np.clip(base + tint, 0, 1).astype(np.float32)


def _wall(rng: np.random.Generator, h: int, w: int) -> Array:
    """A plain wall lit from one side, with a little plaster texture."""
    colour = _colour(rng, 0.45, 0.92)
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    light = 1.0 - 0.18 * (xs - rng.uniform(-0.8, 0.8)) ** 2 - 0.1 * ys * rng.uniform(-1, 1)
    plaster = _noise(rng, h, w, (6, 8)) * 0.015 + rng.standard_normal((h, w)).astype(np.float32) * 0.01
    return colour[None, None, :] * (light + plaster)[..., None]


def _floor(rng: np.random.Generator, h: int, w: int, top: int) -> Array:
    """A floor in perspective from row `top` down: planks converging to a vanishing point, or tiles."""
    colour = _colour(rng, 0.25, 0.7)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.clip((ys - top + 1.0) / max(h - top, 1), 1e-3, 1.0)
    cx = rng.uniform(0.3, 0.7) * w
    u = (xs - cx) / depth / w
    v = 1.0 / depth
    if rng.random() < 0.5:
        pattern = 0.12 * (np.sin(u * rng.uniform(20, 40)) > 0.92) + 0.05 * np.sin(u * 7 + v * 0.3)
    else:
        size = rng.uniform(0.08, 0.2)
        grout = (np.abs(((u / size) % 1.0) - 0.5) > 0.46) | (np.abs(((v * 0.05 / size) % 1.0) - 0.5) > 0.46)
        pattern = 0.15 * grout
    shade = 0.8 + 0.25 * depth - pattern
    return colour[None, None, :] * shade[..., None]


def _finish(img: Array, rng: np.random.Generator) -> Image.Image:
    img = ndimage.gaussian_filter(img, (0.6, 0.6, 0))
    img = img + rng.standard_normal((*img.shape[:2], 1)).astype(np.float32) * 0.01
    return Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")


def interior(kind: str, width: int, height: int, seed: int) -> Image.Image:
    """One indoor single scene of this kind (see INTERIORS)."""
    if kind not in INTERIORS:
        raise ValueError(f"kind must be one of {INTERIORS}, got {kind!r}")
    rng = np.random.default_rng([seed, INTERIORS.index(kind), 7])
    h, w = height, width
    img = _wall(rng, h, w)
    ys = np.arange(h)[:, None]
    if kind == "wall-floor":
        line = round(rng.uniform(0.35, 0.72) * h)
        img[line:] = _floor(rng, h, w, line)[line:]
        base = max(2, round(rng.uniform(0.01, 0.03) * h))
        img[line - base : line] = _colour(rng, 0.3, 0.95)
        shadow = np.exp(-np.clip(ys - line, 0, None) / (0.03 * h))[..., None] * (ys >= line)[..., None]
        img *= 1.0 - 0.25 * shadow
    elif kind == "shelf":
        count = int(rng.integers(2, 5))
        boards = np.sort(rng.uniform(0.2, 0.9, count)) * h
        board_colour = _colour(rng, 0.25, 0.85)
        thick = max(3, round(rng.uniform(0.015, 0.035) * h))
        for y in boards.astype(int):
            x = 0
            while x < w:  # jars and boxes standing on the board
                bw = int(rng.integers(max(4, w // 30), max(6, w // 8)))
                bh = int(rng.integers(max(4, h // 25), max(6, round(0.8 * h / (count + 1)))))
                if rng.random() < 0.75:
                    img[max(0, y - bh) : y, x : min(w, x + bw)] = _colour(rng, 0.1, 0.95)
                x += bw + int(rng.integers(0, max(2, w // 20)))
            img[y : y + thick] = board_colour
            img[y + thick : y + 3 * thick] *= 0.75
    elif kind == "window":
        x0, x1 = sorted(rng.uniform(0.05, 0.95, 2) * w)
        if x1 - x0 < 0.3 * w or rng.random() < 0.3:
            x0, x1 = 0.0, float(w)  # a glass wall: the panes span the whole width
        y0, y1 = rng.uniform(0.05, 0.3) * h, rng.uniform(0.6, 0.95) * h
        xi0, xi1, yi0, yi1 = int(x0), int(x1), int(y0), int(y1)
        outside = np.zeros((yi1 - yi0, xi1 - xi0, 3), np.float32)
        oy = np.linspace(0, 1, yi1 - yi0, dtype=np.float32)[:, None, None]
        sky = np.array([0.55, 0.72, 0.95], np.float32) * (1.1 - 0.3 * oy)
        trees = _noise(rng, yi1 - yi0, xi1 - xi0, (4, 6))[..., None]
        ground_line = rng.uniform(0.5, 0.9)
        green = np.array([0.2, 0.4, 0.18], np.float32) * (1.0 + 0.3 * trees)
        outside[:] = np.where(oy + 0.15 * trees > ground_line, green, sky)
        img[yi0:yi1, xi0:xi1] = outside
        frame = _colour(rng, 0.15, 0.95)
        bar = max(2, round(0.02 * h))
        mid = int(yi0 + rng.uniform(0.35, 0.65) * (yi1 - yi0))
        img[mid - bar // 2 : mid + bar // 2 + 1, xi0:xi1] = frame  # the transom: full width of the window
        for x in np.linspace(x0, x1, int(rng.integers(2, 5)) + 1)[1:-1].astype(int):
            img[yi0:yi1, max(0, x - bar // 2) : x + bar // 2 + 1] = frame
        img[max(0, yi0 - bar) : yi0 + bar, xi0:xi1] = frame
        img[yi1 - bar : min(h, yi1 + 2 * bar), max(0, xi0 - bar) : min(w, xi1 + bar)] = frame * 1.05
    else:  # table: an empty table top in perspective, its front edge low in the frame
        top = round(rng.uniform(0.3, 0.6) * h)
        front = round(top + rng.uniform(0.25, 0.6) * (h - top))
        surface = _floor(rng, h, w, top)
        img[top:front] = surface[top:front]
        img[front : front + max(2, round(0.03 * h))] = _colour(rng, 0.1, 0.6)
        if front + 2 < h:
            img[front + max(2, round(0.03 * h)) :] *= 0.45
    return _finish(img, rng)


def text_page(width: int, height: int, seed: int) -> Image.Image:
    """A printed page: a headline, paragraphs and sometimes a rule and two columns, on paper."""
    rng = np.random.default_rng([seed, 31])
    paper = tuple(int(v) for v in rng.integers(215, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 70, 3))
    image = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(image)
    size = int(rng.integers(max(7, height // 40), max(9, height // 16)))
    font = ImageFont.load_default(size=size)
    head = ImageFont.load_default(size=int(size * rng.uniform(1.5, 2.4)))
    y = float(rng.uniform(0.03, 0.1) * height)
    draw.text((width * 0.06, y), " ".join(rng.choice(_WORDS, 3)).title(), fill=ink, font=head)
    y += size * 3.5
    columns = 2 if rng.random() < 0.4 else 1
    col_w = (width * 0.88) / columns
    while y < height * 0.95:
        if rng.random() < 0.08:
            draw.line([(width * 0.06, y), (width * 0.94, y)], fill=ink, width=max(1, size // 6))
            y += size
        for c in range(columns):
            words = " ".join(rng.choice(_WORDS, int(col_w / (size * 3))))
            draw.text((width * 0.06 + c * col_w, y), words, fill=ink, font=font)
        y += size * rng.uniform(1.3, 1.7) + (size * 1.5 if rng.random() < 0.15 else 0)
    return image


def texture(kind: str, width: int, height: int, seed: int) -> Image.Image:
    """A flat texture with no top or bottom (see TEXTURE_KINDS)."""
    if kind not in TEXTURE_KINDS:
        raise ValueError(f"kind must be one of {TEXTURE_KINDS}, got {kind!r}")
    rng = np.random.default_rng([seed, TEXTURE_KINDS.index(kind), 13])
    h, w = height, width
    a, b = _colour(rng, 0.2, 0.9), _colour(rng, 0.2, 0.9)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "noise":
        t = _noise(rng, h, w, (int(rng.integers(3, 30)),) * 2) * 0.5 + 0.5
    elif kind == "stripes":
        angle = rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * rng.uniform(0.1, 0.6))
    elif kind == "tiles":
        size = rng.uniform(8, 40)
        t = ((np.floor(xs / size) + np.floor(ys / size)) % 2).astype(np.float32)
        t = t * 0.7 + 0.3 * (_noise(rng, h, w, (6, 6)) * 0.5 + 0.5)
    else:
        t = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), (rng.uniform(0.5, 2), 6))
        t = (t - t.min()) / (np.ptp(t) + 1e-6)
    t = np.clip(t, 0, 1)[..., None]
    return _finish(a * (1 - t) + b * t, rng)
