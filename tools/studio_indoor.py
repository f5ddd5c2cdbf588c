"""Indoor scene families of the studio generator: rooms and sets with a surface for the product in front.

Each painter follows the studio contract `(frame, look) -> (pixels, surface_top_row)`: the surface the
product stands on begins at `frame.line` (a table, counter, bed or podium top with a visible far edge), what
lies behind it is softly out of focus so the product stays the hero, and the colours come from the look
(`look.wall`, `look.floor`) so colour words repaint any family. Painted with `studio_paint`'s primitives;
`studio` looks the painters up in `INDOOR_PAINTERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from PIL import Image
from scipy import ndimage

from productshot.tools import studio_paint as paint
from productshot.tools.studio_paint import Array
from productshot.tools.studio_scenes import RGB

Painter = Callable[[paint.Frame, paint.Look], tuple[Array, float]]


# ------------------------------------------------------------------------------------------------ helpers


def _blur(img: Array, fr: paint.Frame, amount: float) -> Array:
    """Out of focus: a gaussian blur whose radius scales with the frame (`amount` × unit / 300 pixels).

    Wide blurs run on a smaller copy (the result is smooth anyway), which keeps a render in budget."""
    return _gauss(img, max(0.6, amount * fr.unit / 300.0))


def _gauss(img: Array, sigma: float) -> Array:
    """Gaussian blur of an H×W or H×W×C array; sigma above 3 px is applied at a reduced size."""
    step = max(1, int(sigma / 1.5))
    if step == 1:
        sig = (sigma, sigma, 0.0) if img.ndim == 3 else sigma
        return ndimage.gaussian_filter(img, sig).astype(np.float32)
    h, w = img.shape[:2]
    size = (max(2, w // step), max(2, h // step))
    planes = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    out = []
    for plane in planes:
        small = np.asarray(
            Image.fromarray(np.ascontiguousarray(plane, np.float32), "F").resize(size, Image.Resampling.BOX)
        )
        small = ndimage.gaussian_filter(small, sigma / step)
        big = Image.fromarray(small.astype(np.float32), "F").resize((w, h), Image.Resampling.BILINEAR)
        out.append(np.asarray(big, np.float32))
    return out[0] if img.ndim == 2 else np.stack(out, axis=-1)


def _top(fr: paint.Frame) -> paint.Plane:
    """The tabletop plane from the surface line down (the same camera as the studio's tables)."""
    return paint.plane(fr, fr.line - 1, fr.line - 0.42 * fr.h)


def _on_table(
    fr: paint.Frame, back: Array, pl: paint.Plane, top: Array, contact: float = 0.10
) -> tuple[Array, float]:
    """Lay the tabletop over the background below the surface line, with the contact shade and bright rim
    that make its far edge read as an edge."""
    top = top * (1.0 - 0.08 * np.clip((pl.z - 1.0) / 1.5, 0, 1))[..., None]
    img = back.copy()
    soft = 0.5
    alpha = paint.smoothstep(-soft, soft, pl.y - fr.line)[..., None]
    img[pl.top :] = img[pl.top :] * (1.0 - alpha) + top * alpha
    ys = fr.rows()
    shade = 1.0 - contact * np.exp(-(((ys - fr.line) / (0.010 * fr.h)) ** 2)) * (ys < fr.line)
    rim = 1.0 + 0.04 * np.exp(-(((ys - fr.line - 0.004 * fr.h) / (0.004 * fr.h)) ** 2))
    return img * (shade * rim)[..., None], fr.line


def _disc(
    fr: paint.Frame, cy: float, cx: float, ry: float, rx: float, soft: float = 1.0, into: Array | None = None
) -> Array:
    """A soft-edged filled ellipse (H×W in 0..1), computed only inside its bounding box; with `into`, it is
    merged (maximum) into that array in place and the array returned."""
    out = np.zeros((fr.h, fr.w), np.float32) if into is None else into
    pad = soft + 2.0
    y0, y1 = max(0, int(cy - ry - pad)), min(fr.h, int(cy + ry + pad) + 1)
    x0, x1 = max(0, int(cx - rx - pad)), min(fr.w, int(cx + rx + pad) + 1)
    if y0 >= y1 or x0 >= x1:
        return out
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    r = np.sqrt(((ys - cy) / max(ry, 1e-3)) ** 2 + ((xs - cx) / max(rx, 1e-3)) ** 2)
    edge = soft / max(min(rx, ry), 1.0)
    disc = paint.smoothstep(1.0 + edge, 1.0 - edge, r)
    out[y0:y1, x0:x1] = disc if into is None else np.maximum(out[y0:y1, x0:x1], disc)
    return out


def _over(img: Array, alpha: Array, colour: Array) -> Array:
    a = alpha[..., None] if alpha.ndim == 2 else alpha
    return (img + (colour - img) * a).astype(np.float32, copy=False)


def _far_side(fr: paint.Frame) -> float:
    """A column away from where the product stands: props go there, never behind the key-light spot."""
    return (0.14 if fr.light_x > 0.5 else 0.86) * fr.w


# ---------------------------------------------------------------------------------------------- painters


def _paint_bathroom(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A vanity top in white stone before a wall of square glazed tiles (a regular grout grid)."""
    ys, xs = fr.rows(), fr.cols()
    size = max(5.0, 0.085 * fr.unit)
    gy = np.abs(ys / size - np.round(ys / size)) * size
    gx = np.abs(xs / size - np.round(xs / size)) * size
    grout = np.maximum(np.exp(-((gy / 0.9) ** 2)), np.exp(-((gx / 0.9) ** 2)))
    cell = (np.floor(ys / size) * 67 + np.floor(xs / size)).astype(np.int64) % 499
    tone = fr.rng.uniform(-0.02, 0.02, 499).astype(np.float32)[cell]
    glaze = 0.03 * (0.5 - (ys / size - np.floor(ys / size)))  # each glazed tile catches the light at its top
    shade = 1.0 + (tone + glaze - 0.14 * grout) * fr.detail
    wall = paint.wall(fr, look.wall, 0.15) * ndimage.gaussian_filter(shade.astype(np.float32), 0.7)[..., None]
    wall = wall * paint.window_light(fr, 0.06)
    pl = _top(fr)
    quartz = paint.floor_noise(fr, pl, 2.0, [(5.0, 0.012), (90.0, 0.02)])
    top = paint.rgb(look.floor) * (1.0 + quartz * fr.detail)[..., None]
    return _on_table(fr, wall, pl, top, contact=0.14)


def _paint_spa(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A pale stone ledge in a warm, softly lit room: leaf shadows and steam glow behind, a stack of smooth
    dark basalt stones and a rolled towel to one side, out of focus."""
    ys, xs = fr.rows(), fr.cols()
    wall = paint.wall(fr, look.wall, 0.12)
    leaves = paint.smoothstep(0.1, 0.6, paint.fbm(fr.rng, fr.h, fr.w, 4.0, 6.0, 3))
    wall = wall * (1.0 - 0.10 * fr.detail * _blur(leaves, fr, 4.0))[..., None]
    glow = np.exp(
        -(((xs - fr.light_x * fr.w) / (0.35 * fr.w)) ** 2) - ((ys - 0.35 * fr.line) / (0.5 * fr.h)) ** 2
    )
    wall = wall + (0.10 * glow)[..., None] * paint.rgb((1.0, 0.96, 0.88))
    pl = _top(fr)
    pits = paint.floor_noise(fr, pl, 2.0, [(4.0, 0.025), (40.0, 0.02), (150.0, 0.015)])
    top = (
        paint.rgb(look.floor) * (1.0 + (pits + paint.speckle(fr, fr.h - pl.top, 0.01)) * fr.detail)[..., None]
    )
    img, line = _on_table(fr, wall, pl, top)
    # The cairn: three smooth stones, widest at the bottom, resting on the back of the ledge.
    cx, base, unit = _far_side(fr), line + 0.035 * fr.h, fr.unit
    stones = np.zeros((fr.h, fr.w), np.float32)
    light = np.zeros((fr.h, fr.w), np.float32)
    y = base
    for rx in (0.11, 0.085, 0.06):
        ry = rx * 0.42 * unit
        cy = y - ry
        disc = _disc(fr, cy, cx + fr.rng.uniform(-0.01, 0.01) * fr.w, ry, rx * unit)
        stones = np.maximum(stones, disc)
        lit = np.exp(
            -(((ys - cy + 0.5 * ry) / ry) ** 2) - ((xs - cx + 0.3 * fr.side * rx * unit) / (rx * unit)) ** 2
        )
        light = np.maximum(light, disc * lit)
        y = cy - 0.75 * ry
    towel_x = cx + (0.17 if cx < fr.w / 2 else -0.17) * fr.w
    towel = _disc(fr, base - 0.05 * unit, towel_x, 0.05 * unit, 0.09 * unit)
    roll = 0.90 + 0.10 * paint.smoothstep(0.05 * unit, 0.0, np.abs(ys - base + 0.07 * unit))
    img = _over(img, towel, paint.rgb(paint.mix(look.wall, (0.98, 0.97, 0.95), 0.8)) * roll[..., None])
    basalt = paint.rgb((0.20, 0.20, 0.21)) * (1.0 + 1.2 * light)[..., None]
    img = _over(img, stones, basalt)
    return _blur_above(img, fr, line, 1.2), line


def _blur_above(img: Array, fr: paint.Frame, line: float, amount: float) -> Array:
    """Soften the props standing on the back of the surface (they sit behind the product's focus)."""
    soft = _blur(img, fr, amount)
    keep = paint.smoothstep(line + 0.06 * fr.h, line + 0.10 * fr.h, fr.rows())[..., None]
    near_line = np.exp(-(((fr.rows() - line) / (0.006 * fr.h)) ** 2))[..., None]
    keep = np.maximum(keep, near_line)
    return img * keep + soft * (1.0 - keep)


def _paint_christmas(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A warm wooden table before a deep evergreen wall full of out-of-focus gold fairy lights, with red
    and green baubles' glow among them and fir branches blurred at the top corners."""
    ys, xs = fr.rows(), fr.cols()
    deep = paint.rgb(paint.mix(look.wall, (0.0, 0.0, 0.0), 0.35))
    wall = (
        deep
        * (0.75 + 0.25 * paint.smoothstep(0.0, fr.line, ys))[..., None]
        * (1.0 + 0.08 * paint.fbm(fr.rng, fr.h, fr.w, 3, 4, 2))[..., None]
    )
    corner = np.minimum(xs, fr.w - xs) / fr.w
    branch = paint.smoothstep(0.32, 0.0, corner + ys / fr.h * 0.8) * (
        0.6 + 0.4 * paint.noise(fr.rng, fr.h, fr.w, 20, 30)
    )
    wall = _over(wall, np.clip(branch, 0, 1) * fr.detail, paint.rgb((0.05, 0.16, 0.08)))
    wall = paint.bokeh(fr, wall, (1.0, 0.78, 0.35), 0.70, fr.line * 0.95)
    wall = paint.bokeh(fr, wall, (0.95, 0.10, 0.10), 0.95, fr.line * 0.9)
    wall = paint.bokeh(fr, wall, (0.20, 0.75, 0.30), 0.35, fr.line * 0.9)
    pl = _top(fr)
    top = paint.wood(fr, pl, paint.rgb(look.floor), wide=True)
    return _on_table(fr, wall, pl, top, contact=0.12)


def _paint_living_room(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A light oak coffee table, a fabric sofa with cushions out of focus behind it, the wall above."""
    ys, xs = fr.rows(), fr.cols()
    wall = paint.wall(fr, look.wall, 0.15) * paint.window_light(fr, 0.10)
    seat = fr.line + 0.02 * fr.h  # the sofa stands on the floor behind the table: no gap shows
    back_top = fr.line - 0.30 * fr.unit
    width = 0.36 * fr.w
    u = xs / width + fr.rng.uniform(0, 1)
    bump = 0.035 * fr.unit * (1.0 - (2.0 * (u - np.floor(u)) - 1.0) ** 2)
    sofa = paint.smoothstep(-1.0, 1.0, ys - (back_top - bump))
    seam = np.exp(-(((u - np.round(u)) * width / (0.006 * fr.w)) ** 2)) * (ys < seat - 0.10 * fr.unit)
    fabric = (
        paint.rgb((0.56, 0.58, 0.58))
        * (
            1.0
            + 0.05 * paint.noise(fr.rng, fr.h, fr.w, 30, 40)
            - 0.25 * seam
            - 0.10 * paint.smoothstep(seat - 0.20 * fr.unit, seat, ys)
        )[..., None]
    )
    roundness = 0.88 + 0.12 * paint.smoothstep(0.0, 0.08 * fr.unit, ys - (back_top - bump))
    img = _over(wall, sofa * (ys < seat + 2), fabric * roundness[..., None])
    img = _blur(img, fr, 3.0)
    pl = _top(fr)
    top = paint.wood(fr, pl, paint.rgb((0.80, 0.66, 0.48)), wide=False)
    return _on_table(fr, img, pl, top, contact=0.14)


def _paint_bedroom(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Soft white bed linen in front (rumpled), pillows and a channel-tufted headboard behind, blurred."""
    ys, xs = fr.rows(), fr.cols()
    wall = paint.wall(fr, (0.90, 0.88, 0.85), 0.12) * paint.window_light(fr, 0.08)
    head_top = fr.line - 0.42 * fr.unit
    channel = 0.055 * fr.w
    phase = xs / channel + fr.rng.uniform(0, 1)
    tuft = 0.80 + 0.20 * np.abs(np.sin(np.pi * phase)) ** 0.6
    board = paint.smoothstep(head_top - 1.0, head_top + 1.5, ys) * (xs >= 0)
    colour = (
        paint.rgb(look.wall)
        * tuft[..., None]
        * (1.0 - 0.10 * paint.smoothstep(head_top, fr.line, ys))[..., None]
    )
    img = _over(wall, board, colour)
    pillow = np.zeros((fr.h, fr.w), np.float32)
    for cx in (0.27, 0.73):
        pillow = np.maximum(
            pillow, _disc(fr, fr.line - 0.06 * fr.unit, cx * fr.w, 0.10 * fr.unit, 0.21 * fr.w, 4.0)
        )
    linen = paint.rgb(look.floor)
    img = _over(img, pillow, linen * (0.96 + 0.04 * paint.noise(fr.rng, fr.h, fr.w, 6, 10))[..., None])
    img = _blur(img, fr, 2.5)
    pl = _top(fr)
    folds = paint.floor_noise(fr, pl, 3.0, [(2.0, 0.035), (5.0, 0.03), (14.0, 0.015)], stretch=0.4)
    weave = paint.floor_noise(fr, pl, 1.0, [(120.0, 0.01)])
    top = linen * (1.0 + (folds + weave) * fr.detail)[..., None]
    return _on_table(fr, img, pl, top, contact=0.08)


def _paint_office(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A desk top before a slate wall and a glowing monitor, out of focus, on the side away from the product."""
    ys, xs = fr.rows(), fr.cols()
    wall = paint.wall(fr, look.wall, 0.20)
    cx = _far_side(fr) * 0.6 + 0.2 * fr.w
    half_w, half_h = 0.21 * fr.w, 0.14 * fr.unit
    cy = fr.line - 0.10 * fr.unit - half_h
    inside = paint.smoothstep(1.0, -1.0, np.abs(xs - cx) - half_w) * paint.smoothstep(
        1.0, -1.0, np.abs(ys - cy) - half_h
    )
    bezel = paint.smoothstep(1.0, -1.0, np.abs(xs - cx) - half_w - 0.012 * fr.w) * paint.smoothstep(
        1.0, -1.0, np.abs(ys - cy) - half_h - 0.012 * fr.w
    )
    stand = paint.smoothstep(1.0, -1.0, np.abs(xs - cx) - 0.015 * fr.w) * (ys > cy) * (ys < fr.line)
    img = _over(wall, np.maximum(bezel, stand), paint.rgb((0.08, 0.08, 0.09)))
    screen = (
        paint.rgb((0.55, 0.72, 0.98))
        * (0.85 + 0.15 * paint.smoothstep(cy + half_h, cy - half_h, ys))[..., None]
    )
    img = _over(img, inside, screen)
    halo = _gauss(inside, 0.08 * fr.unit)
    img = img + (0.25 * halo)[..., None] * paint.rgb((0.45, 0.62, 0.95))
    img = _blur(img, fr, 3.5)
    pl = _top(fr)
    laminate = paint.floor_noise(fr, pl, 2.0, [(6.0, 0.015), (80.0, 0.012)])
    top = paint.rgb(look.floor) * (1.0 + laminate * fr.detail)[..., None]
    return _on_table(fr, img, pl, top, contact=0.12)


def _paint_gym(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A black rubber gym floor with coloured flecks before a dark wall and a dumbbell rack, out of focus."""
    ys, xs = fr.rows(), fr.cols()
    wall = (
        paint.wall(fr, look.wall, 0.25)
        * (1.0 + 0.08 * paint.fbm(fr.rng, fr.h, fr.w, 3, 4, 3) * fr.detail)[..., None]
    )
    img = wall
    plates = np.zeros((fr.h, fr.w), np.float32)
    shine = np.zeros((fr.h, fr.w), np.float32)
    for tier, height in enumerate((0.10, 0.26)):
        bar_y = fr.line - height * fr.unit
        rail = paint.smoothstep(1.2, -1.2, np.abs(ys - bar_y - 0.05 * fr.unit) - 0.008 * fr.unit)
        img = _over(img, rail * (xs > 0.05 * fr.w) * (xs < 0.95 * fr.w), paint.rgb((0.10, 0.10, 0.11)))
        size = (0.045 - 0.01 * tier) * fr.unit
        for k in range(int(fr.w / (3.2 * size))):
            cx = 0.07 * fr.w + k * 3.2 * size + fr.rng.uniform(-0.1, 0.1) * size
            if cx > 0.93 * fr.w:
                break
            _disc(fr, bar_y, cx, size, size * 0.9, into=plates)
            _disc(fr, bar_y - 0.45 * size, cx, 0.35 * size, 0.5 * size, soft=0.4 * size, into=shine)
    img = _over(img, plates, paint.rgb((0.12, 0.12, 0.13)) * (1.0 + 1.4 * shine)[..., None])
    img = _blur(img, fr, 3.0)
    pl = _top(fr)
    rubber = paint.floor_noise(fr, pl, 2.0, [(10.0, 0.05), (60.0, 0.04)])
    tile = paint.noise_tile(fr.rng, [160.0, 160.0])
    flecks = paint.on_plane(tile, pl, 1.0, 1.0, fr.rng)
    visible = paint.fade(np.maximum(pl.dz, pl.dx), 1.0 / 60.0)
    fleck = (paint.smoothstep(1.6, 2.2, flecks[..., 0]) * visible * fr.detail)[..., None]
    hue = np.where(flecks[..., 1:2] > 0, paint.rgb((0.35, 0.50, 0.80)), paint.rgb((0.60, 0.60, 0.62)))
    base = paint.rgb(look.floor) * (1.0 + rubber * fr.detail)[..., None]
    top = base * (1.0 - fleck) + hue * fleck
    return _on_table(fr, img, pl, top, contact=0.05)


def _paint_bakery(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A flour-dusted butcher-block counter before warm shelves of bread loaves, out of focus."""
    ys, _xs = fr.rows(), fr.cols()
    wall = paint.wall(fr, look.wall, 0.18)
    img = wall
    loaves = np.zeros((fr.h, fr.w), np.float32)
    bake = np.zeros((fr.h, fr.w), np.float32)  # 0 golden .. 1 dark crust, one value per loaf
    cols = np.arange(fr.w)
    for height in (0.16, 0.42):
        shelf_y = fr.line - height * fr.unit
        board = paint.smoothstep(1.0, -1.0, np.abs(ys - shelf_y) - 0.012 * fr.unit)
        img = _over(img, board, paint.rgb((0.50, 0.34, 0.20)))
        shelf = np.zeros((fr.h, fr.w), np.float32)
        tone = np.zeros(fr.w, np.float32)
        x = fr.rng.uniform(0.0, 0.06) * fr.w
        while x < fr.w:
            rx = fr.rng.uniform(0.05, 0.09) * fr.w
            ry = fr.rng.uniform(0.045, 0.08) * fr.unit
            _disc(fr, shelf_y - 0.012 * fr.unit - ry * 0.55, x + rx, ry, rx, into=shelf)
            tone[(cols >= x) & (cols < x + 2 * rx)] = fr.rng.uniform(0, 1)
            x += 2 * rx + fr.rng.uniform(0.01, 0.04) * fr.w
        shelf *= ys < shelf_y - 0.01 * fr.unit
        bake = np.where(shelf > 0, tone[None, :], bake)
        loaves = np.maximum(loaves, shelf)
    golden, dark = paint.rgb((0.78, 0.52, 0.24)), paint.rgb((0.55, 0.32, 0.14))
    crust = golden + (dark - golden) * bake[..., None]
    img = _over(img, loaves, crust)
    img = paint.bokeh(fr, _blur(img, fr, 3.5), (1.0, 0.80, 0.50), 0.25, fr.line * 0.5)
    pl = _top(fr)
    top = paint.wood(fr, pl, paint.rgb(look.floor), wide=False)
    flour = (
        paint.smoothstep(0.8, 2.0, paint.floor_noise(fr, pl, 1.5, [(4.0, 0.6), (60.0, 0.6)]))[..., None]
        * 0.22
    )
    top = top * (1.0 - flour * fr.detail) + paint.rgb((0.96, 0.94, 0.90)) * flour * fr.detail
    return _on_table(fr, img, pl, top, contact=0.12)


def _paint_podium(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A bright cylinder podium on a coloured paper sweep: the product stands on its round top."""
    ys, xs = fr.rows(), fr.cols()
    img = paint.wall(fr, look.wall, 0.12)
    # The round top starts at the surface line and reaches at least the product's base (the key-light
    # row when a product was placed), so a product low in the frame stands on a wider, nearer podium.
    base = fr.light_y * fr.h if fr.surface_fixed else fr.line + 0.05 * fr.h
    b = float(np.clip(base + 0.015 * fr.h - fr.line, 0.036 * fr.h, 0.40 * fr.h))
    cy = fr.line + b
    a = min(0.75 * fr.w, max(0.30 * fr.w, 2.6 * b))
    floor_y = min(fr.h * 0.97, max(fr.line + 0.30 * fr.h, cy + b + 0.10 * fr.h))
    floor = paint.rgb(look.floor) * (1.0 + 0.02 * paint.noise(fr.rng, fr.h, fr.w, 20, 30))[..., None]
    img = _over(img, paint.smoothstep(floor_y - 0.04 * fr.h, floor_y + 0.02 * fr.h, ys), floor)
    cx = fr.light_x * fr.w
    white = paint.rgb(paint.mix((0.96, 0.95, 0.93), look.wall, 0.08))
    dx = np.clip((xs - cx) / a, -1.0, 1.0)
    round_light = 0.80 + 0.16 * np.cos(np.arcsin(dx) - 0.5 * fr.side)
    on_side = (
        paint.smoothstep(1.0, -1.0, np.abs(xs - cx) - a)
        * (ys >= cy)
        * (ys < floor_y + b * (1 - dx * dx) ** 0.5)
    )
    side_shadow = paint.rgb(look.wall) * 0.25
    shadow_x = cx - fr.side * 0.12 * fr.w
    cast = np.exp(-(((xs - shadow_x) / (1.3 * a)) ** 2)) * paint.smoothstep(
        floor_y - 0.02 * fr.h, floor_y + 0.05 * fr.h, ys
    )
    img = img * (1.0 - 0.25 * cast)[..., None]
    img = _over(img, on_side, white * round_light[..., None] + side_shadow * 0.0)
    top = _disc(fr, cy, cx, b, a, 0.8)
    rim = np.exp(-(((((ys - cy) / b) ** 2 + ((xs - cx) / a) ** 2 - 1.0) / 0.08) ** 2)) * (ys > cy)
    img = _over(img, top, white * 1.06 * (1.0 + 0.02 * paint.noise(fr.rng, fr.h, fr.w, 10, 20))[..., None])
    img = img * (1.0 + 0.05 * rim)[..., None]
    return img, fr.line


def _paint_cafe_table(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A pale marble café table top in front; the café behind it out of focus: a bright window, a dark
    counter, chairs and warm pendant lights."""
    ys, xs = fr.rows(), fr.cols()
    interior = paint.rgb((0.36, 0.28, 0.22)) * (0.8 + 0.3 * paint.smoothstep(0.0, fr.line, ys))[..., None]
    wx = _far_side(fr)
    window = paint.smoothstep(0.2 * fr.w, 0.17 * fr.w, np.abs(xs - wx)) * paint.smoothstep(
        0.06 * fr.h, 0.10 * fr.h, ys
    )
    window = window * paint.smoothstep(fr.line - 0.18 * fr.h, fr.line - 0.24 * fr.h, ys)
    mullion = np.exp(-(((xs - wx) / (0.008 * fr.w)) ** 2))
    img = _over(interior, window * (1.0 - 0.8 * mullion), paint.rgb((0.95, 0.93, 0.86)))
    counter = paint.smoothstep(fr.line - 0.20 * fr.h, fr.line - 0.18 * fr.h, ys)
    img = _over(
        img,
        counter,
        paint.rgb((0.22, 0.16, 0.12)) * (1.0 + 0.1 * paint.noise(fr.rng, fr.h, fr.w, 2, 20))[..., None],
    )
    chairs = np.zeros((fr.h, fr.w), np.float32)
    for _ in range(3):
        chair_x = fr.rng.uniform(0.1, 0.9) * fr.w
        _disc(fr, fr.line - 0.12 * fr.h, chair_x, 0.07 * fr.h, 0.05 * fr.w, into=chairs)
    img = _over(img, chairs * 0.8, paint.rgb((0.14, 0.10, 0.08)))
    lamps = np.zeros((fr.h, fr.w), np.float32)
    for k in range(3):
        lx = (0.2 + 0.3 * k + fr.rng.uniform(-0.05, 0.05)) * fr.w
        _disc(fr, 0.16 * fr.h, lx, 0.035 * fr.unit, 0.035 * fr.unit, into=lamps)
    img = img + lamps[..., None] * paint.rgb((0.9, 0.65, 0.30))
    img = paint.bokeh(fr, _blur(img, fr, 5.0), (1.0, 0.75, 0.40), 0.25, fr.line * 0.6)
    pl = _top(fr)
    top = paint.marble(fr, pl, paint.rgb(look.floor))
    return _on_table(fr, img, pl, top, contact=0.16)


_BOOKS: tuple[RGB, ...] = (
    (0.45, 0.12, 0.12),
    (0.12, 0.20, 0.38),
    (0.16, 0.32, 0.20),
    (0.70, 0.58, 0.38),
    (0.85, 0.80, 0.68),
    (0.35, 0.22, 0.14),
    (0.20, 0.18, 0.16),
    (0.60, 0.30, 0.12),
)


def _paint_library(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A dark wooden reading table before tall shelves of book spines, out of focus."""
    ys, xs = fr.rows(), fr.cols()
    case = paint.rgb((0.26, 0.17, 0.10))
    img = np.broadcast_to(
        case * (0.9 + 0.1 * paint.smoothstep(0, fr.line, ys))[..., None], (fr.h, fr.w, 3)
    ).copy()
    palette = np.array(_BOOKS, np.float32)
    shelf = 0.30 * fr.unit
    bottom = fr.line - 0.03 * fr.h
    k = 0
    while bottom > -shelf:
        top_y = bottom - shelf * fr.rng.uniform(0.85, 1.0)
        widths = fr.rng.uniform(0.010, 0.028, 200) * fr.w
        edges = np.cumsum(widths) - fr.rng.uniform(0, 0.03) * fr.w
        index = np.searchsorted(edges, xs[0])
        tall = fr.rng.uniform(0.70, 0.95, 200)[index]
        tone = fr.rng.uniform(0.8, 1.15, 200)[index]
        colours = palette[fr.rng.integers(0, len(palette), 200)][index] * tone[:, None]
        board = bottom - 0.025 * fr.unit
        book = (ys < board) & (ys > board - (board - top_y) * tall[None, :])
        gap = np.abs(xs[0] - np.concatenate([[0.0], edges])[np.clip(index, 0, 199)]) < 0.5
        spines = book & ~gap[None, :]
        img[spines] = np.broadcast_to(colours[None, :, :], img.shape)[spines]
        plank = (ys >= board) & (ys < bottom)
        img[np.broadcast_to(plank, (fr.h, fr.w))] = case * 1.3
        bottom = top_y - 0.02 * fr.unit
        k += 1
    img = img * (1.0 + 0.05 * paint.noise(fr.rng, fr.h, fr.w, 8, 12))[..., None]
    glow = np.exp(-(((xs - fr.light_x * fr.w) / (0.5 * fr.w)) ** 2))
    img = _blur(img * (0.75 + 0.35 * glow)[..., None], fr, 3.0)
    pl = _top(fr)
    top = paint.wood(fr, pl, paint.rgb(look.floor), wide=True)
    return _on_table(fr, img, pl, top, contact=0.10)


def _paint_terrazzo(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A terrazzo counter (cream cement with terracotta, sage, charcoal and ochre chips) by a plaster wall."""
    wall = paint.wall(fr, look.wall, 0.15) * paint.window_light(fr, 0.08)
    wall = wall * (1.0 + 0.02 * paint.fbm(fr.rng, fr.h, fr.w, 4, 6, 3) * fr.detail)[..., None]
    pl = _top(fr)
    tile = paint.noise_tile(fr.rng, [34.0, 90.0, 60.0, 8.0])
    s = paint.on_plane(tile, pl, 1.2, 1.0, fr.rng)
    visible = paint.fade(np.maximum(pl.dz, pl.dx), 1.2 / 34.0)
    big = paint.smoothstep(1.25, 1.45, s[..., 0]) * visible
    small = paint.smoothstep(1.6, 1.8, s[..., 2]) * paint.fade(np.maximum(pl.dz, pl.dx), 1.2 / 60.0)
    chips = np.array(
        [(0.78, 0.42, 0.30), (0.55, 0.63, 0.50), (0.25, 0.25, 0.26), (0.85, 0.66, 0.30), (0.90, 0.62, 0.60)],
        np.float32,
    )
    which = (np.floor(np.abs(s[..., 1]) * 7.0).astype(np.int32)) % len(chips)
    cement = paint.rgb(look.floor) * (1.0 + 0.015 * s[..., 3] * fr.detail)[..., None]
    top = _over(cement, big * fr.detail, chips[which])
    top = _over(top, small * fr.detail, chips[(which + 2) % len(chips)])
    return _on_table(fr, wall, pl, top, contact=0.12)


def _paint_velvet(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Velvet cloth draped behind in soft vertical folds and spread over the surface: deep colour with
    the bright sheen velvet has where it turns away from the eye."""
    ys, _xs = fr.rows(), fr.cols()
    folds = paint.noise(fr.rng, 1, fr.w, 1, 7)[0] + 0.4 * paint.noise(fr.rng, 1, fr.w, 1, 19)[0]
    slope = np.gradient(folds) * fr.w / 6.0
    sway = paint.noise(fr.rng, fr.h, 1, 3, 1)[:, :1] * 0.15
    facing = np.clip(slope[None, :] + sway, -1.5, 1.5)
    sheen = np.clip(np.abs(facing), 0, 1) ** 1.5
    drape = paint.rgb(look.wall) * (0.70 + 0.25 * folds[None, :, None] + 0.55 * sheen[..., None])
    drape = drape * (1.0 - 0.25 * paint.smoothstep(fr.line, 0.0, ys))[..., None]
    drape = _blur(drape, fr, 1.2)
    pl = _top(fr)
    ripple = paint.floor_noise(fr, pl, 3.0, [(2.0, 1.0), (5.0, 0.3)], stretch=0.35)
    nap = 0.25 * paint.smoothstep(0.5, 1.5, ripple)
    pile = paint.speckle(fr, fr.h - pl.top, 0.02)
    top = paint.rgb(look.floor) * (0.88 + 0.05 * ripple + nap + pile)[..., None]
    return _on_table(fr, drape, pl, top, contact=0.20)


INDOOR_PAINTERS: Mapping[str, Painter] = MappingProxyType(
    {
        "bathroom": _paint_bathroom,
        "spa": _paint_spa,
        "christmas": _paint_christmas,
        "living_room": _paint_living_room,
        "bedroom": _paint_bedroom,
        "office": _paint_office,
        "gym": _paint_gym,
        "bakery": _paint_bakery,
        "podium": _paint_podium,
        "cafe_table": _paint_cafe_table,
        "library": _paint_library,
        "terrazzo": _paint_terrazzo,
        "velvet": _paint_velvet,
    }
)
