"""Tool results MCP clients accept (previews, the 1 MiB limit) and the `save_to` rule."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent
from PIL import Image

from productshot.errors import BadRequestError, PathNotAllowedError
from productshot.server.mcp.outputs import RESULT_LIMIT_BYTES, encode_preview, image_result
from productshot.server.mcp.saving import check_save_to, save_copy
from productshot.server.mcp.schemas import CompositeOut
from productshot.settings import Settings
from productshot.store import AssetStore


def _noise(width: int, height: int, mode: str) -> Image.Image:
    """Worst case for compression: every pixel random (alpha too, for RGBA)."""
    channels = 4 if mode == "RGBA" else 3
    data = np.random.default_rng(7).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(data, mode)


def _serialized_size(result: CallToolResult) -> int:
    """Bytes of the result as it goes over the wire inside a JSON-RPC response."""
    envelope = (
        '{"jsonrpc":"2.0","id":123456,"result":'
        + result.model_dump_json(by_alias=True, exclude_none=True)
        + "}"
    )
    return len(envelope.encode("utf-8"))


@pytest.mark.parametrize(("mode", "mime"), [("RGB", "image/jpeg"), ("RGBA", "image/png")])
def test_preview_of_a_large_noisy_image_fits_the_budget(mode: str, mime: str) -> None:
    preview = encode_preview(_noise(2400, 1600, mode), 700_000)
    assert preview.mime == mime
    assert len(preview.data) <= 700_000
    assert max(preview.width, preview.height) <= 1024
    assert abs(preview.width / preview.height - 1.5) < 0.01  # aspect kept
    decoded = Image.open(io.BytesIO(preview.data))
    assert decoded.size == (preview.width, preview.height)
    assert decoded.mode == ("RGBA" if mode == "RGBA" else "RGB")


def test_small_image_preview_keeps_its_size() -> None:
    preview = encode_preview(Image.new("RGB", (300, 200), (90, 120, 30)), 500_000)
    assert (preview.width, preview.height) == (300, 200)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_whole_result_for_a_6000x4000_image_stays_under_1_mib(mode: str, settings: Settings) -> None:
    image = _noise(6000, 4000, mode)
    with AssetStore.open(settings) as store:  # the stored file only backs the link; its size does not matter
        asset = store.put_image(image.resize((60, 40)), kind="result", backend="composite")
    out = CompositeOut(
        asset_id=asset.id,
        path=str(asset.path),
        resource_uri=f"productshot://assets/{asset.id}",
        width=6000,
        height=4000,
        # a long text part leaves less room for the preview
        notes=[{"code": "cutout_doubtful", "params": {"reason": "a note " * 200}, "text": "a note " * 200}],
        bbox=[1, 2, 3, 4],
        position="bottom",
        scale=0.55,
        shadow=True,
        background_id="a" * 17,
        product_id="b" * 17,
        parents=["a" * 17, "b" * 17],
        backend="composite",
        seconds=0.1,
    )
    result = image_result(image, out, summary="a composite", links=[asset])
    assert _serialized_size(result) < RESULT_LIMIT_BYTES
    picture, text, link = result.content
    assert (
        isinstance(picture, ImageContent) and isinstance(text, TextContent) and isinstance(link, ResourceLink)
    )
    shown = Image.open(io.BytesIO(base64.b64decode(picture.data)))
    assert max(shown.size) <= 1024 and max(shown.size) >= 256  # shrunk only as far as needed
    assert str(link.uri) == f"productshot://assets/{asset.id}" and link.size == asset.size_bytes
    assert result.structuredContent is not None and result.structuredContent["asset_id"] == asset.id
    assert asset.id in text.text and str(asset.path) in text.text


def test_save_to_inside_an_allowed_folder_is_written_atomically(tmp_path: Path, settings: Settings) -> None:
    target = check_save_to(str(tmp_path / "shots" / "mug.jpg"), settings)
    written = save_copy(Image.new("RGBA", (40, 30), (1, 2, 3, 255)), target)
    assert written == (tmp_path / "shots" / "mug.jpg").resolve()
    with Image.open(written) as saved:
        assert saved.format == "JPEG" and saved.size == (40, 30)
    assert [p.name for p in written.parent.iterdir()] == ["mug.jpg"]  # no temp file left behind


def test_a_bare_save_to_name_lands_in_the_first_allowed_folder(tmp_path: Path, settings: Settings) -> None:
    assert settings.allowed_dirs[0] == tmp_path
    assert check_save_to("shot.webp", settings) == (tmp_path / "shot.webp").resolve()
    with pytest.raises(PathNotAllowedError):
        check_save_to("../escape.png", settings)


def test_save_to_outside_the_allowed_folders_is_refused(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "shot.png"
    with pytest.raises(PathNotAllowedError, match="outside the allowed folders"):
        check_save_to(str(outside), settings)
    assert not outside.exists()


def test_save_to_through_a_symlinked_folder_that_escapes_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, tmp_path / "exit")
    with pytest.raises(PathNotAllowedError):
        check_save_to(str(tmp_path / "exit" / "shot.png"), settings)


def test_save_to_never_overwrites_and_never_writes_into_the_store(tmp_path: Path, settings: Settings) -> None:
    existing = tmp_path / "mine.png"
    existing.write_bytes(b"a user's file")
    with pytest.raises(BadRequestError, match="already exists"):
        check_save_to(str(existing), settings)
    assert existing.read_bytes() == b"a user's file"
    with pytest.raises(BadRequestError, match="inside productshot's own store folder"):
        check_save_to(str(settings.assets_dir / "x.png"), settings)
    with pytest.raises(BadRequestError, match=r"end the file name in \.png"):
        check_save_to(str(tmp_path / "notes.txt"), settings)
    with pytest.raises(BadRequestError, match="JPEG cannot keep"):
        check_save_to(str(tmp_path / "cut.jpg"), settings, has_alpha=True)
    with pytest.raises(BadRequestError, match="is a folder"):
        check_save_to(str(tmp_path), settings)
