"""Detect a background that came out as two stacked scenes (one scene repeated top and bottom).

Some diffusion models, asked for one scene, paint it twice: beach over beach, field over field, joined by a
hard, blurred or cross-faded seam at 40-60% of the height. A single scene with a strong horizon, a sunset,
a lake reflection or a studio wall/floor line must not count. The detector reads each row of a small copy
(mean lightness in four column bands, two colour-opponent means, horizontal and vertical texture) and, for
every candidate seam row, asks three questions of the two segments above and below it:

1. repeat: does the lower segment replay the upper one (dynamic time warping of the row profiles, so the
   two halves may put their horizons at different heights)? Its mismatch is `repeat`.
2. not a mirror: does the replay fit clearly better than the upper segment against the lower one flipped
   (a reflection fits flipped, a repeat fits unflipped)?
3. a reset at the seam: is the jump across the seam large against the repeat's mismatch, and does the
   repeat explain each segment better than that segment's own mean (each half is a complete scene with
   its own structure, not a smooth gradient or a texture)?

Each answer is a log ratio divided by its bar; the evidence at a row is the weakest of the three, the image's
is the best row's. `score = m / (1 + m)`, so 0.5 means every bar was met exactly. See docs/split-detector.md
for the labelled set, the tuning and the measured numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from productshot.errors import BadImageError, BadRequestError

BACKEND = "split-detector"
DEFAULT_THRESHOLD = 0.5

# Working copy and search (tuned on the "tune" half of tests/data/split_set; see docs/split-detector.md).
_WORK_W, _WORK_H = 256, 192  # rows matter; columns only feed the band means and the texture
_SEAM_RANGE = (0.38, 0.62)  # candidate seam rows as fractions of the height (seams sit at 40-60%)
_SAMPLES = 32  # each segment is resampled to this many rows before alignment
_WARP_BAND = 8  # how far (in samples) the alignment may stretch one segment against the other
_JUMP_GAP = (0.05, 0.12)  # the jump compares rows this far above and below the seam (skips a cross-fade)
_TEXTURE_WEIGHT = 4.0
_COLOUR_WEIGHT = 1.5
_NOISE_FLOOR = 1.0  # feature units (lightness 0-100) below which differences are noise
# The bars: log(jump / repeat), log(mirror / repeat), log(own spread / repeat).
_BAR_JUMP, _BAR_MIRROR, _BAR_SPREAD = 0.4, 0.3, 0.225
_LOCATE_FRACTION = 0.5  # the seam is sought among rows whose evidence is within this share of the best
_LOCATE_RESET = 0.5  # weight, in that choice, of "the rows below look like the image top" (and vice versa)
_LOCATE_REPEAT = 4.0  # weight of the repeat's mismatch in that choice (it is smallest at the true seam)
_LOCATE_WINDOW = 0.04  # rows compared on each side of a seam candidate, as a fraction of the height
_MIN_SIDE = 8

Array = np.ndarray


@dataclass(frozen=True)
class SplitResult:
    """Whether the image looks like two stacked scenes, how strongly, and where the seam is."""

    split: bool
    score: float  # 0..1; above the threshold (default 0.5) means two stacked scenes
    seam_y: int | None  # seam row in pixels when split, else None
    backend: str
    seconds: float
    candidate_y: int = 0  # the best seam row found, reported even when not split


def check_split(image: Image.Image, *, threshold: float = DEFAULT_THRESHOLD) -> SplitResult:
    """Score `image` for two stacked scenes; `split` when the score reaches `threshold`."""
    started = time.perf_counter()
    if not isinstance(image, Image.Image):
        raise BadImageError(f"image must be a PIL image, got {type(image).__name__}")
    if image.width < _MIN_SIDE or image.height < _MIN_SIDE:
        raise BadImageError(
            f"image is {image.width}x{image.height}; the split check needs at least 8x8 pixels"
        )
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0:
        raise BadRequestError(f"threshold must be a number between 0 and 1 (exclusive), got {threshold!r}")
    profile = _row_features(image)
    evidence, rows, repeat = _evidence(profile)
    strength = float(evidence.max())
    score = strength / (1.0 + strength) if strength > 0 else 0.0
    seam = _locate(profile, rows, evidence, repeat)
    candidate = min(image.height - 1, round(seam / _WORK_H * image.height))
    split = score >= threshold
    return SplitResult(
        split=split,
        score=round(score, 4),
        seam_y=candidate if split else None,
        backend=BACKEND,
        seconds=time.perf_counter() - started,
        candidate_y=candidate,
    )


def _row_features(image: Image.Image) -> Array:
    """Per-row features of a 256×192 copy: lightness in 4 column bands, 2 colour means, 2 textures."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    small = np.asarray(rgb.resize((_WORK_W, _WORK_H), Image.Resampling.BOX), dtype=np.float32) / 255.0
    red, green, blue = small[..., 0], small[..., 1], small[..., 2]
    light = (0.299 * red + 0.587 * green + 0.114 * blue) * 100.0
    bands = light.reshape(_WORK_H, 4, _WORK_W // 4).mean(axis=2)
    red_green = (red - green).mean(axis=1, keepdims=True) * 60.0 * _COLOUR_WEIGHT
    yellow_blue = ((red + green) * 0.5 - blue).mean(axis=1, keepdims=True) * 60.0 * _COLOUR_WEIGHT
    across = np.abs(np.diff(light, axis=1)).mean(axis=1, keepdims=True) * _TEXTURE_WEIGHT
    down = np.abs(np.diff(light, axis=0, append=light[-1:])).mean(axis=1, keepdims=True) * _TEXTURE_WEIGHT
    features = np.concatenate([bands, red_green, yellow_blue, across, down], axis=1)
    return _smooth_rows(features)


def _smooth_rows(features: Array) -> Array:
    """A light [1, 2, 1] / 4 blur down the rows: one-row jitter is not structure."""
    padded = np.concatenate([features[:1], features, features[-1:]], axis=0)
    return (padded[:-2] + 2.0 * padded[1:-1] + padded[2:]) * 0.25


def _resample(profile: Array, starts: Array, ends: Array) -> Array:
    """Each segment [start, end) of the row profile resampled to _SAMPLES rows: (candidates, samples, D)."""
    t = (np.arange(_SAMPLES, dtype=np.float32) + 0.5) / _SAMPLES
    pos = np.clip(starts[:, None] + (ends - starts)[:, None] * t[None, :] - 0.5, 0, profile.shape[0] - 1)
    low = np.floor(pos).astype(np.int32)
    high = np.minimum(low + 1, profile.shape[0] - 1)
    weight = (pos - low)[..., None]
    return profile[low] * (1.0 - weight) + profile[high] * weight


def _dtw(first: Array, second: Array) -> Array:
    """Banded dynamic-time-warping distance per candidate, averaged along the path (symmetric steps)."""
    cost = np.sqrt(((first[:, :, None, :] - second[:, None, :, :]) ** 2).sum(axis=-1))
    count, n = cost.shape[0], _SAMPLES
    acc = np.full((count, n + 1, n + 1), np.inf, dtype=np.float32)
    acc[:, 0, 0] = 0.0
    for diagonal in range(2 * n - 1):
        i = np.arange(max(0, diagonal - n + 1), min(n, diagonal + 1))
        j = diagonal - i
        inside = np.abs(i - j) <= _WARP_BAND
        i, j = i[inside], j[inside]
        step = cost[:, i, j]
        acc[:, i + 1, j + 1] = np.minimum(
            np.minimum(acc[:, i, j] + 2.0 * step, acc[:, i, j + 1] + step), acc[:, i + 1, j] + step
        )
    return acc[:, n, n] / (2.0 * n)


def _evidence(profile: Array) -> tuple[Array, Array, Array]:
    """Evidence of a stacked seam at each candidate row (≥ 1 meets every bar), those rows, and the
    repeat's mismatch at each."""
    height = profile.shape[0]
    rows = np.arange(round(_SEAM_RANGE[0] * height), round(_SEAM_RANGE[1] * height) + 1)
    seams = rows.astype(np.float32)
    upper = _resample(profile, np.zeros_like(seams), seams)
    lower = _resample(profile, seams, np.full_like(seams, height))
    repeat = _dtw(upper, lower)
    mirror = _dtw(upper, lower[:, ::-1])
    spread = np.minimum(_spread(upper), _spread(lower))
    gap_near, gap_far = round(_JUMP_GAP[0] * height), round(_JUMP_GAP[1] * height)
    summed = np.concatenate([np.zeros((1, profile.shape[1]), np.float32), np.cumsum(profile, axis=0)])
    above = (summed[rows - gap_near] - summed[rows - gap_far]) / (gap_far - gap_near)
    below = (summed[rows + gap_far] - summed[rows + gap_near]) / (gap_far - gap_near)
    jump = np.sqrt(((above - below) ** 2).sum(axis=-1))
    floor = _NOISE_FLOOR
    jump_bar = np.log((jump + floor) / (repeat + floor)) / _BAR_JUMP
    mirror_bar = np.log((mirror + floor) / (repeat + floor)) / _BAR_MIRROR
    spread_bar = np.log((spread + floor) / (repeat + floor)) / _BAR_SPREAD
    return np.minimum(np.minimum(jump_bar, mirror_bar), spread_bar), rows, repeat


def _locate(profile: Array, rows: Array, evidence: Array, repeat: Array) -> float:
    """The seam row: among rows with near-best evidence, the best-fitting reset.

    The evidence is flat over a few rows (the alignment absorbs small shifts), so the seam is pinned by
    what a seam is: a large step between the rows just above and just below it, the rows below looking
    like the top of the image and the rows above like its bottom, and the smallest repeat mismatch. The
    step is symmetric about a cross-fade's middle, so a fade is placed there.
    """
    near_best = evidence >= max(evidence.max() * _LOCATE_FRACTION, min(evidence.max(), 1.0))
    reach = round(_LOCATE_WINDOW * profile.shape[0])
    summed = np.concatenate([np.zeros((1, profile.shape[1]), np.float32), np.cumsum(profile, axis=0)])
    above = (summed[rows] - summed[rows - reach]) / reach
    below = (summed[rows + reach] - summed[rows]) / reach
    step = np.sqrt(((above - below) ** 2).sum(axis=-1))
    height = profile.shape[0]
    image_top = summed[reach] / reach
    image_bottom = (summed[height] - summed[height - reach]) / reach
    reset = np.sqrt(((below - image_top) ** 2).sum(axis=-1)) + np.sqrt(
        ((above - image_bottom) ** 2).sum(axis=-1)
    )
    fit = step - _LOCATE_RESET * reset - _LOCATE_REPEAT * repeat
    return float(rows[int(np.argmax(np.where(near_best, fit, -np.inf)))])


def _spread(segments: Array) -> Array:
    """How much each resampled segment varies from its own mean (its internal structure)."""
    centred = segments - segments.mean(axis=1, keepdims=True)
    return np.sqrt((centred**2).sum(axis=-1)).mean(axis=1)
