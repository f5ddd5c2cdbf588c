"""Camera view: top-down product photos are recognised (measured on a frozen set), requests that say "flat
lay" get the flat-lay variant of their scene, a named scene without one keeps its eye-level set."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from productshot.server.pipeline import Pipeline, PlaceOptions
from productshot.server.services import LocalServices
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.composite import composite
from productshot.tools.imageio import LoadedImage
from productshot.tools.plan import RulesPlanner
from productshot.tools.studio import flat_lay_families, render_backdrop
from productshot.tools.view import guess_view
from tests.support.view_set import VIEW_SET


def test_top_down_photos_are_recognised_on_the_frozen_set(report) -> None:  # type: ignore[no-untyped-def]
    hits, misses = 0, []
    for item in VIEW_SET:
        guess = guess_view(item.build())
        if guess.top_down == (item.label == "top-down"):
            hits += 1
        else:
            misses.append(item.name)
    accuracy = hits / len(VIEW_SET)
    report(f"view detector: {hits}/{len(VIEW_SET)} right ({accuracy:.2f}); missed {misses}")
    assert accuracy >= 0.85


@pytest.mark.parametrize("family", flat_lay_families())
def test_flat_lay_variants_are_all_surface_seen_from_above(family: str) -> None:
    words = {"pastel": "pastel paper", "wood": "wooden table", "cafe": "cafe"}.get(family, family)
    backdrop = render_backdrop(words, 640, 480, seed=2, view="flat-lay")
    assert backdrop.scene == family and backdrop.view == "flat-lay"
    assert backdrop.surface.all()
    rows = np.asarray(backdrop.image.convert("L"), np.float32).mean(axis=1)
    assert np.abs(np.diff(rows)).max() < 6, "no horizon or wall line: the frame is one surface"


def test_a_family_without_a_flat_lay_keeps_its_eye_level_set() -> None:
    backdrop = render_backdrop("simple beach", 640, 480, seed=2, view="flat-lay")
    assert backdrop.view == "eye-level" and not backdrop.surface.all()


def _plate() -> Image.Image:
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, 396, 396), fill=(240, 240, 238, 255))
    draw.ellipse((110, 110, 290, 290), fill=(180, 40, 60, 255))
    return image


@pytest.mark.parametrize(
    ("request_text", "view"),
    [
        ("flat lay on marble", "flat-lay"),
        ("접시를 위에서 본 대리석 위에 놓아줘", "flat-lay"),
        ("on marble", "flat-lay"),  # the photo is taken from above: the asked family's flat-lay variant
        ("on a simple beach", "eye-level"),  # a named scene without a flat-lay variant wins over the guess
    ],
)
def test_requests_and_photos_choose_the_view(settings: Settings, request_text: str, view: str) -> None:
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    loaded = LoadedImage(image=_plate(), source="plate", format="PNG", has_alpha=True, notes=())
    result = pipe.place_product(
        request_text, image=loaded, options=PlaceOptions(width=640, height=480, seed=1)
    )
    assert result.view == view and result.to_dict()["view"] == view
    assert result.asset.params["view"] == view
    # The diffusion prompt asks for the same view (the studio drew it; a model would paint it).
    assert result.asset.params["prompt"].startswith("flat lay, top-down view of") == (view == "flat-lay")
    follow = pipe.place_product("move it a bit left", previous=result.asset.id)
    assert follow.view == view and "background" in follow.reused


def test_flat_lay_shadow_hugs_the_product_and_falls_away_from_the_light() -> None:
    backdrop = render_backdrop("marble", 800, 600, seed=5, view="flat-lay")
    result = composite(backdrop.image, _plate(), position="center", scale=0.5, ground=backdrop.ground)
    x0, y0, x1, y1 = result.bbox
    luma = np.asarray(result.image.convert("L"), np.float32) - np.asarray(
        backdrop.image.convert("L"), np.float32
    )
    ring = 6
    side_left = luma[(y0 + y1) // 2, x0 - ring]
    side_right = luma[(y0 + y1) // 2, x1 + ring - 1]
    away = side_right if backdrop.light.azimuth < 0 else side_left
    toward = side_left if backdrop.light.azimuth < 0 else side_right
    assert away < -8 and away < toward
