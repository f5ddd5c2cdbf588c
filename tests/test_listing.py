"""Listing images: every preset's output passes its own check for every product shape, and the checker
catches each broken rule on images made here (off-white, small fill, off-centre, too small, PNG, too big)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productshot.cli.main import main
from productshot.server.listings import make_listing
from productshot.settings import Settings
from productshot.tools.cutout import Cutter
from productshot.tools.listing import lay_out
from productshot.tools.listing_check import (
    PROVENANCE_TAG,
    ListingCheck,
    check_listing_bytes,
    measure,
)
from productshot.tools.listing_presets import ListingRule, get_preset, listing_presets
from tests.support.imagegen import make_product

WHITE_PRESETS = [name for name, p in listing_presets().items() if not p.needs_request]
REPO = Path(__file__).resolve().parents[1]


def _on_canvas(product: Image.Image, canvas: tuple[int, int], at: tuple[int, int]) -> Image.Image:
    """A transparent photo-sized canvas with the cutout somewhere off-centre (as a cutout model returns)."""
    out = Image.new("RGBA", canvas, (0, 0, 0, 0))
    out.paste(product, at)
    return out


def _white_on_white() -> Image.Image:
    """A white box with a faint grey edge and a small dark logo: its pixels are mostly 250..254."""
    width, height = 360, 300
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.full((height, width, 3), 253, dtype=np.uint8)
    rgb[(xx < 6) | (xx >= width - 6) | (yy < 6) | (yy >= height - 6)] = 251
    rgb[140:160, 170:190] = (40, 40, 40)  # a small dark logo in the middle
    alpha = np.full((height, width), 255, dtype=np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")


SHAPES = {
    "tall": lambda: _on_canvas(make_product((180, 620), "bottle"), (900, 800), (60, 90)),
    "wide": lambda: _on_canvas(make_product((760, 230), "box", (40, 90, 160)), (900, 700), (120, 400)),
    "tiny": lambda: _on_canvas(make_product((100, 120), "cup", (30, 30, 30)), (600, 600), (420, 50)),
    "white": lambda: _on_canvas(_white_on_white(), (800, 800), (40, 420)),
}


@pytest.fixture(scope="module")
def cutter() -> Cutter:
    return Cutter(u2net_home=Settings.from_mapping({}).u2net_home)


def _rule(check: ListingCheck, name: str) -> dict:
    return next(r.to_dict() for r in check.rules if r.name == name)


# ---- the table ---------------------------------------------------------------------------------------------


def test_the_table_has_every_marketplace_with_sourced_levelled_rules() -> None:
    presets = listing_presets()
    expected = {"amazon", "coupang", "naver", "ebay", "shopify", "google", "11st", "gmarket", "lifestyle"}
    assert expected <= set(presets)
    for preset in presets.values():
        assert preset.rules and preset.sources
        assert all(r.level in ("required", "recommended") and r.source for r in preset.rules)
        assert preset.rule("format") is not None
    amazon = get_preset("Amazon")
    assert amazon.rule("fill").value == 0.85 and amazon.rule("min_long_side").value == 1000
    assert amazon.width == 2000 and amazon.rule("max_bytes").basis == "unverified"
    coupang = get_preset("coupang")
    assert (coupang.width, coupang.height, coupang.max_bytes) == (1000, 1000, 5_000_000)
    assert coupang.rule("centred").level == "required" and coupang.rule("fill").basis == "secondary"
    assert get_preset("google").max_bytes == 16_000_000 and get_preset("naver").max_bytes == 20_000_000
    assert get_preset("11st").max_bytes == 3_000_000 and get_preset("gmarket").max_bytes == 2_000_000
    ebay = get_preset("ebay")
    assert ebay.width == 1600 and [r.level for r in ebay.rules if r.kind == "min_long_side"] == [
        "required",
        "recommended",
    ]
    assert (get_preset("shopify").width, get_preset("shopify").height) == (2048, 2048)
    assert get_preset("lifestyle").needs_request


def test_docs_list_every_preset_with_its_sources() -> None:
    text = (REPO / "docs" / "listings.md").read_text(encoding="utf-8")
    for preset in listing_presets().values():
        assert f"`{preset.name}`" in text
        for source in preset.sources:
            assert source in text


def test_an_unknown_preset_names_the_valid_ones() -> None:
    from productshot.errors import BadRequestError

    with pytest.raises(BadRequestError, match="valid presets: amazon"):
        get_preset("etsy-ish")


# ---- every preset, every shape -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("preset_name", WHITE_PRESETS)
def test_every_preset_output_passes_check_listing(preset_name: str, shape: str, cutter: Cutter) -> None:
    preset = get_preset(preset_name)
    outcome = make_listing(SHAPES[shape](), preset, cut=cutter.cut)
    # Checked again from the bytes alone, the way check-listing reads a file.
    check = check_listing_bytes(outcome.data, preset)
    assert check.ok, [r.to_dict() for r in check.failed]
    assert outcome.check.ok
    with Image.open(io.BytesIO(outcome.data)) as image:
        assert image.format == "JPEG" and image.size == (preset.width, preset.height)
        pixels = np.asarray(image.convert("RGB"))
    band = max(1, round(0.02 * preset.width))
    border = np.concatenate([pixels[:band].reshape(-1, 3), pixels[-band:].reshape(-1, 3)])
    assert (border == 255).all()  # exact white after JPEG decoding, not merely close
    assert check.measures.fill is not None and check.measures.fill >= 0.8 * preset.fill
    assert check.measures.centre_offset is not None and check.measures.centre_offset <= 0.03
    if shape == "white":
        assert check.measures.basis == "alpha"  # a white product on white is measured on our alpha
    else:
        assert check.measures.basis == "pixels"
        assert abs(check.measures.fill - preset.fill) <= 0.02


def test_a_white_product_on_a_sellers_own_image_is_not_measurable_not_passed(cutter: Cutter) -> None:
    preset = get_preset("coupang")
    outcome = make_listing(SHAPES["white"](), preset, cut=cutter.cut)
    assert PROVENANCE_TAG in outcome.data
    # The same pixels re-saved by another tool (no provenance): fill and centring cannot be measured.
    with Image.open(io.BytesIO(outcome.data)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
    check = check_listing_bytes(buffer.getvalue(), preset)
    fill, centred = _rule(check, "fill"), _rule(check, "centred")
    assert fill["measured"] is None and fill["ok"] is None and "light product" in fill["note"]
    assert centred["measured"] is None and centred["ok"] is None
    # An edited copy that keeps our comment is not trusted either: the hash no longer matches its pixels.
    with Image.open(io.BytesIO(outcome.data)) as image:
        edited = image.convert("RGB")
        comment = image.info["comment"]
    edited.putpixel((500, 500), (0, 0, 0))
    buffer = io.BytesIO()
    edited.save(buffer, format="JPEG", quality=95, comment=comment)
    assert check_listing_bytes(buffer.getvalue(), preset).measures.basis is None


def test_the_layout_records_where_the_product_alpha_landed(cutter: Cutter) -> None:
    preset = get_preset("amazon")
    layout = lay_out(SHAPES["tall"](), preset)
    x0, y0, x1, y1 = layout.alpha_bbox
    assert abs((y1 - y0) / preset.height - preset.fill) <= 0.01  # a tall product fills by its height
    assert abs((x0 + x1) / 2 - preset.width / 2) <= 2 and abs((y0 + y1) / 2 - preset.height / 2) <= 2
    assert not layout.shadow  # Amazon: plain product on white
    with_shadow = lay_out(SHAPES["tall"](), get_preset("ebay"))
    pixels = np.asarray(with_shadow.image)
    below = pixels[with_shadow.alpha_bbox[3] : with_shadow.alpha_bbox[3] + 10]
    assert with_shadow.shadow and below.min() < 250  # a soft contact shadow under the base


# ---- notes and review ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _ScoredCut:
    """A cutout result as a model that reports its confidence returns it."""

    image: Image.Image
    backend: str
    seconds: float
    confidence: float


def test_a_doubtful_cutout_and_an_enlarged_product_are_flagged(cutter: Cutter) -> None:
    def doubtful(photo: Image.Image) -> _ScoredCut:
        cut = cutter.cut(photo)
        return _ScoredCut(cut.image, cut.backend, cut.seconds, 0.31)

    outcome = make_listing(SHAPES["tiny"](), get_preset("amazon"), cut=doubtful)
    codes = [n.code for n in outcome.notes]
    assert "listing_doubtful_cutout" in codes and "listing_upscaled" in codes
    assert outcome.review == ("doubtful_cutout", "upscaled")
    assert outcome.confidence == 0.31 and outcome.upscale is not None and outcome.upscale > 5
    sure = make_listing(SHAPES["wide"](), get_preset("coupang"), cut=cutter.cut)
    assert sure.review == () and sure.notes == ()


def test_quality_steps_down_to_fit_a_tight_cap(cutter: Cutter) -> None:
    base = get_preset("gmarket")
    cap = 35_000
    rules = tuple(dataclasses.replace(r, value=cap) if r.kind == "max_bytes" else r for r in base.rules)
    preset = dataclasses.replace(base, rules=rules)
    outcome = make_listing(SHAPES["wide"](), preset, cut=cutter.cut)
    assert len(outcome.data) <= cap and outcome.quality < 90 and outcome.check.ok
    assert "listing_quality_lowered" in [n.code for n in outcome.notes]


# ---- the checker catches each broken rule ---------------------------------------------------------------


def _listing_like(
    size: int = 1000,
    *,
    fill: float = 0.9,
    background: int = 255,
    offset: tuple[float, float] = (0.0, 0.0),
    fmt: str = "JPEG",
    noise: bool = False,
) -> bytes:
    """A dark product box on a plain background, encoded in `fmt` (JPEG at quality 95, 4:4:4)."""
    pixels = np.full((size, size, 3), background, dtype=np.uint8)
    side = round(fill * size)
    x0 = (size - side) // 2 + round(offset[0] * size)
    y0 = (size - side) // 2 + round(offset[1] * size)
    if noise:
        rng = np.random.default_rng(3)
        pixels[y0 : y0 + side, x0 : x0 + side] = rng.integers(0, 200, (side, side, 3), dtype=np.uint8)
    else:
        pixels[y0 : y0 + side, x0 : x0 + side] = (120, 60, 30)
    buffer = io.BytesIO()
    params = {"quality": 100 if noise else 95, "subsampling": "4:4:4"} if fmt == "JPEG" else {}
    Image.fromarray(pixels).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _failed(data: bytes, preset: str) -> set[str]:
    check = check_listing_bytes(data, get_preset(preset))
    names = {r.name for r in check.failed}
    assert check.ok is (not names)
    return names


def test_a_clean_image_passes_and_each_broken_rule_is_caught() -> None:
    assert _failed(_listing_like(), "amazon") == set()
    assert _failed(_listing_like(), "coupang") == set()
    assert _failed(_listing_like(background=250), "amazon") == {"white_background"}
    assert _failed(_listing_like(fill=0.7), "amazon") == {"fill"}
    assert _failed(_listing_like(fill=0.86, offset=(0.04, 0.0)), "coupang") == {"centred"}
    assert _failed(_listing_like(size=600), "amazon") == {"zoom_size"}
    assert _failed(_listing_like(fmt="PNG"), "amazon") == {"format"}
    big = _listing_like(size=1000, fill=0.9, noise=True)
    assert len(big) > 2_000_000
    assert _failed(big, "gmarket") == {"max_bytes"}


def test_measures_follow_the_written_definitions() -> None:
    pixels = np.full((200, 100, 3), 255, dtype=np.uint8)
    pixels[50:150, 30:70] = (249, 255, 255)  # one channel under 250 is product
    m = measure(pixels)
    assert m.basis == "pixels" and m.white_share == 1.0
    assert m.fill == pytest.approx(0.5) and m.centre_offset == pytest.approx(0.0)
    pixels[0, :] = 254  # one border row (of a 4-row band) off by one level
    assert measure(pixels).white_share < 0.995
    empty = measure(np.full((50, 50, 3), 255, dtype=np.uint8))
    assert empty.fill == 0.0 and empty.centre_offset is None


def test_a_sellers_ordinary_jpeg_is_measured_on_pixels() -> None:
    """JPEG ringing and chroma bleed around a dark product are not mistaken for a light product's edge."""
    for size, quality in ((500, 75), (1000, 85)):
        pixels = np.full((size, size, 3), 255, dtype=np.uint8)
        pixels[size // 10 : -size // 10, size // 4 : -size // 4] = (150, 20, 30)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
        m = check_listing_bytes(buffer.getvalue(), get_preset("coupang")).measures
        assert m.basis == "pixels" and m.fill == pytest.approx(0.8, abs=0.04), (size, m)


def test_unmeasurable_rules_report_null() -> None:
    check = check_listing_bytes(_listing_like(), get_preset("coupang"))
    for name in ("no_text", "no_logos", "no_border"):
        rule = _rule(check, name)
        assert rule["measured"] is None and rule["ok"] is None and rule["level"] == "required"
    assert isinstance(get_preset("coupang").rule("no_text"), ListingRule)


# ---- the commands ------------------------------------------------------------------------------------------


def test_listing_and_check_listing_commands(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in settings.child_env().items():
        monkeypatch.setenv(key, value)
    photo = tmp_path / "bottle.png"
    SHAPES["tall"]().save(photo)
    out = tmp_path / "bottle-coupang.jpg"
    assert main(["listing", str(photo), "--preset", "coupang", "-o", str(out), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["ok"] is True and made["preset"] == "coupang" and made["path"] == str(out.resolve())
    assert made["width"] == 1000 and made["bytes"] == out.stat().st_size
    assert {r["name"] for r in made["rules"]} >= {"white_background", "fill", "centred"}

    assert main(["check-listing", str(out), "--preset", "coupang", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["ok"] is True
    assert all(set(r) >= {"name", "level", "ok", "measured", "required"} for r in checked["rules"])

    small = tmp_path / "small.jpg"
    small.write_bytes(_listing_like(size=600))
    assert main(["check-listing", str(small), "--preset", "amazon"]) == 1
    assert "FAIL zoom_size" in capsys.readouterr().out
    # Bad input: exit 2 with a named error, nothing written.
    assert main(["listing", str(photo), "--preset", "amazon", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["listing", str(photo), "--preset", "nope", "-o", str(tmp_path / "x.jpg")]) == 2
    assert not (tmp_path / "x.jpg").exists() and not (tmp_path / "x.png").exists()


def test_lifestyle_makes_a_scene_shot_through_the_pipeline(settings: Settings) -> None:
    from productshot.server.listings import pipeline_scene, scene_options
    from productshot.server.pipeline import Pipeline
    from productshot.server.services import LocalServices
    from productshot.store import AssetStore
    from productshot.tools.plan import RulesPlanner

    preset = get_preset("lifestyle")
    pipeline = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    scene = pipeline_scene(pipeline, scene_options)
    outcome = make_listing(SHAPES["tall"](), preset, scene=scene, request="on a wooden table")
    assert outcome.check.ok and outcome.image.size == (preset.width, preset.height)
    pixels = np.asarray(outcome.image)
    assert pixels[:40].std() > 1.0  # a scene, not a white page
    check = check_listing_bytes(outcome.data, preset)
    assert check.ok
    from productshot.errors import BadRequestError

    with pytest.raises(BadRequestError, match="needs a request"):
        make_listing(SHAPES["tall"](), preset, scene=scene, request=" ")
