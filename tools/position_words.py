"""Words for positions in English and Korean: anchors, relative moves, and applying a move to a placement.

One vocabulary shared by `positions.parse_position` (a short phrase such as "lower left" or "왼쪽 하단"),
the planner (a whole sentence such as "put this bag on a beach, bottom-left") and the agent ("move it a
little to the right", "위로 조금"). Two-axis and centre phrases are always places; a single direction is a
relative move when the sentence says how far or uses a move verb ("a bit to the right", "왼쪽으로 옮겨줘"),
and a place otherwise ("..., left", "왼쪽에 놓아줘"). Bare 위/아래 ("on"/"under" after a noun in Korean:
"대리석 위에") never name a place on their own.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from productshot.errors import PositionError
from productshot.prompts import read_toml
from productshot.tools.anchors import Position, parse_exact

# How far a relative move goes, as a fraction of the canvas side it moves along.
MOVE_STEPS: dict[str, float] = {"small": 0.05, "medium": 0.12, "large": 0.25}


@dataclass(frozen=True)
class Move:
    """A relative move in fractions of the canvas: +dx is right, +dy is down (image coordinates)."""

    dx: float
    dy: float

    def __post_init__(self) -> None:
        for name, value in (("dx", self.dx), ("dy", self.dy)):
            if not math.isfinite(value) or abs(value) > 1.0:
                raise PositionError(
                    f"move: {name} must be a fraction of the canvas within -1..1, got {value!r}"
                )

    def to_dict(self) -> dict[str, float]:
        return {"dx": self.dx, "dy": self.dy}


# ---- vocabulary (prompts/words/positions.toml) ----------------------------------------------------------
_WORDS = read_toml("words", "positions")


def _table(name: str) -> dict[str, str]:
    table = _WORDS.get(name)
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"prompts/words/positions.toml: [{name}] must map words to names")
    return dict(table)


def _list(name: str) -> list[str]:
    items = _WORDS.get(name)
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"prompts/words/positions.toml: {name} must be a list of words")
    return list(items)


def _alt(words: dict[str, str] | list[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_V_EN = _table("vertical_en")
_H_EN = _table("horizontal_en")
_H_KO = _table("horizontal_ko")
_V_KO_FULL = _table("vertical_ko_full")
_V_KO_BARE = _table("vertical_ko_bare")
_COMPACT_KO = _table("compact_ko")
_CENTER_EN = rf"(?:dead\s+)?(?:{_alt(_list('center_en'))})"
_CENTER_KO = rf"(?:{_alt(_list('center_ko'))})"
_V_EN_RE = _alt(_V_EN)  # top|upper|bottom|lower
_V_EN_NAMES_RE = _alt([w for w, anchor in _V_EN.items() if w == anchor])  # top|bottom
_H_EN_RE = _alt(_H_EN)
_H_KO_RE = _alt(_H_KO)
_V_KO_FULL_RE = _alt(_V_KO_FULL)
_V_KO_ANY_RE = rf"(?:{_alt(_V_KO_FULL)}|(?:{_alt(_V_KO_BARE)})(?!치))"
_SIDE_NOUNS_EN = _alt(_list("side_nouns_en"))


def _anchor(vertical: str | None, horizontal: str | None) -> str:
    if vertical and horizontal:
        return f"{vertical}-{horizontal}"
    return vertical or horizontal or "center"


def _v_of(word: str) -> str:
    return _V_EN.get(word) or _V_KO_FULL.get(word) or _V_KO_BARE[word]


# Anchor patterns by tier: a lower tier wins over a higher one and masks the words it covers.
_AnchorRule = tuple[int, re.Pattern[str], Callable[[re.Match[str]], str]]

_ANCHOR_RULES: tuple[_AnchorRule, ...] = (
    # tier 1: two axes ("bottom left corner", "left-hand bottom", "왼쪽 아래", "좌측 하단", "좌하단")
    (
        1,
        re.compile(rf"\b(?P<v>{_V_EN_RE})\s*(?P<h>{_H_EN_RE})(?:\s*hand)?\b"),
        lambda m: _anchor(_V_EN[m["v"]], _H_EN[m["h"]]),
    ),
    (
        1,
        re.compile(rf"\b(?P<h>{_H_EN_RE})(?:\s*hand)?\s*(?P<v>{_V_EN_RE})\b"),
        lambda m: _anchor(_V_EN[m["v"]], _H_EN[m["h"]]),
    ),
    (1, re.compile(_alt(_COMPACT_KO)), lambda m: _COMPACT_KO[m[0]]),
    (
        1,
        re.compile(rf"(?P<h>{_H_KO_RE})\s*(?P<v>{_V_KO_ANY_RE})"),
        lambda m: _anchor(_v_of(m["v"]), _H_KO[m["h"]]),
    ),
    (
        1,
        re.compile(rf"(?P<v>{_V_KO_FULL_RE})\s*(?P<h>{_H_KO_RE})"),
        lambda m: _anchor(_v_of(m["v"]), _H_KO[m["h"]]),
    ),
    # tier 2: one axis plus centre ("bottom center", "middle left", "중앙 하단", "위쪽 가운데")
    (2, re.compile(rf"\b(?P<v>{_V_EN_RE})\s*{_CENTER_EN}\b"), lambda m: _V_EN[m["v"]]),
    (2, re.compile(rf"\b{_CENTER_EN}\s*(?P<v>{_V_EN_NAMES_RE})\b"), lambda m: _V_EN[m["v"]]),
    (2, re.compile(rf"\b{_CENTER_EN}\s*(?P<h>{_H_EN_RE})\b"), lambda m: _H_EN[m["h"]]),
    (2, re.compile(rf"\b(?P<h>{_H_EN_RE})\s*{_CENTER_EN}\b"), lambda m: _H_EN[m["h"]]),
    (2, re.compile(rf"{_CENTER_KO}\s*(?P<v>{_V_KO_ANY_RE})"), lambda m: _v_of(m["v"])),
    (2, re.compile(rf"(?P<v>{_V_KO_FULL_RE})\s*{_CENTER_KO}"), lambda m: _v_of(m["v"])),
    (2, re.compile(rf"(?P<h>{_H_KO_RE})\s*{_CENTER_KO}"), lambda m: _H_KO[m["h"]]),
    # tier 3: the centre ("middle", "centered", "가운데", "중앙")
    (3, re.compile(rf"\b{_CENTER_EN}\b"), lambda m: "center"),
    (3, re.compile(_CENTER_KO), lambda m: "center"),
    # tier 4: one side named as a place ("right side", "left edge", "at the top", "아래쪽", "좌측")
    (
        4,
        re.compile(rf"\b(?P<h>{_H_EN_RE})(?:\s*hand)?\s*(?:{_SIDE_NOUNS_EN})\b"),
        lambda m: _H_EN[m["h"]],
    ),
    (
        4,
        re.compile(rf"\b(?:at|on|in|to)\s+the\s+far\s+(?P<h>{_H_EN_RE})\b"),
        lambda m: _H_EN[m["h"]],
    ),
    (4, re.compile(rf"\b(?P<v>{_V_EN_NAMES_RE})\b"), lambda m: _V_EN[m["v"]]),
    (4, re.compile(_V_KO_FULL_RE), lambda m: _V_KO_FULL[m[0]]),
    (4, re.compile(rf"(?P<h>{_alt(_list('sides_ko'))})"), lambda m: _H_KO[m["h"]]),
    # tier 5: a bare side ("..., left", "왼쪽에"); skipped when the same word is a relative move
    (5, re.compile(rf"\b(?P<h>{_H_EN_RE})\b"), lambda m: _H_EN[m["h"]]),
    (5, re.compile(rf"(?P<h>{_alt(_list('bare_sides_ko'))})"), lambda m: _H_KO[m["h"]]),
)

# Phrases that contain position words but name no place ("on top of the table", "right now", "위치").
_NOT_PLACES = re.compile("|".join(f"(?:{p})" for p in _list("not_places")))

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_EXACT_IN_SENTENCE = re.compile(
    rf"\bx\s*=\s*(?P<x>{_NUMBER})\s*(?P<xu>px|%)?\s*(?:[,;]\s*|\s+)(?:and\s+)?"
    rf"y\s*=\s*(?P<y>{_NUMBER})\s*(?P<yu>px|%)?",
    re.IGNORECASE,
)

# Relative moves ---------------------------------------------------------------------------------------
_DIR_UNIT = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
_EN_ALWAYS_RELATIVE = _table("relative_en")
_EN_SIDES = _H_EN
_KO_DIRECTIONS = _table("directions_ko")
_KO_DIR_RE = re.compile(rf"^(?P<d>{_alt(_KO_DIRECTIONS)})(?P<rest>.*)$")
_KO_VERB_DIRECTIONS = _table("verb_directions_ko")
_EN_MOVE_VERBS = re.compile(rf"\b(?:{_alt(_list('move_verbs_en'))})\b")
_KO_MOVE_VERBS = re.compile(_alt(_list("move_verbs_ko")))
_AMOUNT_SIZES = ("small", "large", "medium")
_EN_AMOUNTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), size) for size in _AMOUNT_SIZES for pattern in _WORDS["amounts_en"][size]
]
_KO_AMOUNTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^(?:{_alt(_WORDS['amounts_ko'][size])})" + ("$" if size == "medium" else "")), size)
    for size in _AMOUNT_SIZES
]
_EN_WINDOW = 4  # words between a direction and the amount that goes with it
_KO_WINDOW = 1  # eojeol (space-separated words)


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    korean: bool


@dataclass(frozen=True)
class _Reading:
    position: Position | None
    move: Move | None


def _normalise(text: str) -> str:
    """Lower case, NFKC (full-width forms, composed Hangul), hyphens and underscores as spaces."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", re.sub(r"[-_/]", " ", folded)).strip()


def _tokens(text: str) -> list[_Token]:
    return [
        _Token(m[0], m.start(), m.end(), bool(re.match(r"[가-힣]", m[0])))
        for m in re.finditer(r"[a-z0-9]+(?:'[a-z]+)?|[가-힣]+", text)
    ]


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def _amounts(text: str, tokens: list[_Token]) -> list[tuple[int, str]]:
    """(token index, size) of every amount word ("a little", "far", "조금", "많이")."""
    found: list[tuple[int, str]] = []
    for pattern, size in _EN_AMOUNTS:
        for match in pattern.finditer(text):
            index = next(i for i, t in enumerate(tokens) if t.end > match.start())
            found.append((index, size))
    for index, token in enumerate(tokens):
        if token.korean:
            for pattern, size in _KO_AMOUNTS:
                if pattern.match(token.text):
                    found.append((index, size))
                    break
    return found


def _directions(
    text: str, tokens: list[_Token], masked: list[tuple[int, int]]
) -> list[tuple[int, str, bool]]:
    """(token index, direction, relative-by-itself) of every direction word not inside a place phrase."""
    found: list[tuple[int, str, bool]] = []
    for index, token in enumerate(tokens):
        if _overlaps((token.start, token.end), masked):
            continue
        if not token.korean:
            if token.text in _EN_ALWAYS_RELATIVE:
                found.append((index, _EN_ALWAYS_RELATIVE[token.text], True))
            elif token.text in _EN_SIDES:
                found.append((index, _EN_SIDES[token.text], False))
            continue
        verb = next((d for w, d in _KO_VERB_DIRECTIONS.items() if token.text.startswith(w)), None)
        if verb is not None:
            found.append((index, verb, False))
            continue
        match = _KO_DIR_RE.match(token.text)
        if match is None:
            continue
        rest = match["rest"]
        toward = rest.startswith(("으로", "로", "쪽으로"))
        if match["d"] in ("위", "아래", "밑") and not toward:
            continue  # "대리석 위에": on the marble, not a direction
        if rest.startswith("치"):
            continue  # 위치: position
        found.append((index, _KO_DIRECTIONS[match["d"]], False))
    return found


def _read(sentence: str) -> _Reading:
    """Find the place and the relative move one sentence names (either or both may be absent)."""
    text = _normalise(sentence)
    folded = unicodedata.normalize("NFKC", sentence)
    found = _EXACT_IN_SENTENCE.search(folded)
    exact = None
    if found is not None:
        exact = parse_exact(f"x={found['x']}{found['xu'] or ''},y={found['y']}{found['yu'] or ''}")

    masked = [m.span() for m in _NOT_PLACES.finditer(text)]
    anchors: list[tuple[int, int, int, str]] = []  # tier, start, end, anchor
    for tier, pattern, to_anchor in _ANCHOR_RULES:
        for match in pattern.finditer(text):
            span = match.span()
            if _overlaps(span, masked) or any(
                _overlaps(span, [(s, e)]) for t, s, e, _ in anchors if t < tier
            ):
                continue
            anchors.append((tier, span[0], span[1], to_anchor(match)))

    tokens = _tokens(text)
    place_spans = [(s, e) for t, s, e, _ in anchors if t <= 4] + masked
    directions = _directions(text, tokens, place_spans)
    amounts = _amounts(text, tokens)
    has_verb = bool(_EN_MOVE_VERBS.search(text) or _KO_MOVE_VERBS.search(text))

    moves: list[tuple[int, str, str | None]] = []  # token index, direction, size
    for index, direction, relative in directions:
        window = _KO_WINDOW if tokens[index].korean else _EN_WINDOW
        near = [(abs(i - index), size) for i, size in amounts if abs(i - index) <= window]
        size = min(near)[1] if near else None
        if tokens[index].korean:
            # "왼쪽으로 옮겨줘", "조금 오른쪽"; 올려/내려 ("put on"/"put down" too) only with an amount.
            toward = tokens[index].text.endswith(("으로", "로"))
            is_move = size is not None or (has_verb and toward)
        else:
            is_move = relative or size is not None or has_verb
        if is_move:
            moves.append((index, direction, size))

    move_spans = [(tokens[i].start, tokens[i].end) for i, _, _ in moves]
    candidates = [(t, s, a) for t, s, e, a in anchors if not (t == 5 and _overlaps((s, e), move_spans))]
    position: Position | None = exact
    if position is None and candidates:
        best = min(t for t, _, _ in candidates)
        position = Position(anchor=max((s, a) for t, s, a in candidates if t == best)[1])
    return _Reading(position=position, move=_combine(moves))


def _combine(moves: list[tuple[int, str, str | None]]) -> Move | None:
    if not moves:
        return None
    stated = [size for _, _, size in moves if size is not None]
    default = max(stated, key=lambda s: MOVE_STEPS[s]) if stated else "medium"
    dx = dy = 0.0
    seen: set[str] = set()
    for _, direction, size in moves:
        if direction in seen:
            continue
        seen.add(direction)
        step = MOVE_STEPS[size or default]
        ux, uy = _DIR_UNIT[direction]
        dx += ux * step
        dy += uy * step
    if dx == 0.0 and dy == 0.0:
        return None
    return Move(dx=round(dx, 4), dy=round(dy, 4))


# ---- public API ---------------------------------------------------------------------------------------
_FILLER = re.compile(
    r"\b(?:the|at|in|on|to|of|a|an|corner|side|edge|hand|position|place|put|it|canvas|image|frame|picture|"
    r"photo|and|please)\b|에서|에|쪽|으로|로|모서리|구석|부분|위치|끝|[\s,.;:!?]"
)


def anchor_from_words(text: str) -> str | None:
    """Return the anchor a short phrase names ("lower left", "bottom left corner", "왼쪽 아래"), or None.

    The phrase must be only a place: "bottom left on marble" is not an anchor (use `find_position`).
    """
    if not isinstance(text, str) or not text.strip():
        return None
    reading = _read(text)
    if reading.position is None or not reading.position.is_anchor or reading.move is not None:
        return None
    rest = _normalise(text)
    for _, pattern, _ in _ANCHOR_RULES:
        rest = pattern.sub(" ", rest)
    if _FILLER.sub("", rest).strip():
        return None
    return reading.position.anchor


def find_position(sentence: str) -> Position | None:
    """The place a whole request names: an exact point (x=0.3,y=0.8 / x=300px,y=620px) or an anchor.

    "put this bag on a beach, bottom-left" -> bottom-left; "move it a little to the right" -> None (a move).
    """
    return _read(sentence).position


def find_move(sentence: str) -> Move | None:
    """The relative move a sentence asks for ("a little to the right", "far left", "위로 조금"), or None.

    Sizes: a little/조금 = small (5% of the canvas), unstated = medium (12%), far/a lot/많이 = large (25%).
    """
    return _read(sentence).move


def apply_move(
    position: Position, move: Move, canvas: tuple[int, int], bbox: tuple[int, int, int, int]
) -> Position:
    """Turn the last placement and a relative move into a new exact position (fractions of the canvas).

    The point is the product's bottom-centre: an exact `position` starts from its own point (no drift
    across repeated moves), an anchor from the bottom-centre of `bbox` (x0, y0, x1, y1 in pixels), where
    the product actually stood. The result keeps the whole product box on the canvas.
    """
    width, height = canvas
    if width <= 0 or height <= 0:
        raise PositionError(f"canvas: width and height must be positive, got {width}x{height}")
    x0, y0, x1, y1 = bbox
    if not (x1 > x0 and y1 > y0):
        raise PositionError(f"bbox {bbox}: needs x0 < x1 and y0 < y1 (pixels: left, top, right, bottom)")
    box_w, box_h = min(x1 - x0, width), min(y1 - y0, height)
    if position.is_anchor:
        start_x, start_y = (x0 + x1) / 2.0, float(y1)
    else:
        start_x, start_y = position.point_px(width, height)
    new_x = min(max(start_x + move.dx * width, box_w / 2.0), width - box_w / 2.0)
    new_y = min(max(start_y + move.dy * height, float(box_h)), float(height))
    return Position(x=round(new_x / width, 4), y=round(new_y / height, 4), unit="fraction")


__all__ = ["MOVE_STEPS", "Move", "anchor_from_words", "apply_move", "find_move", "find_position"]
