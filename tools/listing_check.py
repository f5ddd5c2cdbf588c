"""Check an image against a marketplace preset, measuring every rule the same way for every preset.

- fill: max(bbox width / W, bbox height / H) of the pixels with any channel < 250;
- white: at least 99.5% of a 2% border band is exactly 255 (after decoding, so JPEG damage counts);
- centred: the bbox centre is within the rule's fraction (3%) of the frame centre on both axes.
A light product on white leaves faint pixels (250..254) beyond that bbox: its extent cannot be read from
pixels. Then fill and centring come from the alpha the image was made with, carried in the JPEG's comment
(bound to the exact decoded pixels by a hash); on any other image they are reported as not measurable.
Rules that need vision (no text, no logos) are reported with `measured: None`.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from PIL import Image

from productshot.errors import BadImageError
from productshot.settings import DEFAULT_MAX_IMAGE_PIXELS
from productshot.tools.listing_presets import ListingPreset, ListingRule

DARK_BELOW: Final = 250  # a pixel with any channel under this is product (or shadow)
BAND_FRACTION: Final = 0.02  # the border band's width, as a fraction of each side
WHITE_SHARE: Final = 0.995  # the share of that band that must be exactly 255
FAINT_STEP: Final = 3  # a light pixel this far from the background colour is faint product
FAINT_REACH: Final = 0.02  # faint pixels this far (fraction of the side) beyond the bbox: extent unknown
PROVENANCE_TAG: Final = b"productshot-listing/1 "


@dataclass(frozen=True)
class Provenance:
    """What we knew when we made an image: the product's alpha bbox, bound to the exact JPEG we wrote.

    `jpeg_sha256` hashes the file without its comment segment, so any edit or re-encode (which changes the
    compressed data) unbinds it, and checking it costs no pixel work.
    """

    preset: str
    alpha_bbox: tuple[int, int, int, int]
    jpeg_sha256: str

    def to_comment(self) -> bytes:
        body = {"preset": self.preset, "alpha_bbox": list(self.alpha_bbox), "jpeg": self.jpeg_sha256}
        return PROVENANCE_TAG + json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_comment(cls, comment: bytes | str | None) -> Provenance | None:
        """The provenance in a JPEG comment, or None when there is none or it is unreadable."""
        raw = comment.encode() if isinstance(comment, str) else comment
        if not raw or not raw.startswith(PROVENANCE_TAG):
            return None
        try:
            body = json.loads(raw[len(PROVENANCE_TAG) :])
            x0, y0, x1, y1 = (int(v) for v in body["alpha_bbox"])
            return cls(str(body["preset"]), (x0, y0, x1, y1), str(body["jpeg"]))
        except (ValueError, KeyError, TypeError):
            return None


def jpeg_sha256(data: bytes) -> str:
    """The hash that binds a provenance to one JPEG: its bytes without any comment (COM) segment."""
    digest = hashlib.sha256()
    at = 2
    if data[:2] != b"\xff\xd8":
        return hashlib.sha256(data).hexdigest()
    digest.update(data[:2])
    # Walk the marker segments up to the start of scan; skip COM (0xFFFE), hash everything else.
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: the rest is compressed data
            break
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker != 0xFE:
            digest.update(data[at : at + 2 + length])
        at += 2 + length
    digest.update(data[at:])
    return digest.hexdigest()


@dataclass(frozen=True)
class ImageFacts:
    """What the checker reads from an encoded image: its file facts and its decoded sRGB pixels."""

    format: str
    width: int
    height: int
    size_bytes: int
    colour: str
    pixels: np.ndarray  # H×W×3 uint8, transparency shown over white
    provenance: Provenance | None  # only when it matches these pixels


def read_image_facts(
    data: bytes, *, source: str = "image", max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> ImageFacts:
    """Decode `data` (any format load_image reads) into the facts the rules are measured on."""
    from productshot.tools.imageio import decode_image_bytes

    loaded = decode_image_bytes(data, max_pixels=max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            mode, info = opened.mode, dict(opened.info)
    except Exception as exc:  # decode_image_bytes already read it; this only re-reads the header
        raise BadImageError(f"{source}: header could not be read: {exc}") from exc
    image = loaded.image
    if image.mode == "RGBA":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    pixels = np.asarray(image.convert("RGB"))
    provenance = Provenance.from_comment(info.get("comment"))
    if provenance is not None and provenance.jpeg_sha256 != jpeg_sha256(data):
        provenance = None  # edited or re-encoded since we made it: the alpha no longer describes it
    return ImageFacts(
        format=loaded.format,
        width=image.width,
        height=image.height,
        size_bytes=len(data),
        colour=_colour(mode, info.get("icc_profile")),
        pixels=pixels,
        provenance=provenance,
    )


def _colour(mode: str, icc: bytes | None) -> str:
    if mode in ("L", "LA", "1", "I", "I;16", "F"):
        return "greyscale"
    if mode == "CMYK":
        return "CMYK"
    if not icc:
        return "sRGB"  # untagged RGB is read as sRGB by browsers and marketplaces
    from PIL import ImageCms

    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return "unreadable ICC profile"
    return "sRGB" if "srgb" in description.lower() else description or "unnamed ICC profile"


@dataclass(frozen=True)
class Measures:
    """The pixel measures every preset shares; fill and offset are None when they cannot be measured."""

    white_share: float
    fill: float | None
    centre_offset: float | None
    basis: str | None  # "pixels", "alpha" (our provenance) or None
    note: str | None = None


def measure(pixels: np.ndarray, provenance: Provenance | None = None) -> Measures:
    """White border share, fill and centre offset of an H×W×3 image (see the module docstring)."""
    height, width = pixels.shape[:2]
    share = white_share(pixels)
    darkest = _channel_min(pixels)
    dark_box = _dark_box(darkest)
    if _faint_beyond(pixels, dark_box):
        if provenance is not None:
            fill, offset = _fill_offset(provenance.alpha_bbox, width, height)
            return Measures(share, fill, offset, "alpha")
        return Measures(
            share,
            None,
            None,
            None,
            "a light product on white: its edges cannot be told from the background in pixels",
        )
    if dark_box is None:
        return Measures(share, 0.0, None, "pixels", "no product found: every pixel is 250 or lighter")
    fill, offset = _fill_offset(dark_box, width, height)
    return Measures(share, fill, offset, "pixels")


def _band_parts(pixels: np.ndarray) -> list[np.ndarray]:
    """The border band as four non-overlapping strips (top, bottom, left, right)."""
    height, width = pixels.shape[:2]
    by = max(1, round(BAND_FRACTION * height))
    bx = max(1, round(BAND_FRACTION * width))
    if 2 * by >= height or 2 * bx >= width:
        return [pixels]
    return [pixels[:by], pixels[-by:], pixels[by:-by, :bx], pixels[by:-by, -bx:]]


def white_share(pixels: np.ndarray) -> float:
    """The share of the 2% border band whose pixels are exactly (255, 255, 255)."""
    parts = _band_parts(pixels)
    white = sum(int(np.count_nonzero(_channel_min(part) == 255)) for part in parts)
    return white / sum(part.shape[0] * part.shape[1] for part in parts)


def _channel_min(pixels: np.ndarray) -> np.ndarray:
    """The smallest channel per pixel (channel by channel: much faster than a reduce over a 3-wide axis)."""
    return np.minimum(np.minimum(pixels[..., 0], pixels[..., 1]), pixels[..., 2])


def _dark_box(darkest: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bbox of the pixels whose smallest channel is under DARK_BELOW (from row and column minima)."""
    rows = np.flatnonzero(darkest.min(axis=1) < DARK_BELOW)
    cols = np.flatnonzero(darkest.min(axis=0) < DARK_BELOW)
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _bbox(mask: np.ndarray, *, min_count: int) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.sum(axis=1) >= min_count)
    cols = np.flatnonzero(mask.sum(axis=0) >= min_count)
    if rows.size == 0 or cols.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _faint_beyond(pixels: np.ndarray, dark_box: tuple[int, int, int, int] | None) -> bool:
    """True when light pixels that differ from the background reach well past the dark bbox.

    A row or column counts once it holds 3 such pixels (no lone JPEG speckle). Only the strips beyond the
    dark bbox plus the reach are looked at, which is all that can change the answer.
    """
    band = np.concatenate([p.reshape(-1, 3) for p in _band_parts(pixels)])
    background = [int(v) for v in np.median(band[:: max(1, len(band) // 20000)], axis=0)]

    def faint(region: np.ndarray) -> np.ndarray:
        light = _channel_min(region) >= DARK_BELOW
        off = np.zeros(region.shape[:2], dtype=bool)
        for c, level in enumerate(background):
            channel = region[..., c]
            if level - FAINT_STEP >= 0:
                off |= channel <= level - FAINT_STEP
            if level + FAINT_STEP <= 255:
                off |= channel >= level + FAINT_STEP
        return light & off

    height, width = pixels.shape[:2]
    if dark_box is None:
        return _bbox(faint(pixels), min_count=3) is not None
    # At least two 8-pixel JPEG blocks: chroma ringing around a dark edge is not a light product.
    reach_x, reach_y = max(int(FAINT_REACH * width), 16), max(int(FAINT_REACH * height), 16)
    x0, y0, x1, y1 = dark_box
    top, bottom = max(0, y0 - reach_y - 1), min(height, y1 + reach_y + 1)
    left, right = max(0, x0 - reach_x - 1), min(width, x1 + reach_x + 1)
    rows_beyond = [pixels[:top], pixels[bottom:]]
    cols_beyond = [pixels[:, :left], pixels[:, right:]]
    if any(r.size and (faint(r).sum(axis=1) >= 3).any() for r in rows_beyond):
        return True
    return any(c.size and (faint(c).sum(axis=0) >= 3).any() for c in cols_beyond)


def _fill_offset(box: tuple[int, int, int, int], width: int, height: int) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    fill = max((x1 - x0) / width, (y1 - y0) / height)
    offset = max(abs((x0 + x1) / 2 - width / 2) / width, abs((y0 + y1) / 2 - height / 2) / height)
    return fill, offset


# ---- the check ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome: ok is None when it could not be measured (never counted as passed)."""

    name: str
    kind: str
    level: str
    ok: bool | None
    measured: Any
    required: Any
    basis: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "level": self.level,
            "ok": self.ok,
            "measured": self.measured,
            "required": self.required,
            "kind": self.kind,
            "basis": self.basis,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class ListingCheck:
    """`ok` holds when every measured required rule holds."""

    preset: str
    rules: tuple[RuleResult, ...]
    measures: Measures

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.rules if r.level == "required")

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.level == "required" and r.ok is False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "preset": self.preset,
            "rules": [r.to_dict() for r in self.rules],
            "measured_on": self.measures.basis,
        }


def check_facts(facts: ImageFacts, preset: ListingPreset) -> ListingCheck:
    """Apply every rule of `preset` to `facts`."""
    measures = measure(facts.pixels, facts.provenance)
    return ListingCheck(preset.name, tuple(_apply(rule, facts, measures) for rule in preset.rules), measures)


def check_listing_bytes(
    data: bytes, preset: ListingPreset, *, source: str = "image", max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> ListingCheck:
    """Decode `data` and check it against `preset`."""
    return check_facts(read_image_facts(data, source=source, max_pixels=max_pixels), preset)


def _apply(rule: ListingRule, facts: ImageFacts, m: Measures) -> RuleResult:
    def result(ok: bool | None, measured: Any, required: Any, note: str | None = None) -> RuleResult:
        return RuleResult(rule.name, rule.kind, rule.level, ok, measured, required, rule.basis, note)

    kind, value = rule.kind, rule.value
    long_side, short_side = max(facts.width, facts.height), min(facts.width, facts.height)
    if kind == "format":
        allowed = [str(v).upper() for v in value]
        return result(facts.format.upper() in allowed, facts.format, allowed)
    if kind == "colour":
        return result(facts.colour == value, facts.colour, value)
    if kind == "white_background":
        share = round(m.white_share, 4)
        return result(m.white_share >= WHITE_SHARE, share, f">= {WHITE_SHARE} of the border exactly 255")
    if kind == "fill":
        if m.fill is None:
            return result(None, None, float(value), m.note)
        return result(m.fill >= float(value), round(m.fill, 4), float(value), m.note)
    if kind == "centred":
        if m.centre_offset is None:
            return result(None, None, float(value), m.note)
        return result(m.centre_offset <= float(value), round(m.centre_offset, 4), float(value))
    if kind == "min_long_side":
        return result(long_side >= int(value), long_side, int(value))
    if kind == "min_short_side":
        return result(short_side >= int(value), short_side, int(value))
    if kind == "max_side":
        return result(long_side <= int(value), long_side, int(value))
    if kind == "max_bytes":
        return result(facts.size_bytes <= int(value), facts.size_bytes, int(value))
    if kind == "max_megapixels":
        megapixels = round(facts.width * facts.height / 1e6, 2)
        return result(facts.width * facts.height <= float(value) * 1e6, megapixels, float(value))
    if kind == "square":
        return result(facts.width == facts.height, [facts.width, facts.height], "width == height")
    return result(None, None, value, "needs a person (or a vision model) to judge; not measured offline")


__all__ = [
    "BAND_FRACTION",
    "DARK_BELOW",
    "WHITE_SHARE",
    "ImageFacts",
    "ListingCheck",
    "Measures",
    "Provenance",
    "RuleResult",
    "check_facts",
    "check_listing_bytes",
    "jpeg_sha256",
    "measure",
    "read_image_facts",
    "white_share",
]
