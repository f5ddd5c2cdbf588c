"""Positions: any text that says where the product stands, parsed into one `anchors.Position`.

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

from productshot.errors import PositionError
from productshot.tools import position_words
from productshot.tools.anchors import ANCHOR_ALIGN, ANCHORS, Position, parse_exact


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
    anchor = position_words.anchor_from_words(text)
    if anchor is not None:
        _refuse_contradiction(text, position_words.anchor_from_words)
        return Position(anchor=anchor)
    raise PositionError(
        f"position {text!r} not understood; use one of {', '.join(ANCHORS)} (or Korean such as 왼쪽 아래), "
        "fractions x=0.3,y=0.8 or pixels x=300px,y=620px"
    )
