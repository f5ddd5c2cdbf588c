"""Positions: where the product stands, as a named anchor or an exact point.

Canonical forms (what results record and the planner prints):
  - an anchor name: top-left, top, top-right, left, center, right, bottom-left, bottom, bottom-right
  - fractions of the canvas: ``x=0.30,y=0.80``
  - pixels: ``x=300px,y=620px``
Exact points place the product's bottom-centre there. Words (English and Korean synonyms) and relative
moves are parsed here too, so the composite tool, the planner and the agent agree on one vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


def _normalise_anchor_words(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def _axes(anchor: str) -> tuple[str | None, str | None]:
    """(vertical, horizontal) an anchor pins: bottom-left -> (bottom, left), top -> (top, None)."""
    parts = anchor.split("-")
    vertical = next((p for p in parts if p in ("top", "bottom")), None)
    horizontal = next((p for p in parts if p in ("left", "right")), None)
    return vertical, horizontal


def _compatible(first: str, second: str) -> bool:
    (v1, h1), (v2, h2) = _axes(first), _axes(second)
    return (v1 is None or v2 is None or v1 == v2) and (h1 is None or h2 is None or h1 == h2)


def _named_anchors(text: str, read: Callable[[str], str | None]) -> list[str]:
    """Each place a phrase names, left to right: the longest run of words that reads as one anchor and
    only refines it ("bottom" -> "bottom left"), so "top-left bottom-right" names two places."""
    words = re.split(r"[\s,;/]+", text.strip())
    found: list[str] = []
    start = 0
    while start < len(words):
        anchor: str | None = None
        end = start
        for stop in range(start + 1, len(words) + 1):
            reading = read(" ".join(words[start:stop]))
            if reading is None:
                continue
            if anchor is not None and not _compatible(anchor, reading):
                break
            anchor, end = reading, stop
        if anchor is None:
            start += 1
            continue
        found.append(anchor)
        start = end
    # A word a longer reading swallowed still counts ("왼쪽 위 오른쪽" reads as top-left alone).
    singles = (read(word) for word in words)
    return found + [anchor for anchor in singles if anchor is not None]


def _refuse_contradiction(text: str, read: Callable[[str], str | None]) -> None:
    """PositionError when a phrase names places on opposite sides ("top-left bottom-right", "왼쪽 오른쪽")."""
    named = _named_anchors(text, read)
    for i, first in enumerate(named):
        for second in named[i + 1 :]:
            if not _compatible(first, second):
                raise PositionError(
                    f"position {text!r} contradicts itself ({first} and {second}); name one place, "
                    f"e.g. {first} or {second}"
                )


def refuse_contradiction(text: str) -> None:
    """PositionError when a phrase or a whole request names places on opposite sides ("put it top-left
    bottom-right", "왼쪽 위 오른쪽 아래에"): the planner refuses it as `--position` does, never picks one."""
    from productshot.tools import position_words

    _refuse_contradiction(text, position_words.anchor_from_words)


def parse_position(text: str | Position) -> Position:
    """Parse a position given as one string: an anchor (or synonym, English or Korean) or an exact point.

    Raises PositionError naming the text when it is none of those.
    """
    if isinstance(text, Position):
        return text
    if not isinstance(text, str) or not text.strip():
        raise PositionError("position: empty; use an anchor such as bottom-left or x=0.3,y=0.8")
    exact = parse_exact(text)
    if exact is not None:
        return exact
    key = _normalise_anchor_words(text)
    if key in ANCHOR_ALIGN:
        return Position(anchor=key)
    from productshot.tools import position_words

    anchor = position_words.anchor_from_words(text)
    if anchor is not None:
        _refuse_contradiction(text, position_words.anchor_from_words)
        return Position(anchor=anchor)
    raise PositionError(
        f"position {text!r} not understood; use one of {', '.join(ANCHORS)} (or Korean such as 왼쪽 아래), "
        "fractions x=0.3,y=0.8 or pixels x=300px,y=620px"
    )
