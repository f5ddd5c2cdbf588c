"""Where a product may stand in a scene and where the scene's light comes from.

The studio reports both for what it draws (`Ground`); for any other background (a diffusion render, the
user's own photo) `estimate_ground` finds the floor below the strongest horizontal edge (the horizon or
the wall/floor line) and reads the light's side from the brightness across the frame. `CastGeometry`
turns a light into how a silhouette is thrown onto the ground, so every front end draws the same shadow.
numpy + Pillow only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

View = Literal["eye-level", "flat-lay"]
VIEWS: tuple[str, ...] = ("eye-level", "flat-lay")
BoolArray = npt.NDArray[np.bool_]

# How much a floor seen from eye level is foreshortened: one unit of depth spans this much of a unit of height.
EYE_LEVEL_SQUASH = 0.34
# The light used where nothing tells (a user's photo with no readable light): soft key from the upper left front.
DEFAULT_AZIMUTH = -40.0
DEFAULT_ELEVATION = 45.0


@dataclass(frozen=True)
class Light:
    """The scene's key light as the camera sees it.

    `azimuth` (degrees) is where the light comes from around the product: 0 from the camera, +90 from the
    right, -90 from the left, ±180 from behind (back light). `elevation` (degrees) is its height above the
    ground: low sun ≈ 10, a studio key ≈ 40, noon ≈ 70.
    """

    azimuth: float = DEFAULT_AZIMUTH
    elevation: float = DEFAULT_ELEVATION

    def __post_init__(self) -> None:
        if not (math.isfinite(self.azimuth) and math.isfinite(self.elevation)):
            raise ValueError("light azimuth and elevation must be finite numbers")
        if not 1.0 <= self.elevation <= 90.0:
            raise ValueError(f"light elevation must be within 1..90 degrees, got {self.elevation}")

    def to_dict(self) -> dict[str, float]:
        return {"azimuth": round(self.azimuth, 1), "elevation": round(self.elevation, 1)}

    def shadow_direction(self) -> tuple[float, float]:
        """Unit picture direction (dx right, dy down) in which the cast shadow leaves the base."""
        g = cast_geometry(self)
        dx, dy = g.shear, (g.squash if g.forward else -g.squash)
        norm = math.hypot(dx, dy) or 1.0
        return dx / norm, dy / norm


@dataclass(frozen=True)
class CastGeometry:
    """How a light throws the product's silhouette onto the ground.

    A point at height t above the base lands `shear * t` to the side and `squash * t` away from the base:
    upwards in the picture (behind the product) or, when `forward`, downwards (towards the viewer).
    """

    shear: float
    squash: float
    forward: bool = False


def cast_geometry(light: Light, view: View = "eye-level") -> CastGeometry:
    """The shadow a light throws: opposite the light, 1/tan(elevation) long per unit of height, with the
    depth component foreshortened by the view (a flat lay sees the ground face on)."""
    length = min(3.0, 1.0 / math.tan(math.radians(light.elevation)))
    az = math.radians(light.azimuth)
    side = -math.sin(az) * length
    toward_camera = -math.cos(az) * length  # > 0: the shadow falls towards the viewer
    squash = 1.0 if view == "flat-lay" else EYE_LEVEL_SQUASH
    depth = toward_camera * squash
    return CastGeometry(
        shear=max(-1.8, min(1.8, side)),
        squash=max(0.06, min(1.3, abs(depth))),
        forward=depth > 0.0,
    )


# Named lights for `composite --light` (where the light comes from as the viewer sees the picture).
NAMED_LIGHTS: dict[str, Light] = {
    "left": Light(-90.0, 42.0),
    "right": Light(90.0, 42.0),
    "top-left": Light(-60.0, 62.0),
    "top-right": Light(60.0, 62.0),
    "top": Light(0.0, 80.0),
    "front": Light(0.0, 40.0),
    "front-left": Light(-45.0, 45.0),
    "front-right": Light(45.0, 45.0),
    "back": Light(180.0, 35.0),
    "back-left": Light(-140.0, 38.0),
    "back-right": Light(140.0, 38.0),
}


@dataclass(frozen=True, eq=False)
class Footprint:
    """Where a product's base will be, in canvas pixels: its columns `left`..`right` and its base row."""

    left: float
    right: float
    base: float

    def to_list(self) -> list[float]:
        return [round(self.left, 1), round(self.right, 1), round(self.base, 1)]

    @classmethod
    def from_box(cls, box: tuple[int, int, int, int]) -> Footprint:
        """The footprint of a product whose bbox (x0, y0, x1, y1, exclusive) is `box`."""
        return cls(float(box[0]), float(box[2]), float(box[3]))


@dataclass(frozen=True, eq=False)
class Ground:
    """What a background offers a product: `surface` (H×W, True where a product may stand), the scene's
    `light`, the camera `view`, and `source` ("studio" drew it, "estimated" read it from pixels)."""

    surface: BoolArray
    light: Light
    view: View = "eye-level"
    source: str = "studio"

    def carries(self, footprint: Footprint, *, share: float = 0.6, gap: float = 0.0) -> bool:
        """Whether the surface is under the base: at least `share` of the base's columns stand on it (and,
        with `gap`, on the row that many pixels further back too: the base is not perched on the far edge)."""
        h, w = self.surface.shape
        x0, x1 = max(0, math.floor(footprint.left)), min(w, math.ceil(footprint.right))
        if x1 <= x0:
            return False
        rows = {
            min(h - 1, max(0, round(footprint.base) - 1)),
            min(h - 1, max(0, round(footprint.base - gap) - 1)),
        }
        return all(float(self.surface[row, x0:x1].mean()) >= share for row in rows)

    def top_row(self, x0: float, x1: float) -> int | None:
        """The highest surface row under columns x0..x1 where the surface runs down from there, or None."""
        w = self.surface.shape[1]
        a, b = max(0, math.floor(x0)), min(w, math.ceil(x1))
        if b <= a:
            return None
        covered = self.surface[:, a:b].mean(axis=1) >= 0.6
        rows = np.flatnonzero(covered)
        return int(rows[0]) if rows.size else None

    def nearest_base(self, footprint: Footprint, *, gap: float) -> float | None:
        """The base row nearest `footprint.base` at which the surface carries the product (same columns),
        with at least `gap` rows of surface above it, so the base is not perched on the surface's far edge."""
        a, b = max(0, math.floor(footprint.left)), min(self.surface.shape[1], math.ceil(footprint.right))
        if b <= a:
            return None
        covered = self.surface[:, a:b].mean(axis=1) >= 0.6
        ok = covered.copy()
        for k in range(1, max(0, round(gap)) + 1):
            ok[k:] &= covered[:-k]
            ok[:k] = False
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return None
        best = rows[int(np.argmin(np.abs(rows + 1 - footprint.base)))]
        return float(best + 1)


def surface_below(height: int, width: int, top: npt.NDArray[np.float32] | float) -> BoolArray:
    """A surface mask: every row at or below `top` (one row, or one per column)."""
    rows = np.arange(height, dtype=np.float32)[:, None]
    edge = np.broadcast_to(np.asarray(top, dtype=np.float32).reshape(1, -1), (1, width))
    return np.asarray(rows >= np.ceil(edge), dtype=bool)


def estimate_ground(image: Image.Image) -> Ground:
    """The floor of a background that reports none: everything below its strongest horizontal edge in the
    lower two thirds (a horizon, a table's far edge, a wall/floor line); with no edge that stands out the
    background is one seamless surface (a plain or white backdrop) and all of it may carry the product.
    The light's side comes from where the upper frame is brighter (else the default light)."""
    small = image.convert("RGB")
    scale = min(1.0, 160 / max(small.size))
    # reducing_gap: a box reduction first, then bicubic; within a grey level of a plain bicubic, ~3× cheaper.
    small = small.resize(
        (max(8, round(small.width * scale)), max(8, round(small.height * scale))), reducing_gap=3.0
    )
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    h, w = rgb.shape[:2]
    rows = rgb.mean(axis=1)  # (h, 3) row colours
    kernel = np.ones(3, np.float32) / 3
    smooth = np.stack([np.convolve(rows[:, c], kernel, mode="same") for c in range(3)], axis=1)
    step = np.zeros(h, np.float32)
    d = max(1, h // 40)
    step[d:-d] = np.linalg.norm(smooth[2 * d :] - smooth[: -2 * d], axis=1)
    lo, hi = round(0.30 * h), round(0.85 * h)
    band = step[lo:hi]
    edge_row = lo + int(np.argmax(band)) if band.size else round(0.66 * h)
    noise = float(np.median(step[d:-d])) if h > 2 * d else 0.0
    seamless = band.size == 0 or float(band.max()) < max(0.03, 3.0 * noise)
    top = 0.0 if seamless else (edge_row + 0.5) / h * image.height + 0.02 * image.height  # just below it
    surface = surface_below(image.height, image.width, top)
    luma = rgb[: max(1, h // 2)] @ np.array([0.299, 0.587, 0.114], np.float32)
    left, right = float(luma[:, : w // 3].mean()), float(luma[:, -(w // 3) :].mean())
    azimuth = DEFAULT_AZIMUTH
    if abs(left - right) > 0.04:
        azimuth = -60.0 if left > right else 60.0
    return Ground(surface=surface, light=Light(azimuth, DEFAULT_ELEVATION), source="estimated")
