"""Where a product stands, as a type: the nine named anchors and exact points (fractions or pixels), and
the exact form's parser. The words that name positions build on this (`position_words`), and `positions`
parses any text into one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from productshot.errors import PositionError

ANCHORS: tuple[str, ...] = (
    "top-left",
    "top",
    "top-right",
    "left",
    "center",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
)

# (horizontal, vertical) alignment of each anchor: 0 = left/top, 0.5 = centre, 1 = right/bottom.
ANCHOR_ALIGN: dict[str, tuple[float, float]] = {
    "top-left": (0.0, 0.0),
    "top": (0.5, 0.0),
    "top-right": (1.0, 0.0),
    "left": (0.0, 0.5),
    "center": (0.5, 0.5),
    "right": (1.0, 0.5),
    "bottom-left": (0.0, 1.0),
    "bottom": (0.5, 1.0),
    "bottom-right": (1.0, 1.0),
}

Unit = Literal["fraction", "px"]

_NUM = r"[-+]?\d+(?:\.\d+)?"
_EXACT_RE = re.compile(
    rf"^\s*x\s*=\s*(?P<x>{_NUM})\s*(?P<xu>px|%)?\s*[,;\s]\s*y\s*=\s*(?P<y>{_NUM})\s*(?P<yu>px|%)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Position:
    """A named anchor, or an exact point (x, y) in fractions of the canvas or in pixels."""

    anchor: str | None = None
    x: float | None = None
    y: float | None = None
    unit: Unit | None = None

    def __post_init__(self) -> None:
        if self.anchor is not None:
            if self.anchor not in ANCHOR_ALIGN:
                raise PositionError(
                    f"position: unknown anchor {self.anchor!r}; use one of {', '.join(ANCHORS)}"
                )
            if self.x is not None or self.y is not None:
                raise PositionError("position: give either an anchor name or x/y, not both")
        elif self.x is None or self.y is None or self.unit is None:
            raise PositionError("position: an exact position needs both x and y (e.g. x=0.3,y=0.8)")

    @property
    def is_anchor(self) -> bool:
        return self.anchor is not None

    def canonical(self) -> str:
        """The one string form results record: an anchor name, `x=0.30,y=0.80` or `x=300px,y=620px`."""
        if self.anchor is not None:
            return self.anchor
        assert self.x is not None and self.y is not None
        if self.unit == "px":
            return f"x={round(self.x)}px,y={round(self.y)}px"
        return f"x={self.x:.2f},y={self.y:.2f}"

    def point_px(self, width: int, height: int) -> tuple[float, float]:
        """The exact point in pixels on a canvas of this size (exact positions only)."""
        if self.anchor is not None:
            raise PositionError("position: an anchor has no single point; it aligns the product's box")
        assert self.x is not None and self.y is not None
        if self.unit == "px":
            return float(self.x), float(self.y)
        return self.x * width, self.y * height

    def check_on_canvas(self, width: int, height: int) -> None:
        """Raise PositionError when an exact point lies outside a canvas of this size."""
        if self.anchor is not None:
            return
        px, py = self.point_px(width, height)
        if not (0 <= px <= width and 0 <= py <= height):
            raise PositionError(
                f"position {self.canonical()} is off the {width}x{height} canvas "
                f"(x must be within 0..{width}px and y within 0..{height}px, or fractions 0..1)"
            )

    def __str__(self) -> str:
        return self.canonical()


def parse_exact(text: str) -> Position | None:
    """Parse `x=0.3,y=0.8`, `x=30%,y=80%` or `x=300px,y=620px`; None when the text is not of that form."""
    match = _EXACT_RE.match(text)
    if not match:
        return None
    x, y = float(match["x"]), float(match["y"])
    xu, yu = (match["xu"] or "").lower(), (match["yu"] or "").lower()
    if (xu == "px") != (yu == "px"):
        raise PositionError(f"position {text!r}: give x and y in the same unit (both px or both fractions)")
    if xu == "px":
        return Position(x=x, y=y, unit="px")
    if xu == "%":
        x /= 100.0
    if yu == "%":
        y /= 100.0
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise PositionError(
            f"position {text!r} is off the canvas: fractions must lie between 0 and 1 "
            "(use px for pixels, e.g. x=300px,y=620px)"
        )
    return Position(x=x, y=y, unit="fraction")
