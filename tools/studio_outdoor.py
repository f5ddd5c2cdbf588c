"""Painters of the outdoor and special scene families (night city, neon street, underwater, pool, rooftop,
autumn leaves, cherry blossom, outer space, garden, lake, lavender, tropical, picnic).

Each paints ONE continuous scene at the studio's working resolution: a backdrop above the frame's line and
the surface a product stands on from that line down (a ledge, a deck, a shore, the ground). Backdrop detail
is sized from the line, so it stays one scene when a product placed high lifts the line. Registered in
`studio._PAINTERS`; they paint with `studio_paint`'s primitives, as every family does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from productshot.tools import studio_paint as paint
from productshot.tools.studio_paint import Array
from productshot.tools.studio_scenes import RGB

Painter = Callable[[paint.Frame, paint.Look], tuple[Array, float]]


# ------------------------------------------------------------------------------------------- helpers


def _discs(
    fr: paint.Frame,
    count: int,
    rows: tuple[float, float],
    radius: tuple[float, float],
    colours: list[RGB],
    blur: float,
) -> Array:
    """Out-of-focus discs of light (h, w, 3): `count` of them between rows, radii as fractions of the unit."""
    canvas = np.zeros((fr.h, fr.w, 3), np.float32)
    if count <= 0 or rows[1] <= rows[0]:
        return canvas
    ys = fr.rng.uniform(rows[0], rows[1], count)
    xs = fr.rng.uniform(0.0, 1.0, count) * fr.w
    radii = fr.rng.uniform(radius[0], radius[1], count) * fr.unit
    levels = fr.rng.uniform(0.35, 1.0, count)
    picks = fr.rng.integers(0, len(colours), count)
    yy, xx = fr.rows(), fr.cols()
    for y, x, r, lv, c in zip(ys, xs, radii, levels, picks, strict=True):
        r = max(float(r), 0.8)
        y0, y1 = max(0, int(y - r - 2)), min(fr.h, int(y + r + 3))
        x0, x1 = max(0, int(x - r - 2)), min(fr.w, int(x + r + 3))
        if y0 >= y1 or x0 >= x1:
            continue
        dist = np.sqrt((yy[y0:y1] - y) ** 2 + (xx[:, x0:x1] - x) ** 2)
        disc = lv * paint.smoothstep(r, r * 0.6, dist)
        patch = canvas[y0:y1, x0:x1]
        np.maximum(patch, disc[..., None] * paint.rgb(colours[int(c)]), out=patch)
    return _blur(canvas, blur) if blur > 1.2 else canvas  # the discs' own soft rims suffice below that


def _skyline(fr: paint.Frame, base: float, height: float, min_w: float, max_w: float) -> tuple[Array, Array]:
    """Building tops standing on row `base`: per-column roof row (w,) and building index per column (w,)."""
    roofs = np.zeros(fr.w, np.float32)
    index = np.zeros(fr.w, np.int32)
    x, i = 0.0, 0
    while x < fr.w:
        width = fr.rng.uniform(min_w, max_w) * fr.w
        tall = height * fr.rng.uniform(0.25, 1.0) ** 1.3
        a, b = int(x), min(fr.w, int(x + width) + 1)
        roofs[a:b] = base - tall
        index[a:b] = i
        x += width
        i += 1
    return roofs, index


def _windows(fr: paint.Frame, roofs: Array, index: Array, base: float, cell: float, lit: float) -> Array:
    """Lit windows (h, w) inside buildings: a grid per building, a share `lit` of cells on, small squares."""
    ys, xs = fr.rows(), fr.cols()
    cy = np.floor(ys / cell)
    cx = np.floor(xs / (cell * 0.8))
    hashed = np.sin(cy * 12.9898 + cx * 78.233 + index[None, :] * 3.1) * 43758.5453
    on = (hashed - np.floor(hashed)) < lit
    fy = ys / cell - cy
    fx = xs / (cell * 0.8) - cx
    square = (np.abs(fy - 0.5) < 0.26) & (np.abs(fx - 0.5) < 0.28)
    inside = (ys > roofs[None, :] + 0.6 * cell) & (ys < base)
    return (on & square & inside).astype(np.float32)


def _cells(pl: paint.Plane, size: float, jitter: float) -> tuple[Array, Array]:
    """Per-cell random numbers in [0, 1) on a floor plane (cells `size` world units), and the in-cell
    distance to the cell centre (0..~0.7): leaves, petals and flowers scattered in perspective."""
    u = pl.x / size + jitter
    v = pl.z / (size * 0.7) + 0.5 * jitter
    iu, iv = np.floor(u), np.floor(v)
    hashed = np.sin(iu * 127.1 + iv * 311.7) * 43758.5453
    rnd = hashed - np.floor(hashed)
    second = np.sin(iu * 269.5 + iv * 183.3) * 12345.678
    second = second - np.floor(second)
    fu = u - iu - 0.5 - (second - 0.5) * 0.3
    fv = (v - iv - 0.5 - (rnd - 0.5) * 0.3) * (0.8 + 0.5 * second)
    return rnd.astype(np.float32), np.sqrt(fu * fu + fv * fv).astype(np.float32)


def _edge(img: Array, fr: paint.Frame, shade: float, lift: float) -> Array:
    """Make the line where the surface starts read as an edge: the shadowed foot of what stands behind it
    (a hedge, trees, a waterline) just above, and the first lit stretch of ground just below."""
    ys = fr.rows() - fr.line
    band = max(1.0, 0.014 * fr.h)
    above = paint.smoothstep(-band, 0.0, ys) * (ys < 0.5)
    below = np.exp(-np.maximum(ys, 0.0) / band) * (ys >= 0.5)
    return img * (1.0 - shade * above + lift * below)[..., None]


def _blur(img: Array, sigma: float) -> Array:
    """Out of focus: a Gaussian for small radii, two box passes (cost independent of the radius) beyond."""
    if sigma <= 0.3:
        return img
    if sigma < 1.0:
        return ndimage.gaussian_filter(img, (sigma, sigma, 0))
    size = max(3, round(sigma * 1.9) | 1)
    once = ndimage.uniform_filter(img, (size, size, 1))
    return ndimage.uniform_filter(once, (size, size, 1))


def _ledge(
    fr: paint.Frame, look: paint.Look, colour: RGB, gloss: Array | None, rim: float
) -> tuple[paint.Plane, Array]:
    """A stone ledge or parapet top from the line down: fine mottle, a lit front edge at the line."""
    pl = paint.plane(fr, fr.line - 1, fr.line - 0.45 * fr.h)
    mottle = paint.floor_noise(fr, pl, 2.0, [(6.0, 0.05), (50.0, 0.04)]) + paint.speckle(
        fr, fr.h - pl.top, 0.03
    )
    stone = paint.rgb(colour) * (1.0 + mottle * fr.detail)[..., None]
    if gloss is not None:
        stone = stone + gloss
    edge = np.exp(-(((pl.y - fr.line - 0.006 * fr.h) / (0.005 * fr.h)) ** 2))[..., None]
    return pl, stone * (1.0 + rim * edge)


# ------------------------------------------------------------------------------------------ painters


def paint_night_city(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A city at night beyond a dark stone ledge: many small lit windows and soft bokeh under a navy sky."""
    line = fr.line
    sky = paint.ramp(
        fr.h, [(0.0, (0.02, 0.03, 0.10)), (line * 0.7, (0.07, 0.09, 0.22)), (line, (0.20, 0.16, 0.30))]
    )
    img = np.broadcast_to(sky, (fr.h, fr.w, 3)).copy()
    base = line - 0.02 * fr.h
    far, far_i = _skyline(fr, base, 0.45 * line, 0.04, 0.09)
    near, near_i = _skyline(fr, base, 0.75 * line, 0.07, 0.16)
    ys = fr.rows()
    for roofs, idx, tone, lit in (
        (far, far_i, (0.08, 0.09, 0.17), 0.30),
        (near, near_i, (0.05, 0.05, 0.10), 0.38),
    ):
        body = (ys >= roofs[None, :]).astype(np.float32)[..., None]
        img = img * (1.0 - body) + paint.rgb(tone) * body
        win = _windows(fr, roofs, idx, base, max(2.5, 0.018 * fr.unit), lit)
        warmth = paint.noise(fr.rng, fr.h, fr.w, 6, 10)[..., None]
        glow = paint.rgb((1.0, 0.82, 0.50)) + warmth * paint.rgb((0.0, 0.08, 0.25))
        img = img + win[..., None] * glow * (1.0 - body * 0.0) * 0.95
    img = _blur(img, max(0.6, fr.unit / 520))
    lights = [(1.0, 0.78, 0.45), (1.0, 0.92, 0.75), (0.95, 0.55, 0.30), (0.70, 0.80, 1.0)]
    img = img + _discs(fr, int(40 * fr.detail) + 6, (0.35 * line, line), (0.008, 0.03), lights, 0.8) * 0.75
    pl = paint.plane(fr, line - 1, line - 0.45 * fr.h)
    shine = (
        _discs(fr, 14, (line + 0.02 * fr.h, line + 0.18 * fr.h), (0.01, 0.04), lights, 2.5)[pl.top :] * 0.25
    )
    _, ledge = _ledge(fr, look, look.floor, shine, 0.8)
    paint.paste(img, pl, ledge, line, 0.5)
    return img, line


def paint_neon_street(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A dark street after rain: pink and cyan neon tubes on a brick wall, mirrored in the wet pavement."""
    line = fr.line
    wall = paint.ramp(fr.h, [(0.0, (0.05, 0.04, 0.08)), (line, (0.10, 0.08, 0.12))])
    ys, xs = fr.rows(), fr.cols()
    brick_h = max(3.0, 0.03 * fr.unit)
    row = np.floor(ys / brick_h)
    mortar = np.exp(-(((ys / brick_h - np.round(ys / brick_h)) * brick_h / 0.7) ** 2))
    joints = np.exp(-((((xs / (2.2 * brick_h) + 0.5 * (row % 2)) % 1.0 - 0.5) * 2.2 * brick_h / 0.7) ** 2))
    img = wall * (1.0 - 0.35 * np.maximum(mortar, 1.0 - (1.0 - joints)) * fr.detail)[..., None]
    img = img * (1.0 + 0.15 * paint.noise(fr.rng, fr.h, fr.w, 8, 12) * fr.detail)[..., None]
    tubes = np.zeros((fr.h, fr.w, 3), np.float32)
    pink, cyan, violet = (1.0, 0.18, 0.62), (0.10, 0.90, 1.0), (0.65, 0.30, 1.0)
    thick = max(1.2, 0.006 * fr.unit)
    for k in range(7):
        colour = paint.rgb((pink, cyan, violet, pink, cyan, pink, cyan)[k])
        y = fr.rng.uniform(0.15, 0.78) * line
        x0 = fr.rng.uniform(0.0, 0.8) * fr.w
        length = fr.rng.uniform(0.12, 0.35) * fr.w
        if k % 2:  # a vertical sign
            span = fr.rng.uniform(0.15, 0.45) * line
            d = np.abs(xs - x0) + np.maximum(0, np.maximum(y - ys, ys - y - span))
        else:
            d = np.abs(ys - y) + np.maximum(0, np.maximum(x0 - xs, xs - x0 - length))
        tubes = np.maximum(tubes, np.exp(-((d / thick) ** 2))[..., None] * colour)
    glow = _blur(tubes, max(2.0, 0.03 * fr.unit))
    img = img + tubes * 1.2 + glow * 1.6
    pl = paint.plane(fr, line - 1, line - 0.30 * fr.h)
    mirror_rows = np.clip(2 * line - pl.y, 0, fr.h - 1).astype(np.int32)[:, 0]
    reflect = (tubes * 1.2 + glow * 1.6)[mirror_rows]
    streak = _blur(reflect, 1.0)
    streak = ndimage.uniform_filter1d(streak, max(3, int(0.05 * fr.h)), axis=0)
    puddles = paint.smoothstep(-0.2, 0.6, paint.floor_noise(fr, pl, 3.0, [(4.0, 1.0)]))[..., None]
    asphalt = paint.floor_noise(fr, pl, 2.0, [(20.0, 0.10), (90.0, 0.08)]) + paint.speckle(
        fr, fr.h - pl.top, 0.06
    )
    ground = paint.rgb(look.floor) * (1.0 + asphalt * fr.detail)[..., None]
    ground = ground + streak * (0.55 + 0.9 * puddles)
    paint.paste(img, pl, ground, line, 0.6)
    curb = np.exp(-(((ys - line - 0.005 * fr.h) / (0.004 * fr.h)) ** 2))[..., None]
    return img + curb * 0.05, line


def paint_underwater(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Under the sea: blue-green water lit from above, slanting light rays, a sandy floor under caustics."""
    line = fr.line
    water = paint.ramp(
        fr.h, [(0.0, (0.28, 0.72, 0.78)), (line * 0.6, (0.08, 0.42, 0.52)), (line, (0.05, 0.30, 0.40))]
    )
    ys, xs = fr.rows(), fr.cols()
    img = np.broadcast_to(water, (fr.h, fr.w, 3)).copy()
    slant = 0.35 * fr.side
    u = (xs + slant * ys) / fr.w
    rays = paint.noise(fr.rng, 1, 4096, 1, 18)[0]
    ray = np.interp(u.ravel() * 1400 + 1200, np.arange(4096), rays).reshape(u.shape)
    shafts = np.clip(ray, 0, None) * paint.smoothstep(line * 1.05, 0.0, ys)
    img = img + (shafts * 0.22 * fr.detail)[..., None] * paint.rgb((0.75, 1.0, 0.95))
    particles = _discs(fr, int(30 * fr.detail), (0.05 * line, line), (0.002, 0.006), [(0.8, 1.0, 1.0)], 0.4)
    img = img + particles * 0.35
    pl = paint.plane(fr, line - 1, line - 0.12 * fr.h)
    n1 = paint.floor_noise(fr, pl, 1.2, [(6.0, 1.0)])
    n2 = paint.floor_noise(fr, pl, 1.2, [(9.0, 1.0)])
    caustic = (np.clip(1.0 - np.abs(n1) * 2.2, 0, 1) ** 5 + np.clip(1.0 - np.abs(n2) * 2.2, 0, 1) ** 5) * 0.5
    ripples = paint.floor_noise(fr, pl, 3.0, [(4.0, 0.06), (30.0, 0.04)]) + paint.speckle(
        fr, fr.h - pl.top, 0.03
    )
    sand = paint.rgb(look.floor) * (1.0 + ripples * fr.detail)[..., None]
    sand = sand + (caustic * 0.45 * fr.detail)[..., None] * paint.rgb((0.85, 1.0, 0.95))
    depth = paint.haze(pl, 0.85)
    sand = sand * (1.0 - depth) + paint.rgb((0.05, 0.30, 0.40)) * depth
    paint.paste(img, pl, sand, line, 0.02 * fr.h)
    return img, line


def paint_pool(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A sunny poolside: turquoise water with caustic lines beyond a band of mosaic tiles, a pale stone deck."""
    line = fr.line
    img = paint.sky_gradient(fr, look, 0.18 * line)
    hedge = paint.ridge_mask(fr, 0.22 * line, 0.10 * line, 8, 0.8, bumps=0.3)
    img = (
        img * (1 - hedge[..., None])
        + paint.rgb((0.18, 0.34, 0.20)) * paint.ground_light(look) * hedge[..., None]
    )
    water_top = 0.22 * line
    pl_w = paint.plane(fr, water_top, water_top - 0.05 * fr.h)
    n1 = paint.floor_noise(fr, pl_w, 1.0, [(5.0, 1.0)], stretch=0.6)
    n2 = paint.floor_noise(fr, pl_w, 1.0, [(8.0, 1.0)], stretch=0.6)
    lines = (np.clip(1 - np.abs(n1) * 2.5, 0, 1) ** 4 + np.clip(1 - np.abs(n2) * 2.5, 0, 1) ** 4) * 0.5
    t = np.clip((pl_w.y - water_top) / max(line - water_top, 1.0), 0, 1)[..., None]
    deep, shallow = paint.rgb((0.10, 0.55, 0.72)), paint.rgb((0.35, 0.82, 0.86))
    water = (deep + (shallow - deep) * t) * paint.ground_light(look) + (lines * 0.25 * fr.detail)[..., None]
    paint.paste(img, pl_w, water, water_top, 0.6)
    ys, xs = fr.rows(), fr.cols()
    band = 0.035 * fr.h
    pl = paint.plane(fr, line - band - 1, line - 0.40 * fr.h)
    tile = max(2.0, 0.02 * fr.unit)
    tone = np.sin(np.floor(xs / tile) * 12.9 + np.floor(ys / tile) * 78.2) * 43758.5
    tone = (tone - np.floor(tone)) * 0.12
    grout = np.maximum(
        np.exp(-((((xs / tile) % 1.0 - 0.0) * tile / 0.6) ** 2)),
        np.exp(-((((ys / tile) % 1.0) * tile / 0.6) ** 2)),
    )
    mosaic = paint.rgb((0.12, 0.42, 0.66)) * (0.95 + tone - 0.25 * grout * fr.detail)[..., None]
    in_band = (paint.smoothstep(line - band - 0.6, line - band + 0.6, ys) * (ys < line + 1)).astype(
        np.float32
    )
    img = img * (1 - in_band[..., None]) + mosaic * in_band[..., None]
    stone = paint.floor_noise(fr, pl, 2.0, [(8.0, 0.03), (60.0, 0.03)]) + paint.speckle(
        fr, fr.h - pl.top, 0.02
    )
    deck = paint.rgb(look.floor) * paint.ground_light(look) * (1.0 + stone * fr.detail)[..., None]
    seams = np.exp(-((((pl.x / 0.6) % 1.0 - 0.5) * 0.6 / (pl.dx * 1.2 + 0.002)) ** 2)) * 0.0
    paint.paste(img, pl, deck * (1.0 - seams[..., None]), line, 0.5)
    rim = np.exp(-(((ys - line - 0.006 * fr.h) / (0.005 * fr.h)) ** 2))[..., None]
    return img * (1.0 + 0.06 * rim), line


def paint_rooftop(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A rooftop at dusk: a warm-to-violet sky, the skyline in silhouette with a few lit windows, a parapet."""
    line = fr.line
    sky = paint.ramp(
        fr.h,
        [
            (0.0, (0.26, 0.22, 0.46)),
            (line * 0.45, (0.62, 0.42, 0.60)),
            (line * 0.85, (0.98, 0.62, 0.42)),
            (line, (1.0, 0.76, 0.50)),
        ],
    )
    img = np.broadcast_to(sky, (fr.h, fr.w, 3)).copy()
    cloud = paint.fbm(fr.rng, fr.h, fr.w, 3.0, 2.0, 3)
    streak = (
        paint.smoothstep(0.1, 0.6, cloud)
        * paint.smoothstep(line * 0.8, line * 0.2, fr.rows())
        * 0.25
        * fr.detail
    )
    img = img * (1 - streak[..., None]) + paint.rgb((0.95, 0.60, 0.62)) * streak[..., None]
    base = line
    roofs, idx = _skyline(fr, base, 0.42 * line, 0.05, 0.12)
    body = paint.smoothstep(-0.6, 0.6, fr.rows() - roofs[None, :])[..., None]
    img = img * (1 - body) + paint.rgb((0.20, 0.14, 0.26)) * body
    win = _windows(fr, roofs, idx, base, max(2.5, 0.02 * fr.unit), 0.12)
    img = img + win[..., None] * paint.rgb((1.0, 0.80, 0.45)) * 0.7
    img = _blur(img, max(0.5, fr.unit / 700))
    _, ledge = _ledge(fr, look, paint.mix(look.floor, (1.0, 0.75, 0.60), 0.15), None, 0.10)
    pl = paint.plane(fr, line - 1, line - 0.45 * fr.h)
    paint.paste(img, pl, ledge, line, 0.5)
    return img, line


def _tree_canopy(fr: paint.Frame, look: paint.Look, line: float, colours: list[RGB], trunk: RGB) -> Array:
    """Out-of-focus trees above the line: dappled canopy blobs in `colours` over a pale sky, a few trunks."""
    ys, xs = fr.rows(), fr.cols()
    sky = paint.ramp(fr.h, [(0.0, (0.86, 0.90, 0.95)), (line, (0.93, 0.92, 0.88))])
    img = np.broadcast_to(sky, (fr.h, fr.w, 3)).copy()
    blobs = paint.fbm(fr.rng, fr.h, fr.w, 5.0, 7.0, 3)
    pick = paint.noise(fr.rng, fr.h, fr.w, 3.0, 4.0)
    palette = [paint.rgb(c) for c in colours]
    leaf = palette[0] + (palette[1] - palette[0]) * np.clip(0.5 + pick, 0, 1)[..., None]
    leaf = leaf + (palette[2] - leaf) * np.clip(pick - 0.3, 0, 1)[..., None] * 1.5
    cover = paint.smoothstep(-0.25, 0.35, blobs + 0.35 - 0.5 * (ys / max(line, 1.0)) ** 2)
    trunks = np.zeros(fr.w, np.float32)
    for _ in range(5):
        cx, half = fr.rng.uniform(0, fr.w), fr.rng.uniform(0.006, 0.02) * fr.w
        trunks = np.maximum(trunks, paint.smoothstep(half + 1.0, half * 0.6, np.abs(xs[0] - cx)))
    under = paint.smoothstep(0.35 * line, 0.8 * line, ys)
    tcover = trunks[None, :] * under
    img = img * (1 - tcover[..., None]) + paint.rgb(trunk) * tcover[..., None]
    shade = 1.0 + 0.18 * paint.noise(fr.rng, fr.h, fr.w, 12, 16)[..., None] * fr.detail
    img = img * (1 - cover[..., None]) + leaf * shade * cover[..., None]
    return _blur(img, max(1.0, fr.unit / 260))


def _scatter(
    fr: paint.Frame, pl: paint.Plane, base: Array, colours: list[RGB], size: float, share: float
) -> Array:
    """Flat things strewn on the ground (leaves, petals, flowers): `share` of cells covered, in perspective."""
    out = base
    for layer in range(2):
        rnd, dist = _cells(pl, size * (1.0 + 0.4 * layer), fr.rng.uniform(0, 10) + 0.3 * layer)
        on = (rnd < share) & (dist < 0.45 + 0.1 * rnd)
        pick = np.floor(rnd / max(share, 1e-3) * len(colours)).astype(np.int32) % len(colours)
        table = np.stack([paint.rgb(c) for c in colours])
        shade = (0.85 + 0.3 * (rnd / max(share, 1e-3) * len(colours) % 1.0))[..., None]
        tint = table[pick] * shade
        soft = (on * paint.smoothstep(0.5, 0.3, dist))[..., None] * paint.smoothstep(
            0.0, 1.0, 1.0 / (pl.dx * 60)
        )[..., None]
        out = out * (1 - soft) + tint * soft
    return out


def paint_leaves(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Autumn: warm orange and red trees out of focus, a ground thick with fallen leaves."""
    line = fr.line
    img = _tree_canopy(
        fr, look, line, [(0.88, 0.46, 0.14), (0.80, 0.25, 0.10), (0.95, 0.72, 0.22)], (0.25, 0.17, 0.12)
    )
    pl = paint.plane(fr, line - 1, line - 0.10 * fr.h)
    soil = (
        paint.rgb(look.floor)
        * (1.0 + paint.floor_noise(fr, pl, 2.0, [(8.0, 0.10), (40.0, 0.08)]) * fr.detail)[..., None]
    )
    leaves = [(0.85, 0.40, 0.10), (0.72, 0.20, 0.08), (0.93, 0.66, 0.20), (0.55, 0.30, 0.12)]
    ground = _scatter(fr, pl, soil, leaves, 0.05, 0.75) * paint.ground_light(look)
    haze = paint.haze(pl, 0.5)
    ground = ground * (1 - haze) + img[max(0, int(line) - 1)].mean(axis=0) * haze
    paint.paste(img, pl, ground, line, 0.6)
    return _edge(img, fr, 0.35, 0.06), line


def paint_cherry_blossom(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Spring: a pink blossom canopy over a pale stone path strewn with petals."""
    line = fr.line
    img = _tree_canopy(
        fr, look, line, [(0.98, 0.80, 0.86), (0.95, 0.68, 0.78), (1.0, 0.92, 0.94)], (0.30, 0.22, 0.22)
    )
    img = (
        img
        + _discs(fr, int(24 * fr.detail), (0.0, 0.8 * line), (0.006, 0.02), [(1.0, 0.85, 0.90)], 1.0) * 0.3
    )
    pl = paint.plane(fr, line - 1, line - 0.10 * fr.h)
    gravel = paint.floor_noise(fr, pl, 2.0, [(10.0, 0.05), (60.0, 0.05)]) + paint.speckle(
        fr, fr.h - pl.top, 0.04
    )
    path = paint.rgb(look.floor) * (1.0 + gravel * fr.detail)[..., None]
    lawn = (
        paint.rgb((0.45, 0.60, 0.32))
        * (1.0 + 0.15 * paint.floor_noise(fr, pl, 2.0, [(12.0, 1.0)]))[..., None]
    )
    edge = paint.smoothstep(0.9, 1.2, np.abs(pl.x))[..., None]
    ground = path * (1 - edge) + lawn * edge
    ground = _scatter(
        fr, pl, ground, [(0.98, 0.78, 0.84), (1.0, 0.90, 0.92)], 0.03, 0.22
    ) * paint.ground_light(look)
    haze = paint.haze(pl, 0.45)
    ground = ground * (1 - haze) + img[max(0, int(line) - 1)].mean(axis=0) * haze
    paint.paste(img, pl, ground, line, 0.6)
    return _edge(img, fr, 0.35, 0.06), line


def paint_space(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Outer space: black sky of point stars and a faint nebula, a planet's lit limb, a grey rocky surface."""
    line = fr.line
    ys, xs = fr.rows(), fr.cols()
    img = np.broadcast_to(paint.rgb((0.01, 0.012, 0.03)), (fr.h, fr.w, 3)).copy()
    nebula = np.clip(paint.fbm(fr.rng, fr.h, fr.w, 2.0, 3.0, 3), 0, None)[..., None]
    img = img + nebula * paint.rgb((0.10, 0.04, 0.14)) * fr.detail
    stars = (fr.rng.random((fr.h, fr.w)) > 0.994).astype(np.float32) * fr.rng.uniform(0.3, 1.0, (fr.h, fr.w))
    img = img + ndimage.gaussian_filter(stars, 0.45)[..., None] * 2.4
    cx = (0.5 + 0.30 * fr.side) * fr.w + fr.rng.uniform(-0.05, 0.05) * fr.w
    r = 0.9 * fr.unit
    cy = 0.35 * line + r
    dist = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    disc = paint.smoothstep(r + 0.8, r - 0.8, dist)[..., None]
    light_dir = ((xs - cx) * -fr.side + (ys - cy) * -0.6) / np.maximum(dist, 1.0)
    bands = 1.0 + 0.10 * np.sin(ys / fr.h * 40.0 + paint.noise(fr.rng, fr.h, fr.w, 3, 3) * 2.0)
    planet = (
        paint.rgb((0.25, 0.42, 0.70))
        * np.clip(0.15 + 0.9 * light_dir, 0.05, 1.0)[..., None]
        * bands[..., None]
    )
    atmosphere = (
        np.exp(-(((dist - r) / (0.012 * fr.unit)) ** 2))[..., None] * np.clip(light_dir, 0, 1)[..., None]
    )
    img = img * (1 - disc) + planet * disc + atmosphere * paint.rgb((0.35, 0.60, 1.0)) * 0.6
    pl = paint.plane(fr, line - 1, line - 0.08 * fr.h)
    dust = paint.floor_noise(fr, pl, 3.0, [(5.0, 0.12), (25.0, 0.10), (90.0, 0.08)]) + paint.speckle(
        fr, fr.h - pl.top, 0.08
    )
    crater_n = paint.floor_noise(fr, pl, 4.0, [(10.0, 1.0)])
    craters = (paint.smoothstep(0.9, 1.4, crater_n) - 0.6 * paint.smoothstep(1.4, 1.8, crater_n)) * 0.25
    rock = paint.rgb(look.floor) * (1.0 + (dust - craters) * fr.detail)[..., None]
    rim = np.exp(-(((pl.y - line - 0.01 * fr.h) / (0.012 * fr.h)) ** 2))[..., None]
    paint.paste(img, pl, rock * (1.0 + 0.25 * rim), line, 0.6)
    return img, line


def paint_garden(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A garden: a clipped hedge under a summer sky, flower beds along the lawn, a flagstone path."""
    line = fr.line
    img = paint.sky_gradient(fr, look, line)
    light = paint.ground_light(look)
    hedge = paint.ridge_mask(fr, line, 0.22 * line, 3, 0.8, bumps=0.12)
    leafy = 1.0 + 0.22 * paint.noise(fr.rng, fr.h, fr.w, fr.h / 6, fr.w / 6)[..., None] * fr.detail
    img = img * (1 - hedge[..., None]) + paint.rgb((0.20, 0.38, 0.18)) * light * leafy * hedge[..., None]
    pl = paint.plane(fr, line - 1, line - 0.06 * fr.h)
    lawn = (
        paint.rgb((0.40, 0.62, 0.28))
        * (1.0 + paint.floor_noise(fr, pl, 2.0, [(8.0, 0.08), (40.0, 0.08)]) * fr.detail)[..., None]
    )
    flowers = [
        (0.92, 0.25, 0.35),
        (0.98, 0.80, 0.25),
        (0.75, 0.45, 0.90),
        (1.0, 0.95, 0.95),
        (0.98, 0.55, 0.65),
    ]
    bed = paint.smoothstep(0.55, 0.75, np.abs(pl.x) / np.maximum(pl.z, 1.0) ** 0.0 * 1.0) * paint.smoothstep(
        2.2, 1.6, np.abs(pl.x)
    )
    bloom = _scatter(fr, pl, lawn * 0.75, flowers, 0.03, 0.7)
    ground = lawn * (1 - bed[..., None]) + bloom * bed[..., None]
    flag = paint.floor_noise(fr, pl, 2.0, [(6.0, 0.06), (40.0, 0.04)])
    u, v = pl.x / 0.28, pl.z / 0.22
    joints = np.minimum(
        np.abs(u - np.round(u)) / np.maximum(pl.dx / 0.28, 1e-3),
        np.abs(v - np.round(v)) / np.maximum(pl.dz / 0.22, 1e-3),
    )
    stones = (
        paint.rgb(look.floor)
        * (1.0 + flag * fr.detail)[..., None]
        * (0.8 + 0.2 * np.clip(joints / 1.5, 0, 1))[..., None]
    )
    on_path = paint.smoothstep(0.47, 0.42, np.abs(pl.x))[..., None]
    ground = (ground * (1 - on_path) + stones * on_path) * light
    haze = paint.haze(pl, 0.35)
    ground = ground * (1 - haze) + img[max(0, int(line) - 1)].mean(axis=0) * haze
    paint.paste(img, pl, ground, line, 0.6)
    return _edge(img, fr, 0.30, 0.06), line


_SHORE_REACH = 0.01  # how far the lake shore wanders above and below its line, as a share of the height
_SHALLOWS = 0.015  # how far above the shore the stones show through the water, as a share of the height


def paint_lake(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A mountain lake: peaks under a clear sky, still water mirroring them, a shore of smooth stones."""
    line = fr.line
    shore = line
    lake_top = line - 0.30 * line
    img = paint.sky_gradient(fr, look, lake_top)
    light = paint.ground_light(look)
    peaks = paint.ridge_mask(fr, lake_top, 0.55 * lake_top, 4, 0.7, bumps=0.25)
    # A snow ridge once painted here is switched off; its random draw stays, so every lake seed paints the
    # picture the split detector's studio sweeps were trained and checked on.
    paint.ridge_mask(fr, lake_top, 0.55 * lake_top * 0.75, 4, 0.7)
    ys = fr.rows()
    rock = paint.ramp(fr.h, [(0.0, (0.62, 0.66, 0.74)), (lake_top, (0.30, 0.40, 0.38))])
    tex = 1.0 + 0.12 * paint.fbm(fr.rng, fr.h, fr.w, 6, 10, 3)[..., None] * fr.detail
    # The snow line wanders across the range (a level one would be a full-width line, mirrored in the water)
    snow_line = lake_top * (0.65 + 0.12 * paint.noise(fr.rng, 1, fr.w, 1, 9)[0])
    cap = paint.smoothstep(snow_line + 0.1 * lake_top, snow_line - 0.1 * lake_top, ys)[..., None]
    mountain = (rock * (1 - cap) + paint.rgb((0.92, 0.94, 0.97)) * cap) * tex * light
    img = img * (1 - peaks[..., None]) + mountain * peaks[..., None]
    forest = paint.ridge_mask(fr, lake_top, 0.06 * lake_top, 30, 0.6, bumps=0.5)
    img = img * (1 - forest[..., None]) + paint.rgb((0.14, 0.24, 0.16)) * light * forest[..., None]
    rows = np.arange(fr.h)
    mirror = np.clip(2 * lake_top - rows, 0, fr.h - 1).astype(np.int32)
    reflected = img[mirror] * paint.rgb((0.70, 0.80, 0.86))
    ripple = (
        1.0 + 0.05 * np.sin(ys * 1.7 + paint.noise(fr.rng, fr.h, fr.w, 20, 4) * 4.0)[..., None] * fr.detail
    )
    in_lake = paint.smoothstep(lake_top - 0.5, lake_top + 0.5, ys)[..., None]
    img = img * (1 - in_lake) + _blur(reflected, 1.0) * ripple * in_lake
    # The water laps the stones unevenly: a ruler-straight shore across the whole frame reads as a cut
    # between two pictures (the split check) rather than a waterline.
    reach = _SHORE_REACH * fr.h
    along = paint.noise(fr.rng, 1, fr.w, 1, 6)[0] + 0.45 * paint.noise(fr.rng, 1, fr.w, 1, 21)[0]
    edge = shore + reach * np.clip(along, -1.4, 1.4) / 1.4
    shallows = _SHALLOWS * fr.h  # stones show through the last stretch of water before the shore
    pl = paint.plane(fr, shore - reach - shallows - 2, shore - 0.30 * fr.h)
    gravel = paint.floor_noise(fr, pl, 1.5, [(3.0, 0.06), (40.0, 0.16), (120.0, 0.14)]) + paint.speckle(
        fr, fr.h - pl.top, 0.10
    )
    warm = paint.floor_noise(fr, pl, 3.0, [(5.0, 1.0)])[..., None] * paint.rgb((0.025, 0.01, -0.02))
    wet = 1.0 - 0.25 * np.exp(-np.maximum(pl.y - edge, 0.0) / (0.03 * fr.h))[..., None]
    stones = (paint.rgb(look.floor) + warm * fr.detail) * (1.0 + gravel * fr.detail)[..., None] * wet * light
    through = 0.6 * paint.smoothstep(edge - shallows, edge, pl.y)[..., None]  # the water's own colour fades
    img[pl.top :] = img[pl.top :] * (1.0 - through) + stones * paint.rgb((0.62, 0.74, 0.80)) * through
    paint.paste(img, pl, stones, edge, 1.2)
    below = fr.rows() - edge[None, :]  # the first wet stretch of stones, darker, following the waterline
    band = max(1.0, 0.014 * fr.h)
    darker = np.exp(-np.maximum(below, 0.0) / band) * paint.smoothstep(-1.0, 1.0, below)
    return img * (1.0 - 0.40 * darker)[..., None], shore


def paint_lavender(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A lavender field: purple rows running to the horizon between green furrows, trees far off."""
    line = fr.line
    img = paint.sky_gradient(fr, look, line)
    light = paint.ground_light(look)
    trees = paint.ridge_mask(fr, line, 0.03 * fr.h, 14, 0.8, bumps=0.4)
    img = img * (1 - trees[..., None]) + paint.rgb((0.24, 0.33, 0.22)) * light * trees[..., None]
    pl = paint.plane(fr, line - 1, line - 0.008 * fr.h)
    period = 0.22
    phase = pl.x / period + 0.5
    across = np.abs(phase - np.round(phase))  # 0 on a row's crest, 0.5 in the furrow
    survive = np.clip(1.0 - pl.dx / period * 3.0, 0, 1)
    row = paint.smoothstep(0.36, 0.20, across)
    row = row * survive + 0.62 * (1 - survive)
    flowers = (
        paint.rgb(paint.mix(look.wall, (0.52, 0.40, 0.78), 0.0)) if False else paint.rgb((0.55, 0.42, 0.80))
    )
    spikes = paint.floor_noise(fr, pl, 2.0, [(40.0, 0.12), (120.0, 0.10)])
    bloom = flowers * (1.0 + spikes * fr.detail)[..., None]
    furrow = (
        paint.rgb((0.30, 0.40, 0.22))
        * (1.0 + paint.floor_noise(fr, pl, 2.0, [(30.0, 0.10)]) * fr.detail)[..., None]
    )
    ground = (furrow * (1 - row[..., None]) + bloom * row[..., None]) * light
    haze = paint.haze(pl, 0.35)
    ground = ground * (1 - haze) + img[max(0, int(line) - 1)].mean(axis=0) * haze
    paint.paste(img, pl, ground, line, 0.8)
    return _edge(img, fr, 0.30, 0.08), line


def paint_tropical(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """Tropical: big glossy jungle leaves crowding the back, sun through them, a teak deck in front."""
    line = fr.line
    ys = fr.rows()
    img = np.broadcast_to(
        paint.ramp(fr.h, [(0.0, (0.70, 0.86, 0.72)), (line, (0.55, 0.74, 0.56))]), (fr.h, fr.w, 3)
    ).copy()
    for layer in range(3):
        scale = (2.5, 3.5, 5.0)[layer]
        field = paint.fbm(fr.rng, fr.h, fr.w, scale, scale * fr.w / max(fr.h, 1), 2)
        cover = paint.smoothstep(-0.05 + 0.1 * layer, 0.12 + 0.1 * layer, field)
        drop = np.roll(cover, max(1, round(0.025 * fr.h)), axis=0)  # each layer shades the one behind it
        img = img * (1.0 - 0.35 * drop * (1.0 - cover))[..., None]
        tone = paint.rgb(((0.10, 0.30, 0.14), (0.16, 0.42, 0.18), (0.24, 0.55, 0.22))[layer])
        body = np.clip((field - 0.1 * layer) * 2.0, 0.0, 1.0)  # leaves are lit toward their middle
        leaf = tone * (0.75 + 0.45 * body)[..., None]
        img = img * (1 - cover[..., None]) + leaf * cover[..., None]
    img = _blur(img, max(1.0, fr.unit / 220))
    img = img + _discs(fr, int(16 * fr.detail), (0.0, line), (0.01, 0.03), [(1.0, 0.98, 0.80)], 1.5) * 0.35
    img = img * paint.ground_light(look)
    pl = paint.plane(fr, line - 1, line - 0.42 * fr.h)
    deck = paint.wood(fr, pl, paint.rgb(look.floor), wide=False) * paint.ground_light(look)
    paint.paste(img, pl, deck, line, 0.5)
    rim = np.exp(-(((ys - line - 0.004 * fr.h) / (0.004 * fr.h)) ** 2))[..., None]
    return img * (1.0 + 0.05 * rim), line


def paint_picnic(fr: paint.Frame, look: paint.Look) -> tuple[Array, float]:
    """A picnic: a red-and-white gingham blanket spread on a sunny lawn, trees at the edge of the park."""
    line = fr.line
    img = paint.sky_gradient(fr, look, line)
    light = paint.ground_light(look)
    ridge = paint.ridge_mask(fr, line, 0.06 * fr.h, 8, 0.9, bumps=0.35)
    crowns = 1.0 + 0.12 * paint.noise(fr.rng, fr.h, fr.w, 14, 50)[..., None] * fr.detail
    img = img * (1 - ridge[..., None]) + paint.rgb((0.22, 0.36, 0.20)) * light * crowns * ridge[..., None]
    pl = paint.plane(fr, line - 1, line - 0.015 * fr.h)
    grass = (
        paint.rgb((0.42, 0.64, 0.28))
        * (1.0 + paint.floor_noise(fr, pl, 2.0, [(6.0, 0.06), (30.0, 0.08), (90.0, 0.1)]) * fr.detail)[
            ..., None
        ]
    )
    check = 0.09
    cu = np.sin(pl.x / check * np.pi)
    cv = np.sin(pl.z / check * np.pi)
    fade_u = np.clip(1.0 - pl.dx / check * 2.5, 0, 1)
    fade_v = np.clip(1.0 - pl.dz / check * 2.5, 0, 1)
    su = 0.5 + 0.5 * np.tanh(cu * 4) * fade_u
    sv = 0.5 + 0.5 * np.tanh(cv * 4) * fade_v
    red = paint.rgb(look.floor)
    white = paint.rgb((0.95, 0.93, 0.90))
    both, one = su * sv, su * (1 - sv) + sv * (1 - su)
    cloth = (
        white * (1 - both - one)[..., None]
        + red * both[..., None]
        + (red * 0.55 + white * 0.45) * one[..., None]
    )
    weave = 1.0 + paint.floor_noise(fr, pl, 1.0, [(60.0, 0.03)]) * fr.detail
    cloth = cloth * weave[..., None]
    z_far = 2.6
    # The blanket is narrower than the lawn at its far edge, so grass shows on both sides of it: a blanket
    # edge across the whole frame would read as one picture stacked on another (and the split check agrees).
    far_row = int(np.argmin(np.abs(pl.z[:, 0] - z_far)))
    reach = float(np.abs(pl.x[far_row]).max())
    half = min(1.1, 0.62 * reach) + 0.05 * paint.noise(fr.rng, fr.h - pl.top, 1, 3, 1)
    hem = paint.smoothstep(0.02, -0.02, np.abs(pl.x) - half)  # the blanket's side edges, slightly uneven
    on = hem * paint.smoothstep(z_far + 0.05, z_far - 0.05, pl.z)
    ground = (grass * (1 - on[..., None]) + cloth * on[..., None]) * light
    haze = paint.haze(pl, 0.4)
    ground = ground * (1 - haze) + img[max(0, int(line) - 1)].mean(axis=0) * haze
    paint.paste(img, pl, ground, line, 0.8)
    return _edge(img, fr, 0.30, 0.06), line


OUTDOOR_PAINTERS: dict[str, Painter] = {
    "night_city": paint_night_city,
    "neon_street": paint_neon_street,
    "underwater": paint_underwater,
    "pool": paint_pool,
    "rooftop": paint_rooftop,
    "leaves": paint_leaves,
    "cherry_blossom": paint_cherry_blossom,
    "outer_space": paint_space,
    "garden": paint_garden,
    "lake": paint_lake,
    "lavender_field": paint_lavender,
    "tropical": paint_tropical,
    "picnic": paint_picnic,
}
