"""Image arguments of MCP tools: an asset id, a file inside the allowed folders, base64 data, or a sample.

Each form is recognised from the text alone and checked before any pixel is decoded: paths go through
`find_allowed_file` (so `..` and symlinks cannot leave the allowed folders, and every path outside them
gets the same answer), base64 is size-capped by
`max_upload_bytes` before it is decoded. Every error names the argument it came from.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from productshot.errors import BadImageError, NotFoundError, ProductshotError
from productshot.server.mcp.decoded import DecodedImages
from productshot.server.mcp.schemas import RESOURCE_PREFIX
from productshot.settings import Settings
from productshot.store import ASSET_ID_PATTERN, Asset, AssetStore, require_file
from productshot.tools.imageio import (
    IMAGE_SUFFIXES,
    SAMPLE_PREFIX,
    LoadedImage,
    decode_image_bytes,
    load_image,
)
from productshot.tools.paths import check_model_folder, find_allowed_file

SourceKind = Literal["asset", "path", "base64", "sample"]

# Store ids: `a` + 16 Crockford base32 characters (see productshot.ids).
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,", re.IGNORECASE)
_BASE64_CHARS = re.compile(r"^[A-Za-z0-9+/_\-\s]+=*\s*$")
# Shorter than this and it cannot be an image in base64 (the smallest PNG is ~70 bytes).
_MIN_BASE64_CHARS = 64
# Longer than this and text made only of base64 characters is base64, whatever it starts with.
_PATH_MAX_CHARS = 256

IMAGE_FORMS = (
    "an asset id from an earlier result (e.g. a01jd5k2m8q3xyz7f), its productshot://assets/{id} URI, "
    "a file path inside the allowed folders (a relative one such as bag.jpg is looked for in each of them), "
    "base64 image data (optionally as a data: URL), or a bundled "
    "sample such as sample:coffee"
)


@dataclass(frozen=True)
class ImageInput:
    """A decoded image argument and where it came from (the stored asset, when there is one)."""

    loaded: LoadedImage
    kind: SourceKind
    asset: Asset | None = None
    path: Path | None = None
    data: bytes | None = None

    @property
    def label(self) -> str:
        if self.asset is not None:
            return self.asset.id
        if self.path is not None:
            return str(self.path)
        return self.loaded.source


def resolve_image(
    value: str,
    *,
    name: str,
    store: AssetStore,
    settings: Settings,
    decoded: DecodedImages | None = None,
) -> ImageInput:
    """Decode the image argument `name`; raise a named error saying which form failed and why.

    With `decoded`, a stored asset decoded by an earlier call is reused instead of read again.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadImageError(f"{name}: empty; give {IMAGE_FORMS}")
    try:
        return _resolve(text, name=name, store=store, settings=settings, decoded=decoded)
    except ProductshotError as exc:
        if str(exc).startswith(f"{name}:"):
            raise
        raise type(exc)(f"{name}: {exc}") from exc


def store_input(image: ImageInput, store: AssetStore) -> Asset:
    """The asset behind an image argument, storing it first as an `input` (original bytes kept)."""
    if image.asset is not None:
        return image.asset
    if image.path is not None:
        return store.put_file(image.path, kind="input", params={"source": str(image.path)}, backend="input")
    if image.data is not None:
        return store.put_bytes(image.data, kind="input", params={"source": "base64"}, backend="input")
    return store.put_image(
        image.loaded.image, kind="input", params={"source": image.loaded.source}, backend="sample"
    )


def _resolve(
    text: str, *, name: str, store: AssetStore, settings: Settings, decoded: DecodedImages | None
) -> ImageInput:
    if text.lower().startswith(SAMPLE_PREFIX):
        return ImageInput(load_image(text, max_pixels=settings.max_image_pixels), "sample")
    asset_id = text[len(RESOURCE_PREFIX) :] if text.startswith(RESOURCE_PREFIX) else text
    if ASSET_ID_PATTERN.match(asset_id):
        return _from_asset(asset_id, name=name, store=store, settings=settings, decoded=decoded)
    if text.startswith(RESOURCE_PREFIX):
        raise NotFoundError(f"{name}: {text!r} is not a productshot asset URI (productshot://assets/ID)")
    data_url = _DATA_URL.match(text)
    if data_url:
        return _from_base64(text[data_url.end() :], name=name, settings=settings)
    if _looks_like_base64(text):
        return _from_base64(text, name=name, settings=settings)
    if _looks_like_path(text):
        path = _find_path(text, settings)
        return ImageInput(load_image(path, max_pixels=settings.max_image_pixels), "path", path=path)
    raise BadImageError(f"{name}: {_shorten(text)!r} is not an image reference; give {IMAGE_FORMS}")


def _find_path(text: str, settings: Settings) -> Path:
    """An absolute path as given; a relative one (`bag.jpg`, `shop/bag.jpg`) is looked for in each allowed
    folder in turn, since an MCP client starts the server in a folder of its own choosing. Anything else
    (outside, missing, a folder) gets one and the same refusal."""
    return find_allowed_file(text, settings.allowed_dirs)


def check_model_argument(model: str, settings: Settings) -> None:
    """A `model` naming a folder must be inside the allowed folders or the model cache (one refusal for
    every other folder, before the registry looks at the disk)."""
    from productshot.models.weights import hf_cache_dir

    check_model_folder(model, settings.allowed_dirs, [hf_cache_dir(settings)])


def _from_asset(
    asset_id: str, *, name: str, store: AssetStore, settings: Settings, decoded: DecodedImages | None
) -> ImageInput:
    try:
        asset = store.get(asset_id)
    except NotFoundError as exc:
        raise NotFoundError(
            f"{name}: no asset {asset_id!r} in the store; use an asset_id returned by an earlier tool call"
        ) from exc
    path = require_file(asset)  # a row whose file is gone is refused, cached or not
    if decoded is not None:
        return ImageInput(
            decoded.load(asset, path, max_pixels=settings.max_image_pixels), "asset", asset=asset
        )
    return ImageInput(load_image(path, max_pixels=settings.max_image_pixels), "asset", asset=asset)


def _from_base64(payload: str, *, name: str, settings: Settings) -> ImageInput:
    compact = "".join(payload.split())
    approx = len(compact) * 3 // 4
    cap = settings.max_upload_bytes
    if approx > cap:
        raise BadImageError(
            f"{name}: the base64 image is about {_mb(approx)} decoded, over the {_mb(cap)} limit "
            "(PRODUCTSHOT_MAX_UPLOAD_BYTES); send a smaller image or a file path inside the allowed folders"
        )
    try:
        alphabet = b"-_" if ("-" in compact or "_" in compact) else None
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImageError(f"{name}: not valid base64 ({exc})") from exc
    try:
        loaded = decode_image_bytes(data, max_pixels=settings.max_image_pixels)
    except BadImageError as exc:
        raise BadImageError(
            f"{name}: the base64 data ({len(data)} bytes) is not a usable image: {exc}"
        ) from exc
    return ImageInput(loaded, "base64", data=data)


def _looks_like_base64(text: str) -> bool:
    """Long text of base64 characters only. Below `_PATH_MAX_CHARS`, text that also reads as a path is one
    (base64 has `/` too: every JPEG's starts with `/9j/`), so only very small images need a data: URL."""
    if len(text) < _MIN_BASE64_CHARS or not _BASE64_CHARS.match(text):
        return False
    return len(text) >= _PATH_MAX_CHARS or not _looks_like_path(text)


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "~", ".", "\\")) or "/" in text or "\\" in text:
        return True
    if re.match(r"^[A-Za-z]:", text):  # a Windows drive
        return True
    return Path(text).suffix.lower() in IMAGE_SUFFIXES


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mb(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.0f} KB"


__all__ = ["IMAGE_FORMS", "ImageInput", "check_model_argument", "resolve_image", "store_input"]
