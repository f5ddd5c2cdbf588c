"""A dropped photo, checked (size, type, decodable) and then stored as an `input` asset: the only way in.

The pipeline only ever sees the asset id, so an upload that is too large, not an image, or not decodable is
refused here with a named error the page turns into a message, before any tool runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from productshot.errors import BadImageError
from productshot.settings import Settings
from productshot.store import AssetStore

# Types a browser names for the formats tools.imageio reads; an empty or generic type is decided by decoding.
IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/webp",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/avif",
        "image/tiff",
        "image/bmp",
        "image/x-ms-bmp",
    }
)
_UNNAMED_TYPES = frozenset({"", "application/octet-stream"})


class UploadTooLargeError(BadImageError):
    """An upload past the size limit (refused before it is read whole)."""

    code = "too_large"
    http_status = 413


class UploadTypeError(BadImageError):
    """An upload that is not an image type the studio reads (a text file, a PDF, an SVG...)."""

    code = "wrong_type"
    http_status = 415


@dataclass(frozen=True)
class StoredUpload:
    """The stored input: its asset id (what the agent gets as `image`) and its size in pixels."""

    image: str
    width: int
    height: int
    format: str

    def to_dict(self) -> dict[str, object]:
        return {"image": self.image, "width": self.width, "height": self.height, "format": self.format}


def check_declared(content_type: str | None, length: int | None, limit: int) -> None:
    """Refuse by the request's headers alone: a non-image type, or a declared length past `limit`."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES and kind not in _UNNAMED_TYPES:
        raise UploadTypeError(f"{kind or 'that file'} is not a photo; use PNG, JPEG, WebP, HEIC or AVIF")
    if length is not None and length > limit:
        raise UploadTooLargeError(too_large_message(length, limit))


def too_large_message(size: int | None, limit: int) -> str:
    shown = f"{size / 1_048_576:.1f} MB" if size is not None else "more than the limit"
    return f"the photo is {shown}; the limit is {limit / 1_048_576:.0f} MB"


def store_upload(data: bytes, settings: Settings, store: AssetStore, *, filename: str = "") -> StoredUpload:
    """Decode `data` as tools.imageio would (limits, formats), then store the bytes unchanged as an input."""
    from productshot.tools.imageio import decode_image_bytes

    if len(data) > settings.max_upload_bytes:
        raise UploadTooLargeError(too_large_message(len(data), settings.max_upload_bytes))
    if not data:
        raise UploadTypeError("the file is empty")
    try:
        loaded = decode_image_bytes(data, max_pixels=settings.max_image_pixels)
    except BadImageError as exc:
        raise BadImageError(f"the file cannot be read as a photo: {exc}") from exc
    params = {"source": "web", "filename": filename[:200]} if filename else {"source": "web"}
    asset = store.put_bytes(data, kind="input", params=params, backend="web")
    width, height = loaded.size
    return StoredUpload(image=asset.id, width=width, height=height, format=loaded.format)


__all__ = [
    "IMAGE_TYPES",
    "StoredUpload",
    "UploadTooLargeError",
    "UploadTypeError",
    "check_declared",
    "store_upload",
]
