"""The store's fast PNG writer: every pixel decodes back exactly (photos, cutouts, greys, odd sizes), the ICC
profile is kept, and whatever it cannot write exactly goes to Pillow instead."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms
from skimage import data

from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.store.imagebytes import encode
from productshot.store.png_writer import (
    DEFLATE,
    PNG_SIGNATURE,
    can_write,
    isal_deflate,
    write_png,
    zlib_deflate,
)

# Both ways the writer can deflate: ISA-L (python-isal, a dependency) and the standard library's zlib.
DEFLATERS = pytest.mark.parametrize("deflate", [isal_deflate, zlib_deflate], ids=["isal", "zlib"])


def _decoded(payload: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(payload))
    image.load()
    assert image.format == "PNG"
    return image


def _photo() -> Image.Image:
    return Image.fromarray(data.astronaut())


def _cutout() -> Image.Image:
    """A real photo with a soft-edged alpha: opaque middle, a ramp, fully clear corners."""
    rgb = data.coffee()
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    distance = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))
    alpha = np.clip((1.0 - distance) * 400, 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


@pytest.mark.parametrize(
    "image",
    [
        _photo(),
        _cutout(),
        _photo().convert("L"),
        _cutout().convert("LA"),
        Image.fromarray(np.random.default_rng(3).integers(0, 256, (7, 1, 4), dtype=np.uint8), "RGBA"),
        Image.fromarray(np.random.default_rng(4).integers(0, 256, (1, 13, 3), dtype=np.uint8), "RGB"),
        Image.new("RGB", (1, 1), (255, 0, 128)),
    ],
    ids=["photo", "cutout", "grey", "grey-alpha", "noise-column", "noise-row", "one-pixel"],
)
@DEFLATERS
def test_every_pixel_comes_back(image: Image.Image, deflate: Callable[[memoryview], bytes]) -> None:
    payload = write_png(image, deflate=deflate)
    back = _decoded(payload)
    assert payload.startswith(PNG_SIGNATURE)
    assert back.mode == image.mode and back.size == image.size
    assert np.array_equal(np.asarray(back), np.asarray(image))


@DEFLATERS
def test_as_small_as_pillows_fastest_level_on_photos_and_cutouts(
    deflate: Callable[[memoryview], bytes],
) -> None:
    for image in (_photo(), _cutout()):
        pillow = io.BytesIO()
        image.save(pillow, "PNG", compress_level=1)
        assert len(write_png(image, deflate=deflate)) <= 1.1 * len(pillow.getvalue())


def test_isal_is_used_when_installed() -> None:
    """python-isal is a dependency: the store deflates with it (four times less CPU than zlib)."""
    assert DEFLATE is isal_deflate


def test_the_icc_profile_is_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = _photo()
    image.info["icc_profile"] = profile
    assert _decoded(write_png(image)).info["icc_profile"] == profile


def test_what_it_cannot_write_exactly_goes_to_pillow() -> None:
    keyed = _photo()
    keyed.info["transparency"] = (0, 0, 0)  # a colour key: Pillow writes it as tRNS
    sixteen = Image.fromarray((np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16))
    palette = _photo().convert("P")
    for image in (keyed, sixteen, palette):
        assert not can_write(image)
        with pytest.raises(ValueError, match="write_png takes"):
            write_png(image)
        back = _decoded(encode(image, "PNG"))  # the store's encoder still writes it, through Pillow
        assert back.mode == image.mode
        assert np.array_equal(np.asarray(back), np.asarray(image))
    assert _decoded(encode(keyed, "PNG")).info["transparency"] == (0, 0, 0)


def test_the_store_writes_results_with_it(settings: Settings) -> None:
    image = _cutout()
    with AssetStore.open(settings) as store:
        asset = store.put_image(image, kind="cutout", backend="test")
        stored = asset.path.read_bytes()
    assert stored == write_png(image)
    assert np.array_equal(np.asarray(_decoded(stored)), np.asarray(image))
