"""Image bytes in and out of the store: read a header to learn format and size, encode a Pillow image.

Pillow is imported inside the functions so that importing the store (and the CLI) stays cheap.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from productshot.errors import BadImageError, BadRequestError
from productshot.store import png_writer

if TYPE_CHECKING:
    from PIL.Image import Image

# Formats `put_image` writes, with their file extension.
SAVE_FORMATS: dict[str, str] = {
    "PNG": "png",
    "JPEG": "jpg",
    "WEBP": "webp",
    "TIFF": "tif",
    "BMP": "bmp",
    "GIF": "gif",
}
_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
# Extensions of formats that are only ever stored as given (inputs), beyond the ones above.
_EXTRA_EXTENSIONS = {"MPO": "jpg", "HEIF": "heic", "AVIF": "avif", "JPEG2000": "jp2", "ICO": "ico"}
# Modes JPEG can hold; anything with alpha or a palette would lose information silently.
_JPEG_MODES = frozenset({"RGB", "L", "CMYK"})
# PNG level 1 (for the modes `png_writer` leaves to Pillow): ~4x faster to write than the default for ~20%
# more bytes; results are written on every call.
_ENCODE_OPTIONS: dict[str, dict[str, int]] = {
    "PNG": {"compress_level": 1},
    "JPEG": {"quality": 95},
    "WEBP": {"quality": 95},
}


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says: Pillow's format name and the pixel size."""

    format: str
    width: int
    height: int


def extension_for(image_format: str) -> str:
    """The file extension stored files of this Pillow format get (`JPEG` -> `jpg`)."""
    upper = image_format.upper()
    known = SAVE_FORMATS.get(upper) or _EXTRA_EXTENSIONS.get(upper)
    if known:
        return known
    return re.sub(r"[^a-z0-9]", "", upper.lower())[:5] or "img"


def normalise_save_format(image_format: str) -> str:
    """`png`, `jpg`, `JPEG` ... -> the Pillow name; a format the store does not write is a BadRequestError."""
    if not isinstance(image_format, str):
        raise BadRequestError(f"format must be a string such as 'PNG', got {type(image_format).__name__}")
    upper = image_format.strip().upper()
    upper = _ALIASES.get(upper, upper)
    if upper not in SAVE_FORMATS:
        choices = ", ".join(SAVE_FORMATS)
        raise BadRequestError(f"format must be one of {choices}; got {image_format!r}")
    return upper


def read_header(data: bytes, *, source: str) -> ImageHeader:
    """Check that `data` is an image Pillow can open and return its header; `source` names it in errors."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadImageError(f"{source} is empty (0 bytes), not an image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
    except UnidentifiedImageError as exc:
        raise BadImageError(f"{source} is not an image Pillow can read (PNG, JPEG, WebP, ...)") from exc
    except Image.DecompressionBombError as exc:
        raise BadImageError(f"{source} has too many pixels to be a safe image: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImageError(f"{source} could not be read as an image: {exc}") from exc
    if not image_format or width <= 0 or height <= 0:
        raise BadImageError(f"{source} has no format or an empty size ({width}x{height})")
    return ImageHeader(format=image_format, width=width, height=height)


def encode(image: Image, image_format: str) -> bytes:
    """Encode a Pillow image as `image_format` (already normalised); JPEG refuses alpha rather than drop it."""
    from PIL import Image as PILImage

    if not isinstance(image, PILImage.Image):
        raise BadRequestError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    if image.width <= 0 or image.height <= 0:
        raise BadImageError(f"image has an empty size ({image.width}x{image.height})")
    if image_format == "JPEG" and image.mode not in _JPEG_MODES:
        raise BadRequestError(
            f"format JPEG cannot store a mode {image.mode} image without losing its alpha or palette; "
            "use PNG or convert the image to RGB first"
        )
    if image_format == "PNG" and png_writer.can_write(image):
        return png_writer.write_png(image)  # lossless, ~3x cheaper than Pillow's encoder (see png_writer)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=image_format, **_ENCODE_OPTIONS.get(image_format, {}))
    except (OSError, ValueError, KeyError) as exc:
        raise BadImageError(
            f"image (mode {image.mode}) could not be encoded as {image_format}: {exc}"
        ) from exc
    return buffer.getvalue()
