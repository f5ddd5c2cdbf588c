"""Cutout with rembg's real u2netp session, scored against synthetic products whose mask is known.

Run with ``-s`` to see the measured IoU, edge error and fringe luminance for each case.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, ModelError
from productshot.settings import Settings
from productshot.tools.colordiff import delta_e99
from productshot.tools.cutout import (
    CUTOUT_MODELS,
    DEFAULT_CUTOUT_MODEL,
    CutoutResult,
    Cutter,
    alpha_bbox,
    available_cutout_models,
    clean_mask,
    decontaminate_edges,
    is_cutout,
)
from tests.support.imagegen import (
    composite_over,
    edge_alpha_error,
    edge_band,
    make_backdrop,
    make_product,
    mask_iou,
    on_background,
)

CANVAS = (448, 560)
PRODUCT = (320, 400)
DARK = (12, 12, 14)


@pytest.fixture(scope="module")
def u2net_home() -> Path:
    """The rembg home that set-up provisioned (`productshot setup weights`), as the settings read it."""
    return Settings.from_mapping(os.environ).u2net_home


@pytest.fixture(scope="module")
def cutter(u2net_home: Path) -> Cutter:
    """One Cutter for the module: its session loads once, like the worker's."""
    return Cutter(u2net_home=u2net_home)


def _alpha(result: CutoutResult) -> np.ndarray:
    return np.asarray(result.image.getchannel("A"))


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


# ---- quality against ground truth ------------------------------------------------------------------------

PLAIN = [("bottle", "white"), ("cup", "grey"), ("box", "gradient"), ("cup", "white")]
PHOTO = [("bottle", "grass"), ("cup", "brick")]


@pytest.mark.parametrize(("kind", "backdrop"), PLAIN + PHOTO, ids=[f"{k}-{b}" for k, b in PLAIN + PHOTO])
def test_cutout_matches_the_true_mask(cutter: Cutter, kind: str, backdrop: str, report) -> None:
    product = make_product(PRODUCT, kind=kind, color=(170, 40, 45), soft_edge=0.7)  # type: ignore[arg-type]
    photo, truth = on_background(product, make_backdrop(backdrop, CANVAS))  # type: ignore[arg-type]
    before = photo.tobytes()
    result = cutter.cut(photo)
    alpha = _alpha(result)
    iou, edge = mask_iou(alpha, truth), edge_alpha_error(alpha, truth)
    report(f"\n{kind} on {backdrop}: IoU {iou:.4f}, edge error {edge:.4f}, {result.seconds:.2f} s")

    assert photo.tobytes() == before, "the input image must not be modified"
    assert result.image.mode == "RGBA" and result.image.size == photo.size
    assert result.backend == "u2netp" and result.decontaminated and not result.alpha_matting
    floor = 0.95 if backdrop in ("white", "grey", "gradient") else 0.85
    assert iou >= floor
    assert edge <= (0.25 if floor == 0.95 else 0.35)
    true_box = alpha_bbox(truth, threshold=128)
    assert all(abs(got - want) <= 6 for got, want in zip(result.bbox, true_box, strict=True)), (
        result.bbox,
        true_box,
    )
    if kind == "cup":  # the handle's hole is real background and must stay see-through
        hole_y, hole_x = _handle_hole_centre(truth)
        assert alpha[hole_y, hole_x] < 64


def _handle_hole_centre(truth: np.ndarray) -> tuple[int, int]:
    from scipy import ndimage

    solid = truth >= 128
    holes = ndimage.binary_fill_holes(solid) & ~solid
    labels, count = ndimage.label(holes)
    assert count >= 1, "the synthetic cup must have a handle hole"
    sizes = ndimage.sum(holes, labels, index=np.arange(1, count + 1))
    ys, xs = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    return int(np.median(ys)), int(np.median(xs))


def test_decontamination_removes_the_light_fringe(cutter: Cutter) -> None:
    """A soft-edged product cut from white, placed on a dark scene: the edge band must not glow."""
    product = make_product(PRODUCT, kind="bottle", color=(60, 90, 160), soft_edge=1.5)
    photo, truth = on_background(product, (255, 255, 255), canvas=CANVAS)
    layer = Image.new("RGBA", CANVAS, (0, 0, 0, 0))
    layer.paste(product, ((CANVAS[0] - PRODUCT[0]) // 2, (CANVAS[1] - PRODUCT[1]) // 2))
    band = edge_band(truth, 3)
    ideal = _luminance(composite_over(layer, DARK))[band].mean()

    naive = cutter.cut(photo, decontaminate=False)
    clean = cutter.cut(photo, decontaminate=True)
    fringe_naive = _luminance(composite_over(naive.image, DARK))[band].mean()
    fringe_clean = _luminance(composite_over(clean.image, DARK))[band].mean()
    print(
        f"\nedge-band luminance on dark: naive {fringe_naive:.1f}, decontaminated {fringe_clean:.1f}, ideal {ideal:.1f}"
    )

    assert not naive.decontaminated and clean.decontaminated
    assert np.array_equal(_alpha(naive), _alpha(clean)), "decontamination changes colour, never alpha"
    # Mostly-transparent edge pixels lose the white; mostly-opaque ones may move only ΔE99 < 3, so part of
    # the fringe of this blurred (4 px) edge stays by design: the product's colour is never repainted.
    assert fringe_clean <= fringe_naive - 10
    faint = band & (_alpha(clean) < 128)
    clean_faint = _luminance(composite_over(clean.image, DARK))[faint].mean()
    naive_faint = _luminance(composite_over(naive.image, DARK))[faint].mean()
    ideal_faint = _luminance(composite_over(layer, DARK))[faint].mean()
    assert clean_faint - ideal_faint <= 0.4 * (naive_faint - ideal_faint)


def test_alpha_matting_refines_soft_edges(cutter: Cutter) -> None:
    product = make_product(PRODUCT, kind="cup", color=(170, 40, 45), soft_edge=1.5)
    photo, truth = on_background(product, (255, 255, 255), canvas=CANVAS)
    plain = cutter.cut(photo)
    matted = cutter.cut(photo, alpha_matting=True)
    plain_edge, matted_edge = edge_alpha_error(_alpha(plain), truth), edge_alpha_error(_alpha(matted), truth)
    print(
        f"\nalpha matting: IoU {mask_iou(_alpha(matted), truth):.4f}, edge error {matted_edge:.4f} "
        f"(without: {plain_edge:.4f}), {matted.seconds:.2f} s vs {plain.seconds:.2f} s"
    )
    assert matted.alpha_matting and matted.decontaminated and matted.backend == "u2netp"
    assert mask_iou(_alpha(matted), truth) >= 0.97
    assert matted_edge <= plain_edge


# ---- input that already is a cutout ----------------------------------------------------------------------


def test_existing_cutout_is_used_as_is_without_loading_a_model(u2net_home: Path) -> None:
    fresh = Cutter(u2net_home=u2net_home)
    product = make_product((200, 260), kind="box")
    canvas = Image.new("RGBA", (300, 340), (0, 0, 0, 0))
    canvas.paste(product, (40, 30))
    result = fresh.cut(canvas)
    assert result.backend == "input-alpha" and not result.alpha_matting and not result.decontaminated
    assert result.confidence == 1.0 and [n.code for n in result.notes] == ["cutout_given"]
    assert result.image.tobytes() == canvas.tobytes()
    assert result.bbox == alpha_bbox(canvas)
    assert not fresh.loaded and fresh.session is None


def test_is_cutout_tells_cutouts_from_other_alpha() -> None:
    product = make_product((120, 150), kind="bottle")
    assert is_cutout(product)
    assert is_cutout(product.convert("LA"))
    assert not is_cutout(product.convert("RGB"))
    assert not is_cutout(Image.new("RGBA", (100, 100), (10, 20, 30, 255)))
    rounded = Image.new("RGBA", (200, 200), (200, 10, 10, 255))
    for corner in ((0, 0), (196, 0), (0, 196), (196, 196)):
        rounded.paste((0, 0, 0, 0), (*corner, corner[0] + 4, corner[1] + 4))
    assert not is_cutout(rounded), "a few transparent corner pixels do not make a cutout"
    palette = Image.new("P", (100, 100), 0)
    palette.putpalette([0, 0, 0, 200, 30, 40] + [0] * 762)
    palette.paste(1, (30, 30, 70, 70))
    palette.info["transparency"] = 0
    assert is_cutout(palette)
    assert not is_cutout(Image.new("RGBA", (100, 100), (0, 0, 0, 0))), "nothing solid to keep"


# ---- the session -----------------------------------------------------------------------------------------


def test_session_loads_lazily_once_and_is_reused(cutter: Cutter, u2net_home: Path) -> None:
    product = make_product((120, 150), kind="bottle")  # small: the model's fixed cost dominates each cut
    photo, _ = on_background(product, (250, 250, 250))
    fresh = Cutter(u2net_home=u2net_home)
    assert not fresh.loaded and fresh.session is None and fresh.providers == ()
    first = fresh.cut(photo)
    session = fresh.session
    assert fresh.loaded and session is not None
    later = [fresh.cut(photo) for _ in range(3)]
    assert fresh.session is session, "later cuts reuse the session the first one loaded"
    assert all(result.image.tobytes() == first.image.tobytes() for result in later)
    cutter.load()
    assert cutter.session is not None and cutter.session is not session, "each Cutter owns its session"


def test_loads_offline_from_the_given_home_without_reading_the_environment(
    u2net_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the network refused and U2NET_HOME pointing at an empty folder, the given home still works."""
    decoy = tmp_path / "decoy-home"
    decoy.mkdir()
    monkeypatch.setenv("U2NET_HOME", str(decoy))
    monkeypatch.setenv("REMBG_HOME", str(decoy))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted during an offline cutout")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    home = tmp_path / "models-layout"
    (home / "models" / "u2netp").mkdir(parents=True)
    shutil.copyfile(u2net_home / "u2netp.onnx", home / "models" / "u2netp" / "u2netp.onnx")
    offline = Cutter(u2net_home=home)
    assert offline.weights == home / "models" / "u2netp" / "u2netp.onnx"
    product = make_product((160, 200), kind="cup")
    photo, truth = on_background(product, (255, 255, 255))
    result = offline.cut(photo)
    assert mask_iou(_alpha(result), truth) >= 0.95
    assert list(decoy.iterdir()) == [], "rembg must not download into its own home"
    assert offline.providers == ("CPUExecutionProvider",) or "CUDAExecutionProvider" in offline.providers


def test_missing_weights_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        Cutter(u2net_home=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "u2netp.onnx") in message and "productshot setup weights" in message
    with pytest.raises(ModelError, match=r"isnet-general-use\.onnx.*github\.com/danielgatis/rembg/releases"):
        Cutter("isnet-general-use", u2net_home=tmp_path)


def test_unknown_model_and_provider_are_refused(u2net_home: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown cutout model 'u3net'; valid models: u2netp, u2net"):
        Cutter("u3net", u2net_home=u2net_home)
    bad = Cutter(u2net_home=u2net_home, providers=["TPUExecutionProvider"])
    with pytest.raises(ModelError, match=r"TPUExecutionProvider.*not available"):
        bad.load()
    assert not bad.loaded


def test_registry_and_availability(u2net_home: Path, tmp_path: Path) -> None:
    assert DEFAULT_CUTOUT_MODEL == "u2netp" and CUTOUT_MODELS["u2netp"].licence == "Apache-2.0"
    assert {"u2netp", "u2net", "silueta", "isnet-general-use", "birefnet-general"} <= set(CUTOUT_MODELS)
    assert (
        not CUTOUT_MODELS["bria-rmbg"].commercial_ok
        and "non-commercial" in CUTOUT_MODELS["bria-rmbg"].licence
    )
    (tmp_path / "u2netp.onnx").symlink_to(u2net_home / "u2netp.onnx")
    rows = {row["name"]: row for row in available_cutout_models(tmp_path)}
    assert rows.keys() == CUTOUT_MODELS.keys()
    assert rows["u2netp"]["available"] and not rows["isnet-general-use"]["available"]
    assert {"name", "file_name", "licence", "description", "commercial_ok", "available"} <= rows[
        "u2net"
    ].keys()


def test_flat_image_has_nothing_to_cut(cutter: Cutter) -> None:
    with pytest.raises(BadImageError, match="one flat colour"):
        cutter.cut(Image.new("RGB", (200, 200), (128, 128, 128)))


# ---- pixel helpers ---------------------------------------------------------------------------------------


def test_alpha_bbox_uses_the_threshold_and_excludes_the_end() -> None:
    alpha = np.zeros((50, 80), dtype=np.uint8)
    alpha[10:20, 30:45] = 255
    alpha[5, 70] = 10  # faint haze below the threshold
    assert alpha_bbox(alpha) == (30, 10, 45, 20)
    assert alpha_bbox(alpha, threshold=5) == (30, 5, 71, 20)
    assert alpha_bbox(Image.fromarray(alpha)) == (30, 10, 45, 20)
    assert alpha_bbox(alpha > 0) == (30, 5, 71, 20)
    with pytest.raises(BadImageError, match="no product found"):
        alpha_bbox(np.zeros((10, 10), np.uint8))
    with pytest.raises(BadRequestError, match="threshold"):
        alpha_bbox(alpha, threshold=0)
    with pytest.raises(BadImageError, match="2-D"):
        alpha_bbox(np.zeros((4, 4, 3), np.uint8))


def test_clean_mask_drops_specks_fills_pinholes_keeps_real_holes_and_soft_edges() -> None:
    from scipy import ndimage

    yy, xx = np.mgrid[0:300, 0:300]
    distance = np.hypot(yy - 150, xx - 150)
    alpha = np.clip((110 - distance) * 64 + 128, 0, 255).astype(np.uint8)  # a disc with a 4 px soft edge
    alpha[(np.hypot(yy - 150, xx - 185) < 25)] = 0  # a real hole (a handle's opening), ~1 % of the area
    alpha[148:151, 100:103] = 0  # a 3×3 pinhole
    alpha[10:13, 10:13] = 255  # a speck far away
    cleaned = clean_mask(alpha)
    assert cleaned[11, 11] == 0, "speck dropped"
    assert cleaned[149, 101] == 255, "pinhole filled"
    assert cleaned[150, 185] == 0, "a real hole stays"
    ring = (distance > 106) & (distance < 111)
    assert np.array_equal(cleaned[ring], alpha[ring]), "soft edge kept as it was"
    assert ndimage.label(cleaned > 8)[1] == 1
    two_parts = np.zeros((100, 200), np.uint8)
    two_parts[20:80, 10:90] = 255
    two_parts[30:70, 120:170] = 255  # a second part of similar size (earrings) is not a speck
    assert np.array_equal(clean_mask(two_parts), two_parts)


def test_decontaminate_edges_recovers_the_product_colour_with_the_true_alpha() -> None:
    """With exact alpha, un-mixing recovers the foreground colour of soft edge pixels."""
    colour = (40, 70, 150)
    yy, xx = np.mgrid[0:200, 0:200]
    alpha = np.rint(np.clip((60 - np.hypot(yy - 100, xx - 100)) * 40 + 128, 0, 255)).astype(np.float32)
    a = alpha[..., None] / 255.0
    white = np.array([255.0, 255.0, 255.0])
    mixed = np.asarray(colour, np.float32) * a + white * (1 - a)
    rgba = Image.fromarray(np.dstack([np.rint(mixed), alpha]).astype(np.uint8), mode="RGBA")
    faint = (alpha > 40) & (alpha < 128)
    mostly = (alpha >= 128) & (alpha < 255)
    for background in (None, (255, 255, 255)):
        cleaned = np.asarray(decontaminate_edges(rgba, background=background)).astype(np.float32)
        assert np.array_equal(cleaned[..., 3], alpha), "alpha untouched"
        error = np.abs(cleaned[faint][:, :3] - colour).max()
        assert error <= 12, (background, error)
        shift = delta_e99(cleaned[mostly][:, :3], np.asarray(rgba)[mostly][:, :3])
        assert shift.max() <= 3.0, "mostly-opaque pixels keep their hue family (ΔE99 < 3)"
        assert shift.mean() >= 1.5, "and still move toward the product's colour"
        far = np.hypot(yy - 100, xx - 100) > 90
        assert cleaned[far][:, :3].max() == 0, "the old background is not kept in transparent pixels"


def test_decontaminate_edges_without_background_information() -> None:
    """A cutout whose transparent pixels are black: the old background is solved from the edge itself."""
    product = make_product((120, 150), kind="bottle", color=(30, 160, 60), soft_edge=1.0)
    pixels = np.asarray(product).copy()
    a = pixels[..., 3:4].astype(np.float32) / 255.0
    pixels[..., :3] = np.rint(pixels[..., :3] * a + 255 * (1 - a)).astype(np.uint8)  # light fringe baked in
    pixels[pixels[..., 3] == 0, :3] = 0
    fringed = Image.fromarray(pixels, mode="RGBA")
    cleaned = decontaminate_edges(fringed)
    band = (pixels[..., 3] > 10) & (pixels[..., 3] < 200)
    before = _luminance(composite_over(fringed, DARK))[band].mean()
    after = _luminance(composite_over(cleaned, DARK))[band].mean()
    assert after < before - 10, (before, after)
    # Faint pixels (alpha < 0.5) lose the fringe; mostly-opaque ones move at most ΔE99 3 by design.
    faint = (pixels[..., 3] > 10) & (pixels[..., 3] < 128)
    before = _luminance(composite_over(fringed, DARK))[faint].mean()
    after = _luminance(composite_over(cleaned, DARK))[faint].mean()
    ideal = _luminance(composite_over(product, DARK))[faint].mean()
    assert abs(after - ideal) <= 0.25 * (before - ideal), (before, after, ideal)
    assert np.array_equal(np.asarray(cleaned)[..., 3], pixels[..., 3])


def test_decontaminate_edges_leaves_opaque_and_empty_images_alone() -> None:
    opaque = Image.new("RGBA", (40, 40), (200, 10, 10, 255))
    assert decontaminate_edges(opaque).tobytes() == opaque.tobytes()
    empty = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    assert decontaminate_edges(empty).tobytes() == empty.tobytes()
    with pytest.raises(BadRequestError, match="background"):
        decontaminate_edges(make_product((60, 80)), background=(300, 0, 0))
