"""The compositor: placement for every anchor and exact point, scale, errors, shadows and edge quality.

Placement is measured from the result's pixels (a product of a distinctive colour on a plain background),
not only from the returned bbox.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from productshot.errors import BadImageError, BadRequestError, PositionError
from productshot.tools.anchors import ANCHORS, Position
from productshot.tools.composite import (
    DEFAULT_MARGIN,
    FIT_AREA,
    FIT_HEIGHT,
    FIT_WIDTH,
    MIN_FIT_SCALE,
    CompositeResult,
    composite,
    place_box,
)
from productshot.tools.positions import parse_position

BACKGROUND = (228, 226, 222)
PRODUCT = (20, 160, 60)
CANVASES = [(1024, 768), (768, 768), (768, 1024)]


def plain(size: tuple[int, int], colour: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    return Image.new("RGB", size, colour)


def cutout(
    body: tuple[int, int] = (300, 200),
    pad: tuple[int, int] = (150, 90),
    colour: tuple[int, int, int] = PRODUCT,
) -> Image.Image:
    """A rectangular product `body` (w, h) inside a larger transparent cutout, as rembg returns them."""
    w, h = body
    image = Image.new("RGBA", (w + 2 * pad[0], h + 2 * pad[1]), (255, 255, 255, 0))
    ImageDraw.Draw(image).rectangle((pad[0], pad[1], pad[0] + w - 1, pad[1] + h - 1), fill=(*colour, 255))
    return image


def bottle() -> Image.Image:
    """A bottle-shaped cutout with anti-aliased edges and a rounded base."""
    big = Image.new("RGBA", (1200, 2000), (255, 255, 255, 0))
    draw = ImageDraw.Draw(big)
    draw.rounded_rectangle((200, 700, 1000, 1900), radius=160, fill=(*PRODUCT, 255))
    draw.rectangle((500, 300, 700, 720), fill=(*PRODUCT, 255))
    return big.resize((300, 500), Image.Resampling.LANCZOS)


def measured_bbox(
    image: Image.Image, background: tuple[int, int, int] = BACKGROUND
) -> tuple[int, int, int, int]:
    """Bbox (exclusive) of the pixels that differ clearly from the plain background."""
    diff = np.abs(np.asarray(image, dtype=np.int16) - np.array(background, dtype=np.int16)).max(axis=2)
    rows = np.flatnonzero((diff > 30).any(axis=1))
    cols = np.flatnonzero((diff > 30).any(axis=0))
    assert rows.size and cols.size, "the product is not visible in the result"
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def luminance(pixels: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Rec. 601 luma of RGB pixels (any shape ending in 3)."""
    weights = np.array([0.299, 0.587, 0.114])
    luma: npt.NDArray[np.float64] = np.asarray(pixels, dtype=np.float64) @ weights
    return luma


# ---------------------------------------------------------------- placement


@pytest.mark.parametrize("canvas", CANVASES, ids=lambda c: f"{c[0]}x{c[1]}")
@pytest.mark.parametrize("anchor", ANCHORS)
def test_every_anchor_puts_the_product_where_it_says(canvas: tuple[int, int], anchor: str) -> None:
    width, height = canvas
    result = composite(plain(canvas), cutout(), position=anchor, shadow=False)
    x0, y0, x1, y1 = measured_bbox(result.image)
    assert result.bbox == pytest.approx((x0, y0, x1, y1), abs=1)

    margin = DEFAULT_MARGIN * min(canvas)
    tol_x, tol_y = 0.01 * width, 0.01 * height
    horizontal, vertical = {"left": "left", "right": "right"}, {"top": "top", "bottom": "bottom"}
    words = anchor.split("-")
    h_word = next((horizontal[w] for w in words if w in horizontal), "centre")
    v_word = next((vertical[w] for w in words if w in vertical), "middle")
    if h_word == "left":
        assert abs(x0 - margin) <= tol_x
    elif h_word == "right":
        assert abs(x1 - (width - margin)) <= tol_x
    else:
        assert abs((x0 + x1) / 2 - width / 2) <= tol_x
    if v_word == "top":
        assert abs(y0 - margin) <= tol_y
    elif v_word == "bottom":
        assert abs(y1 - (height - margin)) <= tol_y  # standing on the ground line
    else:
        assert abs((y0 + y1) / 2 - height / 2) <= tol_y
    assert result.position == anchor


def reaches_the_fit(
    box: tuple[int, int, int, int], canvas: tuple[int, int], anchor: str = "bottom", *, tol: float = 0.02
) -> bool:
    """Whether a bbox reached one of the fit rule's limits: its width or height share of the canvas (an
    anchor off the centre keeps the product's centre in that third), or its area share."""
    w, h = box[2] - box[0], box[3] - box[1]
    width, height = canvas
    margin = DEFAULT_MARGIN * min(canvas)
    room_w, room_h = FIT_WIDTH * width, FIT_HEIGHT * height
    if anchor in ("left", "right") or "-" in anchor:
        room_w = min(room_w, 1.94 * (width / 3 - margin))
    if anchor != "center" and anchor not in ("left", "right"):
        room_h = min(room_h, 1.94 * (height / 3 - margin))
    return (
        w >= room_w - tol * width or h >= room_h - tol * height or w * h >= (FIT_AREA - tol) * width * height
    )


def test_default_size_makes_the_product_the_hero() -> None:
    # A small product lost in a big transparent cutout: size is measured on its alpha, not the padding.
    product = cutout(body=(120, 60), pad=(400, 300))
    for canvas in CANVASES:
        result = composite(plain(canvas), product, shadow=False)
        x0, y0, x1, y1 = measured_bbox(result.image)
        longest = max(x1 - x0, y1 - y0)
        assert longest >= MIN_FIT_SCALE * min(canvas)
        assert reaches_the_fit((x0, y0, x1, y1), canvas)
        assert result.scale == pytest.approx(longest / min(canvas), abs=0.01)


@pytest.mark.parametrize("canvas", [(1600, 600), (1024, 768), (768, 1024)], ids=lambda c: f"{c[0]}x{c[1]}")
@pytest.mark.parametrize("shape", ["knife", "bottle", "box"])
def test_long_thin_and_tall_products_reach_the_fit_size(canvas: tuple[int, int], shape: str) -> None:
    """A knife spans most of the width, a bottle most of the height, whatever the canvas."""
    body = {"knife": (900, 70), "bottle": (90, 420), "box": (300, 260)}[shape]
    result = composite(plain(canvas), cutout(body=body, pad=(20, 20)), shadow=False)
    x0, y0, x1, y1 = measured_bbox(result.image)
    width, height = canvas
    if shape == "knife":
        assert x1 - x0 >= (FIT_WIDTH - 0.02) * width
    elif shape == "bottle":  # under the default bottom anchor its centre stays in the bottom third
        assert y1 - y0 >= min(FIT_HEIGHT, 1.94 * (1 / 3 - DEFAULT_MARGIN * min(canvas) / height)) * height - 2
    assert reaches_the_fit((x0, y0, x1, y1), canvas)
    margin = DEFAULT_MARGIN * min(canvas)
    assert x0 >= margin - 1 and y0 >= margin - 1 and x1 <= width - margin + 1 and y1 <= height - margin + 1


def test_an_enlarged_product_is_noted_with_a_hint() -> None:
    small = cutout(body=(40, 30), pad=(5, 5))
    result = composite(plain((1024, 768)), small, shadow=False)
    assert result.upscale > 1.25
    assert any(n.code == "composition_upscaled" and "larger photo" in n.text() for n in result.notes)
    big = cutout(body=(900, 700), pad=(5, 5))
    assert not any(
        n.code == "composition_upscaled" for n in composite(plain((1024, 768)), big, shadow=False).notes
    )


@pytest.mark.parametrize("scale", [0.2, 0.35, 0.8, 1])
def test_explicit_scale_sets_the_longest_side(scale: float) -> None:
    product = cutout(body=(160, 400), pad=(20, 20))  # tall: its height is the longest side
    result = composite(plain((1024, 1024)), product, scale=scale, margin=0, shadow=False)
    x0, y0, x1, y1 = measured_bbox(result.image)
    assert y1 - y0 == pytest.approx(scale * 1024, abs=1.5)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(160 / 400, abs=0.01)
    assert result.scale == scale


@pytest.mark.parametrize(
    ("canvas", "position", "point"),
    [
        ((1024, 768), "x=0.3,y=0.8", (0.3 * 1024, 0.8 * 768)),
        ((768, 1024), "x=0.5,y=0.5", (384.0, 512.0)),
        ((768, 768), "x=0.25,y=0.9", (192.0, 691.2)),
        ((1024, 768), "x=300px,y=620px", (300.0, 620.0)),
        ((768, 1024), "x=401px,y=777px", (401.0, 777.0)),
    ],
)
def test_exact_points_place_the_bottom_centre(
    canvas: tuple[int, int], position: str, point: tuple[float, float]
) -> None:
    result = composite(plain(canvas), cutout(), position=position, scale=0.3, shadow=False)
    x0, _, x1, y1 = measured_bbox(result.image)
    assert abs((x0 + x1) / 2 - point[0]) <= 1.0
    assert abs(y1 - point[1]) <= 1.0
    assert result.position == parse_position(position).canonical()
    assert result.notes == ()


def test_exact_point_near_the_edge_is_shifted_onto_the_canvas_and_recorded() -> None:
    result = composite(plain((1024, 768)), cutout(), position="x=1000px,y=100px", shadow=False)
    x0, y0, x1, y1 = measured_bbox(result.image)
    assert x0 >= 0 and y0 >= 0 and x1 <= 1024 and y1 <= 768
    assert x1 == 1024  # pushed left just enough
    assert any(
        n.code == "composite_shifted" and "left" in n.text() and "down" in n.text() for n in result.notes
    )
    used = parse_position(result.position)
    px, py = used.point_px(1024, 768)
    assert abs(px - (x0 + x1) / 2) <= 1.0 and abs(py - y1) <= 1.0

    fraction = composite(plain((1024, 768)), cutout(), position="x=0.02,y=0.9", shadow=False)
    used = parse_position(fraction.position)
    assert used.unit == "fraction"
    assert used.x is not None and used.x > 0.02
    assert measured_bbox(fraction.image)[0] == round(DEFAULT_MARGIN * 768)  # fractions keep the margin
    assert any(n.code == "composition_kept_in_margin" for n in fraction.notes)


def test_a_product_too_wide_for_the_canvas_is_shrunk_to_fit() -> None:
    wide = cutout(body=(1000, 100), pad=(10, 10))
    result = composite(plain((768, 1024)), wide, position="bottom", scale=1.0, shadow=False)
    x0, _, x1, y1 = measured_bbox(result.image)
    margin = round(DEFAULT_MARGIN * 768)
    assert x0 >= margin - 1 and x1 <= 768 - margin + 1
    assert abs(y1 - (1024 - margin)) <= 1
    assert result.scale < 1.0
    assert result.scale == pytest.approx((x1 - x0) / 768, abs=0.01)
    assert any(n.code == "composition_scale_capped" for n in result.notes)


def test_place_box_geometry() -> None:
    assert place_box((1000, 800), (200, 100), Position(anchor="top-left"), margin_px=40) == (40, 40)
    assert place_box((1000, 800), (200, 100), Position(anchor="bottom-right"), margin_px=40) == (760, 660)
    assert place_box((1000, 800), (200, 100), Position(anchor="center"), margin_px=40) == (400, 350)
    assert place_box((1000, 800), (200, 100), Position(anchor="bottom"), margin_px=0) == (400, 700)
    exact = Position(x=0.5, y=0.75, unit="fraction")
    assert place_box((1000, 800), (200, 100), exact, margin_px=40) == (400, 500)
    # Pure geometry: no clamping, the caller decides what to do with a box that crosses the edge.
    assert place_box((1000, 800), (200, 100), Position(x=10, y=50, unit="px"), margin_px=0) == (-90, -50)


def test_position_object_and_margin_are_honoured() -> None:
    result = composite(
        plain((800, 600)), cutout(), position=Position(anchor="top-left"), margin=0.1, shadow=False
    )
    x0, y0, _, _ = measured_bbox(result.image)
    assert abs(x0 - 60) <= 1 and abs(y0 - 60) <= 1


def test_result_fields() -> None:
    background = plain((640, 480))
    result = composite(background, bottle())
    assert isinstance(result, CompositeResult)
    assert result.image.mode == "RGB" and result.image.size == background.size
    assert result.backend == "composite" and result.shadow is True
    assert result.position == "bottom" and result.scale == pytest.approx(
        max(result.bbox[2] - result.bbox[0], result.bbox[3] - result.bbox[1]) / 480, abs=0.01
    )
    assert result.seconds > 0
    x0, y0, x1, y1 = result.bbox
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("position", ["somewhere nice", "", "x=0.3", "x=0.3,y=80px"])
def test_unreadable_positions_are_position_errors(position: str) -> None:
    with pytest.raises(PositionError, match="position"):
        composite(plain((400, 300)), cutout(), position=position)


@pytest.mark.parametrize(
    ("position", "canvas"), [("x=1.5,y=0.5", (1024, 768)), ("x=5000px,y=10px", (1024, 768))]
)
def test_positions_off_the_canvas_are_position_errors(position: str, canvas: tuple[int, int]) -> None:
    with pytest.raises(PositionError, match="off the"):
        composite(plain(canvas), cutout(), position=position)


@pytest.mark.parametrize("scale", [0, -0.1, 4.5, float("nan"), True])
def test_bad_scales_are_named(scale: float) -> None:
    with pytest.raises(BadRequestError, match=r"^scale") as caught:
        composite(plain((400, 300)), cutout(), scale=scale)
    assert repr(scale) in str(caught.value)


@pytest.mark.parametrize("margin", [-0.01, 0.3])
def test_bad_margins_are_named(margin: float) -> None:
    with pytest.raises(BadRequestError, match=r"^margin"):
        composite(plain((400, 300)), cutout(), margin=margin)


def test_a_product_without_alpha_must_be_cut_out_first() -> None:
    with pytest.raises(BadImageError, match="cut it out"):
        composite(plain((400, 300)), Image.new("RGB", (100, 100), PRODUCT))


def test_a_fully_transparent_product_is_refused() -> None:
    with pytest.raises(BadImageError, match="transparent"):
        composite(plain((400, 300)), Image.new("RGBA", (100, 100), (255, 0, 0, 0)))


def test_an_unknown_light_is_named() -> None:
    with pytest.raises(BadRequestError, match="light"):
        composite(plain((400, 300)), cutout(), light="sideways")


def test_other_cutout_modes_are_accepted() -> None:
    grey = cutout().convert("LA")
    assert measured_bbox(composite(plain((800, 600)), grey, shadow=False).image)
    palette = Image.new("P", (600, 380), 0)  # a GIF-style cutout: index 0 is transparent
    palette.putpalette([255, 255, 255, *PRODUCT])
    ImageDraw.Draw(palette).rectangle((150, 90, 449, 289), fill=1)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)
    with Image.open(buffer) as loaded:
        assert loaded.mode == "P" and "transparency" in loaded.info
        result = composite(plain((800, 600)), loaded, shadow=False)
    assert reaches_the_fit(result.bbox, (800, 600))


def test_an_opaque_rectangle_or_transparent_background_is_noted() -> None:
    opaque = Image.new("RGBA", (200, 100), (*PRODUCT, 255))
    assert any(n.code == "composite_no_alpha" for n in composite(plain((400, 300)), opaque).notes)
    see_through = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    result = composite(see_through, cutout(), shadow=False)
    assert result.image.mode == "RGB" and result.image.getpixel((0, 0)) == (255, 255, 255)
    assert any(n.code == "composite_flattened" for n in result.notes)


# ---------------------------------------------------------------- inputs are never touched


def test_input_files_and_images_are_unchanged(tmp_path: Path) -> None:
    background_path, product_path = tmp_path / "background.png", tmp_path / "product.png"
    plain((640, 480), (90, 140, 200)).save(background_path)
    bottle().save(product_path)
    before = (background_path.read_bytes(), product_path.read_bytes())
    with Image.open(background_path) as background, Image.open(product_path) as product:
        pixels = (background.tobytes(), product.tobytes())
        result = composite(background, product, position="bottom-left", light="left")
        assert (background.tobytes(), product.tobytes()) == pixels
        assert background.size == (640, 480) and product.mode == "RGBA"
    result.image.save(tmp_path / "result.png")
    assert (background_path.read_bytes(), product_path.read_bytes()) == before


# ---------------------------------------------------------------- shadows


def test_contact_shadow_darkens_the_ground_under_the_base_and_fades_outward() -> None:
    background = plain((1024, 768))
    result = composite(background, bottle(), position="bottom")
    out = np.asarray(result.image, dtype=np.float64)
    x0, _, x1, y1 = result.bbox
    cx = (x0 + x1) // 2
    ground = float(luminance(np.array(BACKGROUND)))
    below = [float(luminance(out[y1 + d, cx])) for d in (1, 4, 10, 20)]
    assert below[0] < ground - 40  # dark at the contact line
    assert below == sorted(below)  # lighter further away
    assert below[-1] > below[0] + 20
    # Around the base too: just left and right of the foot, and beyond the product's sides.
    assert luminance(out[y1 + 1, x0 - 2]) < ground - 4 and luminance(out[y1 + 1, x1 + 1]) < ground - 4
    # Only near the base: everything higher up is exactly what it is without a shadow.
    plain_result = np.asarray(composite(background, bottle(), position="bottom", shadow=False).image)
    top = y1 - (y1 - result.bbox[1]) // 4
    assert np.array_equal(out[:top], plain_result[:top])


def two_legged(lift: int = 0) -> Image.Image:
    """A table-like cutout: a top on two thin legs; the right leg ends `lift` px higher (seen in perspective)."""
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 379, 60), fill=(*PRODUCT, 255))
    draw.rectangle((40, 60, 59, 279), fill=(*PRODUCT, 255))
    draw.rectangle((340, 60, 359, 279 - lift), fill=(*PRODUCT, 255))
    return image


def shade(result: CompositeResult, background: Image.Image, x: int, y: int) -> float:
    """How much darker the result is than the background at (x, y), in luma levels."""
    return float(luminance(np.asarray(background)[y, x]) - luminance(np.asarray(result.image)[y, x]))


def test_each_foot_gets_its_own_contact_spot() -> None:
    background = plain((1024, 768))
    result = composite(background, two_legged(), position="bottom", margin=0.05)
    x0, _, x1, y1 = result.bbox
    k = (x1 - x0) / 360  # product pixels -> canvas pixels
    left_leg, right_leg, middle = round(x0 + 30 * k), round(x0 + 330 * k), (x0 + x1) // 2
    assert shade(result, background, left_leg, y1 + 1) > 40
    assert shade(result, background, right_leg, y1 + 1) > 40
    assert shade(result, background, middle, y1 + 1) < 0.5 * shade(result, background, left_leg, y1 + 1)


def test_a_foot_standing_farther_back_gets_its_own_contact_line() -> None:
    background = plain((1024, 768))
    result = composite(background, two_legged(lift=30), position="bottom", margin=0.05)
    x0, y0, x1, y1 = result.bbox
    k = (x1 - x0) / 360
    right_leg, right_foot = round(x0 + 330 * k), round(y0 + (279 - 30 - 20 + 1) * k)
    # Just under the lifted foot (not down at the other foot's line) the ground is shaded.
    assert shade(result, background, right_leg, right_foot + 1) > 30
    assert shade(result, background, right_leg, right_foot + 1) > 2 * shade(
        result, background, right_leg, y1 + 1
    )


def test_shadow_is_multiplied_onto_the_background_not_pasted() -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(120, 255, size=(600, 800, 3), dtype=np.uint8)
    noise[..., 2] //= 3  # a warm, textured ground
    background = Image.fromarray(noise)
    result = composite(background, cutout(), position="bottom")
    x0, _, x1, y1 = result.bbox
    before = noise[y1 : y1 + 6, x0 + 10 : x1 - 10].astype(np.float64)
    after = np.asarray(result.image)[y1 : y1 + 6, x0 + 10 : x1 - 10].astype(np.float64)
    ratio = after / before
    assert ratio.max() <= 1.0 and ratio.mean() < 0.8
    # The same factor on every channel of a pixel: the ground's colour and texture show through.
    assert np.abs(ratio - ratio.mean(axis=2, keepdims=True)).max() < 0.05
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.9


def test_shadow_strength_adapts_to_the_ground_brightness() -> None:
    def relative_darkening(colour: tuple[int, int, int]) -> float:
        result = composite(plain((800, 600), colour), cutout(), position="bottom")
        x0, _, x1, y1 = result.bbox
        pixel = np.asarray(result.image, dtype=np.float64)[y1 + 2, (x0 + x1) // 2]
        return 1.0 - float(luminance(pixel) / luminance(np.array(colour)))

    dark, bright = relative_darkening((60, 60, 60)), relative_darkening((245, 245, 245))
    assert 0.1 < dark < bright


def test_without_shadow_the_background_outside_the_bbox_is_exact() -> None:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, size=(768, 1024, 3), dtype=np.uint8)
    for position in ("bottom", "top-right", "x=0.2,y=0.7"):
        result = composite(Image.fromarray(noise), bottle(), position=position, shadow=False)
        x0, y0, x1, y1 = result.bbox
        outside = np.ones((768, 1024), dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(np.asarray(result.image)[outside], noise[outside])


def test_shadows_never_darken_the_product() -> None:
    background = plain((1024, 768))
    product = cutout(body=(300, 300), pad=(10, 10))
    with_shadow = composite(background, product, light="left")
    without = composite(background, product, shadow=False)
    x0, y0, x1, y1 = without.bbox
    inner = (slice(y0 + 2, y1 - 2), slice(x0 + 2, x1 - 2))
    assert np.array_equal(np.asarray(with_shadow.image)[inner], np.asarray(without.image)[inner])


@pytest.mark.parametrize(
    ("light", "dark_side"), [("left", "right"), ("top-left", "right"), ("right", "left")]
)
def test_cast_shadow_falls_away_from_the_light(light: str, dark_side: str) -> None:
    background = plain((1024, 768))
    product = bottle()
    lit = np.asarray(composite(background, product, light=light).image, dtype=np.float64)
    flat = np.asarray(composite(background, product).image, dtype=np.float64)
    x0, y0, x1, y1 = composite(background, product, shadow=False).bbox
    cast = luminance(flat) - luminance(lit)  # darkening added by the cast shadow alone
    band = slice(y0, y1 - 5)  # behind the product, above the contact shadow
    right, left = cast[band, x1 + 5 :].sum(), cast[band, : x0 - 5].sum()
    far, near = (right, left) if dark_side == "right" else (left, right)
    assert far > 1000 and near < 0.05 * far
    assert cast.max() < 255 * 0.5  # a shadow, not a black silhouette


def test_cast_shadow_from_behind_falls_towards_the_viewer() -> None:
    background = plain((800, 800))
    lit = np.asarray(composite(background, bottle(), position="center", light="back").image, dtype=np.float64)
    flat = np.asarray(composite(background, bottle(), position="center").image, dtype=np.float64)
    _, _, _, y1 = composite(background, bottle(), position="center", shadow=False).bbox
    cast = luminance(flat) - luminance(lit)
    assert cast[y1 + 20 :].sum() > 1000
    assert cast[: y1 - 300].sum() == 0


def test_shadows_are_clipped_to_the_canvas() -> None:
    for position in ("bottom-right", "x=1.0,y=1.0", "top-left"):
        result = composite(plain((500, 400)), bottle(), position=position, margin=0, light="left")
        assert result.image.size == (500, 400)


def test_light_is_noted_when_shadows_are_off() -> None:
    result = composite(plain((400, 300)), cutout(), shadow=False, light="left")
    assert any(n.code == "composite_light_ignored" for n in result.notes)


# ---------------------------------------------------------------- edge quality


def soft_edged_cutout(size: int) -> Image.Image:
    """A dark-red disc with a wide soft alpha edge whose invisible pixels are the old white backdrop."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - size / 2, yy - size / 2) / (size / 2)
    alpha = np.clip((0.9 - r) / 0.25, 0.0, 1.0)
    rgb = np.where(alpha[..., None] > 0, np.array([150, 30, 30]), np.array([255, 255, 255]))
    pixels = np.dstack([rgb, np.rint(alpha * 255)]).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("source", [900, 120], ids=["shrunk", "enlarged"])
def test_soft_edges_show_no_bright_fringe_on_a_dark_background(source: int) -> None:
    result = composite(
        plain((800, 600), (5, 5, 5)), soft_edged_cutout(source), position="center", shadow=False
    )
    out = luminance(np.asarray(result.image))
    interior = float(luminance(np.array([150, 30, 30])))
    x0, y0, x1, y1 = result.bbox
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    assert abs(out[cy, cx] - interior) < 2
    # No pixel anywhere is brighter than the product itself: the white backdrop never bleeds in.
    assert out.max() <= interior + 2
    # And the edge band really is soft (a gradient, not a hard cut).
    row = out[cy, x0:cx]
    assert ((row > 10) & (row < interior - 10)).sum() >= 3


# ---------------------------------------------------------------- import cost


def test_importing_the_compositor_stays_light() -> None:
    heavy = ("torch", "rembg", "diffusers", "skimage", "transformers", "scipy")
    code = (
        f"import sys, productshot.tools.composite; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
