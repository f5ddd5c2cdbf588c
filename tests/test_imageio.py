"""Image loading, validation and normalisation, atomic saves, bundled samples and allowed-path checks.

Every test works on real files it writes itself, and checks that input files stay byte-identical and that
nothing else appears next to them.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, NotFoundError, PathNotAllowedError
from productshot.tools.cutout import is_cutout
from productshot.tools.imageio import (
    LoadedImage,
    decode_image_bytes,
    encode_image,
    load_image,
    load_sample,
    save_image_atomic,
)
from productshot.tools.notes import note
from productshot.tools.paths import resolve_allowed_path
from productshot.tools.samples import SAMPLES, sample_path
from tests.support.imagegen import (
    SRGB_BLUE,
    SRGB_GREEN,
    SRGB_RED,
    bomb_png,
    make_product,
    png_bytes,
    rgb_icc_profile,
)

# ---- helpers ---------------------------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256: the state an operation must leave untouched."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder for input files; `_load_unchanged` checks it is byte-identical after each load."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    return folder


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _load_unchanged(path: Path, **kwargs: int) -> LoadedImage:
    """load_image(path), asserting the folder holding it is byte-identical afterwards."""
    before = _digest(path.parent) if path.parent.exists() else {}
    try:
        return load_image(path, **kwargs)
    finally:
        after = _digest(path.parent) if path.parent.exists() else {}
        assert after == before, "loading must neither change the input nor write anything next to it"


def _opened(path: Path) -> Image.Image:
    """Pillow's own reading of a file (mode and format as stored), with the file closed again."""
    with Image.open(path) as image:
        image.load()
        return image


def _png(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **params)
    return buffer.getvalue()


def _jpeg(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **params)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A smooth colourful test picture (compresses predictably, so colour checks are tight)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pixels = np.dstack([40 + 180 * xx / w, 60 + 150 * yy / h, 200 - 120 * xx / w])
    return Image.fromarray(np.rint(pixels).astype(np.uint8), mode="RGB")


# ---- bad input -------------------------------------------------------------------------------------------


def _valid_png() -> bytes:
    return _png(_photo((120, 80)))


def _valid_jpeg() -> bytes:
    return _jpeg(_photo((120, 80)), quality=90)


BAD_FILES: list[tuple[str, str, Callable[[], bytes], str]] = [
    ("empty", "empty.png", lambda: b"", "empty (0 bytes)"),
    ("truncated-png", "cut.png", lambda: _valid_png()[: len(_valid_png()) // 2], "truncated or corrupt"),
    ("truncated-jpeg", "cut.jpg", lambda: _valid_jpeg()[: len(_valid_jpeg()) // 2], "truncated or corrupt"),
    ("text-as-png", "notes.png", lambda: b"these are my notes, not a picture\n" * 4, "not an image file"),
    (
        "svg",
        "logo.svg",
        lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "SVG",
    ),
    (
        "eps",
        "art.eps",
        lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto showpage\n",
        "not an image file",
    ),
    ("svg-named-png", "logo.png", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
    ("one-pixel", "dot.png", lambda: _png(Image.new("RGB", (1, 1), "red")), "too small"),
    ("thin-strip", "strip.png", lambda: _png(Image.new("RGB", (400, 8), "red")), "too small"),
    ("bomb", "bomb.png", lambda: bomb_png(100_000, 100_000), "too many pixels"),
]


@pytest.mark.parametrize(("name", "filename", "build", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_are_refused_with_a_message_naming_the_file(
    inputs: Path, name: str, filename: str, build: Callable[[], bytes], expected: str
) -> None:
    path = _write(inputs, filename, build())
    with pytest.raises(BadImageError) as caught:
        _load_unchanged(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message


@pytest.mark.parametrize(("name", "filename", "build", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_bytes_are_refused_the_same_way(
    name: str, filename: str, build: Callable[[], bytes], expected: str
) -> None:
    with pytest.raises(BadImageError) as caught:
        load_image(build())
    assert expected in str(caught.value)
    assert "<bytes>" in str(caught.value)


def test_bomb_header_is_refused_before_decoding(inputs: Path) -> None:
    """A header under Pillow's own bomb limit but over ours is refused from the header alone."""
    path = _write(inputs, "big.png", bomb_png(6000, 5000))  # 30 MP declared, ~1 KB of data
    with pytest.raises(
        BadImageError, match=r"6000×5000 = 30,000,000 pixels, more than the limit of 1,000,000"
    ):
        _load_unchanged(path, max_pixels=1_000_000)


def test_too_many_pixels_for_the_configured_limit(inputs: Path) -> None:
    path = _write(inputs, "photo.png", _png(_photo((200, 150))))
    with pytest.raises(BadImageError, match="30,000 pixels, more than the limit of 10,000"):
        _load_unchanged(path, max_pixels=10_000)
    assert _load_unchanged(path, max_pixels=30_000).image.size == (200, 150)


def test_min_side_is_configurable(inputs: Path) -> None:
    path = _write(inputs, "small.png", _png(Image.new("RGB", (20, 12), "blue")))
    with pytest.raises(BadImageError, match="at least 16 px"):
        _load_unchanged(path)
    assert _load_unchanged(path, min_side=8).image.size == (20, 12)


def test_directory_is_not_an_image(inputs: Path) -> None:
    folder = inputs / "photos.png"
    folder.mkdir()
    with pytest.raises(BadImageError, match="is a folder"):
        load_image(folder)


def test_missing_path_is_not_found(inputs: Path) -> None:
    missing = inputs / "nope.jpg"
    with pytest.raises(NotFoundError, match=r"nope.jpg.*does not exist"):
        load_image(missing)
    assert not missing.exists()


@pytest.mark.parametrize("source", [123, None, "", "   "])
def test_wrong_source_types_are_refused(source: object) -> None:
    with pytest.raises(BadImageError):
        load_image(source)


def test_limits_themselves_are_checked() -> None:
    with pytest.raises(BadRequestError, match="max_pixels"):
        load_image(_valid_png(), max_pixels=0)
    with pytest.raises(BadRequestError, match="min_side"):
        load_image(_valid_png(), min_side=0)


# ---- odd but valid input ---------------------------------------------------------------------------------


def test_plain_png_path_and_bytes_agree(inputs: Path) -> None:
    photo = _photo()
    path = _write(inputs, "photo.png", _png(photo))
    from_path = _load_unchanged(path)
    from_bytes = decode_image_bytes(path.read_bytes())
    assert from_path.source == str(path) and from_bytes.source == "<bytes>"
    assert from_path.format == from_bytes.format == "PNG"
    assert from_path.image.mode == "RGB" and not from_path.has_alpha and from_path.notes == ()
    assert from_path.image.tobytes() == photo.tobytes() == from_bytes.image.tobytes()
    assert load_image(path.read_bytes()).image.tobytes() == photo.tobytes()


def test_sixteen_bit_greyscale_png(inputs: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    path = _write(inputs, "grey16.png", _png(Image.fromarray(ramp)))
    assert _opened(path).mode == "I;16"
    loaded = _load_unchanged(path)
    assert loaded.image.mode == "RGB"
    assert "16-bit → 8-bit" in _changes(loaded) and "greyscale → RGB" in _changes(loaded)
    got = np.asarray(loaded.image)
    assert np.array_equal(got[..., 0], got[..., 2])
    assert np.abs(got[..., 0].astype(int) - np.rint(ramp / 257.0)).max() <= 1


def test_sixteen_bit_rgb_and_rgba_png(inputs: Path) -> None:
    rgb16 = np.zeros((24, 40, 3), dtype=np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 0xC8FF, 0x3200, 0x1E80  # ≈ (200, 50, 30) in 8 bits
    loaded = _load_unchanged(_write(inputs, "rgb16.png", png_bytes(rgb16, color_type=2)))
    assert loaded.image.mode == "RGB" and "16-bit → 8-bit" in _changes(loaded)
    assert np.abs(np.asarray(loaded.image).astype(int) - [200, 50, 30]).max() <= 1

    rgba16 = np.zeros((24, 40, 4), dtype=np.uint16)
    rgba16[..., :3] = [0x1000, 0x8000, 0xF000]
    rgba16[:, 20:, 3] = 0xFFFF  # left half transparent
    loaded = _load_unchanged(_write(inputs, "rgba16.png", png_bytes(rgba16, color_type=6)))
    assert loaded.image.mode == "RGBA" and loaded.has_alpha and "16-bit → 8-bit" in _changes(loaded)
    alpha = np.asarray(loaded.image.getchannel("A"))
    assert alpha[:, :20].max() == 0 and alpha[:, 20:].min() == 255
    assert np.abs(np.asarray(loaded.image)[0, 30, :3].astype(int) - [16, 128, 240]).max() <= 1


def test_thirty_two_bit_integer_greyscale_keeps_its_range(inputs: Path) -> None:
    """A TIFF holding 8-bit values in 32-bit integers must not come out black, nor 16-bit ones white."""
    eight = np.tile(np.arange(0, 256, 4, dtype=np.int32), (20, 1))
    buffer = io.BytesIO()
    Image.fromarray(eight).save(buffer, "TIFF")
    loaded = _load_unchanged(_write(inputs, "eight.tif", buffer.getvalue()))
    assert "32-bit → 8-bit" in _changes(loaded)
    assert np.array_equal(np.asarray(loaded.image)[..., 0], eight.astype(np.uint8))

    buffer = io.BytesIO()
    Image.fromarray(eight * 257).save(buffer, "TIFF")
    loaded = _load_unchanged(_write(inputs, "sixteen.tif", buffer.getvalue()))
    assert np.array_equal(np.asarray(loaded.image)[..., 1], eight.astype(np.uint8))


def test_cmyk_jpeg_keeps_its_colours(inputs: Path) -> None:
    photo = _photo((120, 80))
    path = _write(inputs, "print.jpg", _jpeg(photo.convert("CMYK"), quality=95))
    assert _opened(path).mode == "CMYK"
    loaded = _load_unchanged(path)
    assert loaded.image.mode == "RGB" and "CMYK → RGB" in _changes(loaded)
    want = np.asarray(photo, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    got = np.asarray(loaded.image, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    assert np.abs(got - want).max() < 4.0, (got, want)


def test_embedded_icc_profile_is_converted_to_srgb(inputs: Path) -> None:
    """A profile whose red and green colorants are swapped: stored red means green on screen."""
    swapped = rgb_icc_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, description="Swapped RG")
    stored = Image.new("RGB", (40, 30), (220, 30, 30))
    loaded = _load_unchanged(_write(inputs, "swapped.png", _png(stored, icc_profile=swapped)))
    assert any("Swapped RG" in n.text() and "sRGB" in n.text() for n in loaded.notes)
    r, g, b = (int(v) for v in np.asarray(loaded.image)[15, 20])
    assert g > 180 and r < 80 and b < 80, (r, g, b)

    srgb = rgb_icc_profile(SRGB_RED, SRGB_GREEN, SRGB_BLUE, description="sRGB-like test")
    plain = _load_unchanged(_write(inputs, "srgb.jpg", _jpeg(stored, quality=95, icc_profile=srgb)))
    assert plain.notes == ()
    assert np.abs(np.asarray(plain.image)[15, 20].astype(int) - [220, 30, 30]).max() <= 6


def test_greyscale_and_greyscale_with_alpha(inputs: Path) -> None:
    grey = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (20, 1)), mode="L")
    loaded = _load_unchanged(_write(inputs, "grey.png", _png(grey)))
    assert loaded.image.mode == "RGB" and _changes(loaded) == ["greyscale → RGB"]
    assert loaded.image.getpixel((10, 5)) == (40, 40, 40)

    la = Image.merge("LA", (grey, Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (20, 1)))))
    loaded = _load_unchanged(_write(inputs, "grey-alpha.png", _png(la)))
    assert loaded.image.mode == "RGBA" and loaded.has_alpha
    assert _changes(loaded) == ["greyscale+alpha → RGBA"]
    assert loaded.image.getpixel((10, 5)) == (40, 40, 40, 40)


def test_palette_png_with_transparency_becomes_rgba(inputs: Path) -> None:
    palette = Image.new("P", (40, 30), 1)
    palette.putpalette([0, 0, 0, 200, 30, 40, 10, 120, 220] + [0] * (256 * 3 - 9))
    palette.paste(2, (0, 0, 20, 30))
    palette.paste(0, (30, 0, 40, 30))
    path = _write(inputs, "palette.png", _png(palette, transparency=0))
    loaded = _load_unchanged(path)
    assert loaded.image.mode == "RGBA" and loaded.has_alpha and "palette → RGBA" in _changes(loaded)
    assert loaded.image.getpixel((5, 5)) == (10, 120, 220, 255)
    assert loaded.image.getpixel((25, 5)) == (200, 30, 40, 255)
    assert loaded.image.getpixel((35, 5))[3] == 0

    opaque = _load_unchanged(_write(inputs, "palette-opaque.png", _png(palette)))
    assert opaque.image.mode == "RGB" and _changes(opaque) == ["palette → RGB"]


def test_webp_lossy_and_lossless_with_alpha(inputs: Path) -> None:
    photo = _photo()
    buffer = io.BytesIO()
    photo.save(buffer, "WEBP", quality=95)
    loaded = _load_unchanged(_write(inputs, "photo.webp", buffer.getvalue()))
    assert loaded.format == "WEBP" and loaded.image.mode == "RGB"
    assert np.abs(np.asarray(loaded.image, np.float32) - np.asarray(photo, np.float32)).mean() < 3

    product = make_product((64, 80), kind="box")
    buffer = io.BytesIO()
    product.save(buffer, "WEBP", lossless=True)
    loaded = _load_unchanged(_write(inputs, "cut.webp", buffer.getvalue()))
    assert loaded.image.mode == "RGBA" and loaded.has_alpha
    assert np.array_equal(np.asarray(loaded.image.getchannel("A")), np.asarray(product.getchannel("A")))


def test_heic_written_by_pillow_heif_is_read(inputs: Path) -> None:
    import pillow_heif

    photo = _photo((128, 96))
    path = inputs / "phone.heic"
    pillow_heif.from_pillow(photo).save(path, quality=95)
    loaded = _load_unchanged(path)
    assert loaded.format == "HEIF" and loaded.image.mode == "RGB" and loaded.image.size == (128, 96)
    diff = np.abs(np.asarray(loaded.image, np.float32) - np.asarray(photo, np.float32))
    assert diff.mean() < 4, diff.mean()
    from_bytes = load_image(path.read_bytes())
    assert from_bytes.format == "HEIF" and from_bytes.image.size == (128, 96)


@pytest.mark.parametrize(
    ("orientation", "marker_at"),
    [(6, (0.9, 0.1)), (8, (0.1, 0.9)), (3, (0.9, 0.9)), (2, (0.9, 0.1))],
)
def test_exif_orientation_is_applied(inputs: Path, orientation: int, marker_at: tuple[float, float]) -> None:
    """Stored landscape with a red marker top-left; upright, the marker lands where the camera saw it."""
    stored = Image.new("RGB", (90, 60), (230, 230, 230))
    stored.paste((220, 20, 20), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _write(inputs, f"rotated-{orientation}.jpg", _jpeg(stored, quality=95, exif=exif.tobytes()))
    loaded = _load_unchanged(path)
    expected_size = (60, 90) if orientation in (5, 6, 7, 8) else (90, 60)
    assert loaded.image.size == expected_size
    code = "image_rotated" if orientation in (3, 6, 8) else "image_flipped"
    assert note(code, orientation=orientation) in loaded.notes
    w, h = loaded.image.size
    r, g, b = loaded.image.getpixel((int(marker_at[0] * w), int(marker_at[1] * h)))
    assert r > 180 and g < 80, f"marker not at {marker_at}: {(r, g, b)}"


# What each EXIF orientation means, written from the EXIF spec with numpy (not Pillow's table): the stored
# pixel rows/columns → the upright picture the camera saw.
_UPRIGHT_BY_SPEC: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180°
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored about the main diagonal
    6: lambda a: np.rot90(a, -1),  # stored turned 90° anticlockwise: turn it clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored about the anti-diagonal
    8: lambda a: np.rot90(a, 1),  # stored turned 90° clockwise: turn it anticlockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_every_exif_orientation_is_upright_pixel_for_pixel(inputs: Path, fmt: str, orientation: int) -> None:
    """Lossless files written with an EXIF orientation tag load upright, every pixel where the spec puts it."""
    stored = _photo((48, 32))
    stored.paste((220, 20, 20), (0, 0, 6, 4))  # an asymmetric corner so no two orientations look alike
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, fmt, exif=exif, lossless=True)  # TIFF: tag 274 in its own IFD; others: an EXIF block
    path = _write(inputs, f"turned-{orientation}.{fmt.lower()}", buffer.getvalue())
    with Image.open(path) as written:
        assert written.getexif().get(0x0112) == orientation  # the file really carries the tag

    loaded = _load_unchanged(path)

    expected = _UPRIGHT_BY_SPEC[orientation](np.asarray(stored))
    assert np.array_equal(np.asarray(loaded.image), expected)
    turned = [n for n in loaded.notes if n.code in ("image_rotated", "image_flipped")]
    if orientation == 1 or fmt == "TIFF":
        # Pillow's TIFF decoder turns the pixels upright itself while loading (and drops tag 274), so the
        # tag is gone before we can read it: the pixels are right, without a note (as before exif_transpose).
        assert turned == []
    else:
        code = "image_rotated" if orientation in (3, 6, 8) else "image_flipped"
        assert turned == [note(code, orientation=orientation)]
    assert loaded.image.getexif().get(0x0112, 1) == 1  # upright now: nothing downstream turns it twice


def test_animated_gif_gives_its_first_frame(inputs: Path) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    loaded = _load_unchanged(_write(inputs, "spin.gif", buffer.getvalue()))
    assert loaded.format == "GIF" and note("image_first_frame", frames=3) in loaded.notes
    r, g, b = loaded.image.convert("RGB").getpixel((20, 15))
    assert r > 200 and g < 40 and b < 40


def test_rgba_cutout_png_keeps_its_alpha(inputs: Path) -> None:
    product = make_product((80, 100), kind="bottle")
    loaded = _load_unchanged(_write(inputs, "cut.png", _png(product)))
    assert loaded.image.mode == "RGBA" and loaded.has_alpha and loaded.notes == ()
    assert is_cutout(loaded.image)
    assert loaded.image.tobytes() == product.tobytes()


def test_fully_opaque_alpha_is_dropped(inputs: Path) -> None:
    photo = _photo().convert("RGBA")
    loaded = _load_unchanged(_write(inputs, "opaque.png", _png(photo)))
    assert loaded.image.mode == "RGB" and not loaded.has_alpha
    assert loaded.notes == (note("image_alpha_dropped"),)
    assert not is_cutout(photo)


def test_tiff_and_bmp(inputs: Path) -> None:
    photo = _photo()
    for fmt, name in (("TIFF", "scan.tif"), ("BMP", "old.bmp")):
        buffer = io.BytesIO()
        photo.save(buffer, fmt)
        loaded = _load_unchanged(_write(inputs, name, buffer.getvalue()))
        assert loaded.format == fmt and loaded.image.tobytes() == photo.tobytes()


# ---- samples ---------------------------------------------------------------------------------------------


def test_required_samples_exist_and_load() -> None:
    assert {"coffee", "rocket", "chelsea", "astronaut"} <= set(SAMPLES)
    for name, description in SAMPLES.items():
        assert description
        image = load_sample(name)
        assert image.mode == "RGB" and min(image.size) >= 256
        assert sample_path(name).is_file()


def test_sample_source_through_load_image() -> None:
    loaded = load_image("sample:coffee")
    assert loaded.source == "sample:coffee" and loaded.format == "PNG" and loaded.image.size == (600, 400)
    rocket = load_image("sample:rocket")
    assert rocket.format == "JPEG" and any("sRGB" in n.text() for n in rocket.notes)


def test_unknown_sample_lists_valid_names() -> None:
    with pytest.raises(BadImageError, match=r"unknown sample 'teapot'.*astronaut, chelsea, coffee"):
        load_sample("teapot")
    with pytest.raises(BadImageError, match="unknown sample"):
        load_image("sample:teapot")


# ---- saving ----------------------------------------------------------------------------------------------


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_save_image_atomic_creates_folders_and_leaves_no_temp_files(tmp_path: Path) -> None:
    product = make_product((60, 80), kind="cup")
    target = tmp_path / "out" / "deeper" / "cut.png"
    assert save_image_atomic(product, target) == target
    assert [p.name for p in target.parent.iterdir()] == ["cut.png"]
    assert _opened(target).tobytes() == product.tobytes()
    assert target.stat().st_mode & 0o777 == 0o666 & ~_current_umask()

    jpeg = save_image_atomic(_photo(), tmp_path / "out" / "photo.JPG")
    assert _opened(jpeg).format == "JPEG"
    webp = save_image_atomic(_photo(), tmp_path / "out" / "photo.bin", format="webp")
    assert _opened(webp).format == "WEBP"


def test_save_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "shot.png"
    save_image_atomic(Image.new("RGB", (30, 30), "red"), target)
    save_image_atomic(Image.new("RGB", (50, 40), "blue"), target)
    with Image.open(target) as again:
        assert again.size == (50, 40) and again.getpixel((1, 1)) == (0, 0, 255)
    assert [p.name for p in tmp_path.iterdir()] == ["shot.png"]


def test_failed_save_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "shot.jpg"
    save_image_atomic(_photo(), target)
    before = _digest(tmp_path)
    with pytest.raises(BadRequestError, match=r"cannot save a RGBA image as JPEG"):
        save_image_atomic(make_product((40, 50)), target)
    assert _digest(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "fmt", "message"), [("out.xyz", None, "suffix"), ("out", None, "no suffix")]
)
def test_save_refuses_unknown_formats(tmp_path: Path, name: str, fmt: str | None, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        save_image_atomic(_photo(), tmp_path / name, format=fmt)
    with pytest.raises(BadRequestError, match="cannot be written"):
        save_image_atomic(_photo(), tmp_path / "a.png", format="nonsense")
    assert list(tmp_path.iterdir()) == []


def test_save_to_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(BadRequestError, match="is a folder"):
        save_image_atomic(_photo(), tmp_path / "out.png")


def test_save_into_an_unwritable_place_is_a_named_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(BadRequestError, match="cannot write"):
        save_image_atomic(_photo(), blocker / "out.png")
    assert blocker.read_text() == "not a folder"


def test_save_heic_and_read_it_back(tmp_path: Path) -> None:
    path = save_image_atomic(_photo((64, 48)), tmp_path / "shot.heic")
    assert load_image(path).format == "HEIF"


def test_encode_image_round_trips() -> None:
    product = make_product((40, 50))
    data = encode_image(product)
    assert data.startswith(b"\x89PNG") and load_image(data).image.tobytes() == product.tobytes()
    assert encode_image(_photo(), "jpg").startswith(b"\xff\xd8")
    with pytest.raises(BadRequestError, match="cannot be written"):
        encode_image(product, "svg")


# ---- allowed paths ---------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "in.png").write_bytes(_valid_png())
    (outside / "secret.png").write_bytes(_valid_png())
    return allowed, outside


def test_path_inside_allowed_folder_resolves(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    assert resolve_allowed_path(allowed / "in.png", [allowed]) == (allowed / "in.png").resolve()
    assert (
        resolve_allowed_path(str(allowed / "sub" / ".." / "in.png"), [allowed])
        == (allowed / "in.png").resolve()
    )


def test_dotdot_escape_is_refused_naming_path_and_folders(tree: tuple[Path, Path]) -> None:
    allowed, outside = tree
    sneaky = f"{allowed}/../outside/secret.png"
    with pytest.raises(PathNotAllowedError) as caught:
        resolve_allowed_path(sneaky, [allowed])
    message = str(caught.value)
    assert sneaky in message and str(allowed.resolve()) in message
    assert (
        str(outside / "secret.png") not in message
    )  # one refusal for every outside path: no resolved target


def test_symlink_out_of_the_allowed_folder_is_refused(tree: tuple[Path, Path]) -> None:
    allowed, outside = tree
    (allowed / "link.png").symlink_to(outside / "secret.png")
    (allowed / "door").symlink_to(outside, target_is_directory=True)
    for path in (allowed / "link.png", allowed / "door" / "secret.png"):
        with pytest.raises(PathNotAllowedError):
            resolve_allowed_path(path, [allowed])


def test_allowed_folder_given_through_a_symlink(tree: tuple[Path, Path], tmp_path: Path) -> None:
    allowed, _ = tree
    alias = tmp_path / "alias"
    alias.symlink_to(allowed, target_is_directory=True)
    assert resolve_allowed_path(alias / "in.png", [alias]) == (allowed / "in.png").resolve()
    assert resolve_allowed_path(allowed / "in.png", [alias]) == (allowed / "in.png").resolve()


def test_sibling_folder_with_the_same_prefix_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "pics"
    twin = tmp_path / "pics-private"
    allowed.mkdir()
    twin.mkdir()
    (twin / "x.png").write_bytes(b"x")
    with pytest.raises(PathNotAllowedError):
        resolve_allowed_path(twin / "x.png", [allowed])


def test_missing_and_not_yet_existing_paths(tree: tuple[Path, Path]) -> None:
    allowed, outside = tree
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve_allowed_path(allowed / "new.png", [allowed])
    assert (
        resolve_allowed_path(allowed / "new.png", [allowed], must_exist=False)
        == (allowed / "new.png").resolve()
    )
    # Outside the allowed folders, a missing file is "not allowed", not "not found": nothing leaks.
    with pytest.raises(PathNotAllowedError):
        resolve_allowed_path(outside / "missing.png", [allowed])


def test_no_allowed_folders_and_bad_paths() -> None:
    with pytest.raises(PathNotAllowedError, match="none configured"):
        resolve_allowed_path("/etc/passwd", [])
    with pytest.raises(BadRequestError, match="empty"):
        resolve_allowed_path("", [Path("/")])
    with pytest.raises(BadRequestError, match="NUL"):
        resolve_allowed_path("a\x00b.png", [Path("/")])


# ---- import cost -----------------------------------------------------------------------------------------


def test_imports_stay_light() -> None:
    """imageio must not pull in numpy or pillow-heif, nor cutout rembg, onnxruntime or scipy, at import."""
    code = (
        "import sys\n"
        "import productshot.tools.imageio, productshot.tools.samples, productshot.tools.paths\n"
        "light = [m for m in ('numpy', 'pillow_heif', 'skimage') if m in sys.modules]\n"
        "import productshot.tools.cutout\n"
        "heavy = [m for m in ('rembg', 'onnxruntime', 'pymatting', 'scipy', 'pillow_heif') if m in sys.modules]\n"
        "print(light, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[] []", result.stdout + result.stderr


def _changes(loaded: LoadedImage) -> list[str]:
    """The conversions a load made, as the `change` of its image_converted notes."""
    return [str(n.params["change"]) for n in loaded.notes if n.code == "image_converted"]
