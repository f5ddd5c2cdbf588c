"""The product image a user attaches, turned into the reference the MCP tools take: never bytes in the state.

A bundled sample (`sample:coffee`) and a stored asset id pass through as they are. A file is read and
validated here first (so an unreadable file fails before any tool runs, with the reason), then passed by
path: as it is when it lies inside the allowed folders, else as a copy staged in the data home's inbox
(the user named the file on their own command line; the MCP server only reads inside allowed folders, and
the data home always is one). The user's file is only ever read.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from productshot.errors import BadImageError, PathNotAllowedError, ProductshotError
from productshot.ids import ASSET_ID_PATTERN
from productshot.settings import Settings

INBOX = "inbox"
_ASSET_URI = "productshot://assets/"
_SAMPLE_PREFIX = "sample:"


def is_asset_id(text: str) -> bool:
    """A stored asset's id (`a` + 16 base32 characters), bare or as its productshot://assets/ URI."""
    return bool(ASSET_ID_PATTERN.match(text.strip().removeprefix(_ASSET_URI)))


def image_reference(raw: str, settings: Settings) -> str:
    """The `image` argument for place_product/remove_background for what the user attached."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise BadImageError("image: empty; give a product photo's path or a sample such as sample:coffee")
    if text.lower().startswith(_SAMPLE_PREFIX):
        from productshot.tools.samples import sample_path

        name = text[len(_SAMPLE_PREFIX) :].strip().lower()
        sample_path(name)  # an unknown sample fails here, listing the valid ones
        return f"{_SAMPLE_PREFIX}{name}"
    if is_asset_id(text):
        return text
    return _file_reference(Path(text).expanduser(), text, settings)


def _file_reference(path: Path, shown: str, settings: Settings) -> str:
    from productshot.tools.imageio import load_image
    from productshot.tools.paths import resolve_allowed_path

    if not path.exists():
        raise BadImageError(f"image: {shown!r} does not exist")
    if not path.is_file():
        raise BadImageError(f"image: {shown!r} is not a file")
    try:
        load_image(path, max_pixels=settings.max_image_pixels)
    except BadImageError as exc:
        raise BadImageError(f"image: {shown!r} cannot be used: {exc}") from exc
    try:
        return str(resolve_allowed_path(path, settings.allowed_dirs))
    except PathNotAllowedError:
        staged = _stage(path, settings)
    try:
        return str(resolve_allowed_path(staged, settings.allowed_dirs))
    except PathNotAllowedError as exc:
        raise PathNotAllowedError(
            f"image: {shown!r} is outside the allowed folders and the data home {settings.home} is not one "
            "either; add the photo's folder to PRODUCTSHOT_ALLOWED_DIRS"
        ) from exc


def _stage(path: Path, settings: Settings) -> Path:
    """Copy `path` into `<home>/inbox/<sha256>.<ext>` (once per content; written atomically)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadImageError(f"image: cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    folder = settings.home / INBOX
    target = folder / f"{digest}{path.suffix.lower()}"
    if target.is_file():
        return target
    temp = folder / f".{digest}.{secrets.token_hex(4)}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        os.replace(temp, target)
    except OSError as exc:
        raise ProductshotError(f"cannot copy the image into the data home's inbox {folder}: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return target


__all__ = ["INBOX", "image_reference", "is_asset_id"]
