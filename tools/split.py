"""Detect a background that came out as two pictures stacked one above the other.

Diffusion models asked for one scene at off-bucket sizes or with hires upscaling sometimes paint two: the
same scene twice (beach over beach) or two different ones (a sunset beach over a daytime beach, a studio
over another studio, a landscape over a texture, two unrelated photos), joined by a hard, blurred or
cross-faded seam anywhere from 30% to 70% of the height. One continuous scene (a horizon, a sunset, a lake
reflection, shelves, a window frame, a wall over a floor, text, a texture) must not count.

`split_features.row_features` describes every candidate seam row of a 96×160 working copy (a full-width
step, independent statistics above and below, a scene that restarts, a replay rather than a mirror); a small
network trained by scripts/train_split_detector.py (weights in tools/split_model.npz, numpy only) scores each
row, and the best row decides. See docs/split-detector.md for the labelled sets and the measured numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, ModelError
from productshot.tools.split_features import WORK_H, candidate_rows, row_features, working_copy

BACKEND = "split-detector"
DEFAULT_THRESHOLD = 0.5
MODEL_PATH = Path(__file__).resolve().with_name("split_model.npz")
_MIN_SIDE = 8
_FLAT = 1e-3  # a working copy varying less than this (0..1 units) is one flat colour: nothing to split

Array = np.ndarray


@dataclass(frozen=True)
class SplitResult:
    """Whether the image looks like two stacked pictures, how strongly, and where the seam is."""

    split: bool
    score: float  # 0..1; above the threshold (default 0.5) means two stacked pictures
    seam_y: int | None  # seam row in pixels when split, else None
    backend: str
    seconds: float
    candidate_y: int = 0  # the best seam row found, reported even when not split


@dataclass(frozen=True)
class _RowScorer:
    """The trained row network: standardise, one tanh layer, a logit; `threshold` is the logit at 0.5."""

    mean: Array
    std: Array
    w1: Array
    b1: Array
    w2: Array
    b2: float
    threshold: float

    def logits(self, features: Array) -> Array:
        hidden = np.tanh(((features - self.mean) / self.std) @ self.w1 + self.b1)
        return hidden @ self.w2 + self.b2


@lru_cache(maxsize=1)
def _scorer(path: Path = MODEL_PATH) -> _RowScorer:
    """The shipped weights, read once per process."""
    try:
        with np.load(path) as data:
            return _RowScorer(
                mean=data["mean"],
                std=data["std"],
                w1=data["w1"],
                b1=data["b1"],
                w2=data["w2"],
                b2=float(data["b2"][0]),
                threshold=float(data["threshold"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"the split detector's weights {path} could not be read: {exc}") from exc


def check_split(image: Image.Image, *, threshold: float = DEFAULT_THRESHOLD) -> SplitResult:
    """Score `image` for two stacked pictures; `split` when the score reaches `threshold`."""
    started = time.perf_counter()
    if not isinstance(image, Image.Image):
        raise BadImageError(f"image must be a PIL image, got {type(image).__name__}")
    if image.width < _MIN_SIDE or image.height < _MIN_SIDE:
        raise BadImageError(
            f"image is {image.width}x{image.height}; the split check needs at least 8x8 pixels"
        )
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0:
        raise BadRequestError(f"threshold must be a number between 0 and 1 (exclusive), got {threshold!r}")
    pixels = working_copy(image)
    rows = candidate_rows()
    if float(pixels.std()) < _FLAT:
        score, best = 0.0, len(rows) // 2
    else:
        scorer = _scorer()
        logits = scorer.logits(row_features(pixels))
        best = int(np.argmax(logits))
        score = float(1.0 / (1.0 + np.exp(-(float(logits[best]) - scorer.threshold))))
    candidate = min(image.height - 1, round(rows[best] / WORK_H * image.height))
    split = score >= threshold
    return SplitResult(
        split=split,
        score=round(score, 4),
        seam_y=candidate if split else None,
        backend=BACKEND,
        seconds=time.perf_counter() - started,
        candidate_y=candidate,
    )
