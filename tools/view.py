"""Was the product photographed from nearly straight above? Read from the cutout's silhouette alone.

Seen from straight above, the products sellers shoot that way (plates, bowls, lids, pizzas, watch faces)
show a round outline: the silhouette's outline stays at nearly the same distance from its centre all the
way round (radial spread at most RADIAL_CV_MAX: 3%; a cup on a saucer shot from about 60° shows 4%) and its box is nearly square (ASPECT_RANGE). Seen from the side,
a product has a flat base and corners or a narrow neck, and a round object seen at an angle (a cup on a
saucer at 45°) is an ellipse, not a circle. Measured on the frozen set in tests/support/view_set.py
(built before these thresholds were chosen): see tests/test_view.py for the printed accuracy. Known
misses: a ball seen from the side (round), a rectangular notebook seen from above (not round).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

RADIAL_CV_MAX = 0.03
ASPECT_RANGE = (0.85, 1.18)
_WORK = 160  # the silhouette is measured at this size (long side)


@dataclass(frozen=True)
class ViewGuess:
    """The guess and the two measures it rests on."""

    top_down: bool
    aspect: float  # bbox height over width
    radial_cv: float  # spread of the outline's distance from the centroid (std / mean)


def guess_view(cutout: Image.Image) -> ViewGuess:
    """Whether an RGBA cutout looks photographed from nearly straight above (see the module docstring)."""
    alpha = cutout.getchannel("A") if "A" in cutout.getbands() else Image.new("L", cutout.size, 255)
    box = alpha.point(lambda v: 255 if v >= 128 else 0).getbbox()
    if box is None:
        return ViewGuess(False, 1.0, 1.0)
    crop = alpha.crop(box)
    scale = _WORK / max(crop.size)
    small = crop.resize((max(4, round(crop.width * scale)), max(4, round(crop.height * scale))))
    solid = np.pad(np.asarray(small) >= 128, 2)  # room around it, so the outline at the crop's edge shows
    inner = np.asarray(Image.fromarray(solid.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(3))) > 0
    edge = solid & ~inner
    ys, xs = np.nonzero(solid)
    cy, cx = ys.mean(), xs.mean()
    ey, ex = np.nonzero(edge)
    if ey.size < 8:
        return ViewGuess(False, 1.0, 1.0)
    # The outer outline only: for each direction the farthest edge pixel (holes such as a donut's are inside).
    angle = np.arctan2(ey - cy, ex - cx)
    dist = np.hypot(ey - cy, ex - cx)
    bins = np.clip(((angle + np.pi) / (2 * np.pi) * 72).astype(int), 0, 71)
    outer = np.zeros(72)
    np.maximum.at(outer, bins, dist)
    outer = outer[outer > 0]
    cv = float(outer.std() / outer.mean()) if outer.size >= 36 else 1.0
    aspect = (box[3] - box[1]) / max(1, box[2] - box[0])
    top_down = ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1] and cv <= RADIAL_CV_MAX
    return ViewGuess(top_down, float(aspect), cv)
