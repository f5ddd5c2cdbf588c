"""Indoor studio families (issue 13, item 3): each is recognisable by a measured signature, every family
is told apart from every other by colour and texture, none looks split, and every anchor stands on the
surface the family draws.

The pairwise measure (`family_distance`, also described in docs/studio-families.md):
  colour  — the mean CIELAB colour of four horizontal bands of the frame (the top of the wall, the rest of
            the wall, the far surface, the near surface), averaged over three seeds; the colour distance is
            the mean ΔE76 over the bands. Bands, not one mean, because a scene is laid out top to bottom:
            two sets with the same overall mean but a dark wall over a light table (gym) vs a light wall
            over a dark floor look nothing alike.
  texture — a normalised histogram of local luma gradient energy (8 log-spaced bins of |∇L*|, computed on a
            256-px-wide copy), averaged over the seeds; the texture distance is half the L1 distance (0..1).
            Smooth paper, tile grids, bokeh and wood grain fill different bins even at equal colour.
  D = ΔE / 20 + texture distance. ΔE 20 is a plainly different colour scheme; 0.5 of texture distance is a
  plainly different surface. Every pair must reach D ≥ MIN_DISTANCE (0.25): 5 ΔE of colour (a difference
  anyone sees side by side), or a quarter of the gradient distribution moved, in any mix. Calibrated on
  the original families: the closest distinct pairs (white studio vs white marble, studio vs pastel paper)
  measure about 0.27, so two families under 0.25 would be one family under two names.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from productshot.tools.anchors import ANCHORS
from productshot.tools.composite import alpha_bbox, composite, plan_placement
from productshot.tools.split import check_split
from productshot.tools.studio import render_backdrop, scene_families, studio_ground
from productshot.tools.studio_scenes import family_label

INDOOR = (
    "bathroom",
    "spa",
    "christmas",
    "living_room",
    "bedroom",
    "office",
    "gym",
    "bakery",
    "podium",
    "cafe_table",
    "library",
    "terrazzo",
    "velvet",
)
SEEDS = (1, 2, 3, 4, 5)
SHAPES = ((320, 240), (240, 320), (480, 160))
MIN_DISTANCE = 0.25


def words(family: str) -> str:
    return family_label(family, "en")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.float32) / 255.0


@cache
def render(family: str, seed: int, size: tuple[int, int] = (320, 240)):
    return render_backdrop(words(family), *size, seed=seed)


# ------------------------------------------------------------------------------------------- measure


@cache
def descriptor(family: str) -> tuple[np.ndarray, np.ndarray]:
    """(4 band mean Lab colours, gradient-energy histogram) averaged over three seeds."""
    colours, hists = [], []
    for seed in (11, 12, 13):
        backdrop = render(family, seed)
        lab = rgb2lab(pixels(backdrop.image))
        h = lab.shape[0]
        line = backdrop.floor_y
        bands = [(0, line // 2), (line // 2, line), (line, (line + h) // 2), ((line + h) // 2, h)]
        colours.append(np.array([lab[max(0, a) : max(a + 1, b)].reshape(-1, 3).mean(0) for a, b in bands]))
        small = rgb2lab(pixels(backdrop.image.resize((256, 192), Image.Resampling.BILINEAR)))[..., 0]
        gy, gx = np.gradient(small)
        energy = np.log1p(np.hypot(gx, gy))
        hist, _ = np.histogram(energy, bins=8, range=(0.0, 3.0))
        hists.append(hist / hist.sum())
    return np.mean(colours, axis=0), np.mean(hists, axis=0)


def family_distance(a: str, b: str) -> float:
    """D = mean band ΔE76 / 20 + half the L1 distance of the gradient-energy histograms (see the docstring)."""
    (ca, ha), (cb, hb) = descriptor(a), descriptor(b)
    delta_e = float(np.linalg.norm(ca - cb, axis=1).mean())
    return delta_e / 20.0 + 0.5 * float(np.abs(ha - hb).sum())


def test_every_pair_of_families_differs_in_colour_and_texture() -> None:
    families = scene_families()
    assert len(families) >= 27 and set(INDOOR) <= set(families)
    close = [
        (a, b, round(family_distance(a, b), 3))
        for a, b in itertools.combinations(families, 2)
        if family_distance(a, b) < MIN_DISTANCE
    ]
    assert not close, close


def test_the_measure_tells_a_family_from_itself_apart_from_others() -> None:
    """Sanity of the measure: a family against itself is 0 and a colour word moves it."""
    assert family_distance("bathroom", "bathroom") == 0.0
    assert family_distance("studio", "pastel") > 0.0


# ---------------------------------------------------------------------------------------- signatures


def frac(mask: np.ndarray) -> float:
    return float(np.mean(mask))


def hsv(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("HSV"), np.float32) / 255.0


@pytest.mark.parametrize("seed", (1, 2))
def test_signatures(seed: int) -> None:
    signatures = {name: check(render(name, seed), seed) for name, check in SIGNATURES.items()}
    failed = {name: why for name, why in signatures.items() if why}
    assert not failed, failed


def _bathroom(b, seed):  # a regular tile grid on the wall: its column profile has one strong period
    wall = pixels(b.image)[: b.floor_y - 4].mean(axis=2)
    profile = wall.mean(axis=0) - wall.mean()
    spectrum = np.abs(np.fft.rfft(profile))[1:]
    peak = spectrum.max() / (np.median(spectrum) + 1e-6)
    return None if peak > 8 else f"no tile period (peak/median {peak:.1f})"


def _spa(b, seed):  # a stack of dark basalt stones on a warm light set
    px = pixels(b.image)
    dark = frac(px.mean(axis=2) < 0.3)
    warm = px[..., 0].mean() > px[..., 2].mean() + 0.03
    return None if 0.005 < dark < 0.12 and warm else f"dark {dark:.3f} warm {warm}"


def _christmas(b, seed):  # red, green and gold accents
    h = hsv(b.image)
    sat, val, hue = h[..., 1] > 0.45, h[..., 2] > 0.35, h[..., 0]
    red = frac(sat & val & ((hue < 0.05) | (hue > 0.94)))
    gold = frac(sat & (h[..., 2] > 0.6) & (hue > 0.08) & (hue < 0.16))
    green = frac((h[..., 1] > 0.3) & (hue > 0.25) & (hue < 0.45))
    return (
        None if min(red, gold) > 0.002 and green > 0.2 else f"red {red:.4f} gold {gold:.4f} green {green:.3f}"
    )


def _living_room(b, seed):  # a sofa band (cooler, darker than the wall) right behind the table
    px = pixels(b.image)
    line = b.floor_y
    sofa = px[int(line - 0.15 * b.image.height) : line - 3].reshape(-1, 3).mean(0)
    wall = px[: int(0.15 * b.image.height)].reshape(-1, 3).mean(0)
    return (
        None if sofa.mean() < wall.mean() - 0.05 and sofa[2] > sofa[0] - 0.02 else f"sofa {sofa} wall {wall}"
    )


def _bedroom(b, seed):  # bright, near-neutral linen in front, a tufted headboard (vertical period) behind
    px = pixels(b.image)
    linen = px[b.floor_y + 5 :].reshape(-1, 3)
    head = px[int(b.floor_y * 0.55) : int(b.floor_y * 0.75)].mean(axis=(0, 2))
    spectrum = np.abs(np.fft.rfft(head - head.mean()))[3:]
    ok = linen.mean() > 0.75 and np.ptp(linen.mean(0)) < 0.08 and spectrum.max() > 4 * np.median(spectrum)
    return None if ok else f"linen {linen.mean(0)}"


def _office(b, seed):  # a glowing blue monitor on a darker wall
    h = hsv(b.image)[: b.floor_y]
    glow = frac((h[..., 0] > 0.55) & (h[..., 0] < 0.68) & (h[..., 1] > 0.3) & (h[..., 2] > 0.75))
    return None if glow > 0.03 else f"glow {glow:.3f}"


def _gym(b, seed):  # a dark rubber floor with light flecks
    floor = pixels(b.image)[b.floor_y + 10 :].mean(axis=2)
    flecks = frac(floor > floor.mean() + 0.12)
    return None if floor.mean() < 0.2 and flecks > 0.001 else f"floor {floor.mean():.2f} flecks {flecks:.4f}"


def _bakery(b, seed):  # golden-brown loaves behind (bread hues), wood counter in front
    h = hsv(b.image)[: b.floor_y]
    bread = frac((h[..., 0] > 0.04) & (h[..., 0] < 0.11) & (h[..., 1] > 0.45) & (h[..., 2] > 0.45))
    return None if bread > 0.08 else f"bread {bread:.3f}"


def _podium(b, seed):  # a bright round top under the product, brighter than the sweep beside it
    px = pixels(b.image).mean(axis=2)
    row = b.floor_y + int(0.03 * b.image.height)
    cx = int(np.argmax(np.convolve(px[row], np.ones(9) / 9, "same")))
    top = px[row, max(0, cx - 5) : cx + 5].mean()
    wall = px[: b.floor_y - 5].mean()
    width = frac(px[row] > top - 0.05)
    return (
        None
        if top > wall + 0.08 and 0.3 < width < 0.8
        else f"top {top:.2f} wall {wall:.2f} width {width:.2f}"
    )


def _cafe_table(b, seed):  # a pale table top in front of a dark café interior
    px = pixels(b.image).mean(axis=2)
    table, room = px[b.floor_y + 5 :].mean(), px[: b.floor_y - 5].mean()
    return None if table > 0.7 and room < 0.45 else f"table {table:.2f} room {room:.2f}"


def _library(b, seed):  # many colourful book spines: high colour variety across the shelf rows
    h = hsv(b.image)[: b.floor_y]
    hues = h[..., 0][(h[..., 1] > 0.35) & (h[..., 2] > 0.2)]
    spread = len(np.unique(np.floor(hues * 12)))
    across = np.abs(np.diff(pixels(b.image)[: b.floor_y], axis=1)).mean()
    return None if spread >= 5 and across > 0.01 else f"hue bins {spread} across {across:.4f}"


def _terrazzo(b, seed):  # coloured chips scattered on a pale counter
    h = hsv(b.image)[b.floor_y + 5 :]
    chips = (h[..., 1] > 0.25) | (h[..., 2] < 0.45)
    return None if 0.02 < frac(chips) < 0.5 and h[..., 2].mean() > 0.6 else f"chips {frac(chips):.3f}"


def _velvet(b, seed):  # deep saturated cloth with folds: strong shading range behind
    h = hsv(b.image)
    sat = h[..., 1].mean()
    folds = np.ptp(np.convolve(h[: b.floor_y, :, 2].mean(axis=0), np.ones(5) / 5, "valid"))
    return None if sat > 0.5 and folds > 0.12 else f"sat {sat:.2f} folds {folds:.2f}"


SIGNATURES = {
    "bathroom": _bathroom,
    "spa": _spa,
    "christmas": _christmas,
    "living_room": _living_room,
    "bedroom": _bedroom,
    "office": _office,
    "gym": _gym,
    "bakery": _bakery,
    "podium": _podium,
    "cafe_table": _cafe_table,
    "library": _library,
    "terrazzo": _terrazzo,
    "velvet": _velvet,
}


def test_every_indoor_family_has_a_signature() -> None:
    assert set(SIGNATURES) == set(INDOOR)


# ------------------------------------------------------------------------------------- split check


@pytest.mark.parametrize("family", scene_families())
def test_no_family_looks_split(family: str) -> None:
    """Every family (enumerated at run time), three canvas shapes, five seeds: no false split alarm."""
    alarms = []
    for size, seed in itertools.product(SHAPES, SEEDS):
        result = check_split(render_backdrop(words(family), *size, seed=seed).image)
        if result.split:
            alarms.append((size, seed, result.score))
    assert not alarms, alarms


# ----------------------------------------------------------------------- colour words and the surface


@pytest.mark.parametrize("family", INDOOR)
def test_colour_words_colour_the_family(family: str) -> None:
    """'navy' and 'pastel pink' move the picture toward that colour (the wall, the surface or the set):
    the frame's mean Lab colour comes closer to the colour asked (at least 1 ΔE over the whole frame;
    a tinted wall or table is a third to a half of it, and "pastel" also lightens)."""
    plain = mean_lab(render_backdrop(words(family), 320, 240, seed=4).image)
    for colour, rgb in (("navy", (0.16, 0.21, 0.38)), ("pastel pink", (0.95, 0.72, 0.76))):
        target = rgb2lab(np.array([[rgb]], np.float32))[0, 0]
        tinted = mean_lab(render_backdrop(f"{colour} {words(family)}", 320, 240, seed=4).image)
        before, after = np.linalg.norm(plain - target), np.linalg.norm(tinted - target)
        assert after < before - 1.0, (colour, before, after)


def mean_lab(image: Image.Image) -> np.ndarray:
    return rgb2lab(pixels(image)).reshape(-1, 3).mean(0)


def bottle(w: int = 90, h: int = 220) -> Image.Image:
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    image.paste((40, 110, 60, 255), (8, h // 3, w - 8, h))
    image.paste((40, 110, 60, 255), (w // 2 - 12, 0, w // 2 + 12, h // 3))
    return image


@pytest.mark.parametrize("anchor", ANCHORS)
def test_every_anchor_stands_on_the_surface_an_indoor_family_draws(anchor: str) -> None:
    """The surface top the studio reports is the edge an eye sees, under a product at any anchor."""
    width, height = 640, 480
    product = bottle()
    placement = plan_placement((width, height), alpha_bbox(product), anchor)
    for family in INDOOR:
        backdrop = render_backdrop(words(family), width, height, seed=7, footprint=placement.footprint)
        assert backdrop.ground.carries(placement.footprint), family
        result = composite(backdrop.image, product, position=anchor, ground=backdrop.ground)
        assert result.grounded is True, family
        x0, _, x1, _ = placement.box
        span = (x0, x1) if backdrop.pedestal or family == "podium" else (0, width)
        luma = pixels(backdrop.image).mean(axis=2)[:, span[0] : span[1]].mean(axis=1)
        grad = np.abs(np.diff(np.convolve(luma, np.ones(3) / 3, mode="same")))
        top, reach = backdrop.floor_y, round(0.08 * height)
        lo, hi = max(2, top - reach), min(len(grad) - 2, top + reach)
        seen = lo + int(np.argmax(grad[lo:hi]))
        assert abs(seen - top) <= 0.02 * height, f"{family} at {anchor}: top {top}, edge seen at {seen}"
        again = studio_ground(words(family), width, height, seed=7, footprint=placement.footprint)
        assert np.array_equal(again.surface, backdrop.surface), family
