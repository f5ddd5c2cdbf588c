"""The outdoor and special scene families: each is what it says at a glance (a measured signature per family),
stands a product at every anchor on the surface it reports, takes colour words, and no family, at three
canvas shapes and five seeds, looks like two stacked pictures to the split check.

Signatures are measured on the rendered pixels (1024×768, the size a seller gets), above or below the
surface line the studio reports, so they hold whatever the seed does to the layout.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from productshot.prompts.lexicon import display_word
from productshot.tools.anchors import ANCHORS
from productshot.tools.composite import alpha_bbox, composite, plan_placement
from productshot.tools.split import check_split
from productshot.tools.studio import Backdrop, render_backdrop, scene_families, studio_ground
from productshot.tools.studio_outdoor import OUTDOOR_PAINTERS
from productshot.tools.studio_scenes import colour_row, family_row, find_scene
from tests.test_grounding import bottle, visible_edge_row

SEEDS = (0, 1, 2, 3, 4)
OUTDOOR = tuple(OUTDOOR_PAINTERS)


def render(family: str, seed: int = 0, size: tuple[int, int] = (1024, 768), words: str = "") -> Backdrop:
    """Render a family by its own English label (what a seller would type), checking the family painted."""
    label = display_word("scenes", family, "en")
    backdrop = render_backdrop(f"{words} {label}".strip(), *size, seed=seed)
    assert backdrop.scene == family, f"{label!r} painted {backdrop.scene}"
    return backdrop


def parts(backdrop: Backdrop) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB (0..255 float), hue in degrees and saturation (0..1) of the render."""
    rgb = np.asarray(backdrop.image, np.float32)
    hsv = np.asarray(backdrop.image.convert("HSV"), np.float32)
    return rgb, hsv[..., 0] * (360.0 / 255.0), hsv[..., 1] / 255.0


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def small_bright_spots(mask: np.ndarray, max_area: int) -> int:
    """How many separate bright spots of at most `max_area` pixels the mask holds (lights, stars)."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return 0
    areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    return int(np.count_nonzero(areas <= max_area))


def hue_between(hue: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (hue >= lo) & (hue <= hi) if lo <= hi else (hue >= lo) | (hue <= hi)


# ------------------------------------------------------------------------------------- words and table


@pytest.mark.parametrize("family", OUTDOOR)
def test_each_outdoor_family_is_a_row_with_english_and_korean_words(family: str) -> None:
    assert family in scene_families() and family_row(family).outdoor
    label_en, label_ko = display_word("scenes", family, "en"), display_word("scenes", family, "ko")
    assert label_en != label_ko
    assert find_scene(label_en).family == family and find_scene(label_ko).family == family
    assert not find_scene(label_ko).fell_back


@pytest.mark.parametrize(
    ("words", "family"),
    [
        ("야경 도시 배경", "night_city"),
        ("네온사인 거리에", "neon_street"),
        ("바닷속 배경", "underwater"),
        ("수중", "underwater"),
        ("수영장 옆에", "pool"),
        ("옥상에서", "rooftop"),
        ("가을 낙엽 위에", "leaves"),
        ("autumn", "leaves"),
        ("벚꽃 길", "cherry_blossom"),
        ("우주 배경", "outer_space"),
        ("정원에", "garden"),
        ("호수 배경", "lake"),
        ("라벤더 밭에", "lavender_field"),
        ("열대 느낌", "tropical"),
        ("피크닉 담요 위", "picnic"),
        ("on a picnic blanket", "picnic"),
        ("cyberpunk neon", "neon_street"),
        ("leave some space on the left", "studio"),
        (
            "lavender background",
            "studio",
        ),  # a colour: lavender fields are asked for as fields  # "space" alone is room on the canvas, not outer space
    ],
)
def test_words_pick_the_outdoor_families(words: str, family: str) -> None:
    assert find_scene(words).family == family


# ---------------------------------------------------------------------------------------- signatures


def test_night_city_has_many_small_bright_lights_under_a_dark_sky() -> None:
    for seed in (0, 3):
        b = render("night_city", seed)
        rgb, _, _ = parts(b)
        above = luma(rgb[: b.floor_y])
        assert float(np.median(above)) < 70, "a night sky and buildings, not a lit wall"
        lights = small_bright_spots(above > 170, max_area=400)
        assert lights >= 60, f"{lights} small lights"


def test_neon_street_has_saturated_pink_and_cyan_highlights_mirrored_in_the_street() -> None:
    b = render("neon_street", 2)
    rgb, hue, sat = parts(b)
    bright = (sat > 0.55) & (luma(rgb) > 90)
    pink = bright & hue_between(hue, 290, 345)
    cyan = bright & hue_between(hue, 170, 205)
    assert pink.mean() > 0.002 and cyan.mean() > 0.002
    below = bright[b.floor_y :]
    assert below.mean() > 0.002, "the wet pavement mirrors the neon"


def test_underwater_has_a_blue_green_cast_and_caustics_on_the_sand() -> None:
    b = render("underwater", 1)
    rgb, _, _ = parts(b)
    mean = rgb.reshape(-1, 3).mean(axis=0)
    assert mean[1] > 1.25 * mean[0] and mean[2] > 1.25 * mean[0], f"mean colour {mean}"
    floor = luma(rgb[b.floor_y + round(0.1 * 768) :])
    local = ndimage.uniform_filter(floor, 25)
    network = (floor - local) > 10  # thin bright lines brighter than their surroundings
    assert 0.02 < network.mean() < 0.4, f"caustic share {network.mean():.3f}"


def test_pool_shows_turquoise_water_behind_a_pale_deck() -> None:
    b = render("pool", 0)
    rgb, hue, sat = parts(b)
    water = hue_between(hue, 170, 210) & (sat > 0.35)
    assert water[: b.floor_y].mean() > 0.45
    assert float(np.median(luma(rgb[b.floor_y + 10 :]))) > 160


def test_rooftop_has_a_warm_to_violet_dusk_sky_over_a_skyline() -> None:
    b = render("rooftop", 4)
    rgb, _, _ = parts(b)
    top = rgb[: round(0.08 * 768)].reshape(-1, 3).mean(axis=0)
    assert top[2] > top[1], "violet at the top of the sky"
    rows = luma(rgb[: b.floor_y]).mean(axis=1)
    warm_row = int(np.argmax(rgb[: b.floor_y, :, 0].mean(axis=1) - rgb[: b.floor_y, :, 2].mean(axis=1)))
    assert rgb[warm_row, :, 0].mean() - rgb[warm_row, :, 2].mean() > 50, "a warm glow low in the sky"
    silhouette = luma(rgb[b.floor_y - 12 : b.floor_y - 4]).mean()
    assert silhouette < 0.6 * rows.max(), "dark buildings stand on the skyline"


def test_autumn_leaves_are_mostly_warm_orange_and_red() -> None:
    b = render("leaves", 3)
    _, hue, sat = parts(b)
    warm = hue_between(hue, 0, 50) & (sat > 0.45)
    assert warm.mean() > 0.45 and warm[b.floor_y :].mean() > 0.6


def test_cherry_blossom_has_a_pink_canopy() -> None:
    b = render("cherry_blossom", 1)
    rgb, hue, sat = parts(b)
    pink = hue_between(hue, 310, 15) & (sat > 0.08) & (sat < 0.6) & (luma(rgb) > 150)
    assert pink[: b.floor_y].mean() > 0.35, f"pink share {pink[: b.floor_y].mean():.2f}"


def test_space_is_mostly_dark_with_point_stars() -> None:
    b = render("outer_space", 2)
    rgb, _, _ = parts(b)
    y = luma(rgb)
    assert (y[: b.floor_y] < 40).mean() > 0.45, "the sky is black"
    stars = small_bright_spots(y[: b.floor_y] > 120, max_area=12)
    assert stars >= 80, f"{stars} point stars"


def test_garden_has_green_lawn_and_hedge_and_flower_colours() -> None:
    b = render("garden", 0)
    rgb, hue, sat = parts(b)
    green = hue_between(hue, 70, 150) & (sat > 0.3)
    assert green[b.floor_y - round(0.05 * 768) :].mean() > 0.35
    blooms = (hue_between(hue, 330, 60) | hue_between(hue, 260, 320)) & (sat > 0.45) & (luma(rgb) > 90)
    assert blooms[b.floor_y :].mean() > 0.03


def test_lake_has_a_blue_sky_snowy_peaks_and_a_grey_stone_shore() -> None:
    b = render("lake", 1)
    rgb, _, sat = parts(b)
    sky = rgb[: round(0.06 * 768)].reshape(-1, 3).mean(axis=0)
    assert sky[2] > sky[0] + 40
    upper = slice(0, b.floor_y)
    snow = (luma(rgb[upper]) > 215) & (sat[upper] < 0.12)
    assert snow.mean() > 0.01
    assert float(np.median(sat[b.floor_y + 10 :])) < 0.15, "grey gravel"


def test_lavender_has_purple_rows_running_into_the_distance() -> None:
    b = render("lavender_field", 3)
    _, hue, sat = parts(b)
    purple = hue_between(hue, 240, 300) & (sat > 0.2)
    below = purple[b.floor_y :]
    assert below.mean() > 0.25
    row = below[round(0.75 * below.shape[0])]
    runs = int(np.count_nonzero(np.diff(row.astype(np.int8)) == 1))
    assert runs >= 5, f"{runs} purple rows crossed"


def test_tropical_has_green_leaves_behind_a_wooden_deck() -> None:
    b = render("tropical", 2)
    _, hue, sat = parts(b)
    assert (hue_between(hue, 70, 160) & (sat > 0.25))[: b.floor_y].mean() > 0.6
    assert (hue_between(hue, 10, 45) & (sat > 0.3))[b.floor_y :].mean() > 0.7


def test_picnic_has_a_red_and_white_checked_blanket_on_grass() -> None:
    b = render("picnic", 4)
    rgb, hue, sat = parts(b)
    bottom = slice(round(0.85 * 768), 768)
    centre = slice(round(0.35 * 1024), round(0.65 * 1024))
    red = hue_between(hue, 340, 15) & (sat > 0.3)
    white = (sat < 0.15) & (luma(rgb) > 190)
    assert red[bottom, centre].mean() > 0.15 and white[bottom, centre].mean() > 0.08
    crossings = int(np.count_nonzero(np.diff(red[round(0.92 * 768), centre].astype(np.int8)) != 0))
    assert crossings >= 6, "checks alternate along the blanket"
    assert (hue_between(hue, 70, 150) & (sat > 0.3))[b.floor_y :, :100].mean() > 0.6, "grass around it"


@pytest.mark.parametrize("family", OUTDOOR)
def test_colour_words_colour_every_outdoor_family(family: str) -> None:
    """A colour word grades the whole scene toward it: the mean colour's chromaticity (r, g, b over their
    sum, so brightness does not count) comes nearer the word's own."""

    def chroma(rgb: np.ndarray) -> np.ndarray:
        return rgb / rgb.sum()

    def mean(words: str) -> np.ndarray:
        image = render(family, 5, words=words).image
        return chroma(np.asarray(image, np.float32).reshape(-1, 3).mean(axis=0) + 1.0)

    plain = mean("")
    for word in ("pink", "navy", "mint", "orange"):
        target = chroma(np.array(colour_row(word).rgb, np.float32))
        tinted = mean(word)
        before, after = np.linalg.norm(plain - target), np.linalg.norm(tinted - target)
        assert after < before - 0.003, f"{word}: {before:.3f} -> {after:.3f}"
    assert not render(family, 5, words="pastel mint").unmatched


# ------------------------------------------------------------------------------- surface and the split


@pytest.mark.parametrize("family", OUTDOOR)
def test_a_product_stands_on_the_outdoor_surface_at_every_anchor(family: str) -> None:
    product = bottle()
    label = display_word("scenes", family, "en")
    for i, anchor in enumerate(ANCHORS):
        width, height = ((1024, 768), (768, 1024), (1600, 600))[i % 3]
        placement = plan_placement((width, height), alpha_bbox(product), anchor)
        backdrop = render_backdrop(label, width, height, seed=i, footprint=placement.footprint)
        assert backdrop.scene == family and not backdrop.pedestal, "no shelf in the open air"
        assert backdrop.ground.carries(placement.footprint), f"{family} at {anchor}"
        assert 0.05 < backdrop.surface.mean() < 0.97
        top = backdrop.floor_y
        seen = visible_edge_row(backdrop.image, 0, width, top, round(0.08 * height))
        assert abs(seen - top) <= 0.02 * height, f"{family} {anchor}: reported {top}, edge seen at {seen}"
        result = composite(backdrop.image, product, position=anchor, ground=backdrop.ground)
        assert result.grounded is True
        again = studio_ground(label, width, height, seed=i, footprint=placement.footprint)
        assert np.array_equal(again.surface, backdrop.surface) and again.light == backdrop.light


SPLIT_CANVASES = ((512, 384), (384, 512), (768, 256))


@pytest.mark.parametrize("family", scene_families())
def test_no_family_looks_split_at_any_shape_or_seed(family: str) -> None:
    """Every family (enumerated at run time, indoor ones too), three canvas shapes, five seeds: one scene."""
    label = display_word("scenes", family, "en")
    for width, height in SPLIT_CANVASES:
        for seed in SEEDS:
            image: Image.Image = render_backdrop(label, width, height, seed=seed).image
            result = check_split(image)
            assert not result.split, f"{family} {width}x{height} seed {seed}: score {result.score:.2f}"
