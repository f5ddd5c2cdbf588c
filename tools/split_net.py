"""The split detector's whole-picture network, numpy only (what `split.check_split` runs).

The row scorer of the second pass sees one candidate row at a time; this network sees the whole picture
(issue 14's fourth pass, docs/split-detector.md). Two such networks, trained on different pictures,
are averaged (`ensemble_logits`). Weights: tools/split_net.npz, written by scripts/train_split_net.py.

A small convolutional trunk reads the 96×160 working copy (raw colour and the picture's own contrast),
strides down to 40 rows × 6 columns, averages and maxes over the width, adds the whole picture's mean, and
three 1-D convolutions along the height (dilated, so each row sees most of the picture: a floor directly
above a wall or sky, light and perspective that restart, the same content twice) give each of 40 height
positions an embedding. The embeddings are interpolated to the candidate seam rows and joined with the row
features of `split_features`; one tanh layer gives each row a correction that is added to the logit of the
second pass's row scorer (`base_*`, 70 row features → 128 tanh → 1). Trained by
scripts/train_split_net.py (on top of the row scorer of scripts/train_split_detector.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from productshot.tools.split_features import candidate_rows

Array = np.ndarray
TRUNK = (("c1", (2, 2)), ("c2", (2, 2)), ("c3", (1, 2)), ("c4", (1, 2)))  # 3×3 convolutions and strides
HEIGHT = (("h1", 1), ("h2", 2), ("h3", 4))  # 1-D convolutions along the height (kernel 5) and dilations
STRIDE = 4  # height positions of the trunk's output are every 4th working-copy row
_MIN_CONTRAST = 0.02
_FEATURE_CLIP = 5.0  # standardised row features are clipped to ±5 (heavy tails would saturate the layer)
WEIGHT_NAMES: tuple[str, ...] = (
    *(f"{name}_{part}" for name in [n for n, _ in TRUNK] + [n for n, _ in HEIGHT] for part in ("w", "b")),
    "interp", "mean", "std", "w1", "b1", "w2", "b2",
    "base_mean", "base_std", "base_w1", "base_b1", "base_w2", "base_b2",
)  # fmt: skip


def member_key(index: int, name: str) -> str:
    """Where weight `name` of ensemble member `index` is stored in the weights file."""
    return f"m{index}_{name}"


def members(stored: Mapping[str, Array]) -> list[dict[str, Array]]:
    """The ensemble's members as the trainer stores them (`members` = how many; m0_c1_w, m1_c1_w, ...)."""
    return [
        {name: stored[member_key(index, name)] for name in WEIGHT_NAMES}
        for index in range(int(stored["members"]))
    ]


def net_input(pixels: Array) -> Array:
    """The working copy (H×W×3 in 0..1) as the network's 6 input channels: centred colour and colour
    against the picture's own mean and contrast (pale, low-contrast pictures still show their seams)."""
    centred = pixels - pixels.mean(axis=(0, 1), keepdims=True)
    contrast = max(float(centred.std()), _MIN_CONTRAST)
    return np.concatenate([pixels - 0.5, centred / contrast * 0.25], axis=2).astype(np.float32)


def row_interpolation(positions: int) -> Array:
    """(candidates × positions) weights that read the trunk's height positions at each candidate seam row.

    Position i covers working-copy rows 4i..4i+3 (centre 4i + 1.5); the seam at row r lies at r - 0.5."""
    seams = candidate_rows().astype(np.float64) - 0.5
    where = np.clip((seams - (STRIDE - 1) / 2) / STRIDE, 0, positions - 1)
    low = np.floor(where).astype(np.int64)
    high = np.minimum(low + 1, positions - 1)
    frac = where - low
    out = np.zeros((len(seams), positions), np.float32)
    out[np.arange(len(seams)), low] += (1 - frac).astype(np.float32)
    out[np.arange(len(seams)), high] += frac.astype(np.float32)
    return out


def _conv2d(x: Array, weight: Array, bias: Array, stride: tuple[int, int]) -> Array:
    """A 3×3 convolution with zero padding 1 on an H×W×C array (weights as torch's O×C×3×3), then ReLU."""
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    windows = sliding_window_view(padded, (3, 3), axis=(0, 1))[:: stride[0], :: stride[1]]
    rows, cols = windows.shape[:2]
    out = windows.reshape(rows * cols, -1) @ weight.reshape(weight.shape[0], -1).T + bias
    return np.maximum(out, 0.0).reshape(rows, cols, -1)


def _conv1d(x: Array, weight: Array, bias: Array, dilation: int) -> Array:
    """A kernel-5 convolution along the height of an L×C array, zero padded to keep L (torch's O×C×5)."""
    reach = 2 * dilation
    padded = np.pad(x, ((reach, reach), (0, 0)))
    length = x.shape[0]
    taps = np.stack([padded[j * dilation : j * dilation + length] for j in range(5)], axis=2)
    return taps.reshape(length, -1) @ weight.reshape(weight.shape[0], -1).T + bias


def base_logits(weights: dict[str, Array], features: Array) -> Array:
    """The row scorer of the second pass (row features → 128 tanh → 1): the network adds to it."""
    standard = (features - weights["base_mean"]) / weights["base_std"]
    return (
        np.tanh(standard @ weights["base_w1"] + weights["base_b1"]) @ weights["base_w2"] + weights["base_b2"]
    )


def row_logits(weights: dict[str, Array], pixels: Array, features: Array) -> Array:
    """The seam logit of every candidate row: the row scorer's, corrected by what the network sees."""
    x = net_input(pixels)
    for name, stride in TRUNK:
        x = _conv2d(x, weights[f"{name}_w"], weights[f"{name}_b"], stride)
    pooled = np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=1)  # positions × 2C
    h = np.concatenate([pooled, np.broadcast_to(pooled.mean(axis=0), pooled.shape)], axis=1)
    for index, (name, dilation) in enumerate(HEIGHT):
        h = _conv1d(h, weights[f"{name}_w"], weights[f"{name}_b"], dilation)
        if index < len(HEIGHT) - 1:
            h = np.maximum(h, 0.0)
    embedding = np.tanh(weights["interp"] @ h)  # candidates × E, bounded
    standard = np.clip((features - weights["mean"]) / weights["std"], -_FEATURE_CLIP, _FEATURE_CLIP)
    hidden = np.tanh(np.concatenate([standard, embedding], axis=1) @ weights["w1"] + weights["b1"])
    return base_logits(weights, features) + hidden @ weights["w2"] + weights["b2"]


def ensemble_logits(nets: list[dict[str, Array]], pixels: Array, features: Array) -> Array:
    """The members' row logits averaged. Networks trained on different pictures each put the odd
    single picture (one studio backdrop) high, rarely the same one: the average's tail is steadier, so the
    bar that must clear every studio backdrop can sit lower."""
    return np.mean([row_logits(net, pixels, features) for net in nets], axis=0)
