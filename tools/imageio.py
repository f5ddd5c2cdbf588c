"""Load and validate any user image, normalise it to 8-bit RGB/RGBA, and save images atomically.

Every image a user hands us (a path, raw bytes, or a bundled ``sample:NAME``) comes through `load_image`, so
format quirks (16-bit, CMYK, palettes, EXIF rotation, HEIC, animations, ICC profiles) are handled once and
bad input fails here with a `BadImageError` naming the source. Nothing here ever writes to the input.
numpy and pillow-heif are imported only when an image needs them, to keep this module cheap to import.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from productshot.errors import BadImageError, BadRequestError, NotFoundError
from productshot.settings import DEFAULT_MAX_IMAGE_PIXELS
from productshot.tools.notes import Note, note
from productshot.tools.samples import sample_path

SAMPLE_PREFIX = "sample:"
BYTES_SOURCE = "<bytes>"
READABLE_FORMATS = "PNG, JPEG, WebP, HEIC/HEIF, AVIF, GIF, TIFF or BMP"
# Pillow decoders we let near user files. Formats such as EPS (which runs Ghostscript) are never tried.
_ALLOWED_DECODERS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF")

# EXIF orientations other than upright (2 = mirrored, 6 = turned 90° clockwise, ...): ImageOps.exif_transpose's.
_TURNED = range(2, 9)
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
_HEIF_SUFFIXES = (".heic", ".heif", ".heics", ".heifs", ".hif")
# File endings of the image formats load_image reads: what a folder scan or a path-looking argument means.
IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".heic",
    ".heif",
    ".avif",
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
)
# Errors Pillow's decoders raise on corrupt or truncated data.
_SIXTEEN_BIT = note("image_converted", change="16-bit → 8-bit")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded, validated image in mode RGB or RGBA (8-bit, upright), and what was done to get there."""

    image: Image.Image
    source: str
    format: str
    has_alpha: bool
    notes: tuple[Note, ...]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def load_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    min_side: int = 16,
) -> LoadedImage:
    """Read a path, raw bytes or ``sample:NAME``; validate size before decoding; normalise to RGB/RGBA.

    Raises `NotFoundError` for a missing path and `BadImageError` for anything that is not a usable image.
    """
    _check_limits(max_pixels, min_side)
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_image_bytes(bytes(source), max_pixels=max_pixels, min_side=min_side)
    if isinstance(source, str) and source.startswith(SAMPLE_PREFIX):
        path = sample_path(source[len(SAMPLE_PREFIX) :])
        return _load_path(path, source, max_pixels=max_pixels, min_side=min_side)
    if isinstance(source, str | Path):
        if str(source).strip() == "":
            raise BadImageError("image source is empty: give a file path, image bytes or 'sample:NAME'")
        path = Path(source).expanduser()
        return _load_path(path, str(source), max_pixels=max_pixels, min_side=min_side)
    raise BadImageError(
        f"image source must be a file path, image bytes or 'sample:NAME', got {type(source).__name__}"
    )


def load_sample(name: str) -> Image.Image:
    """The sample photo ``name`` as an RGB image, loaded and validated like any user image."""
    sample_path(name)  # unknown names fail here with the list of valid ones
    return load_image(f"{SAMPLE_PREFIX}{name.strip().lower()}").image


def decode_image_bytes(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, min_side: int = 16
) -> LoadedImage:
    """Decode an image held in memory (an upload, base64 payload or worker request) like `load_image`."""
    _check_limits(max_pixels, min_side)
    return _decode(io.BytesIO(data), BYTES_SOURCE, max_pixels=max_pixels, min_side=min_side)


def encode_image(image: Image.Image, format: str = "PNG") -> bytes:
    """Encode an image to bytes in ``format`` (PNG by default: lossless and keeps alpha)."""
    buffer = io.BytesIO()
    _save(image, buffer, _normalise_format(format), target="bytes")
    return buffer.getvalue()


def save_image_atomic(image: Image.Image, path: str | Path, *, format: str | None = None) -> Path:
    """Write ``image`` to ``path`` through a temp file in the same folder and `os.replace`.

    A reader never sees a half-written file and a failed save leaves nothing behind. The format comes from
    ``format`` or the file suffix; parent folders are created.
    """
    target = Path(path).expanduser()
    fmt = _normalise_format(format) if format else _format_for_suffix(target)
    return _write_atomic(target, lambda fh: _save(image, fh, fmt, target=str(target)))


def save_bytes_atomic(data: bytes, path: str | Path) -> Path:
    """Write already-encoded bytes to ``path`` the same way as `save_image_atomic` (temp file + replace)."""
    return _write_atomic(Path(path).expanduser(), lambda fh: fh.write(data))


def _write_atomic(target: Path, write: Callable[[BinaryIO], object]) -> Path:
    if target.is_dir():
        raise BadRequestError(
            f"output path {target} is a folder; give a file name such as {target / 'out.png'}"
        )
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide permissions, as for any normally created file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise BadRequestError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BadRequestError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


# ---- reading ---------------------------------------------------------------------------------------------


def _check_limits(max_pixels: int, min_side: int) -> None:
    if max_pixels < 1:
        raise BadRequestError(f"max_pixels must be at least 1, got {max_pixels}")
    if min_side < 1:
        raise BadRequestError(f"min_side must be at least 1, got {min_side}")


def _load_path(path: Path, label: str, *, max_pixels: int, min_side: int) -> LoadedImage:
    if path.is_dir():
        raise BadImageError(f"image {label!r} is a folder, not an image file")
    try:
        fh = path.open("rb")
    except FileNotFoundError as exc:
        raise NotFoundError(f"image {label!r} does not exist") from exc
    except OSError as exc:
        raise BadImageError(f"image {label!r} cannot be read: {exc.strerror or exc}") from exc
    with fh:
        return _decode(fh, label, max_pixels=max_pixels, min_side=min_side)


def _decode(fh: BinaryIO, label: str, *, max_pixels: int, min_side: int) -> LoadedImage:
    head = fh.read(512)
    fh.seek(0)
    if not head:
        raise BadImageError(f"image {label!r} is empty (0 bytes)")
    if _looks_like_svg(head):
        raise BadImageError(f"image {label!r} is an SVG (vector) file; export it as PNG or JPEG first")
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        _register_heif()
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check below decides; Pillow's fixed warning threshold would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(fh, formats=_open_formats())
    except Image.DecompressionBombError as exc:
        raise BadImageError(
            f"image {label!r} declares too many pixels in its header ({exc}); the limit is {max_pixels:,} pixels"
        ) from exc
    except UnidentifiedImageError as exc:
        raise BadImageError(f"image {label!r} is not an image file we can read ({READABLE_FORMATS})") from exc
    except _DECODE_ERRORS as exc:
        raise BadImageError(f"image {label!r} could not be read: {exc}") from exc
    with opened:
        return _validate_and_normalise(opened, label, max_pixels=max_pixels, min_side=min_side)


def _validate_and_normalise(
    opened: ImageFile.ImageFile, label: str, *, max_pixels: int, min_side: int
) -> LoadedImage:
    fmt = "JPEG" if opened.format == "MPO" else (opened.format or "UNKNOWN")  # MPO: a camera's multi-JPEG
    width, height = opened.size
    if width * height > max_pixels:
        raise BadImageError(
            f"image {label!r} is {width}×{height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,}; resize it first"
        )
    if min(width, height) < min_side:
        raise BadImageError(
            f"image {label!r} is {width}×{height} pixels, too small: each side must be at least {min_side} px"
        )
    notes: list[Note] = []
    frames = int(getattr(opened, "n_frames", 1))
    if frames > 1:
        opened.seek(0)
        notes.append(note("image_first_frame", frames=frames))
    sixteen_bit = _is_sixteen_bit(opened)  # before decoding, which drops the raw-mode tiles
    try:
        opened.load()
    except _DECODE_ERRORS as exc:
        raise BadImageError(f"image {label!r} is truncated or corrupt: {exc}") from exc
    orientation = _orientation(opened)
    if orientation in _TURNED:
        # Pillow's own EXIF table turns the pixels upright (before any mode change, which would lose a TIFF's
        # tag) and drops the tag, so nothing downstream turns them twice.
        ImageOps.exif_transpose(opened, in_place=True)
    icc_profile = opened.info.get("icc_profile")

    image: Image.Image = opened
    if sixteen_bit:
        notes.append(_SIXTEEN_BIT)
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        image = _to_srgb(image, icc_profile, notes)
    image = _to_rgb_or_rgba(image, label, notes)
    if orientation in _TURNED:
        code = "image_rotated" if orientation in (3, 6, 8) else "image_flipped"
        notes.append(note(code, orientation=orientation))
    has_alpha = image.mode == "RGBA" and _lowest(image.getchannel("A")) < 255
    if image.mode == "RGBA" and not has_alpha:
        image = image.convert("RGB")
        notes.append(note("image_alpha_dropped"))
    if isinstance(image, ImageFile.ImageFile):
        image = image.copy()  # detach from the file handle, which closes when we return
    return LoadedImage(image=image, source=label, format=fmt, has_alpha=has_alpha, notes=tuple(notes))


def _open_formats() -> list[str]:
    """The allowed decoders this Pillow has (HEIF only once pillow-heif registered itself)."""
    Image.init()
    return [name for name in _ALLOWED_DECODERS if name in Image.OPEN]


def _lowest(band: Image.Image) -> int:
    low, _ = cast("tuple[int, int]", band.getextrema())
    return low


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<svg", b"<?xml", b"<!doctype")) and b"<svg" in text


def _register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF through pillow-heif (idempotent; imported only when needed)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright), read once for the note; 1 when the EXIF block is unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: the pixels are still fine, and the image is treated as upright
    return int(value) if isinstance(value, int) else 1


def _is_sixteen_bit(image: ImageFile.ImageFile) -> bool:
    """True for 16-bit samples; Pillow decodes 16-bit RGB(A) PNG straight to 8-bit, so read its raw mode."""
    if image.mode.startswith("I;16"):
        return True
    for tile in getattr(image, "tile", None) or ():
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _to_rgb_or_rgba(image: Image.Image, label: str, notes: list[Note]) -> Image.Image:
    mode = image.mode
    has_transparency = "transparency" in image.info
    if mode == "RGBA" or (mode == "RGB" and not has_transparency):
        return image
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(image, notes)
    conversions = {
        "RGB": ("RGBA", "transparent colour → alpha"),
        "1": ("RGB", "1-bit → RGB"),
        "L": ("RGBA", "greyscale → RGBA") if has_transparency else ("RGB", "greyscale → RGB"),
        "LA": ("RGBA", "greyscale+alpha → RGBA"),
        "La": ("RGBA", "greyscale+alpha → RGBA"),
        "P": (
            "RGBA" if has_transparency else "RGB",
            "palette → RGBA" if has_transparency else "palette → RGB",
        ),
        "PA": ("RGBA", "palette → RGBA"),
        "CMYK": ("RGB", "CMYK → RGB"),
        "RGBa": ("RGBA", "premultiplied alpha → RGBA"),
        "RGBX": ("RGB", "RGBX → RGB"),
        "YCbCr": ("RGB", "YCbCr → RGB"),
        "HSV": ("RGB", "HSV → RGB"),
    }
    if mode not in conversions:
        raise BadImageError(f"image {label!r} uses colour mode {mode}, which cannot be converted to RGB")
    target, change = conversions[mode]
    try:
        converted = image.convert(target)
    except _DECODE_ERRORS as exc:
        raise BadImageError(f"image {label!r}: converting colour mode {mode} failed: {exc}") from exc
    notes.append(note("image_converted", change=change))
    return converted


def _high_depth_to_rgb(image: Image.Image, notes: list[Note]) -> Image.Image:
    """Scale 16-bit / 32-bit integer or float greyscale to 8 bits (by value range, not by clipping)."""
    import numpy as np

    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        scale = 255.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 1.0
        if _SIXTEEN_BIT not in notes:
            notes.append(note("image_converted", change="32-bit float → 8-bit"))
    elif image.mode.startswith("I;16"):
        scale = 255.0 / 65535.0
        if _SIXTEEN_BIT not in notes:
            notes.append(_SIXTEEN_BIT)
    else:
        # 32-bit integers: judge the range by the values (8-bit data in a wide container stays as is).
        peak = float(values.max(initial=0.0))
        scale = 1.0 if peak <= 255 else 255.0 / 65535.0 if peak <= 65535 else 255.0 / peak
        notes.append(note("image_converted", change="32-bit → 8-bit"))
    grey = np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)
    notes.append(note("image_converted", change="greyscale → RGB"))
    return Image.fromarray(grey).convert("RGB")


def _to_srgb(image: Image.Image, icc_profile: bytes, notes: list[Note]) -> Image.Image:
    """Convert from an embedded ICC profile to sRGB so colours look the same everywhere downstream.

    CMYK comes out as RGB; an unusable profile is noted and the naive conversion happens later instead.
    """
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        description = ImageCms.getProfileDescription(source) or ""
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        notes.append(note("image_icc_unreadable", reason=str(exc)))
        return image
    if "srgb" in description.lower():
        return image
    try:
        converted = ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            outputMode="RGB" if image.mode == "CMYK" else image.mode,
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        notes.append(note("image_icc_failed", profile=repr(description.strip()), reason=str(exc)))
        return image
    if converted is None:  # profileToProfile returns None only with inPlace=True
        return image
    if image.mode == "CMYK":
        notes.append(note("image_converted", change="CMYK → RGB"))
    notes.append(note("image_icc_converted", profile=repr(description.strip())))
    return converted


# ---- writing ---------------------------------------------------------------------------------------------


def _normalise_format(fmt: str) -> str:
    name = fmt.strip().upper().lstrip(".")
    aliases = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}
    name = aliases.get(name, name)
    if name == "HEIF":
        _register_heif()
    if name not in Image.SAVE:
        Image.init()
    if name not in Image.SAVE:
        raise BadRequestError(f"format {fmt!r} cannot be written; use PNG, JPEG, WEBP or TIFF")
    return name


def _format_for_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if not suffix:
        raise BadRequestError(f"output path {path} has no suffix; add one such as .png, or pass format=")
    if suffix in _HEIF_SUFFIXES:
        _register_heif()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise BadRequestError(f"output path {path}: suffix {suffix!r} is not an image format we can write")
    return fmt


def _save(image: Image.Image, fh: BinaryIO, fmt: str, *, target: str) -> None:
    try:
        image.save(fh, format=fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise BadRequestError(f"cannot save a {image.mode} image as {fmt} to {target}: {exc}") from exc


__all__ = [
    "BYTES_SOURCE",
    "IMAGE_SUFFIXES",
    "SAMPLE_PREFIX",
    "LoadedImage",
    "decode_image_bytes",
    "encode_image",
    "load_image",
    "load_sample",
    "save_bytes_atomic",
    "save_image_atomic",
]
