"""Stored images decoded once per content: the same pixels as a fresh decode, a private copy per call, a
byte budget that evicts the least recently used, and a row whose file is gone still refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from productshot.errors import NotFoundError
from productshot.server.mcp.decoded import DecodedImages
from productshot.server.mcp.inputs import resolve_image
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.imageio import load_image


def test_a_second_call_gets_the_same_pixels_without_decoding(settings: Settings) -> None:
    decoded = DecodedImages()
    with AssetStore.open(settings) as store:
        asset = store.put_image(Image.fromarray(data.astronaut()), kind="background", backend="test")
        first = resolve_image(asset.id, name="background", store=store, settings=settings, decoded=decoded)
        second = resolve_image(asset.id, name="background", store=store, settings=settings, decoded=decoded)
        fresh = load_image(asset.path)
        assert (decoded.misses, decoded.hits) == (1, 1)
        assert second.asset == asset and second.kind == "asset"
        assert second.loaded.format == fresh.format and second.loaded.has_alpha == fresh.has_alpha
        assert np.array_equal(np.asarray(second.loaded.image), np.asarray(fresh.image))
        # Each call owns its pixels: drawing on one never reaches the next call.
        first.loaded.image.paste((255, 0, 0), (0, 0, 64, 64))
        third = resolve_image(asset.id, name="background", store=store, settings=settings, decoded=decoded)
    assert np.array_equal(np.asarray(third.loaded.image), np.asarray(fresh.image))


def test_the_byte_budget_evicts_the_least_recently_used(settings: Settings) -> None:
    one = 64 * 48 * 3
    decoded = DecodedImages(max_bytes=2 * one)
    rng = np.random.default_rng(0)
    with AssetStore.open(settings) as store:
        assets = [
            store.put_image(
                Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)), kind="input", backend="t"
            )
            for _ in range(3)
        ]
        a, b, c = (asset.path for asset in assets)
        decoded.load(assets[0], a, max_pixels=settings.max_image_pixels)
        decoded.load(assets[1], b, max_pixels=settings.max_image_pixels)
        decoded.load(assets[0], a, max_pixels=settings.max_image_pixels)  # a is now the most recent
        decoded.load(assets[2], c, max_pixels=settings.max_image_pixels)  # pushes b out
        assert len(decoded) == 2 and decoded.size_bytes == 2 * one
        decoded.load(assets[0], a, max_pixels=settings.max_image_pixels)
        assert (decoded.hits, decoded.misses) == (2, 3)
        decoded.load(assets[1], b, max_pixels=settings.max_image_pixels)
        assert decoded.misses == 4
    off = DecodedImages(max_bytes=0)
    off.load(assets[0], a, max_pixels=settings.max_image_pixels)
    off.load(assets[0], a, max_pixels=settings.max_image_pixels)
    assert (off.hits, off.misses, len(off)) == (0, 2, 0)


def test_a_row_whose_file_is_gone_is_refused_even_when_its_pixels_are_cached(settings: Settings) -> None:
    decoded = DecodedImages()
    with AssetStore.open(settings) as store:
        asset = store.put_image(Image.fromarray(data.coffee()), kind="background", backend="test")
        resolve_image(asset.id, name="background", store=store, settings=settings, decoded=decoded)
        asset.path.unlink()
        with pytest.raises(NotFoundError, match="missing"):
            resolve_image(asset.id, name="background", store=store, settings=settings, decoded=decoded)
