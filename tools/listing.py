"""Listing images: a product cutout centred on exact white at a preset's fill, encoded as an sRGB JPEG.

Self-contained on purpose (no harmonisation, no scene): the product and, where the preset allows it, a
small soft contact shadow are drawn over white at the cutout's own resolution, cropped to what is not
pure white, scaled once to the preset's fill and centred on a 255 canvas. The JPEG is then encoded at the
highest quality that fits the preset's size cap, decoded again, and kept only when its border band is
still exactly 255; the alpha we placed travels in the JPEG comment so `check-listing` can measure a white
product on white (see tools/listing_check.py).
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageCms

from productshot.errors import BadImageError
from productshot.tools.listing_check import (
    DARK_BELOW,
    WHITE_SHARE,
    Provenance,
    jpeg_sha256,
    white_share,
)
from productshot.tools.listing_presets import ListingPreset

# Quality / chroma subsampling tried in order until the file fits the cap and the border stays 255.
ENCODINGS: Final = (
    (95, "4:4:4"),
    (92, "4:4:4"),
    (90, "4:4:4"),
    (90, "4:2:0"),
    (86, "4:2:0"),
    (82, "4:2:0"),
    (78, "4:2:0"),
    (72, "4:2:0"),
    (65, "4:2:0"),
    (55, "4:2:0"),
    (45, "4:2:0"),
)
SHADOW_DARKNESS: Final = 0.30  # the contact shadow's darkest point (multiplied onto white)
UPSCALE_REVIEW: Final = 2.0  # enlarging the product's own pixels more than this goes to review
_VISIBLE: Final = 16  # alpha at or above this is product when finding its box


@dataclass(frozen=True)
class ListingLayout:
    """The RGB canvas, where the product's alpha landed on it and how much its pixels were enlarged."""

    image: Image.Image
    alpha_bbox: tuple[int, int, int, int]
    upscale: float
    shadow: bool
    seconds: float


def lay_out(cutout: Image.Image, preset: ListingPreset, *, shadow: bool | None = None) -> ListingLayout:
    """Centre the RGBA `cutout` on exact white at `preset.fill` (shadow: the preset's choice when None)."""
    started = time.perf_counter()
    rgba = np.asarray(cutout.convert("RGBA"))
    alpha = rgba[..., 3]
    seen = _box(alpha >= 1)
    if seen is None or _box(alpha >= _VISIBLE) is None:
        raise BadImageError("the cutout is empty: no product was found in the photo")
    use_shadow = preset.shadow if shadow is None else bool(shadow and preset.shadow)
    x0, y0, x1, y1 = seen
    h = y1 - y0
    # Room for the shadow's ellipse (see _contact_shadow: rx <= 0.52 w + 1, ry = 0.09 rx).
    pad_x = math.ceil(0.03 * (x1 - x0)) + 2 if use_shadow else 0
    pad_y = math.ceil(0.09 * (0.52 * (x1 - x0) + 1)) + 3 if use_shadow else 0
    # The working tile: the product's box (plus room for the shadow), over white, at the cutout's resolution.
    crop = np.zeros((h + pad_y, x1 - x0 + 2 * pad_x, 4), dtype=np.uint8)
    crop[:h, pad_x : pad_x + x1 - x0] = rgba[y0:y1, x0:x1]
    a = crop[..., 3].astype(np.float32) / 255.0
    backdrop = np.full(crop.shape[:2], 255.0, dtype=np.float32)
    if use_shadow:
        backdrop *= 1.0 - _contact_shadow(crop[..., 3])
    tile = crop[..., :3].astype(np.float32) * a[..., None] + backdrop[..., None] * (1.0 - a[..., None])
    tile8 = np.clip(np.rint(tile), 0, 255).astype(np.uint8)
    # What check-listing measures: pixels darker than 250, and the solid alpha for a white product. Faint
    # specks of alpha outside that box are cropped away rather than allowed to shrink the product.
    box = _union(_box(np.any(tile8 < DARK_BELOW, axis=-1)), _box(crop[..., 3] >= _VISIBLE))
    assert box is not None  # the alpha box is not empty
    bx0, by0, bx1, by1 = box
    cw, ch = bx1 - bx0, by1 - by0
    scale = preset.fill / max(cw / preset.width, ch / preset.height)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    placed = Image.fromarray(tile8[by0:by1, bx0:bx1]).resize(size, Image.Resampling.LANCZOS)
    ox, oy = (preset.width - size[0]) // 2, (preset.height - size[1]) // 2
    canvas = Image.new("RGB", (preset.width, preset.height), (255, 255, 255))
    canvas.paste(placed, (ox, oy))
    # The solid alpha's box, carried through the same crop and scale (no need to resample the alpha).
    sx, sy = size[0] / cw, size[1] / ch
    ax0, ay0, ax1, ay1 = _box(crop[..., 3] >= _VISIBLE) or box
    alpha_box = (
        ox + math.floor((ax0 - bx0) * sx),
        oy + math.floor((ay0 - by0) * sy),
        ox + math.ceil((ax1 - bx0) * sx),
        oy + math.ceil((ay1 - by0) * sy),
    )
    return ListingLayout(
        image=canvas,
        alpha_bbox=alpha_box,
        upscale=scale,
        shadow=use_shadow,
        seconds=time.perf_counter() - started,
    )


def _contact_shadow(alpha: np.ndarray) -> np.ndarray:
    """Darkness (0..1) of a soft elliptical shadow centred on the product's lowest solid row.

    Compact support (exactly 0 outside the ellipse), so it never leaves a faint haze that would widen
    the product's measured box; half of it hides behind the product's base.
    """
    solid = alpha >= 128
    rows = np.flatnonzero(solid.any(axis=1))
    if rows.size == 0:
        return np.zeros(alpha.shape, dtype=np.float32)
    bottom = int(rows[-1])
    reach = max(1, round(0.03 * (bottom - int(rows[0]) + 1)))
    cols = np.flatnonzero(solid[max(0, bottom - reach) : bottom + 1].any(axis=0))
    left, right = int(cols[0]), int(cols[-1]) + 1
    rx = 0.5 * (right - left) * 1.04 + 1.0
    ry = max(2.0, 0.09 * rx)
    cx, cy = 0.5 * (left + right), bottom + 0.5
    yy, xx = np.ogrid[: alpha.shape[0], : alpha.shape[1]]
    d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    return (SHADOW_DARKNESS * np.clip(1.0 - d, 0.0, 1.0) ** 1.5).astype(np.float32)


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _union(
    a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int] | None:
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


# ---- encoding ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedListing:
    """The JPEG bytes, the quality they were written at, and the pixels a decoder will show."""

    data: bytes
    quality: int
    subsampling: str
    pixels: np.ndarray
    provenance: Provenance
    fits: bool  # under the preset's cap (False only when even the lowest quality is too large)


def encode_listing(
    image: Image.Image,
    preset: ListingPreset,
    *,
    alpha_bbox: tuple[int, int, int, int],
    need_white: bool = True,
) -> EncodedListing:
    """The best JPEG of `image` under `preset.max_bytes` whose decoded border band is still exactly white.

    The sRGB profile is embedded; the product's alpha bbox and a hash of the decoded pixels go into the
    comment. With `need_white`, an encoding whose border is not exact 255 after decoding is not used.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cap = preset.max_bytes
    fallback: EncodedListing | None = None
    for quality, subsampling in ENCODINGS:
        data = _jpeg(rgb, quality, subsampling, icc)
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()
            pixels = np.asarray(decoded if decoded.mode == "RGB" else decoded.convert("RGB"))
        provenance = Provenance(preset.name, alpha_bbox, jpeg_sha256(data))
        data = _with_comment(data, provenance.to_comment())
        fits = cap is None or len(data) <= cap
        white = not need_white or white_share(pixels) >= WHITE_SHARE
        candidate = EncodedListing(data, quality, subsampling, pixels, provenance, fits)
        if fits and white:
            return candidate
        if white or fallback is None:
            fallback = candidate
    assert fallback is not None
    return fallback


def _jpeg(image: Image.Image, quality: int, subsampling: str, icc: bytes) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling, icc_profile=icc)
    return buffer.getvalue()


def _with_comment(data: bytes, comment: bytes) -> bytes:
    """Insert a COM segment after the JFIF APP0 segment (or right after SOI when there is none)."""
    if len(comment) > 65533:
        raise ValueError("JPEG comment too long")
    at = 2
    if data[2:4] == b"\xff\xe0":
        at = 4 + int.from_bytes(data[4:6], "big")
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:at] + segment + data[at:]


def megabytes(size: int) -> float:
    """Bytes as MB (10^6), rounded up to 0.1 for messages."""
    return math.ceil(size / 1e5) / 10


__all__ = [
    "ENCODINGS",
    "UPSCALE_REVIEW",
    "EncodedListing",
    "ListingLayout",
    "encode_listing",
    "lay_out",
    "megabytes",
]
