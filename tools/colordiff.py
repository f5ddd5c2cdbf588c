"""Colour difference in numpy: sRGB → CIELAB (D65), DIN99o (ΔE99) and CIEDE2000 (ΔE00).

The cutout clamps its edge decontamination with ΔE99 (DIN99o, a Euclidean distance in a space made to be
perceptually even, cheap enough to run inside an iteration); tests and the benchmark also report
CIEDE2000. Inputs are arrays of 8-bit sRGB values (any shape ending in 3, any real dtype).
"""

from __future__ import annotations

import numpy as np

_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


def _linearise(c: np.ndarray) -> np.ndarray:
    """Linear light of sRGB values in 0..1."""
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_LINEAR_8BIT = _linearise(np.arange(256) / 255.0)  # the same, looked up for whole 8-bit values


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB values: L* 0..100."""
    values = np.asarray(rgb)
    if values.dtype == np.uint8:  # a table look-up instead of a power per value (same numbers)
        linear = _LINEAR_8BIT[values]
    else:
        linear = _linearise(values.astype(np.float64) / 255.0)
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE_D65
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def lab_to_din99o(lab: np.ndarray) -> np.ndarray:
    """DIN99o coordinates (L99o, a99o, b99o) of CIELAB values (DIN 6176)."""
    lab = np.asarray(lab, dtype=np.float64)
    angle = np.deg2rad(26.0)
    lightness = 303.67 * np.log1p(0.0039 * lab[..., 0])
    e = lab[..., 1] * np.cos(angle) + lab[..., 2] * np.sin(angle)
    f = 0.83 * (-lab[..., 1] * np.sin(angle) + lab[..., 2] * np.cos(angle))
    chroma = 23.0 * np.log1p(0.075 * np.hypot(e, f))
    hue = np.arctan2(f, e) + angle
    return np.stack([lightness, chroma * np.cos(hue), chroma * np.sin(hue)], axis=-1)


def srgb_to_din99o(rgb: np.ndarray) -> np.ndarray:
    """DIN99o coordinates of 8-bit sRGB values (to compare many colours against the same ones)."""
    return lab_to_din99o(srgb_to_lab(rgb))


def delta_e99(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """ΔE99 (DIN99o) between two arrays of 8-bit sRGB colours."""
    return delta_e99_to(rgb1, srgb_to_din99o(rgb2))


def delta_e99_to(rgb: np.ndarray, din99o: np.ndarray) -> np.ndarray:
    """ΔE99 between 8-bit sRGB colours and colours already in DIN99o (`srgb_to_din99o`)."""
    d = srgb_to_din99o(rgb) - din99o
    return np.sqrt(np.sum(d * d, axis=-1))


def delta_e2000(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (kL = kC = kH = 1) between two arrays of 8-bit sRGB colours."""
    return delta_e2000_lab(srgb_to_lab(rgb1), srgb_to_lab(rgb2))


def delta_e2000_lab(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (kL = kC = kH = 1) between two arrays of CIELAB colours (Sharma, Wu, Dalal 2005)."""
    lab1, lab2 = np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    )
    h_mean = np.where(c1p * c2p == 0, h_sum, h_mean)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    sl = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    sc = 1 + 0.045 * cp_mean
    sh = 1 + 0.015 * cp_mean * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh))


__all__ = [
    "delta_e99",
    "delta_e99_to",
    "delta_e2000",
    "delta_e2000_lab",
    "lab_to_din99o",
    "srgb_to_din99o",
    "srgb_to_lab",
]
