"""Scores of a cutout against ground-truth alpha: IoU, edge offset (band SAD per edge length), the 10–90 %
ramp width, ΔE99 of the edge band against the photo, and the interior rule.

Edge lengths are measured as the total gradient magnitude of the true alpha (a unit step contributes 1 per
pixel of outline), so SAD and ramp figures are in pixels and do not depend on the product's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from productshot.tools.colordiff import delta_e99, delta_e2000
from tests.support.imagegen import edge_band, mask_iou


@dataclass(frozen=True)
class CutoutScore:
    iou: float
    edge_offset_px: float  # band SAD / edge length: how far, on average, the edge sits from the truth
    ramp_px: float  # mean 10–90 % ramp width of the cutout's alpha across its edge
    true_ramp_px: float
    max_band_de99: float  # over band pixels with alpha ≥ 0.5, against the photo
    p99_band_de2000: float
    interior_changed: int  # pixels the interior rule covers that differ from the photo (must be 0)
    interior_count: int

    @property
    def ramp_error_px(self) -> float:
        return self.ramp_px - self.true_ramp_px


def edge_length(alpha: np.ndarray) -> float:
    """Outline length in pixels: the summed gradient magnitude of alpha scaled to 0..1."""
    a = np.asarray(alpha, dtype=np.float64) / 255.0
    gy, gx = np.gradient(a)
    return float(np.hypot(gx, gy).sum())


def ramp_width(alpha: np.ndarray, length: float) -> float:
    """Mean 10–90 % ramp width: pixels strictly between 10 % and 90 % alpha per pixel of outline."""
    a = np.asarray(alpha, dtype=np.float64) / 255.0
    return float(((a > 0.1) & (a < 0.9)).sum() / max(length, 1.0))


def interior_mask(alpha: np.ndarray) -> np.ndarray:
    """Pixels with alpha 255 that are 2 px or more from any pixel with alpha below 255."""
    solid = np.asarray(alpha) == 255
    return ndimage.binary_erosion(solid, structure=np.ones((5, 5), bool), border_value=1)


def score_cutout(photo: Image.Image, cutout: Image.Image, truth: np.ndarray) -> CutoutScore:
    rgba = np.asarray(cutout.convert("RGBA"))
    source = np.asarray(photo.convert("RGB"))
    alpha = rgba[..., 3]
    length = edge_length(truth)
    band = edge_band(truth, 3)
    sad = float(np.abs(alpha[band].astype(np.float64) - truth[band]).sum() / 255.0)
    coloured = band & (alpha >= 128)
    if coloured.any():
        de99 = float(delta_e99(rgba[..., :3][coloured], source[coloured]).max())
        de00 = float(np.percentile(delta_e2000(rgba[..., :3][coloured], source[coloured]), 99))
    else:
        de99 = de00 = 0.0
    inner = interior_mask(alpha)
    changed = int(np.any(rgba[..., :3][inner] != source[inner], axis=-1).sum())
    return CutoutScore(
        iou=mask_iou(alpha, truth),
        edge_offset_px=sad / max(length, 1.0),
        ramp_px=ramp_width(alpha, length),
        true_ramp_px=ramp_width(truth, length),
        max_band_de99=de99,
        p99_band_de2000=de00,
        interior_changed=changed,
        interior_count=int(inner.sum()),
    )


def auroc(scores: list[float], positives: list[bool]) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties: half)."""
    pos = [s for s, p in zip(scores, positives, strict=True) if p]
    neg = [s for s, p in zip(scores, positives, strict=True) if not p]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


__all__ = ["CutoutScore", "auroc", "edge_length", "interior_mask", "ramp_width", "score_cutout"]
