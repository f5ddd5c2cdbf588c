"""Light and colour harmonisation: the product takes on the scene's light, gently, and stays itself.

Three small steps on the resized cutout before it is laid on the background:
  1. white balance and exposure toward the scene's light: per-channel gains in linear light (von Kries),
     scaled by how tinted the scene is (a neutral scene changes nothing) and darker under a dark scene;
     the change is then capped so the product's interior mean ΔE (CIE76) stays at most MAX_DELTA_E;
  2. light-wrap: the blurred background bleeds a little into the product's outer edge, as real light does;
  3. grain: where the backdrop is grainier than the product, matching grain is added to the product.
numpy + Pillow only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

FloatArray = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]

# The product's interior mean colour change is capped here (ΔE CIE76): it must still be the same product.
MAX_DELTA_E = 5.5
# How far toward the scene's light colour the product's white balance moves under a fully tinted scene.
WB_STRENGTH = 0.45
# Scene chroma (C*ab of its mean colour) below which a scene counts as neutral, and above which as tinted.
NEUTRAL_CHROMA = 5.0
TINTED_CHROMA = 16.0
# Exposure: under a dark scene (mean L* below DARK_L) the product is darkened by up to this much (linear).
DARK_L = 45.0
MAX_DARKEN = 0.30
# Alpha at or above this (0..255) is solid: 0.99 of full.
_SOLID = 253
# Light-wrap: how much of the blurred background reaches the product's outermost edge pixels.
WRAP = 0.28

_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    np.float32,
)


@dataclass(frozen=True)
class Harmony:
    """What harmonisation did: the gains applied (linear RGB), the interior mean ΔE and a*b* shift."""

    gains: tuple[float, float, float]
    delta_e: float
    shift_ab: tuple[float, float]
    scene_ab: tuple[float, float]


def to_linear(srgb: FloatArray) -> FloatArray:
    """sRGB (0..1) to linear light."""
    out: FloatArray = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(
        np.float32
    )
    return out


def to_srgb(linear: FloatArray) -> FloatArray:
    """Linear light to sRGB (0..1)."""
    x = np.clip(linear, 0.0, 1.0)
    out: FloatArray = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)
    return out


def lab(srgb: FloatArray) -> FloatArray:
    """CIELAB (D65) of sRGB pixels (…, 3) in 0..1."""
    xyz = to_linear(srgb) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    out = np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1
    )
    return out.astype(np.float32)


def scene_light(background: Image.Image, box: tuple[int, int, int, int]) -> FloatArray:
    """The scene's light colour as mean linear RGB: half the whole frame, half the area around the product."""
    # A box reduction to about 64×48 (an integer factor: a quarter of a BOX resize's cost; a mean either way).
    factor = max(1, min(background.width // 64, background.height // 48))
    small = (background if background.mode == "RGB" else background.convert("RGB")).reduce(factor)
    whole = to_linear(np.asarray(small, np.float32) / 255.0).reshape(-1, 3).mean(axis=0)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    near_box = (
        max(0, x0 - w // 2),
        max(0, y0 - h // 2),
        min(background.width, x1 + w // 2),
        min(background.height, y1 + h // 2),
    )
    near = background.crop(near_box).convert("RGB").resize((32, 32), Image.Resampling.BOX)
    local = to_linear(np.asarray(near, np.float32) / 255.0).reshape(-1, 3).mean(axis=0)
    light: FloatArray = (0.5 * whole + 0.5 * local).astype(np.float32)
    return light


def harmonize(
    product: Image.Image, background: Image.Image, corner: tuple[int, int]
) -> tuple[Image.Image, Harmony]:
    """The RGBA `product` (already at its placed size, top-left at `corner` on `background`) in the
    scene's light; the background is read, never changed."""
    pixels = np.asarray(product.convert("RGBA"))
    rgb_u8 = pixels[..., :3]
    alpha = np.ascontiguousarray(pixels[..., 3])  # 0..255
    x0, y0 = corner
    box = (x0, y0, x0 + product.width, y0 + product.height)
    light = scene_light(background, box)
    scene_lab = lab(to_srgb(light[None, :]))[0]
    chroma = float(np.hypot(scene_lab[1], scene_lab[2]))
    tint = _smoothstep(NEUTRAL_CHROMA, TINTED_CHROMA, chroma)
    dark = _smoothstep(DARK_L, DARK_L - 25.0, float(scene_lab[0]))
    luminance = float(light @ _RGB_TO_XYZ[1])
    colour = np.clip(light / max(luminance, 1e-4), 0.4, 1.8)
    interior = _interior(alpha)
    chosen = rgb_u8[interior] if interior.any() else rgb_u8.reshape(-1, 3)
    chosen = chosen[:: max(1, chosen.shape[0] // 20000)]  # ΔE is a mean: 20k pixels measure it closely
    sample = chosen.astype(np.float32) / 255.0
    before = lab(sample)
    linear_sample = to_linear(sample)
    scale = 1.0
    for _ in range(3):  # cap the change at MAX_DELTA_E (ΔE is nearly proportional to the gains' pull)
        gains = (1.0 + scale * WB_STRENGTH * tint * (colour - 1.0)) * (1.0 - scale * MAX_DARKEN * dark)
        after = lab(to_srgb(linear_sample * gains))
        delta = float(np.linalg.norm(after - before, axis=-1).mean()) if before.size else 0.0
        if delta <= MAX_DELTA_E:
            break
        scale *= MAX_DELTA_E / delta * 0.97
    graded = _grade(rgb_u8, gains) if scale * (tint + dark) > 0 else rgb_u8.astype(np.float32) / 255.0
    wrapped = _light_wrap(graded, alpha, background, box)
    grained = _match_grain(wrapped, alpha, background, box)
    # Alpha passes through untouched (its float round trip would give back the same bytes anyway).
    # In place: `grained` is this call's own array.
    np.clip(grained, 0.0, 1.0, out=grained)
    grained *= 255.0
    np.rint(grained, out=grained)
    image = Image.fromarray(grained.astype(np.uint8), "RGB")
    image.putalpha(Image.fromarray(alpha))
    shift = (after.mean(axis=0) - before.mean(axis=0)) if before.size else np.zeros(3, np.float32)
    return image, Harmony(
        gains=(float(gains[0]), float(gains[1]), float(gains[2])),
        delta_e=delta,
        shift_ab=(float(shift[1]), float(shift[2])),
        scene_ab=(float(scene_lab[1]), float(scene_lab[2])),
    )


def _grade(rgb: npt.NDArray[np.uint8], gains: FloatArray) -> FloatArray:
    """`to_srgb(to_linear(rgb / 255) * gains)` per pixel, through a 256-level table per channel.

    8-bit input has only 256 values per channel, so the table gives exactly the same floats as the
    per-pixel formula for a fraction of the cost (two powers per level instead of per pixel).
    """
    levels = np.arange(256, dtype=np.float32)[:, None] / 255.0
    table = to_srgb(to_linear(levels) * gains)  # (256, 3)
    out = np.empty(rgb.shape, np.float32)
    for channel in range(3):
        out[..., channel] = table[:, channel][rgb[..., channel]]
    return out


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    t = min(1.0, max(0.0, (x - edge0) / (edge1 - edge0)))
    return t * t * (3.0 - 2.0 * t)


def _interior(alpha: ByteArray) -> npt.NDArray[np.bool_]:
    """Solid pixels (alpha 253..255, i.e. >= 0.99) away from the edge (where light-wrap does not reach)."""
    solid = Image.fromarray((alpha >= _SOLID).astype(np.uint8) * 255)
    radius = min(6, max(1, round(0.02 * max(alpha.shape))))
    # An erosion by `radius`: a box average stays at full only where the whole box is solid.
    return np.asarray(solid.filter(ImageFilter.BoxBlur(radius))) >= 254


def _light_wrap(
    rgb: FloatArray, alpha: ByteArray, background: Image.Image, box: tuple[int, int, int, int]
) -> FloatArray:
    """Blend the blurred background into the product's outer edge (strongest at the silhouette); in place:
    `rgb` is the caller's own working array, returned."""
    radius = max(1.5, 0.012 * max(alpha.shape))
    inside = np.asarray(Image.fromarray(alpha).filter(ImageFilter.GaussianBlur(radius)))
    # Only the edge band changes: visible pixels where the blurred alpha is below full. Mix just those.
    band = np.flatnonzero((inside < 255) & (alpha > 0))
    out = rgb
    if band.size == 0:
        return out
    edge = np.clip(1.0 - inside.reshape(-1)[band].astype(np.float32) / 255.0, 0.0, 1.0) * 2.0
    mix = (WRAP * np.clip(edge, 0.0, 1.0))[:, None]
    back = np.asarray(_blurred_around(background, box, radius * 2)).reshape(-1, 3)
    flat = out.reshape(-1, 3)
    near, seen = flat[band], back[band].astype(np.float32) / 255.0
    # Light adds: the wrap brightens toward a bright scene and barely darkens against a dark one.
    lighter = np.maximum(seen, near * 0.85 + seen * 0.15)
    flat[band] = near * (1.0 - mix) + lighter * mix
    return out


def _blurred_around(background: Image.Image, box: tuple[int, int, int, int], sigma: float) -> Image.Image:
    """The background under `box`, Gaussian-blurred by `sigma` px with the scene around it as context
    (black where `box` runs off the canvas: those product pixels are never seen).

    A wide blur is smooth, so it is computed on a copy reduced by up to sigma/3 (still >= 3 px of blur
    there) and scaled back bilinearly: within a few grey levels of the full-size blur for a fraction of
    its cost.
    """
    x0, y0, x1, y1 = box
    out = Image.new("RGB", (x1 - x0, y1 - y0))
    # The part of the box on the canvas, and the context around it.
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(background.width, x1), min(background.height, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return out
    pad = math.ceil(3 * sigma)
    outer = (
        max(0, cx0 - pad),
        max(0, cy0 - pad),
        min(background.width, cx1 + pad),
        min(background.height, cy1 + pad),
    )
    region = background.crop(outer).convert("RGB")
    factor = max(1, min(int(sigma // 3), region.width // 4, region.height // 4))
    small = region.reduce(factor) if factor > 1 else region
    blurred = small.filter(ImageFilter.GaussianBlur(sigma / factor))
    # `reduce` keeps a partial block at the far edges: map the box through the small copy's own scale.
    sx, sy = small.width / region.width, small.height / region.height
    inner = ((cx0 - outer[0]) * sx, (cy0 - outer[1]) * sy, (cx1 - outer[0]) * sx, (cy1 - outer[1]) * sy)
    out.paste(
        blurred.resize((cx1 - cx0, cy1 - cy0), Image.Resampling.BILINEAR, box=inner), (cx0 - x0, cy0 - y0)
    )
    return out


def _match_grain(
    rgb: FloatArray, alpha: ByteArray, background: Image.Image, box: tuple[int, int, int, int]
) -> FloatArray:
    """Add monochrome grain where the backdrop is grainier than the product, so both share one film (in
    place: `rgb` is the caller's own working array, returned)."""
    back = np.asarray(background.crop(box).convert("L"), np.float32) / 255.0
    prod = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    need = _noise_sigma(back) ** 2 - _noise_sigma(np.where(alpha >= _SOLID, prod, np.nan)) ** 2
    if not np.isfinite(need) or need <= 1e-6:
        return rgb
    seed = int(box[0] * 7919 + box[1] * 104729 + alpha.size) % (2**32)
    grain = np.random.default_rng(seed).standard_normal(alpha.shape).astype(np.float32) * float(np.sqrt(need))
    grain *= alpha > 0
    rgb += grain[..., None]
    return rgb


def _noise_sigma(gray: FloatArray) -> float:
    """Robust per-pixel noise level: median absolute difference of horizontal neighbours (NaN ignored)."""
    diff = np.abs(np.diff(gray, axis=1))
    values = diff[np.isfinite(diff)]
    if values.size < 16:
        return 0.0
    values = values[:: max(1, values.size // 40000)]  # a median: 40k evenly spread values measure it closely
    return float(np.median(values) / 0.954)  # |N(0,σ)-N(0,σ)| has median 0.954σ
