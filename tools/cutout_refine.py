"""Refine a coarse cutout mask to the photo's real edges, and gather the evidence of how far to trust it.

The model's mask (u2netp predicts at 320² and is scaled up) is right about *what* the product is and
blurry about *where* its outline runs. This module keeps its decisions away from the outline and
re-solves alpha only in a thin band around it:

1. **Trimap.** Pixels farther than ``radius`` from the coarse 0.5 contour are solid product or clear
   background; the band between is unknown.
2. **Band alpha.** Each band pixel is un-mixed against the local product colour F and background colour
   B (Gaussian means of the nearby solid / clear pixels): alpha = (I − B)·(F − B) / |F − B|². That
   recovers the anti-aliased edge exactly where both sides are locally plain. Where they are not
   (stripes on chrome, a textured backdrop, low contrast), a colour guided filter of the coarse mask
   takes over, weighted by how well the two-colour model holds.
3. **Holes and dropped parts.** With a backdrop plain enough to model from the photo's border
   (a quadratic colour surface), regions the model filled that are backdrop-coloured with a sharp rim
   become holes again, and regions next to the product that the backdrop model cannot explain (a dark
   product on a dark backdrop) are added back, unless they look like the photo's own floor shadow (the
   backdrop darkened with its hue kept).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from PIL import Image
from scipy import ndimage

WORK_SIDE: Final = 512  # refine at most this many pixels across, then solve the edge at full size

_SNAP_SOLID = 0.96  # band alpha at or above this is solid product
_SNAP_CLEAR = 0.04  # and at or below this is clear background
_EDGE_HALF = 3  # the edge pass reads solid and clear pixels this many px away
# Damping of the edge pass's colour planes (per sample, in px²): a plane's slope needs offsets spread
# wider than this to count, so a side seen in one or two pixels falls back to its mean colour.
_PLANE_DAMPING = 0.1
# RGB → (luma, half-weight blue and red chroma): the space the band is un-mixed in.
_LUMA_CHROMA = np.array(
    [[0.299, 0.587, 0.114], [-0.0844, -0.1656, 0.25], [0.25, -0.2094, -0.0406]], dtype=np.float32
)


@dataclass(frozen=True)
class BackgroundModel:
    """A smooth colour surface fitted to the photo's border, and how well it explains that border."""

    coefficients: np.ndarray  # (6, 3): 1, x, y, x², xy, y² (x, y in 0..1) → RGB
    noise: float  # robust per-channel spread of the border around the surface (8-bit levels)
    spread: float  # 90th percentile of the border's colour distance to the surface
    coverage: float  # share of the border ring that showed backdrop (not product)

    def at(self, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Backdrop colours (N×3) at pixel coordinates."""
        return _design(ys, xs, shape) @ self.coefficients

    def plain(self) -> bool:
        """True when the border is one smooth colour surface plus noise (a studio backdrop)."""
        return self.coverage >= 0.5 and self.spread <= max(14.0, 4.0 * self.noise) and self.noise <= 6.0


@dataclass(frozen=True)
class Refinement:
    """The refined alpha and what was learned making it (the evidence for the cutout's confidence)."""

    alpha: np.ndarray  # uint8, the image's size
    background: BackgroundModel | None
    band_reliability: float  # mean weight of the two-colour model across the band (0..1)
    edge_shift: float  # how far the band moved the model's edge: changed pixels per pixel of outline
    coarse_ramp: float  # the model's 10-90 % ramp width (its pixels): a sure model draws a sharp edge
    coarse_unsure: float  # model alpha between 0.1 and 0.9 away from its edge, per product pixel
    fragments: int  # separate solid parts of the refined mask (2 % of the largest or more)
    holes_opened: int  # pixels turned back into background inside the outline
    recovered: int  # pixels added back next to the outline
    border_touch: float  # share of the image border covered by product
    area: float  # share of the image covered by product
    # Share of the product the model half-saw (mask between 0.05 and 0.5, off the kept outline) in colours
    # the backdrop's border never shows: parts left out that do not look like backdrop.
    unseen_parts: float = 0.0
    # Share of the product whose side of alpha 0.5 is a coin flip (alpha near 0.5): the IoU the cutout
    # itself cannot vouch for. Thin parts are mostly edge, so a sub-pixel error costs them a lot.
    edge_doubt: float = 0.0

    @property
    def plain_backdrop(self) -> bool:
        return self.background is not None and self.background.plain()


def fit_background(rgb: np.ndarray, coarse: np.ndarray) -> BackgroundModel | None:
    """Fit the backdrop colour surface to the border ring pixels the coarse mask calls background."""
    height, width = coarse.shape
    ring = max(3, round(0.03 * min(height, width)))
    border = np.zeros((height, width), dtype=bool)
    border[:ring], border[-ring:], border[:, :ring], border[:, -ring:] = True, True, True, True
    product = ndimage.binary_dilation(coarse >= 13, iterations=2)
    usable = border & ~product
    coverage = float(usable.sum() / max(1, border.sum()))
    ys, xs = np.nonzero(usable)
    if ys.size < 50:
        return None
    if ys.size > 5000:
        pick = np.random.default_rng(0).choice(ys.size, 5000, replace=False)
        ys, xs = ys[pick], xs[pick]
    colours = rgb[ys, xs].astype(np.float64)
    design = _design(ys, xs, (height, width))
    keep = np.ones(ys.size, dtype=bool)
    coefficients = np.zeros((6, 3))
    residual = np.zeros(ys.size)
    for _ in range(3):  # refit without the worst outliers (a stray object on the border)
        kept = design[keep]  # least squares by its normal equations: 6 unknowns, thousands of samples
        coefficients = np.linalg.solve(kept.T @ kept + 1e-9 * np.eye(6), kept.T @ colours[keep])
        residual = np.linalg.norm(colours - design @ coefficients, axis=1)
        keep = residual <= max(3.0 * float(np.median(residual[keep])), 3.0)
    per_channel = np.abs(colours - design @ coefficients)[keep]
    noise = float(1.4826 * np.median(per_channel))
    return BackgroundModel(coefficients, noise, float(np.percentile(residual, 90)), coverage)


def working_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) the refinement works at: the photo's, or at most `WORK_SIDE` across."""
    factor = WORK_SIDE / max(height, width)
    if factor >= 1.0:
        return width, height
    return max(1, round(width * factor)), max(1, round(height * factor))


def refine_alpha(rgb: np.ndarray, coarse: np.ndarray) -> Refinement:
    """Refine ``coarse`` (uint8 alpha from the model) against ``rgb`` (uint8 H×W×3); see the module doc.

    Photos larger than `WORK_SIDE` are refined at that size (the model's mask has no finer detail), then
    the edge is solved once more at full size from the pixels right next to it, so it stays crisp.
    ``coarse`` may be given at the photo's size or already at the `working_size`.
    """
    height, width = rgb.shape[:2]
    size = working_size(width, height)
    if size == (width, height):
        return _refine(rgb, coarse)
    factor = size[0] / width
    if coarse.shape != (size[1], size[0]):
        coarse = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BILINEAR))
    small = _refine(np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX)), coarse)
    source = np.asarray(Image.fromarray(small.alpha).resize((width, height), Image.Resampling.BILINEAR))
    # Averaging 1/factor² pixels divided the photo's noise by about 1/factor.
    noise = small.background.noise / factor if small.plain_backdrop and small.background else 2.0
    # Scaling up made the edge 1/factor times softer: the edge is solved again at full size, its fallback
    # sharpened back by the same factor.
    alpha = _edge_pass(rgb, source, max(1.0, noise), small.plain_backdrop, stretch=1.0 / factor)
    alpha = _smooth_edge(alpha)
    return replace(small, alpha=alpha, edge_doubt=edge_doubt(alpha))


def _refine(rgb: np.ndarray, coarse: np.ndarray) -> Refinement:
    """`refine_alpha` at the working size."""
    height, width = coarse.shape
    radius = max(3, int(np.ceil(1.5 * max(height, width) / 320)))
    background = fit_background(rgb, coarse)
    plain = background is not None and background.plain()
    solid = coarse >= 128
    holes = recovered = 0
    if plain and solid.any():
        assert background is not None
        backdrop = _Backdrop.of(rgb, background)
        opened = _backdrop_holes(solid, backdrop, background.noise, radius)
        added = _dropped_parts(solid & ~opened, backdrop, background.noise, radius)
        holes, recovered = int(opened.sum()), int(added.sum())
        solid = (solid & ~opened) | added
    noise = background.noise if background is not None and plain else 2.0
    # The model's mask is about 320 px across, so its edge is ``scale`` pixels soft here.
    scale = max(height, width) / 320
    alpha, reliability = _band_alpha(
        rgb, coarse, solid, radius, max(1.0, noise), max(2.0, 2.0 * scale), plain
    )
    # A second, narrower pass samples both sides right next to the edge the first pass found: nearer
    # colours are truer where the backdrop changes fast (a floor shadow right under the edge).
    alpha = _smooth_edge(_edge_pass(rgb, alpha, max(1.0, noise), plain))
    evidence = _evidence(coarse, solid, alpha, scale, background, reliability, holes, recovered)
    unseen = unseen_parts(rgb, coarse, alpha >= 128, background if plain else None)
    return replace(evidence, unseen_parts=unseen, edge_doubt=edge_doubt(alpha))


def edge_doubt(alpha: np.ndarray) -> float:
    """Expected share of the product on the wrong side of alpha 0.5: each edge pixel counts half (a coin
    flip) at alpha 0.5, falling to nothing at 0.25 and 0.75, over the pixels at or above 0.5.

    Alpha is solved to within a few hundredths; a pixel at 0.5 could as well be 0.45 or 0.55. For a
    product a few pixels thick that is a real share of its area (an IoU of 0.95 leaves 5 %)."""
    partial = alpha[(alpha > 0) & (alpha < 255)].astype(np.float32) / 255.0
    area = int(np.count_nonzero(alpha >= 128))
    if area == 0:
        return 0.0
    flips = 0.5 * np.clip(1.0 - np.abs(partial - 0.5) / 0.25, 0.0, 1.0)
    return float(flips.sum()) / area


def unseen_parts(
    rgb: np.ndarray, coarse: np.ndarray, kept: np.ndarray, plain: BackgroundModel | None = None
) -> float:
    """Share of the kept product that the model half-saw next to it in colours the border never shows.

    The model's faint mask (0.05 to 0.5) away from the kept outline is either backdrop it hesitated
    about (gravel, a shadow: colours the border shows too) or product it half-lost (a pale handle on
    brick). Colours are compared as a 16³ histogram of the border ring, widened by one bin. With a
    ``plain`` backdrop model, faint pixels that are a shade of the backdrop (its floor shadow, darker
    than any border pixel) are backdrop too."""
    height, width = coarse.shape
    area = int(np.count_nonzero(kept))
    if area == 0:
        return 0.0
    reach = max(2, round(1.5 * max(height, width) / 320))
    faint = (coarse >= 13) & (coarse < 128) & ~ndimage.binary_dilation(kept, iterations=reach)
    if not faint.any():
        return 0.0
    ring = max(3, round(0.03 * min(height, width)))
    border = np.zeros((height, width), dtype=bool)
    border[:ring], border[-ring:], border[:, :ring], border[:, -ring:] = True, True, True, True
    border &= ~ndimage.binary_dilation(coarse >= 13, iterations=2)
    if not border.any():
        return 0.0
    bins = (rgb >> 4).astype(np.int32)
    index = (bins[..., 0] << 8) | (bins[..., 1] << 4) | bins[..., 2]
    counts = np.bincount(index[border], minlength=4096).reshape(16, 16, 16).astype(np.float32)
    counts = ndimage.uniform_filter(counts, 3, mode="constant") * 27.0
    # A colour the border shows in fewer than 1 in 2000 of its pixels is not the backdrop's.
    seen = counts.reshape(-1) >= max(1.0, 0.0005 * int(border.sum()))
    fy, fx = np.nonzero(faint)
    unseen = ~seen[index[fy, fx]]
    if plain is not None and unseen.any():
        fy, fx = fy[unseen], fx[unseen]
        colour = rgb[fy, fx].astype(np.float64)
        surface = plain.at(fy, fx, (height, width))
        # The floor shadow is the backdrop darkened with its hue kept (as in `_dropped_parts`).
        shade = np.sum(colour * surface, axis=1) / np.maximum(np.sum(surface * surface, axis=1), 1e-6)
        hue_off = np.linalg.norm(colour - shade[:, None] * surface, axis=1)
        tolerance = max(8.0, 4.0 * plain.noise * np.sqrt(3.0) / 3.0 + 4.0)
        return float(np.count_nonzero((shade >= 1.0) | (hue_off > tolerance))) / area
    return float(np.count_nonzero(unseen)) / area


def _evidence(
    coarse: np.ndarray,
    target: np.ndarray,
    alpha: np.ndarray,
    scale: float,
    background: BackgroundModel | None,
    reliability: float,
    holes: int,
    recovered: int,
) -> Refinement:
    """The refinement with what the coarse mask and the band say about the cutout's reliability."""
    refined = alpha >= 128
    c = coarse.astype(np.float32) / 255.0
    gy, gx = np.gradient(c)
    outline = max(float(np.hypot(gx, gy).sum()), 1.0)
    # The refinement's own changes (holes, recovered parts) are in ``target``; what is left is how far
    # the band moved the model's edge, per pixel of outline, in the model's own pixels.
    shift = float((refined ^ target).sum()) / outline / max(scale, 1.0)
    soft = (c > 0.1) & (c < 0.9)
    ramp = float(soft.sum()) / outline / max(scale, 1.0)
    solid = coarse >= 128
    reach = 2 * int(np.ceil(1.5 * scale + 1)) + 1
    edge_zone = ndimage.maximum_filter(solid, reach) & ~ndimage.minimum_filter(solid, reach)
    area = max(int(refined.sum()), 1)
    labels, count = ndimage.label(refined)
    if count:
        sizes = np.asarray(ndimage.sum(refined, labels, np.arange(1, count + 1)))
        count = int((sizes >= 0.02 * sizes.max()).sum())
    border = np.concatenate([refined[0], refined[-1], refined[:, 0], refined[:, -1]])
    return Refinement(
        alpha=alpha,
        background=background,
        band_reliability=reliability,
        edge_shift=shift,
        coarse_ramp=ramp,
        coarse_unsure=float((soft & ~edge_zone).sum()) / area,
        fragments=count,
        holes_opened=holes,
        recovered=recovered,
        border_touch=float(border.mean()),
        area=float(refined.mean()),
    )


# ---- the band ----------------------------------------------------------------------------------------------


def _band_alpha(
    rgb: np.ndarray,
    source: np.ndarray,
    solid: np.ndarray,
    radius: int,
    noise: float,
    stretch: float,
    plain: bool,
) -> tuple[np.ndarray, float]:
    """Alpha: 255 on solid pixels away from the outline, 0 on clear ones, re-solved in the band between.

    ``source`` is the alpha the band falls back on where the two-colour model does not hold, sharpened
    around its 0.5 level by ``stretch`` (the model's upscaled mask is several pixels soft).
    """
    height, width = solid.shape
    alpha = np.where(solid, 255, 0).astype(np.uint8)
    if not solid.any() or solid.all():
        return alpha, 1.0
    reach = 4 * radius + 3
    ys, xs = np.nonzero(_grow(solid) & _grow(~solid))  # pixels with both sides in their 3×3
    y0, y1 = max(0, ys.min() - reach), min(height, ys.max() + reach + 1)
    x0, x1 = max(0, xs.min() - reach), min(width, xs.max() + reach + 1)
    crop = (slice(y0, y1), slice(x0, x1))
    inner = solid[crop]
    grown = ndimage.maximum_filter(inner, 2 * radius + 1, mode="nearest")
    shrunk = ndimage.minimum_filter(inner, 2 * radius + 1, mode="nearest")
    band = grown & ~shrunk
    # The sides' colours come from rings just past the band, so the blurry coarse edge is not sampled.
    fg_ring = shrunk & ~ndimage.minimum_filter(inner, reach, mode="nearest")
    bg_ring = ndimage.maximum_filter(inner, reach, mode="nearest") & ~grown
    window = 2 * radius + 2
    # Un-mix in a luma/chroma space with chroma at half weight: JPEG keeps chroma at half resolution, so
    # a saturated edge bleeds colour a pixel or two into the backdrop.
    image = rgb[crop].astype(np.float32) @ _LUMA_CHROMA.T
    by, bx = np.nonzero(band)
    if by.size == 0:
        return alpha, 1.0
    (f, f_var, f_weight), (b, b_var, b_weight) = _ring_stats(image, (fg_ring, bg_ring), window, by, bx)
    fallback = np.clip((source[crop][by, bx].astype(np.float32) / 255.0 - 0.5) * stretch + 0.5, 0.0, 1.0)
    solved, weight = _unmix(image[by, bx], (f, f_var, f_weight), (b, b_var, b_weight), fallback, noise, plain)
    alpha[y0 + by, x0 + bx] = np.rint(solved * 255.0).astype(np.uint8)
    return alpha, float(weight.mean())


Side = tuple[np.ndarray, np.ndarray, np.ndarray]  # mean colour, summed variance, sample weight


def _unmix(
    colour: np.ndarray, fg: Side, bg: Side, fallback: np.ndarray, noise: float, plain: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha of each pixel between its two sides, blended with ``fallback`` where the model is weak.

    On a ``plain`` backdrop, pixels that look like the backdrop in shadow are backdrop."""
    f, f_var, f_weight = fg
    b, b_var, b_weight = bg
    d = f - b
    contrast2 = np.sum(d * d, axis=1)
    a = np.sum((colour - b) * d, axis=1) / np.maximum(contrast2, 1e-6)
    off_line = np.linalg.norm(colour - b - np.clip(a, 0, 1)[:, None] * d, axis=1)
    spread = np.sqrt(f_var + b_var + 3.0 * noise * noise)
    contrast = np.sqrt(contrast2)
    # Trust the two-colour model when the sides differ well beyond their own variation, and the pixel
    # lies on the line between them (a highlight or rim light next to the backdrop does not).
    line_tolerance = np.maximum(0.12 * contrast, 4.0 * noise + 2.0)
    weight = np.clip((contrast / spread - 2.0) / 2.0, 0.0, 1.0)
    weight *= np.clip(2.0 - off_line / line_tolerance, 0.0, 1.0)
    sampled = (f_weight > 0.02) & (b_weight > 0.02)
    weight *= sampled
    solved = weight * np.clip(a, 0.0, 1.0) + (1.0 - weight) * fallback
    # Off the line and darker than both sides, with the backdrop's hue, where the model was unsure: the
    # photo's own floor shadow (the model's mask often bleeds into it). A product's own shaded edge,
    # which the model calls product with confidence, is left alone.
    shade = np.sum(colour * b, axis=1) / np.maximum(np.sum(b * b, axis=1), 1e-6)
    hue_off = np.linalg.norm(colour - shade[:, None] * b, axis=1)
    shadow = (
        plain
        & sampled
        & (fallback < 0.9)
        & (off_line > line_tolerance)
        & (shade < 0.97)
        & (colour[:, 0] < f[:, 0] - 3.0 * noise)
        & (hue_off <= np.maximum(0.06 * np.linalg.norm(b, axis=1), 3.0 * noise))
    )
    solved = np.where(shadow, 0.0, solved)
    weight = np.where(shadow, 1.0, weight)
    # Photo noise moves the un-mixed alpha by about noise / contrast: values that close to 0 or 1 are
    # the side they are near (else a low-contrast edge gets a noisy fringe several pixels wide).
    wobble = np.clip(3.0 * np.sqrt(3.0) * noise / np.maximum(contrast, 1e-3), _SNAP_CLEAR, 0.25)
    snap = np.maximum(wobble * weight + 0.12 * (1.0 - weight), _SNAP_CLEAR)
    solved = np.where(solved >= 1.0 - snap, 1.0, np.where(solved <= snap, 0.0, solved))
    return solved, weight


def _edge_pass(
    rgb: np.ndarray, source: np.ndarray, noise: float, plain: bool, stretch: float = 1.0
) -> np.ndarray:
    """Re-solve the pixels ``source`` leaves between 0 and 255 (grown by a pixel) from the fully solid and
    fully clear pixels within 3 px: nearest colours are truest where the backdrop changes fast (a floor
    shadow right under the edge, a rim light on the product). Each side's colour is a plane fitted to
    those pixels and read at the edge pixel, so a shadow that darkens away from the edge is not averaged
    into the edge's backdrop."""
    alpha = source.copy()
    partial = (source > 0) & (source < 255)
    if not partial.any():
        return alpha
    band = _grow(partial)
    ys, xs = np.nonzero(band)
    height, width = source.shape
    half = _EDGE_HALF
    y0, y1 = max(0, ys.min() - half), min(height, ys.max() + half + 1)
    x0, x1 = max(0, xs.min() - half), min(width, xs.max() + half + 1)
    image = rgb[y0:y1, x0:x1].astype(np.float32) @ _LUMA_CHROMA.T
    crop = source[y0:y1, x0:x1]
    ys, xs = ys - y0, xs - x0
    stats = _window_planes(image, (crop == 255, crop == 0), band[y0:y1, x0:x1], ys, xs, half)
    fallback = np.clip((source[y0 + ys, x0 + xs] / 255.0 - 0.5) * stretch + 0.5, 0.0, 1.0)
    solved, _ = _unmix(image[ys, xs], stats[0], stats[1], fallback, noise, plain)
    alpha[y0 + ys, x0 + xs] = np.rint(solved * 255.0).astype(np.uint8)
    return alpha


def _window_planes(
    image: np.ndarray,
    sides: tuple[np.ndarray, np.ndarray],
    band: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    half: int,
) -> list[Side]:
    """For each side mask and each band pixel (ys, xs): the side's colour plane (least squares over the
    side's pixels in the (2·half + 1)² window, slopes lightly damped) read at the pixel, the side's colour
    variance and its share of the window. Pixels past the image's edge are no sample.

    The window sums are separable: a horizontal pass over the band's rows grown by ``half``, then a
    vertical pass over the band pixels only, each one gather per offset (not per window pixel)."""
    height, width = band.shape
    # Planes of features for both sides at once — w (solid, clear), w·c (solid 3, clear 3), w·|c|² (solid,
    # clear) — with a margin of ``half`` zero pixels all round so no index needs clipping.
    padded_width = width + 2 * half
    feature = np.zeros((10, height + 2 * half, padded_width), dtype=np.float32)
    inner = feature[:, half : half + height, half : half + width]
    planar = np.moveaxis(image, -1, 0)
    square = np.einsum("kij,kij->ij", planar, planar)
    for side, mask in enumerate(sides):
        weight = mask.astype(np.float32)
        inner[side] = weight
        np.multiply(planar, weight, out=inner[2 + 3 * side : 5 + 3 * side])
        np.multiply(square, weight, out=inner[8 + side])
    flat = feature.reshape(10, -1)
    # The horizontal pass runs over the band's rows grown by ``half``: the only pixels the vertical reads.
    rows = ndimage.maximum_filter1d(band, 2 * half + 1, axis=0)
    ay, ax = np.nonzero(rows)
    centre = (ay + half) * padded_width + (ax + half)
    # Rows 0-9: Σ of the features; 10-17: Σ dx·(w, w·c); 18-19: Σ dx²·w; a last column of no sample.
    stacked = np.zeros((20, ay.size + 1), dtype=np.float32)
    h1, hx, hxx = stacked[:10, :-1], stacked[10:18, :-1], stacked[18:, :-1]
    for dx in range(-half, half + 1):
        got = np.take(flat, centre + dx, axis=1)
        h1 += got
        if dx:
            hx += dx * got[:8]
            hxx += dx * dx * got[:2]
    lookup = np.full((height + 2 * half, width), ay.size, dtype=np.int64)
    lookup[ay + half, ax] = np.arange(ay.size)
    flat_lookup = lookup.reshape(-1)
    where = (ys + half) * width + xs
    v1 = np.zeros((20, ys.size), dtype=np.float32)
    vy = np.zeros((12, ys.size), dtype=np.float32)  # Σ dy·(rows 0-11): dy·w, dy·w·c, dy·dx·w at 10-11
    vyy = np.zeros((2, ys.size), dtype=np.float32)
    for dy in range(-half, half + 1):
        got = np.take(stacked, np.take(flat_lookup, where + dy * width), axis=1)
        v1 += got
        if dy:
            vy += dy * got[:12]
            vyy += dy * dy * got[:2]
    planes: list[Side] = []
    for side in range(2):
        colours = slice(2 + 3 * side, 5 + 3 * side)
        s0 = np.maximum(v1[side], 1e-6)
        mean = v1[colours] / s0
        variance = np.maximum(v1[8 + side] / s0 - np.sum(mean * mean, axis=0), 0.0)
        sx, sxc, sxx = v1[10 + side], v1[12 + 3 * side : 15 + 3 * side], v1[18 + side]
        sy, syc, sxy = vy[side], vy[colours], vy[10 + side]
        mx, my = sx / s0, sy / s0
        damp = _PLANE_DAMPING * s0 + 1e-3
        cxx = sxx - sx * mx + damp
        cyy = vyy[side] - sy * my + damp
        cxy = sxy - sx * my
        cxc = sxc - sx * mean
        cyc = syc - sy * mean
        det = np.maximum(cxx * cyy - cxy * cxy, 1e-6)
        gx = (cyy * cxc - cxy * cyc) / det
        gy = (cxx * cyc - cxy * cxc) / det
        at_pixel = mean - gx * mx - gy * my
        planes.append((at_pixel.T, variance, v1[side] / (2 * half + 1) ** 2))
    return planes


def _smooth_edge(alpha: np.ndarray) -> np.ndarray:
    """A 3×3 median on the edge pixels only: a low-contrast edge solved pixel by pixel is ragged with photo
    noise; a straight or gently curved anti-aliased edge passes a 3×3 median unchanged."""
    ys, xs = np.nonzero(_grow((alpha > 0) & (alpha < 255)))
    if ys.size == 0:
        return alpha
    height, width = alpha.shape
    # The median of each edge pixel's 3×3 neighbourhood (the image's border pixels repeated past it).
    around = np.stack(
        [
            alpha[np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        ],
        axis=1,
    )
    out = alpha.copy()
    out[ys, xs] = np.partition(around, 4, axis=1)[:, 4]
    return out


def sample_grid(grid: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """Bilinear samples (C×N) of ``grid`` (C×H×W) at fractional cell coordinates, the edge cells' values
    extending past the grid (as scipy's ``map_coordinates(order=1, mode="nearest")``, in four gathers)."""
    channels, gh, gw = grid.shape
    flat = grid.reshape(channels, -1)
    fy = np.clip(fy, 0.0, gh - 1.0)
    fx = np.clip(fx, 0.0, gw - 1.0)
    y0 = np.minimum(fy.astype(np.int64), max(gh - 2, 0))
    x0 = np.minimum(fx.astype(np.int64), max(gw - 2, 0))
    wy, wx = (fy - y0).astype(np.float32), (fx - x0).astype(np.float32)
    y1, x1 = np.minimum(y0 + 1, gh - 1), np.minimum(x0 + 1, gw - 1)
    return (
        np.take(flat, y0 * gw + x0, axis=1) * ((1 - wy) * (1 - wx))
        + np.take(flat, y0 * gw + x1, axis=1) * ((1 - wy) * wx)
        + np.take(flat, y1 * gw + x0, axis=1) * (wy * (1 - wx))
        + np.take(flat, y1 * gw + x1, axis=1) * (wy * wx)
    )


def block_sums(planes: np.ndarray, step: int) -> np.ndarray:
    """Sums over step × step blocks of each plane (C×H×W, H and W multiples of ``step``): adding the step²
    strided sub-grids is several times faster than reducing a reshaped array."""
    total = planes[:, ::step, ::step].copy()
    for dy in range(step):
        for dx in range(step):
            if dy or dx:
                total += planes[:, dy::step, dx::step]
    return total


def _grow(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel in all eight directions (a 3×3 dilation; nothing past the border)."""
    tall = mask.copy()
    tall[1:] |= mask[:-1]
    tall[:-1] |= mask[1:]
    grown = tall.copy()
    grown[:, 1:] |= tall[:, :-1]
    grown[:, :-1] |= tall[:, 1:]
    return grown


def _ring_stats(
    image: np.ndarray, rings: tuple[np.ndarray, np.ndarray], window: int, ys: np.ndarray, xs: np.ndarray
) -> list[Side]:
    """For each ring mask: mean colour, summed colour variance and sample weight of its pixels within
    ``window`` px of each (ys, xs), from box sums on a grid ``window // 4`` times coarser, read back
    bilinearly. The weight is the share of the window the ring covers."""
    step = max(1, window // 4)
    height, width = rings[0].shape
    gh, gw = -(-height // step), -(-width // step)
    planar = np.moveaxis(image, -1, 0)
    square = np.einsum("kij,kij->ij", planar, planar)
    # Planes: w, w·c (3), w·|c|² for the first ring, then the same for the second.
    padded = np.zeros((10, gh * step, gw * step), dtype=np.float32)
    for side, ring in enumerate(rings):
        weight = ring.astype(np.float32)
        base = 5 * side
        padded[base, :height, :width] = weight
        np.multiply(planar, weight, out=padded[base + 1 : base + 4, :height, :width])
        np.multiply(square, weight, out=padded[base + 4, :height, :width])
    size = 2 * int(np.ceil(window / step)) + 1
    grid = ndimage.uniform_filter(block_sums(padded, step), size=(1, size, size), mode="constant")
    sampled = sample_grid(grid, (ys + 0.5) / step - 0.5, (xs + 0.5) / step - 0.5)
    stats: list[Side] = []
    for side in range(2):
        base = 5 * side
        total = np.maximum(sampled[base], 1e-6)
        mean = sampled[base + 1 : base + 4] / total
        variance = np.maximum(sampled[base + 4] / total - np.sum(mean * mean, axis=0), 0.0)
        stats.append((mean.T, variance, sampled[base] / (step * step)))
    return stats


# ---- holes and dropped parts (plain backdrops) -------------------------------------------------------------


@dataclass(frozen=True)
class _Backdrop:
    """The backdrop surface over the whole image, next to the photo's 3×3-smoothed colours."""

    surface: np.ndarray  # H×W×3 float32
    smooth: np.ndarray  # H×W×3 float32
    distance: np.ndarray  # H×W float32: colour distance between the two

    @classmethod
    def of(cls, rgb: np.ndarray, model: BackgroundModel) -> _Backdrop:
        height, width = rgb.shape[:2]
        x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
        y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
        c = model.coefficients.astype(np.float32)
        surface = (c[0] + c[2] * y + c[5] * y * y) + (c[1] * x + c[3] * x * x) + c[4] * (y * x)
        smooth = ndimage.uniform_filter(rgb.astype(np.float32), size=(3, 3, 1))
        distance = np.sqrt(np.sum((smooth - surface) ** 2, axis=-1))
        return cls(surface, smooth, distance)


def _backdrop_holes(solid: np.ndarray, backdrop: _Backdrop, noise: float, radius: int) -> np.ndarray:
    """Regions inside the coarse product that are backdrop, bounded by a sharp rim: real holes."""
    tolerance = max(10.0, 3.0 * noise * np.sqrt(3.0))
    candidates = solid & (backdrop.distance <= tolerance)
    labels, count = ndimage.label(candidates)
    opened = np.zeros_like(solid)
    if not count:
        return opened
    min_radius = max(4.0, 0.012 * min(solid.shape))
    sizes = np.asarray(ndimage.sum(candidates, labels, np.arange(1, count + 1)))
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None or sizes[index - 1] < np.pi * min_radius**2:
            continue
        pad = 3 * radius + 6
        window = tuple(slice(max(0, s.start - pad), s.stop + pad) for s in region)
        blob = labels[window] == index
        if ndimage.distance_transform_edt(np.pad(blob, 1)).max() < min_radius:
            continue  # too thin to be a hole: a highlight or a seam
        near = ndimage.binary_dilation(blob, iterations=4) & ~ndimage.binary_dilation(blob, iterations=2)
        farther = ndimage.binary_dilation(blob, iterations=3 * radius + 4) & ~ndimage.binary_dilation(
            blob, iterations=2 * radius + 2
        )
        distance = backdrop.distance[window]
        wall_contrast = float(np.median(distance[farther])) if farther.any() else 0.0
        # A hole's rim jumps from backdrop to product within a pixel or two: 3-4 px out, its contrast is
        # most of the product's. A highlight fades into the product over many pixels.
        rim = float(np.median(distance[near])) if near.any() else 0.0
        if wall_contrast >= 4.0 * tolerance and rim >= 0.6 * wall_contrast:
            opened[window] |= blob
    return opened


def _dropped_parts(solid: np.ndarray, backdrop: _Backdrop, noise: float, radius: int) -> np.ndarray:
    """Pixels next to the product that the backdrop cannot explain and that are not its floor shadow."""
    tolerance = max(8.0, 4.0 * noise * np.sqrt(3.0) / 3.0 + 4.0)
    foreign = ~solid & (backdrop.distance > tolerance)
    if not foreign.any():
        return np.zeros_like(solid)
    ys, xs = np.nonzero(foreign)
    colour, surface = backdrop.smooth[ys, xs], backdrop.surface[ys, xs]
    # The floor shadow is the backdrop darkened with its hue kept: a shade of the surface colour.
    shade = np.sum(colour * surface, axis=1) / np.maximum(np.sum(surface * surface, axis=1), 1e-6)
    hue_off = np.linalg.norm(colour - shade[:, None] * surface, axis=1)
    shadow = (shade < 1.0) & (hue_off <= tolerance)
    foreign[ys[shadow], xs[shadow]] = False
    foreign = ndimage.binary_opening(foreign, iterations=1)
    # Whole regions that touch the product (a dropped handle, a stem, a dark top), however far they reach.
    labels, count = ndimage.label(foreign | solid)
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[solid])] = True
    keep[0] = False
    added = keep[labels] & ~solid & foreign
    found = int(added.sum())
    # Only whole regions of real size (a few stray pixels are noise), and never more than half the
    # product again: that much unexplained backdrop means the backdrop model is wrong, not the mask.
    if found < max(20, radius * radius) or found > 0.5 * int(solid.sum()):
        return np.zeros_like(solid)
    return added


def _design(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    y = ys.astype(np.float64) / max(1, shape[0] - 1)
    x = xs.astype(np.float64) / max(1, shape[1] - 1)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


__all__ = [
    "BackgroundModel",
    "Refinement",
    "block_sums",
    "edge_doubt",
    "fit_background",
    "refine_alpha",
    "sample_grid",
    "unseen_parts",
    "working_size",
]
