"""Builders for test images with a known ground truth: synthetic products, backdrops, odd image files.

Products are RGBA images whose alpha is the exact mask (anti-aliased by supersampling), shaded like a
photographed object, so a cutout can be scored against the truth with `mask_iou` and `edge_alpha_error`.
Backdrops range from plain white to real photo textures from scikit-image. The file builders write the
odd-but-valid and broken files that image loading must cope with (16-bit PNG, bombs, ICC profiles).
"""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from scipy import ndimage

ProductKind = Literal["bottle", "cup", "box"]
BackdropKind = Literal["white", "grey", "black", "gradient", "grass", "brick", "gravel"]
RGB = tuple[int, int, int]

_SUPERSAMPLE = 4


# ---- products --------------------------------------------------------------------------------------------


def make_product(
    size: tuple[int, int] = (400, 500),
    kind: ProductKind = "bottle",
    color: RGB = (170, 40, 45),
    *,
    soft_edge: float = 0.0,
    seed: int = 0,
) -> Image.Image:
    """An RGBA product of ``kind`` filling most of a ``size`` (width, height) canvas, transparent around it.

    The alpha is the exact, anti-aliased mask; ``soft_edge`` (pixels) additionally blurs it, like a
    slightly out-of-focus outline. The colour is shaded (a cylinder's light falloff or a box's faces), with
    a textured label and a highlight, so it looks like a photographed object to a saliency model.
    A cup has a handle with a real hole in it.
    """
    width, height = size
    if width < 16 or height < 16:
        raise ValueError(f"size must be at least 16×16, got {size}")
    big_w, big_h = width * _SUPERSAMPLE, height * _SUPERSAMPLE
    yy, xx = np.mgrid[0:big_h, 0:big_w].astype(np.float32)
    u = (xx + 0.5) / big_w  # 0..1 across
    v = (yy + 0.5) / big_h  # 0..1 down
    shape = {"bottle": _bottle, "cup": _cup, "box": _box}[kind]
    inside, shade = shape(u, v)
    alpha = _downsample(inside.astype(np.float32))
    shade = _downsample(shade.astype(np.float32) * inside) / np.maximum(alpha, 1e-6)
    # Outside the shape, continue the nearest inside colour: a blurred edge shows the product's colour.
    nearest = ndimage.distance_transform_edt(alpha <= 0, return_distances=False, return_indices=True)
    shade = shade[nearest[0], nearest[1]]
    if soft_edge > 0:
        alpha = ndimage.gaussian_filter(alpha, soft_edge)
    rng = np.random.default_rng(seed)
    grain = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (height, width)).astype(np.float32), 1.0) * 4.0
    base = np.asarray(color, dtype=np.float32)
    rgb = base[None, None, :] * shade[..., None] + grain[..., None]
    rgb = _add_label(rgb, kind, width, height)
    rgb = np.where(alpha[..., None] > 0, rgb, 0.0)
    pixels = np.dstack([np.clip(rgb, 0, 255), np.clip(alpha * 255.0, 0, 255)])
    return Image.fromarray(np.rint(pixels).astype(np.uint8), mode="RGBA")


def _cylinder_shade(u: np.ndarray, centre: float, half_width: np.ndarray | float) -> np.ndarray:
    """Lambert-like light falloff across a vertical cylinder, lit from the upper left, with a highlight."""
    x = np.clip((u - centre) / half_width, -1.0, 1.0)
    normal_z = np.sqrt(np.clip(1.0 - x * x, 0.0, 1.0))
    light = 0.35 + 0.65 * np.clip(0.9 * normal_z - 0.4 * x, 0.0, 1.0)
    highlight = 0.35 * np.exp(-(((x + 0.45) / 0.08) ** 2))
    return np.clip(light + highlight, 0.0, 1.3)


def _bottle(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre, body_half, neck_half = 0.5, 0.36, 0.11
    shoulder_top, shoulder_bottom = 0.22, 0.38
    ramp = np.clip((v - shoulder_top) / (shoulder_bottom - shoulder_top), 0.0, 1.0)
    smooth = ramp * ramp * (3 - 2 * ramp)
    half = neck_half + (body_half - neck_half) * smooth
    # Rounded bottom corners: shrink the half-width near the base.
    corner = 0.06
    base_v = 0.96
    dv = np.clip(v - (base_v - corner), 0.0, None)
    half = half - (corner - np.sqrt(np.clip(corner**2 - dv**2, 0.0, None))) * (v > base_v - corner)
    inside = (np.abs(u - centre) <= half) & (v >= 0.04) & (v <= base_v)
    cap = (np.abs(u - centre) <= neck_half + 0.02) & (v >= 0.04) & (v <= 0.10)
    shade = _cylinder_shade(u, centre, np.maximum(half, 1e-3))
    shade = np.where(cap, shade * 0.55, shade)
    return inside | cap, shade


def _cup(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = 0.42
    top_v, base_v = 0.22, 0.92
    t = np.clip((v - top_v) / (base_v - top_v), 0.0, 1.0)
    half = 0.30 - 0.06 * t
    body = (np.abs(u - centre) <= half) & (v >= top_v) & (v <= base_v)
    # Handle: an annulus on the right side, attached to the body, with a real hole.
    hx, hy = centre + 0.29, 0.52
    r = np.sqrt(((u - hx) / 0.9) ** 2 + (v - hy) ** 2)
    handle = (r <= 0.17) & (r >= 0.095) & (u > hx - 0.05)
    rim = (np.abs(u - centre) <= 0.31) & (np.abs(v - top_v) <= 0.012)
    shade = _cylinder_shade(u, centre, np.maximum(half, 1e-3))
    shade = np.where(handle & ~body, 0.75 + 0.25 * (v < hy), shade)
    return body | handle | rim, shade


def _box(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left, right, top, bottom, depth = 0.12, 0.72, 0.24, 0.94, 0.16
    front = (u >= left) & (u <= right) & (v >= top) & (v <= bottom)
    # Side face: a parallelogram to the right, rising by `depth`.
    s = (u - right) / depth
    side = (u > right) & (u <= right + depth) & (v >= top - s * depth) & (v <= bottom - s * depth)
    # Top face: a parallelogram above the front.
    w = (top - v) / depth
    top_face = (v < top) & (v >= top - depth) & (u >= left + w * depth) & (u <= right + w * depth)
    shade = np.where(front, 0.95, np.where(side, 0.6, 1.15))
    return front | side | top_face, shade


def _add_label(rgb: np.ndarray, kind: ProductKind, width: int, height: int) -> np.ndarray:
    """A light label band with dark stripes ("text"), so the product has texture like a real one."""
    if kind == "box":
        x0, x1, y0, y1 = 0.2, 0.62, 0.45, 0.7
    elif kind == "cup":
        x0, x1, y0, y1 = 0.22, 0.6, 0.42, 0.62
    else:
        x0, x1, y0, y1 = 0.2, 0.8, 0.5, 0.75
    ys, xs = slice(int(y0 * height), int(y1 * height)), slice(int(x0 * width), int(x1 * width))
    label = rgb[ys, xs]
    label[:] = label * 0.25 + np.array([235.0, 228.0, 210.0]) * 0.75
    rows = np.arange(label.shape[0])
    stripes = (rows % max(4, label.shape[0] // 8)) < 2
    label[stripes, label.shape[1] // 6 : label.shape[1] * 5 // 6] *= 0.35
    return rgb


def _downsample(values: np.ndarray) -> np.ndarray:
    h, w = values.shape[0] // _SUPERSAMPLE, values.shape[1] // _SUPERSAMPLE
    return values.reshape(h, _SUPERSAMPLE, w, _SUPERSAMPLE).mean(axis=(1, 3))


# ---- backdrops and compositing ---------------------------------------------------------------------------


def make_backdrop(kind: BackdropKind, size: tuple[int, int]) -> Image.Image:
    """An RGB backdrop: plain white/grey/black, a vertical gradient, or a photo texture from scikit-image."""
    width, height = size
    if kind in ("white", "grey", "black"):
        shade = {"white": (255, 255, 255), "grey": (128, 128, 128), "black": (12, 12, 14)}[kind]
        return Image.new("RGB", size, shade)
    if kind == "gradient":
        t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
        top, bottom = np.array([225.0, 232.0, 245.0]), np.array([150.0, 160.0, 185.0])
        ramp = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3))
        return Image.fromarray(np.rint(ramp).astype(np.uint8), mode="RGB")
    texture = Image.open(skimage_data_file(f"{kind}.png")).convert("L")
    tint = {"grass": (0.55, 0.85, 0.45), "brick": (0.95, 0.6, 0.5), "gravel": (0.85, 0.82, 0.78)}[kind]
    grey = np.asarray(texture.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    pixels = grey[..., None] * np.asarray(tint, dtype=np.float32)[None, None, :]
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="RGB")


def on_background(
    product: Image.Image,
    background: Image.Image | RGB,
    *,
    canvas: tuple[int, int] | None = None,
    offset: tuple[int, int] | None = None,
) -> tuple[Image.Image, np.ndarray]:
    """Composite an RGBA product onto a backdrop: (RGB photo, true alpha mask of the canvas, uint8).

    A colour tuple makes a plain backdrop of ``canvas`` size (default: the product plus 20 % on each
    side); an image backdrop is used at its own size. The product is centred unless ``offset`` is given.
    """
    if isinstance(background, Image.Image):
        backdrop = background.convert("RGB")
    else:
        size = canvas or (round(product.width * 1.4), round(product.height * 1.4))
        backdrop = Image.new("RGB", size, background)
    x, y = offset or ((backdrop.width - product.width) // 2, (backdrop.height - product.height) // 2)
    alpha = np.zeros((backdrop.height, backdrop.width), dtype=np.uint8)
    alpha[y : y + product.height, x : x + product.width] = np.asarray(product.getchannel("A"))
    layer = Image.new("RGBA", backdrop.size, (0, 0, 0, 0))
    layer.paste(product, (x, y))
    fg = np.asarray(layer, dtype=np.float32)
    bg = np.asarray(backdrop, dtype=np.float32)
    a = fg[..., 3:4] / 255.0
    mixed = fg[..., :3] * a + bg * (1.0 - a)
    return Image.fromarray(np.rint(mixed).astype(np.uint8), mode="RGB"), alpha


def composite_over(rgba: Image.Image, background: RGB) -> np.ndarray:
    """Place an RGBA image over a plain colour (straight alpha), as float RGB values."""
    pixels = np.asarray(rgba.convert("RGBA"), dtype=np.float32)
    a = pixels[..., 3:4] / 255.0
    return pixels[..., :3] * a + np.asarray(background, dtype=np.float32) * (1.0 - a)


# ---- scoring ---------------------------------------------------------------------------------------------


def mask_iou(predicted: np.ndarray, truth: np.ndarray, threshold: int = 128) -> float:
    """Intersection over union of the two alpha masks, each thresholded at ``threshold``."""
    p, t = np.asarray(predicted) >= threshold, np.asarray(truth) >= threshold
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


def edge_band(truth: np.ndarray, width: int = 3) -> np.ndarray:
    """Pixels within ``width`` px of the true edge (either side)."""
    solid = np.asarray(truth) >= 128
    return ndimage.binary_dilation(solid, iterations=width) & ~ndimage.binary_erosion(solid, iterations=width)


def edge_alpha_error(predicted: np.ndarray, truth: np.ndarray, width: int = 3) -> float:
    """Mean absolute alpha error (0..1) in the band around the true edge."""
    band = edge_band(truth, width)
    diff = np.abs(np.asarray(predicted, dtype=np.float32) - np.asarray(truth, dtype=np.float32)) / 255.0
    return float(diff[band].mean())


# ---- odd files -------------------------------------------------------------------------------------------


def skimage_data_file(name: str) -> Path:
    """A file from scikit-image's bundled data folder (found without importing scikit-image)."""
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bytes(samples: np.ndarray, *, color_type: int) -> bytes:
    """Encode raw samples as PNG by hand: 8- or 16-bit (uint8/uint16), any PNG colour type (0, 2, 4, 6).

    Pillow cannot write 16-bit RGB, so tests build such files here.
    """
    values = np.asarray(samples)
    if values.ndim == 2:
        values = values[..., None]
    height, width, _ = values.shape
    bit_depth = 16 if values.dtype == np.uint16 else 8
    raw = values.astype(">u2" if bit_depth == 16 else "u1").reshape(height, -1).view(np.uint8)
    scanlines = b"".join(b"\x00" + raw[row].tobytes() for row in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(scanlines))
        + _png_chunk(b"IEND", b"")
    )


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width`` × ``height`` pixels (its data would never fit)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def rgb_icc_profile(
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    *,
    gamma: float = 2.2,
    description: str = "Test RGB",
) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 XYZ colorants and a pure gamma."""
    desc_text = description.encode("ascii") + b"\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(desc_text)) + desc_text
    desc += b"\x00" * 8 + b"\x00\x00" + b"\x00" + b"\x00" * 67
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(v) for v in values)

    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00public domain\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        padded = body + b"\x00" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += padded
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = (
        struct.pack(">I", size)
        + b"none"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\x00" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\x00" * 48
    )
    assert len(header) == 128
    return header + body


# sRGB's colorants adapted to D50, as in every sRGB ICC profile.
SRGB_RED = (0.4361, 0.2225, 0.0139)
SRGB_GREEN = (0.3851, 0.7169, 0.0971)
SRGB_BLUE = (0.1431, 0.0606, 0.7141)
