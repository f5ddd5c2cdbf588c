"""Image arguments of the MCP tools: each accepted form, and each refusal with its named error."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productshot.errors import BadImageError, NotFoundError, PathNotAllowedError
from productshot.server.mcp.inputs import resolve_image, store_input
from productshot.settings import Settings
from productshot.store import AssetStore


@pytest.fixture
def store(settings: Settings) -> Iterator[AssetStore]:
    with AssetStore.open(settings) as opened:
        yield opened


def _png_bytes(size: tuple[int, int] = (80, 60), colour: tuple[int, int, int] = (200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real image in a folder that is not one of the allowed ones."""
    folder = tmp_path_factory.mktemp("outside")
    path = folder / "secret.png"
    path.write_bytes(_png_bytes())
    return path


def test_asset_id_and_its_resource_uri_resolve_to_the_stored_image(
    store: AssetStore, settings: Settings
) -> None:
    asset = store.put_bytes(_png_bytes(), kind="input", backend="input")
    by_id = resolve_image(asset.id, name="image", store=store, settings=settings)
    by_uri = resolve_image(f"productshot://assets/{asset.id}", name="image", store=store, settings=settings)
    assert by_id.kind == by_uri.kind == "asset"
    assert by_id.asset == asset and by_uri.asset == asset
    assert by_id.loaded.image.getpixel((5, 5)) == (200, 30, 40)
    assert store_input(by_id, store) == asset  # no second copy


def test_path_inside_allowed_folder_is_read_and_stored_byte_for_byte(
    tmp_path: Path, store: AssetStore, settings: Settings
) -> None:
    path = tmp_path / "photos" / "mug.png"
    path.parent.mkdir()
    data = _png_bytes((120, 90))
    path.write_bytes(data)
    resolved = resolve_image(str(path), name="image", store=store, settings=settings)
    assert resolved.kind == "path" and resolved.path == path.resolve()
    assert resolved.loaded.size == (120, 90)
    asset = store_input(resolved, store)
    assert asset.kind == "input" and asset.sha256 == hashlib.sha256(data).hexdigest()
    assert path.read_bytes() == data  # the original is untouched


def test_relative_name_is_looked_for_in_the_allowed_folders(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, store: AssetStore, settings: Settings
) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "bag.png").write_bytes(_png_bytes((70, 50)))
    found = resolve_image("shop/bag.png", name="image", store=store, settings=settings)
    assert found.path == (tmp_path / "shop" / "bag.png").resolve() and found.loaded.size == (70, 50)
    with pytest.raises(PathNotAllowedError, match=r"^image: path 'bag.png' is not a file inside the allowed"):
        resolve_image("bag.png", name="image", store=store, settings=settings)
    outside = _outside(tmp_path_factory)
    with pytest.raises(PathNotAllowedError, match="not a file inside the allowed folders"):
        resolve_image(
            f"../{outside.parent.name}/{outside.name}", name="image", store=store, settings=settings
        )


def test_path_outside_allowed_folders_is_refused(
    tmp_path_factory: pytest.TempPathFactory, store: AssetStore, settings: Settings
) -> None:
    outside = _outside(tmp_path_factory)
    with pytest.raises(PathNotAllowedError, match=r"^image: .*not a file inside the allowed folders"):
        resolve_image(str(outside), name="image", store=store, settings=settings)


def test_symlink_escaping_the_allowed_folder_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, store: AssetStore, settings: Settings
) -> None:
    outside = _outside(tmp_path_factory)
    link = tmp_path / "innocent.png"
    os.symlink(outside, link)
    with pytest.raises(PathNotAllowedError, match="not a file inside the allowed folders"):
        resolve_image(str(link), name="product", store=store, settings=settings)


def test_dotdot_trick_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, store: AssetStore, settings: Settings
) -> None:
    outside = _outside(tmp_path_factory)
    tricky = tmp_path / ".." / outside.parent.name / outside.name
    with pytest.raises(PathNotAllowedError, match="not a file inside the allowed folders"):
        resolve_image(str(tricky), name="background", store=store, settings=settings)


@pytest.mark.parametrize("as_data_url", [False, True])
def test_base64_image_is_decoded_and_its_bytes_kept(
    as_data_url: bool, store: AssetStore, settings: Settings
) -> None:
    data = _png_bytes((64, 64), (10, 120, 250))
    text = base64.b64encode(data).decode()
    if as_data_url:
        text = "data:image/png;base64," + text
    resolved = resolve_image(text, name="image", store=store, settings=settings)
    assert resolved.kind == "base64" and resolved.loaded.size == (64, 64)
    assert store_input(resolved, store).sha256 == hashlib.sha256(data).hexdigest()


def test_jpeg_base64_starting_with_a_slash_is_not_taken_for_a_path(
    store: AssetStore, settings: Settings
) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "JPEG"
    )
    text = base64.b64encode(buffer.getvalue()).decode()
    assert text.startswith("/9j/")
    assert resolve_image(text, name="image", store=store, settings=settings).kind == "base64"


def test_base64_that_is_not_an_image_names_the_argument(store: AssetStore, settings: Settings) -> None:
    text = base64.b64encode(b"this is a shopping list, not a picture " * 10).decode()
    with pytest.raises(BadImageError, match=r"^product: the base64 data \(\d+ bytes\) is not a usable image"):
        resolve_image(text, name="product", store=store, settings=settings)


def test_base64_over_the_upload_cap_is_refused_before_decoding(store: AssetStore, settings: Settings) -> None:
    small = settings.with_overrides(max_upload_bytes=10_000)
    noisy = np.random.default_rng(2).integers(0, 255, (120, 120, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "PNG")
    assert len(buffer.getvalue()) > 10_000
    text = base64.b64encode(buffer.getvalue()).decode()
    with pytest.raises(BadImageError, match=r"over the 10 KB limit \(PRODUCTSHOT_MAX_UPLOAD_BYTES\)"):
        resolve_image(text, name="image", store=store, settings=small)


def test_unknown_asset_id_and_unknown_sample_are_named(store: AssetStore, settings: Settings) -> None:
    with pytest.raises(NotFoundError, match=r"^background: no asset 'a0000000000000000' in the store"):
        resolve_image("a0000000000000000", name="background", store=store, settings=settings)
    with pytest.raises(BadImageError, match=r"^image: unknown sample 'teapot'; valid samples: .*coffee"):
        resolve_image("sample:teapot", name="image", store=store, settings=settings)


def test_text_that_is_no_image_reference_lists_the_accepted_forms(
    store: AssetStore, settings: Settings
) -> None:
    with pytest.raises(
        BadImageError, match=r"^image: 'my nice bag' is not an image reference; give an asset id"
    ):
        resolve_image("my nice bag", name="image", store=store, settings=settings)
    with pytest.raises(BadImageError, match=r"^image: empty"):
        resolve_image("   ", name="image", store=store, settings=settings)


def test_sample_is_loaded_and_stored_as_an_input(store: AssetStore, settings: Settings) -> None:
    resolved = resolve_image("sample:coffee", name="image", store=store, settings=settings)
    assert resolved.kind == "sample" and resolved.loaded.size == (600, 400)
    asset = store_input(resolved, store)
    assert asset.kind == "input" and (asset.width, asset.height) == (600, 400)


def test_every_path_outside_the_allowed_folders_gets_one_and_the_same_answer(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, store: AssetStore, settings: Settings
) -> None:
    """Existing or not, file or folder, absolute, relative or through a symlink: the refusal names only
    the text given and the allowed folders, so it cannot be used to probe the disk."""
    outside = _outside(tmp_path_factory)
    os.symlink(outside, tmp_path / "link.png")
    (tmp_path / "folder.png").mkdir()
    given = [
        "../../../../../../etc/shadow",
        "/etc/shadow",
        "/etc/no-such-file.png",
        "/etc",
        str(outside),
        f"../{outside.parent.name}/{outside.name}",
        "missing.png",
        "link.png",
        "folder.png",
        str(tmp_path / "missing-inside.png"),
    ]
    answers = set()
    for text in given:
        with pytest.raises(PathNotAllowedError) as caught:
            resolve_image(text, name="image", store=store, settings=settings)
        message = str(caught.value)
        assert "resolved" not in message and "/etc/shadow" not in message.replace(repr(text), "")
        answers.add(message.replace(repr(text), "<given>"))
    assert len(answers) == 1, answers
