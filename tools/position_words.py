"""Words for positions, English and Korean (synonyms of the anchors and relative moves).

Minimal seed; the planner work extends the vocabulary and adds sentence-level finding and moves.
"""

from __future__ import annotations

import re

_SIMPLE: dict[str, str] = {
    "middle": "center",
    "centre": "center",
    "top-center": "top",
    "bottom-center": "bottom",
    "center-left": "left",
    "center-right": "right",
}


def anchor_from_words(text: str) -> str | None:
    """Return the anchor a short phrase names ("lower left", "bottom left corner", "왼쪽 아래"), or None."""
    key = re.sub(r"[\s_]+", "-", text.strip().lower())
    return _SIMPLE.get(key)
