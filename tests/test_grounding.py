"""Grounded composition: the product stands on the surface the scene shows, its shadow follows the scene's
light and reads on dark floors, follow-ups keep the margin, and harmonisation stays within its bounds.

Surfaces and light are what the studio reports; every claim is also measured on the rendered pixels.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from productshot.server.pipeline import Pipeline, PlaceOptions
from productshot.server.services import GenerateAsk, GenerateOutcome, LocalServices
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.anchors import ANCHORS
from productshot.tools.composite import DEFAULT_MARGIN, alpha_bbox, composite, plan_placement
from productshot.tools.ground import Ground, Light, estimate_ground
from productshot.tools.harmonize import MAX_DELTA_E, harmonize, lab
from productshot.tools.imageio import LoadedImage
from productshot.tools.plan import RulesPlanner
from productshot.tools.shadow import MIN_CONTACT_DL, _lstar
from productshot.tools.studio import render_backdrop, studio_ground

CANVASES = [(1024, 768), (768, 1024), (1600, 600)]
FAMILIES = [
    "white studio",
    "simple beach",
    "wooden table",
    "snow",
    "concrete",
    "forest",
    "marble",
    "cafe",
    "grass",
]


def bottle(size: tuple[int, int] = (160, 420), colour: tuple[int, int, int] = (40, 110, 60)) -> Image.Image:
    """A tall bottle cutout: neck and a rounded body, opaque inside, transparent around."""
    w, h = size
    big = Image.new("RGBA", (w * 4, h * 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.rounded_rectangle((8, int(h * 1.3), w * 4 - 8, h * 4 - 8), radius=w // 2, fill=(*colour, 255))
    draw.rectangle((int(w * 1.5), 8, int(w * 2.5), int(h * 1.4)), fill=(*colour, 255))
    return big.resize(size, Image.Resampling.LANCZOS)


def knife() -> Image.Image:
    image = Image.new("RGBA", (1000, 90), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 20), (620, 10), (620, 85)], fill=(205, 208, 214, 255))
    draw.rectangle((620, 18, 995, 62), fill=(45, 32, 28, 255))
    return image


def luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def visible_edge_row(image: Image.Image, x0: int, x1: int, near: int, reach: int) -> int:
    """The row within `near ± reach` where the picture changes most from one row to the next, averaged over
    columns x0..x1: the surface's far edge as an eye sees it."""
    rows = luma(image)[:, max(0, x0) : max(x0 + 1, x1)].mean(axis=1)
    rows = np.convolve(rows, np.ones(3) / 3, mode="same")
    grad = np.abs(np.diff(rows))
    lo, hi = max(2, near - reach), min(len(grad) - 2, near + reach)
    return lo + int(np.argmax(grad[lo:hi]))


# ---------------------------------------------------------------- surface under every anchor


@pytest.mark.parametrize("canvas", CANVASES, ids=lambda c: f"{c[0]}x{c[1]}")
@pytest.mark.parametrize("anchor", ANCHORS)
def test_every_anchor_stands_on_the_surface_the_studio_draws(canvas: tuple[int, int], anchor: str) -> None:
    width, height = canvas
    product = bottle()
    placement = plan_placement(canvas, alpha_bbox(product), anchor)
    words = FAMILIES[(ANCHORS.index(anchor) + CANVASES.index(canvas)) % len(FAMILIES)]
    backdrop = render_backdrop(words, width, height, seed=7, footprint=placement.footprint)
    surface = backdrop.surface
    assert surface.shape == (height, width) and surface.dtype == bool
    assert 0.05 < surface.mean() < 0.95, "the surface is part of the picture, not all of it"

    # The centre stays in the asked third of the frame.
    x0, y0, x1, y1 = placement.box
    cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
    col = {0.0: 0, 0.5: 1, 1.0: 2}[{"left": 0.0, "right": 1.0}.get(anchor.split("-")[-1], 0.5)]
    row = 0 if anchor.startswith("top") else 2 if anchor.startswith("bottom") else 1
    assert int(cx * 3) == col and int(cy * 3) == row

    # The base stands on the surface ...
    assert backdrop.ground.carries(placement.footprint)
    result = composite(backdrop.image, product, position=anchor, ground=backdrop.ground)
    assert result.grounded is True and result.bbox[3] == y1
    # ... whose top edge is an edge the eye sees in the render (floor line, shore, pedestal top).
    top = backdrop.floor_y
    mid_x0, mid_x1 = (x0, x1) if backdrop.pedestal else (0, width)
    seen = visible_edge_row(backdrop.image, mid_x0, mid_x1, top, round(0.08 * height))
    assert abs(seen - top) <= 0.02 * height, f"{words}: reported top {top}, visible edge at {seen}"
    # The studio reports the same ground without painting (what the pipeline reads for a worker render).
    again = studio_ground(words, width, height, seed=7, footprint=placement.footprint)
    assert np.array_equal(again.surface, surface) and again.light == backdrop.light


@pytest.mark.parametrize(
    ("words", "shelf"), [("white marble", True), ("cafe", True), ("simple beach", False)]
)
def test_a_product_high_in_the_frame_stands_on_a_shelf_indoors_and_on_raised_ground_outdoors(
    settings: Settings, words: str, shelf: bool
) -> None:
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    small = LoadedImage(image=knife(), source="knife", format="PNG", has_alpha=True, notes=())
    result = pipe.place_product(
        f"knife on {words}, top right", image=small, options=PlaceOptions(width=1024, height=768, seed=3)
    )
    footprint = _footprint(result.bbox)
    backdrop = render_backdrop(
        result.asset.params["studio_words"], 1024, 768, seed=result.seed, footprint=footprint
    )
    assert backdrop.ground.carries(footprint) and backdrop.pedestal is shelf
    assert any(n.code == "composition_pedestal" for n in result.notes) is shelf
    cx, cy = (result.bbox[0] + result.bbox[2]) / 2 / 1024, (result.bbox[1] + result.bbox[3]) / 2 / 768
    assert cx > 2 / 3 and cy < 1 / 3
    x0, _, x1, _ = result.bbox
    seen = visible_edge_row(backdrop.image, x0, x1, backdrop.floor_y, round(0.025 * 768))
    assert abs(seen - backdrop.floor_y) <= 0.02 * 768


def _footprint(bbox: tuple[int, int, int, int] | list[int]):  # type: ignore[no-untyped-def]
    from productshot.tools.ground import Footprint

    return Footprint.from_box(tuple(bbox))  # type: ignore[arg-type]


# ---------------------------------------------------------------- shadows from the scene's light


def _shadow_offset(light: Light) -> np.ndarray:
    """Darkness-weighted centroid of the shadow a bottle casts on a plain floor, relative to its base."""
    width, height = 1024, 768
    surface = np.zeros((height, width), bool)
    surface[round(0.35 * height) :] = True
    ground = Ground(surface=surface, light=light)
    floor = Image.new("RGB", (width, height), (150, 150, 150))
    result = composite(floor, bottle(), position="center", scale=0.4, ground=ground)
    x0, _, x1, y1 = result.bbox
    drop = np.clip(luma(floor) - luma(result.image), 0, None)
    product = np.zeros_like(drop, bool)
    product[result.bbox[1] : y1, x0:x1] = True
    drop[product] = 0  # only what the shadow did to the floor, not the product itself
    ys, xs = np.nonzero(drop > 2)
    weights = drop[ys, xs]
    return np.array([np.average(xs, weights=weights) - (x0 + x1) / 2, np.average(ys, weights=weights) - y1])


@pytest.mark.parametrize(
    "light", [Light(-90, 40), Light(90, 40), Light(0, 35), Light(180, 20), Light(-130, 30), Light(60, 50)]
)
def test_cast_shadow_leaves_the_base_away_from_the_reported_light(light: Light) -> None:
    offset = _shadow_offset(light)
    expected = np.array(light.shadow_direction())
    cosine = float(offset @ expected / (np.linalg.norm(offset) * np.linalg.norm(expected)))
    assert cosine > 0.8, f"shadow centroid {offset} vs light direction {expected}"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_studio_light_and_shadow_agree_in_a_rendered_scene(seed: int) -> None:
    placement = plan_placement((1024, 768), alpha_bbox(bottle()), "bottom")
    backdrop = render_backdrop("wooden table", 1024, 768, seed=seed, footprint=placement.footprint)
    result = composite(backdrop.image, bottle(), position="bottom", ground=backdrop.ground)
    assert result.light == backdrop.light
    x0, y0, x1, y1 = result.bbox
    drop = np.clip(luma(backdrop.image) - luma(result.image), 0, None)
    drop[y0:y1, x0:x1] = 0
    left, right = drop[:, : (x0 + x1) // 2].sum(), drop[:, (x0 + x1) // 2 :].sum()
    dx = backdrop.light.shadow_direction()[0]
    assert (right > left) == (dx > 0), "the shadow falls on the side away from the studio's key light"


@pytest.mark.parametrize("words", ["black studio", "night cafe", "dark concrete", "white studio"])
def test_contact_shadow_contrast_meets_the_minimum_on_dark_and_light_floors(words: str) -> None:
    width, height = 1024, 768
    product = bottle()
    placement = plan_placement((width, height), alpha_bbox(product), "bottom")
    backdrop = render_backdrop(words, width, height, seed=5, footprint=placement.footprint)
    result = composite(backdrop.image, product, position="bottom", ground=backdrop.ground)
    x0, _, x1, y1 = result.bbox
    quarter = (x1 - x0) // 4
    before = np.asarray(backdrop.image, np.float32)[y1 : y1 + 3, x0 + quarter : x1 - quarter] / 255.0
    after = np.asarray(result.image, np.float32)[y1 : y1 + 3, x0 + quarter : x1 - quarter] / 255.0
    lum_before = before @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    lum_after = after @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    dl = np.mean(
        [
            _lstar(float(b)) - _lstar(float(a))
            for b, a in zip(lum_before.ravel(), lum_after.ravel(), strict=True)
        ]
    )
    floor_l = np.mean([_lstar(float(b)) for b in lum_before.ravel()])
    assert dl >= 0.9 * MIN_CONTACT_DL, (
        f"{words}: contact shadow only {dl:.1f} L* darker on a floor of L* {floor_l:.0f}"
    )


def test_shadows_never_fall_on_the_sky_or_the_wall() -> None:
    width, height = 1024, 768
    placement = plan_placement((width, height), alpha_bbox(bottle()), "bottom")
    backdrop = render_backdrop("simple beach", width, height, seed=2, footprint=placement.footprint)
    long_light = replace(
        backdrop.ground, light=Light(0, 12)
    )  # from the camera, low: the shadow runs far back
    result = composite(backdrop.image, bottle(), position="bottom", ground=long_light)
    x0, y0, x1, y1 = result.bbox
    drop = np.clip(luma(backdrop.image) - luma(result.image), 0, None)
    drop[y0:y1, x0:x1] = 0
    off_surface = ~backdrop.surface
    assert drop[off_surface].max() <= 3.0
    assert drop[backdrop.surface].max() > 20.0


# ---------------------------------------------------------------- other backgrounds


class PhotoServices(LocalServices):
    """Backgrounds from a 'diffusion model': a sky over a field with the horizon at 70% of the height."""

    def generate(self, ask: GenerateAsk, *, on_progress=None) -> GenerateOutcome:  # type: ignore[override]
        image = np.zeros((ask.height, ask.width, 3), np.uint8)
        horizon = round(0.70 * ask.height)
        image[:horizon] = (150, 190, 235)
        image[horizon:] = (110, 140, 70)
        rng = np.random.default_rng(ask.seed)
        noisy = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
        return GenerateOutcome(Image.fromarray(noisy), "photo-model", ask.seed, 0.01)


def test_on_a_photo_background_the_product_moves_to_the_ground_and_says_so(settings: Settings) -> None:
    pipe = Pipeline(AssetStore.open(settings), PhotoServices(settings), RulesPlanner())
    loaded = LoadedImage(image=bottle((120, 240)), source="bottle", format="PNG", has_alpha=True, notes=())
    result = pipe.place_product(
        "on grass, top-left", image=loaded, options=PlaceOptions(width=800, height=600)
    )
    assert result.bbox[3] >= 0.70 * 600, "the base stands below the horizon"
    assert any(n.code == "composition_moved_to_ground" for n in result.notes)
    assert result.to_dict()["light"] is not None


def test_estimated_ground_finds_the_horizon_or_takes_a_seamless_backdrop_whole() -> None:
    field = Image.new("RGB", (640, 480), (150, 190, 235))
    field.paste((110, 140, 70), (0, 300, 640, 480))
    ground = estimate_ground(field)
    top = int(np.argmax(ground.surface[:, 320]))
    assert 300 <= top <= 300 + 0.04 * 480
    plain = estimate_ground(Image.new("RGB", (640, 480), (250, 250, 250)))
    assert plain.surface.all()


def test_composite_places_exactly_where_asked_and_notes_a_missing_surface() -> None:
    field = Image.new("RGB", (640, 480), (150, 190, 235))
    field.paste((110, 140, 70), (0, 300, 640, 480))
    result = composite(field, bottle((60, 120)), position="top", ground=estimate_ground(field))
    assert result.grounded is False and abs(result.bbox[1] - DEFAULT_MARGIN * 480) <= 1
    assert any(n.code == "composition_no_surface" for n in result.notes)
    grounded = composite(field, bottle((60, 120)), position="bottom", ground=estimate_ground(field))
    assert grounded.grounded is True and not any(n.code == "composition_no_surface" for n in grounded.notes)
    # Over no surface nothing is drawn under the product, and the result says so.
    assert (result.shadow, result.light) == (False, None) and grounded.shadow is True


def test_a_floating_composite_casts_no_shadow_and_looks_for_no_surface() -> None:
    field = Image.new("RGB", (640, 480), (150, 190, 235))
    field.paste((110, 140, 70), (0, 300, 640, 480))
    product = bottle((60, 120))
    afloat = composite(field, product, position="bottom", ground=estimate_ground(field), floating=True)
    plain = composite(field, product, position="bottom", ground=estimate_ground(field), shadow=False)
    assert afloat.shadow is False and afloat.grounded is None
    codes = [n.code for n in afloat.notes]
    assert "composition_floating" in codes and "composition_no_surface" not in codes
    # Only the shadow differs from the same product placed on the ground: nothing is drawn under it.
    assert afloat.bbox == plain.bbox
    assert np.array_equal(np.asarray(afloat.image), np.asarray(plain.image))


# ---------------------------------------------------------------- follow-ups


def test_moves_and_resizes_keep_the_margin_and_bigger_stops_at_the_frame(settings: Settings) -> None:
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    loaded = LoadedImage(image=bottle(), source="bottle", format="PNG", has_alpha=True, notes=())
    width, height = 800, 600
    result = pipe.place_product(
        "white marble, bottom-left", image=loaded, options=PlaceOptions(width=width, height=height, seed=1)
    )
    margin = 0.02 * min(width, height)
    for request in ["move it a bit left"] * 3 + ["move it down"] * 2 + ["bigger"] * 4 + ["move it left"] * 2:
        result = pipe.place_product(request, previous=result.asset.id)
        x0, y0, x1, y1 = result.bbox
        assert x0 >= margin and y0 >= margin and x1 <= width - margin and y1 <= height - margin, request
        ground = Ground(surface=_surface(result, width, height), light=Light())
        assert ground.carries(_footprint(result.bbox)), request
    assert any(n.code == "composition_scale_capped" for n in result.notes) or result.scale < 1.0


def _surface(result, width: int, height: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    params = result.asset.params
    return studio_ground(
        params["studio_words"], width, height, seed=result.seed, footprint=_footprint(result.bbox)
    ).surface


def test_vertical_move_redraws_the_same_scene_with_the_surface_moved(settings: Settings) -> None:
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    loaded = LoadedImage(image=bottle((100, 200)), source="bottle", format="PNG", has_alpha=True, notes=())
    first = pipe.place_product(
        "wooden table, bottom", image=loaded, options=PlaceOptions(width=800, height=600, seed=2, scale=0.3)
    )
    result, redrawn = first, []
    for _ in range(5):
        up = pipe.place_product("move it up", previous=result.asset.id)
        assert up.seed == first.seed and up.scene == first.scene and up.bbox[3] < result.bbox[3]
        if up.background_id != result.background_id:
            redrawn.append(up)
            assert "background" not in up.reused
            assert any(s.name == "generate" and "surface moved" in s.detail for s in up.steps)
        assert _carried(up, 800, 600)
        result = up
    assert redrawn, "moving the product high up the frame moves the scene's surface with it"
    side = pipe.place_product("move it a bit right", previous=result.asset.id)
    assert side.background_id == result.background_id and "background" in side.reused
    assert _carried(side, 800, 600)


def _carried(result, width: int, height: int) -> bool:  # type: ignore[no-untyped-def]
    return Ground(surface=_surface(result, width, height), light=Light()).carries(_footprint(result.bbox))


# ---------------------------------------------------------------- harmonisation


def _product() -> Image.Image:
    rgba = np.zeros((200, 120, 4), np.uint8)
    rgba[10:190, 10:110] = (200, 196, 190, 255)  # a pale, nearly neutral product shows a cast best
    rgba[60:140, 10:110, :3] = (60, 90, 160)
    return Image.fromarray(rgba, "RGBA")


def _interior_lab(image: Image.Image) -> np.ndarray:
    rgba = np.asarray(image, np.float32) / 255.0
    return lab(rgba[20:180, 20:100, :3]).reshape(-1, 3)


@pytest.mark.parametrize("words", ["sunset beach", "sunset desert", "snow at night", "sunset grass", "neon"])
def test_harmonisation_moves_the_product_toward_a_tinted_scene(words: str) -> None:
    if words == "neon":  # a magenta-lit wall, as under neon signs
        scene = Image.new("RGB", (800, 600), (190, 50, 170))
    else:
        scene = render_backdrop(words, 800, 600, seed=3).image
    product = _product()
    graded, harmony = harmonize(product, scene, (340, 300))
    before, after = _interior_lab(product), _interior_lab(graded)
    scene = np.array(harmony.scene_ab)
    shift = after[:, 1:].mean(axis=0) - before[:, 1:].mean(axis=0)
    toward = float(shift @ scene / np.linalg.norm(scene))
    assert toward >= 2.0, f"{words}: a*b* moved only {toward:.2f} toward the scene's {scene}"
    delta = float(np.linalg.norm(after - before, axis=1).mean())
    assert delta <= 6.0 and harmony.delta_e <= MAX_DELTA_E + 0.01


@pytest.mark.parametrize("colour", [(255, 255, 255), (128, 128, 128), (235, 235, 232)])
def test_harmonisation_leaves_the_product_alone_on_a_neutral_scene(colour: tuple[int, int, int]) -> None:
    product = _product()
    graded, _ = harmonize(product, Image.new("RGB", (800, 600), colour), (340, 300))
    delta = float(np.linalg.norm(_interior_lab(graded) - _interior_lab(product), axis=1).mean())
    assert delta <= 1.0


def test_harmonisation_is_off_when_asked(settings: Settings) -> None:
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    loaded = LoadedImage(image=_product(), source="p", format="PNG", has_alpha=True, notes=())
    opts = dict(width=800, height=600, seed=3)
    on = pipe.place_product("sunset beach", image=loaded, options=PlaceOptions(**opts))  # type: ignore[arg-type]
    off = pipe.place_product("sunset beach", image=loaded, options=PlaceOptions(harmonize=False, **opts))  # type: ignore[arg-type]
    x0, y0, x1, y1 = off.bbox
    a = np.asarray(on.image, np.int16)[y0 + 40 : y1 - 40, x0 + 30 : x1 - 30]
    b = np.asarray(off.image, np.int16)[y0 + 40 : y1 - 40, x0 + 30 : x1 - 30]
    assert np.abs(a - b).mean() > 2.0
    assert off.asset.params["harmonize"] is False


@pytest.mark.parametrize(
    "request_text", ["a bottle floating in the air over the beach, top", "해변 위 공중에 떠 있는 병, 위쪽"]
)
def test_a_floating_request_is_not_grounded_and_casts_no_contact_shadow(
    settings: Settings, request_text: str
) -> None:
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    loaded = LoadedImage(image=bottle((80, 160)), source="bottle", format="PNG", has_alpha=True, notes=())
    result = pipe.place_product(
        request_text, image=loaded, options=PlaceOptions(width=800, height=600, seed=4, scale=0.3)
    )
    assert result.plan["floating"] is True and result.asset.params["floating"] is True
    assert any(n.code == "composition_floating" for n in result.notes)
    assert result.position == "top" and (result.bbox[1] + result.bbox[3]) / 2 < 600 / 3
    background = Image.open(pipe.store.get(result.background_id).path).convert("RGB")
    x0, _, x1, y1 = result.bbox
    below = np.abs(luma(background)[y1 : y1 + 6, x0:x1] - luma(result.image)[y1 : y1 + 6, x0:x1])
    assert below.max() < 3.0, "no shadow under a floating product"
    # A follow-up keeps it afloat where it was asked to float: moved left, still in the top third, no shadow.
    moved = pipe.place_product("move it a bit left", previous=result.asset.id)
    assert moved.asset.params["floating"] is True and moved.bbox[0] < result.bbox[0]
    assert (moved.bbox[1] + moved.bbox[3]) / 2 < 600 / 3
    assert any(n.code == "composition_floating" for n in moved.notes)
