"""Cutout fidelity on the frozen render set (tests/data/cutout_renders, built before tuning), confidence on
real photos, and the refinement's parts on their own.

The render set is cut once per module with the real u2netp session; figures print with every run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from productshot.settings import Settings
from productshot.tools.colordiff import delta_e99, delta_e2000_lab
from productshot.tools.cutout import CutoutResult, Cutter
from productshot.tools.cutout_refine import edge_doubt, fit_background, refine_alpha, unseen_parts
from productshot.tools.imageio import load_sample
from tests.support.cutout_metrics import CutoutScore, auroc, score_cutout
from tests.support.cutout_renders import KINDS, Render, load_render_set

CLUTTERED = ("rocket", "astronaut", "motorcycle", "chelsea")


@pytest.fixture(scope="module")
def cutter() -> Cutter:
    return Cutter(u2net_home=Settings.from_mapping(os.environ).u2net_home)


@pytest.fixture(scope="module")
def cut_renders(cutter: Cutter) -> list[tuple[Render, CutoutResult, CutoutScore]]:
    rows = []
    for render in load_render_set():
        photo, truth = render.load()
        result = cutter.cut(photo)
        rows.append((render, result, score_cutout(photo, result.image, truth)))
    return rows


def test_the_render_set_is_complete() -> None:
    renders = load_render_set()
    for kind in KINDS:
        assert sum(r.kind == kind for r in renders) >= 5, kind
    backdrops = {r.backdrop.split("-")[0] for r in renders}
    assert {"white", "grey", "gradient", "dark", "textured"} <= backdrops
    for render in renders:
        assert render.photo.suffix == ".jpg" and render.alpha.is_file()


def test_render_set_fidelity(cut_renders: list[tuple[Render, CutoutResult, CutoutScore]], report) -> None:  # type: ignore[no-untyped-def]
    report("\nname          IoU     offset  ramp/true   ΔE99max  ΔE00p99  conf")
    for render, result, score in cut_renders:
        report(
            f"{render.name:12s} {score.iou:.4f}  {score.edge_offset_px:5.2f}  {score.ramp_px:4.2f}/{score.true_ramp_px:4.2f}"
            f"  {score.max_band_de99:6.2f}  {score.p99_band_de2000:6.2f}  {result.confidence:.2f}"
        )
    scores = [score for _, _, score in cut_renders]
    by_kind = {kind: [s.iou for r, _, s in cut_renders if r.kind == kind] for kind in KINDS}
    report(
        "IoU by kind: " + ", ".join(f"{k} {np.mean(v):.4f} (min {min(v):.4f})" for k, v in by_kind.items())
    )
    # 1. The product's own pixels: opaque pixels 2 px inside the edge are the photo's, bit for bit.
    assert all(s.interior_changed == 0 and s.interior_count > 0 for s in scores)
    # ... and mostly-opaque edge pixels keep their hue family.
    assert max(s.max_band_de99 for s in scores) <= 3.0
    # 2. Where the outline runs.
    assert np.mean([s.iou for s in scores]) >= 0.985
    assert min(by_kind["dark"]) >= 0.96
    # Band SAD per pixel of outline is the mean distance between the cutout's edge and the true one: a
    # 1 px shift of a hard edge costs 1.0. Half a pixel on average, never more than about a pixel.
    assert np.mean([s.edge_offset_px for s in scores]) <= 0.5
    assert max(s.edge_offset_px for s in scores) <= 1.1
    # Crisp, not binary: the 10-90 % ramp is as wide as the photo's, within about a pixel.
    errors = [abs(s.ramp_error_px) for s in scores]
    assert max(errors) <= 1.1 and np.mean(errors) <= 0.5
    assert sum(error <= 1.0 for error in errors) >= len(errors) - 1


def test_floor_shadows_and_holes(cut_renders: list[tuple[Render, CutoutResult, CutoutScore]]) -> None:
    """The photo's own floor shadow is never product, and holes stay holes (ring, frame, handles)."""
    for render, result, _ in cut_renders:
        _, truth = render.load()
        alpha = np.asarray(result.image.getchannel("A"))
        far_outside = ~ndimage.binary_dilation(truth > 0, iterations=2)
        assert int((alpha[far_outside] >= 128).sum()) <= 60, render.name
        if render.kind == "holed":
            holes = ndimage.binary_fill_holes(truth > 0) & ~ndimage.binary_dilation(truth > 0, iterations=2)
            assert holes.any() and float((alpha[holes] >= 128).mean()) <= 0.01, render.name


def test_confidence_tracks_error(cut_renders: list[tuple[Render, CutoutResult, CutoutScore]], report) -> None:  # type: ignore[no-untyped-def]
    """Every cutout with IoU < 0.95 scores < 0.5 and says why; every one with IoU ≥ 0.985 scores ≥ 0.5
    without a word. No render is excused."""
    confidences = [result.confidence for _, result, _ in cut_renders]
    good = [score.iou >= 0.95 for _, _, score in cut_renders]
    area = auroc(confidences, good)
    report(f"\nAUROC (IoU ≥ 0.95 vs below) on the render set: {area:.3f}")
    for render, result, score in cut_renders:
        assert 0.0 <= result.confidence <= 1.0
        if score.iou < 0.95:
            report(
                f"IoU < 0.95: {render.name} IoU {score.iou:.4f}, confidence {result.confidence:.2f}, "
                f"notes {[n.code for n in result.notes]}"
            )
            assert result.confidence < 0.5, render.name
            assert result.notes and all(n.code.startswith("cutout_doubtful_") for n in result.notes), (
                render.name
            )
        if score.iou >= 0.985:
            assert result.confidence >= 0.5, render.name
            assert not result.notes, render.name
    assert area >= 0.9


def test_edge_doubt_counts_coin_flip_pixels() -> None:
    """Half a pixel per pixel at alpha 0.5, nothing at 0.25 or below and 0.75 or above, per product pixel."""
    alpha = np.zeros((10, 10), dtype=np.uint8)
    alpha[:, :4] = 255
    alpha[:, 4] = 128  # a whole column on the 0.5 line: 10 coin flips
    alpha[:, 5] = 60  # below 0.25: sure
    assert edge_doubt(alpha) == pytest.approx(0.5 * 10 * (1 - abs(128 / 255 - 0.5) / 0.25) / 50, rel=1e-4)
    assert edge_doubt(np.where(alpha >= 128, 255, 0).astype(np.uint8)) == 0.0
    assert edge_doubt(np.zeros((4, 4), dtype=np.uint8)) == 0.0


def test_unseen_parts_tell_a_lost_handle_from_hesitant_backdrop() -> None:
    """A faint mask over colours the border never shows is a lost part; over the border's own colours it
    is backdrop the model hesitated about."""
    rng = np.random.default_rng(2)
    rgb = np.where(rng.random((200, 200, 1)) < 0.5, [150, 70, 50], [200, 150, 130]).astype(np.uint8)  # brick
    rgb[60:140, 60:120] = (120, 40, 160)  # the product
    kept = np.zeros((200, 200), dtype=bool)
    kept[60:140, 60:120] = True
    coarse = np.where(kept, 255, 0).astype(np.uint8)
    coarse[80:120, 125:150] = 60  # the model half-saw something right of the product
    assert unseen_parts(rgb, coarse, kept) == 0.0  # there is only brick there
    rgb[80:120, 125:150] = (205, 200, 220)  # a pale handle
    assert unseen_parts(rgb, coarse, kept) == pytest.approx(40 * 25 / kept.sum())


def test_unseen_parts_on_a_plain_backdrop_leave_its_floor_shadow_out() -> None:
    """On a plain backdrop a faint mask over the backdrop darkened with its hue kept is its floor shadow."""
    rng = np.random.default_rng(3)
    rgb = np.clip(rng.normal(0, 1.5, (200, 200, 3)) + np.array([235.0, 238.0, 242.0]), 0, 255)
    rgb[60:140, 60:120] = (150, 30, 40)  # the product
    kept = np.zeros((200, 200), dtype=bool)
    kept[60:140, 60:120] = True
    coarse = np.where(kept, 255, 0).astype(np.uint8)
    coarse[145:160, 60:120] = 60  # the model half-saw the shadow under the product
    rgb[145:160, 60:120] *= 0.7  # a shade of the backdrop: darker than any border pixel
    model = fit_background(rgb.astype(np.uint8), coarse)
    assert model is not None and model.plain()
    assert unseen_parts(rgb.astype(np.uint8), coarse, kept, model) == 0.0
    rgb[145:160, 60:120] = (40, 60, 200)  # a blue part, not a shade of the backdrop
    found = unseen_parts(rgb.astype(np.uint8), coarse, kept, model)
    assert found == pytest.approx(15 * 60 / kept.sum())


@pytest.mark.parametrize("name", CLUTTERED)
def test_cluttered_real_photos_say_the_cutout_is_doubtful(cutter: Cutter, name: str, report) -> None:  # type: ignore[no-untyped-def]
    result = cutter.cut(load_sample(name))
    report(f"\nsample:{name}: confidence {result.confidence:.3f}, notes {[n.code for n in result.notes]}")
    assert result.confidence < 0.5
    assert result.notes and all(n.code.startswith("cutout_doubtful_") for n in result.notes)
    assert all(n.text("ko") != n.text("en") for n in result.notes), "the note is said in Korean too"


def test_the_clean_sample_does_not_warn(cutter: Cutter, report) -> None:  # type: ignore[no-untyped-def]
    result = cutter.cut(load_sample("coffee"))
    report(f"\nsample:coffee: confidence {result.confidence:.3f}")
    assert result.confidence >= 0.5 and not result.notes


# ---- the refinement on its own ---------------------------------------------------------------------------


def _scene(dark_top: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A dark product with a slightly lighter part on top, on a dark plain backdrop: (rgb, true mask)."""
    yy, xx = np.mgrid[0:300, 0:300]
    body = (np.abs(xx - 150) < 60) & (yy > 120) & (yy < 260)
    top = (np.abs(xx - 150) < 30) & (yy > 60) & (yy <= 120)
    rgb = np.full((300, 300, 3), 18.0)
    rgb[body] = 34.0
    rgb[top] = 40.0 if dark_top else 200.0
    rgb += np.random.default_rng(0).normal(0, 1.5, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), body | top


def test_dropped_parts_of_a_dark_product_come_back() -> None:
    rgb, truth = _scene(dark_top=True)
    coarse = np.where(truth, 255, 0).astype(np.uint8)
    coarse[60:121] = 0  # the model lost the product's top
    refined = refine_alpha(rgb, coarse)
    found = refined.alpha >= 128
    assert refined.recovered > 0
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou >= 0.97, iou


def test_a_backdrop_coloured_hole_is_opened_but_a_highlight_is_not() -> None:
    yy, xx = np.mgrid[0:300, 0:300]
    ring = (np.hypot(yy - 150, xx - 150) < 100) & (np.hypot(yy - 150, xx - 150) >= 50)
    rgb = np.full((300, 300, 3), 245.0)
    rgb[ring] = (200.0, 140.0, 40.0)
    # A soft white highlight on the ring: it fades into the product over many pixels.
    glow = np.exp(-(((xx - 150) / 6.0) ** 2 + ((yy - 75) / 10.0) ** 2))
    rgb[ring] = rgb[ring] * (1 - glow[ring, None]) + 245.0 * glow[ring, None]
    rgb = np.clip(np.rint(rgb + np.random.default_rng(1).normal(0, 1.5, rgb.shape)), 0, 255).astype(np.uint8)
    coarse = np.where(np.hypot(yy - 150, xx - 150) < 100, 255, 0).astype(np.uint8)  # the model filled it
    refined = refine_alpha(rgb, coarse)
    assert refined.alpha[150, 150] == 0, "the hole is backdrop again"
    assert refined.alpha[75, 150] == 255, "the highlight stays product"


def test_delta_e_matches_published_values() -> None:
    """CIEDE2000 against Sharma, Wu and Dalal's test pairs; ΔE99 is zero for equal colours, symmetric."""
    pairs = [
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
        ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082),
    ]
    got = delta_e2000_lab(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    assert np.allclose(got, [p[2] for p in pairs], atol=1e-3)
    a, b = np.array([[200, 30, 40]]), np.array([[190, 40, 45]])
    assert delta_e99(a, a)[0] == 0 and np.isclose(delta_e99(a, b)[0], delta_e99(b, a)[0])


def test_render_files_are_small_and_committed() -> None:
    folder = Path(load_render_set()[0].photo).parent
    assert sum(f.stat().st_size for f in folder.iterdir()) < 2_000_000
    with Image.open(load_render_set()[0].photo) as photo:
        assert photo.format == "JPEG"
