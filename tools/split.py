"""Detect a background that came out as two pictures stacked one above the other.

Diffusion models asked for one scene at off-bucket sizes or with hires upscaling sometimes paint two: the
same scene twice (beach over beach) or two different ones (a sunset beach over a daytime beach, a studio
over another studio, a landscape over a texture, two unrelated photos), joined by a hard, blurred or
cross-faded seam anywhere from 30% to 70% of the height. One continuous scene (a horizon, a sunset, a lake
reflection, shelves, a window frame, a wall over a floor, text, a texture) must not count.

`split_features.row_features` describes every candidate seam row of a 96×160 working copy (a full-width
step, independent statistics above and below, a scene that restarts, a replay rather than a mirror); a row
scorer (scripts/train_split_detector.py) turns each row into a logit, and two small whole-picture networks
(`split_net`, scripts/train_split_net.py), averaged, correct it with what they see of the picture as a whole
(ground directly above sky, light that restarts). All run in numpy from tools/split_net.npz; the best row
decides. See docs/split-detector.md for the labelled sets and the measured numbers.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, ModelError
from productshot.tools import split_net
from productshot.tools.split_features import WORK_H, candidate_rows, row_features, working_copy

BACKEND = "split-detector"
DEFAULT_THRESHOLD = 0.5
MODEL_PATH = Path(__file__).resolve().with_name("split_net.npz")
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
class _Detector:
    """The trained networks (each with the row scorer it corrects) and the logit that scores 0.5."""

    nets: list[dict[str, Array]]
    threshold: float

    def logits(self, pixels: Array) -> tuple[Array, Array]:
        """Per candidate row: the decision logit, and the logit that places the seam (network and row
        scorer summed: where both agree; a strong edge inside one half is the row scorer's usual mistake)."""
        features = row_features(pixels)
        decision = split_net.ensemble_logits(self.nets, pixels, features)
        return decision, decision + split_net.base_logits(self.nets[0], features)


@lru_cache(maxsize=1)
def _detector(path: Path = MODEL_PATH) -> _Detector:
    """The shipped weights, read once per process."""
    try:
        with path.open("rb") as handle, np.load(handle) as data:  # our handle: closed even when numpy fails
            nets = split_net.members(data)
            if not nets:
                raise ValueError("it holds no network")
            return _Detector(nets=nets, threshold=float(data["threshold"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
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
        detector = _detector()
        decision, placement = detector.logits(pixels)
        best = int(np.argmax(placement))
        margin = float(decision.max()) - detector.threshold
        score = float(1.0 / (1.0 + np.exp(-margin)))
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
