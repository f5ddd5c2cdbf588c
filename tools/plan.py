"""Turn one request sentence (English or Korean) into a Plan: scene, place, size, mood, product, action.

Two planners behind one interface: `RulesPlanner` (the embedded default: word lists from prompts/words
and the position vocabulary, no network) and `LLMPlanner` (a chat model with structured output, falling
back to the rules with the reason in `notes`). Follow-ups ("move it a little to the right", "조금 더
크게", "same, but at sunset") read the earlier plans: a follow-up keeps the previous scene and product
unless it names new ones. `position` is None when the request does not say one (the caller keeps the
previous placement or its default).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from productshot.errors import BadRequestError, PositionError
from productshot.prompts import load_template, read_toml
from productshot.prompts.lexicon import display_word, find_words, language_of, load_lexicon, normalise_text
from productshot.settings import Settings
from productshot.tools.anchors import Position
from productshot.tools.listing_words import find_listing
from productshot.tools.notes import Note, note, notes_from_dicts, notes_to_dicts
from productshot.tools.position_words import MOVE_STEPS, Move, find_move, find_position
from productshot.tools.positions import parse_position, refuse_contradiction

MAX_REQUEST_CHARS = 2000
ACTIONS: tuple[str, ...] = (
    "place",
    "move",
    "resize",
    "new_scene",
    "regenerate",
    "undo",
    "listing",
    "check_listing",
    "help",
)
DEFAULT_SCENE = "studio"
RULES_BACKEND = "rules"

# Absolute size: the product's longest side as a fraction of the canvas short side.
SCALE_WORDS: dict[str, float] = {"tiny": 0.2, "small": 0.35, "medium": 0.5, "large": 0.75, "huge": 0.9}
# Relative size: factor on the last scale, by direction and amount ("a little bigger", "much smaller").
SCALE_FACTORS: dict[tuple[str, str], float] = {
    ("up", "small"): 1.15,
    ("up", "medium"): 1.25,
    ("up", "large"): 1.6,
    ("down", "small"): 0.87,
    ("down", "medium"): 0.8,
    ("down", "large"): 0.6,
}


# ---- the plan -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """What a request asks for. `action` is the main step; every field that is set applies."""

    action: str
    scene: str
    position: str | None = None
    scale: float | None = None
    scale_factor: float | None = None
    move: Move | None = None
    style: tuple[str, ...] = ()
    product: str | None = None
    language: str = "en"
    backend: str = RULES_BACKEND
    notes: tuple[Note, ...] = field(default=(), compare=False)
    preset: str | None = None  # the marketplace preset of a listing or check_listing action
    view: str | None = None  # "flat-lay" when the request says so ("top view", "위에서 본"); None: not said
    floating: bool = False  # the request asks the product to float or hang

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise BadRequestError(f"plan action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.scale is not None and not 0.02 <= self.scale <= 1.0:
            raise BadRequestError(f"plan scale must be a fraction 0.02..1 of the canvas, got {self.scale!r}")
        if self.scale_factor is not None and not 0.1 <= self.scale_factor <= 10.0:
            raise BadRequestError(f"plan scale_factor must be within 0.1..10, got {self.scale_factor!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what `productshot plan --json` prints and the agent stores)."""
        return {
            "action": self.action,
            "scene": self.scene,
            "position": self.position,
            "scale": self.scale,
            "scale_factor": self.scale_factor,
            "move": self.move.to_dict() if self.move else None,
            "style": list(self.style),
            "product": self.product,
            "language": self.language,
            "backend": self.backend,
            "notes": notes_to_dicts(self.notes, self.language),
            "preset": self.preset,
            "view": self.view,
            "floating": self.floating,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from `to_dict()` output (e.g. a stored conversation); bad fields raise BadRequestError."""
        try:
            move = data.get("move")
            position = data.get("position")
            return cls(
                action=str(data["action"]),
                scene=str(data.get("scene") or DEFAULT_SCENE),
                position=parse_position(position).canonical() if position else None,
                scale=_optional_float(data.get("scale")),
                scale_factor=_optional_float(data.get("scale_factor")),
                move=Move(dx=float(move["dx"]), dy=float(move["dy"])) if move else None,
                style=tuple(str(s) for s in data.get("style") or ()),
                product=str(data["product"]) if data.get("product") else None,
                language=str(data.get("language") or "en"),
                backend=str(data.get("backend") or RULES_BACKEND),
                notes=notes_from_dicts(n for n in data.get("notes") or () if isinstance(n, Mapping | Note)),
                preset=str(data["preset"]) if data.get("preset") else None,
                view=str(data["view"]) if data.get("view") else None,
                floating=bool(data.get("floating", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError(f"plan: cannot rebuild from {dict(data)!r}: {exc}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class Planner(Protocol):
    """Anything that turns a request plus the conversation's earlier plans into a Plan."""

    def plan(self, request: str, history: Sequence[Plan] = ()) -> Plan: ...


# ---- request text ------------------------------------------------------------------------------------
def clean_request(request: object, *, name: str = "request") -> str:
    """The request as one clean line: NFKC, control and format characters removed, spaces collapsed.

    Raises BadRequestError for a non-string, an empty request or one over MAX_REQUEST_CHARS characters.
    """
    if not isinstance(request, str):
        raise BadRequestError(f"{name}: must be text, got {type(request).__name__}")
    if len(request) > MAX_REQUEST_CHARS:
        raise BadRequestError(
            f"{name}: {len(request)} characters is over the {MAX_REQUEST_CHARS}-character limit; "
            "describe the shot in a sentence or two"
        )
    kept = []
    for char in unicodedata.normalize("NFKC", request):
        category = unicodedata.category(char)
        if category == "Cc":
            kept.append(" ")  # tabs, newlines, NUL, escape sequences: a space at most
        elif category not in ("Cf", "Cs", "Co", "Cn"):  # zero-width and bidi controls, unassigned
            kept.append(char)
    text = re.sub(r"\s+", " ", "".join(kept)).strip()
    if not text:
        raise BadRequestError(
            f"{name}: empty; say what you want, e.g. 'put this bag on a simple beach scene, bottom-left'"
        )
    return text


def request_language(text: str) -> str:
    """'ko' when the text holds Hangul, else 'en' (the rules read these two)."""
    return language_of(text)


# ---- scene words ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneWords:
    """The backdrop a request names: scene entries, mood/light styles, a colour, or literal English words."""

    scenes: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    colour: str | None = None
    free: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.scenes or self.free)

    def label(self) -> str:
        """English scene words for a plan ("white marble", "beach"), or '' when none were found."""
        if self.free:
            return self.free
        scenes = load_lexicon("scenes")
        labels = [scenes.get(key).fields["label"] for key in self.scenes[:3]]
        if self.colour and labels:
            labels[0] = f"{display_word('colours', self.colour, 'en')} {labels[0]}"
        return " ".join(labels)


_BACKGROUND_NOUN = re.compile(r"^[\s-]*(?:background|backdrop|wall|setting|배경|바탕|벽)")
_FREE_SCENE = re.compile(
    r"\b(?:on|in|at|by|against|near|inside|onto|into|over)\s+(?:an?|the|some)?\s*([a-z][a-z ]*)"
)
_FREE_STOP = frozenset(
    """left right top bottom upper lower middle center centre corner side edge it this that there here
    front background backdrop scene setting image photo picture shot frame canvas please instead again
    same way style mood light lighting foreground place position x y px and with but or then its my
    your our small big large tiny huge medium bigger smaller larger size a an the of for to from""".split()  # noqa: SIM905
)


def read_scene(text: str) -> SceneWords:
    """The scene, styles and colour a request names, from prompts/words (English and Korean)."""
    folded = normalise_text(text)
    hits = find_words(folded, ("scenes", "styles", "colours"))
    scene_hits = [h for h in hits if h.lexicon == "scenes"]
    colour_hits = [h for h in hits if h.lexicon == "colours"]
    scene_lexicon = load_lexicon("scenes")
    implied = [scene_lexicon.get(h.key).fields.get("style") for h in hits if h.lexicon == "scenes"]
    styles = tuple(
        dict.fromkeys([*(h.key for h in hits if h.lexicon == "styles"), *(s for s in implied if s)])
    )
    scenes = list(dict.fromkeys(h.key for h in scene_hits if h.key != "backdrop"))
    colour = None
    for hit in colour_hits:
        following = folded[hit.end :]
        next_scene = next((s for s in scene_hits if s.start >= hit.end), None)
        if next_scene is not None and not folded[hit.end : next_scene.start].strip(" -"):
            if not scenes or next_scene.key == scenes[0]:
                colour = hit.key
                break
        elif _BACKGROUND_NOUN.match(following) and not scenes:
            colour = hit.key
            break
    if not scenes and (colour or any(h.key == "backdrop" for h in scene_hits)):
        scenes = ["backdrop"]
    free = None if scenes or request_language(folded) == "ko" else _free_scene_words(folded)
    return SceneWords(scenes=tuple(scenes), styles=styles, colour=colour, free=free)


def _free_scene_words(folded: str) -> str | None:
    """English words after 'on/in/at' taken as the scene when no listed scene matched ("on a volcano")."""
    products = load_lexicon("products")
    styles = load_lexicon("styles")
    for match in _FREE_SCENE.finditer(folded):
        words: list[str] = []
        for word in match[1].split():
            if word in _FREE_STOP or products.find(word) or styles.find(word):
                break
            words.append(word)
            if len(words) == 3:
                break
        if words:
            return " ".join(words)
    return None


def find_product(text: str) -> str | None:
    """The product a request names, as the English noun of prompts/words/products ("가방" -> "bag")."""
    hits = load_lexicon("products").find(text)
    return hits[0].key if hits else None


# ---- bare coordinates --------------------------------------------------------------------------------------
_NUM = r"[-+]?\d+(?:\.\d+)?"
# "at 30%, 80%" (fractions of the canvas) and "at (300, 500)" / "at 300px, 500px" (pixels of the canvas).
_PERCENT_PAIR = re.compile(rf"(?P<x>{_NUM})\s*%\s*(?:[,;/x]|and|by)?\s*(?P<y>{_NUM})\s*%")
_PIXEL_PAIR = re.compile(
    rf"\(\s*(?P<x>{_NUM})\s*(?:px)?\s*[,;]\s*(?P<y>{_NUM})\s*(?:px)?\s*\)"
    rf"|(?<![\w.])(?P<px>{_NUM})\s*px\s*(?:[,;]|and)?\s*(?P<py>{_NUM})\s*px"
)
# Numbers that look like a place but are not a readable pair: "at 30%", "at (300)", "at 30%, 800".
_LONE_NUMBER = re.compile(
    rf"\b(?:at|to|@)\s*\(?\s*{_NUM}\s*(?:%|px)?(?:\s*[,;]\s*{_NUM}\s*(?:%|px)?)?\s*\)?|\(\s*{_NUM}[^)]*\)"
)


def _read_position(text: str) -> tuple[Position | None, tuple[Note, ...]]:
    """The place a request names (anchor, x=/y=, or a bare pair of numbers), and notes on what was unreadable."""
    folded = unicodedata.normalize("NFKC", text).lower()
    try:
        position = find_position(text)
    except PositionError as exc:
        return None, (note("position_unread", words=text[:60], reason=str(exc)),)
    if position is not None and not position.is_anchor:
        return position, ()
    pair = _PERCENT_PAIR.search(folded)
    pixels = _PIXEL_PAIR.search(folded)
    try:
        if pair is not None:
            return parse_position(f"x={pair['x']}%,y={pair['y']}%"), ()
        if pixels is not None:
            x, y = pixels["x"] or pixels["px"], pixels["y"] or pixels["py"]
            exact = parse_position(f"x={x}px,y={y}px")
            if exact.x is not None and exact.y is not None and (exact.x < 0 or exact.y < 0):
                raise PositionError(f"pixels ({x}, {y}) must not be negative")
            return exact, ()
    except PositionError as exc:
        found = (pair or pixels)[0]  # type: ignore[index]
        return position, (note("position_unread", words=found.strip(), reason=str(exc)),)
    lone = _LONE_NUMBER.search(folded)
    if lone is not None and position is None:
        reason = "give two numbers, e.g. 'at 30%, 80%' (fractions of the canvas) or 'at (300, 500)' (pixels)"
        return None, (note("position_unread", words=lone[0].strip(), reason=reason),)
    return position, ()


# ---- size words ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SizeWords:
    """The size vocabulary of prompts/words/sizes.toml, compiled."""

    up_en: re.Pattern[str]
    down_en: re.Pattern[str]
    double: re.Pattern[str]
    half: re.Pattern[str]
    up_ko: re.Pattern[str]
    down_ko: re.Pattern[str]
    plain_ko: re.Pattern[str]
    plain_up_ko: frozenset[str]
    medium_ko: re.Pattern[str]
    absolute_en: tuple[tuple[re.Pattern[str], str], ...]
    small_amount_en: frozenset[str]
    large_amount_en: frozenset[str]
    small_amount_ko: tuple[str, ...]
    large_amount_ko: tuple[str, ...]


@cache
def _size_words() -> _SizeWords:
    data = read_toml("words", "sizes")

    def rx(*names: str) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for name in names for p in data[name]))

    plain = sorted(data["plain_ko"], key=len, reverse=True)
    return _SizeWords(
        up_en=rx("up_en"),
        down_en=rx("down_en"),
        double=rx("double_en", "double_ko"),
        half=rx("half_en", "half_ko"),
        up_ko=rx("up_ko"),
        down_ko=rx("down_ko"),
        plain_ko=re.compile(rf"(?P<word>{'|'.join(re.escape(w) for w in plain)})"),
        plain_up_ko=frozenset(data["plain_up_ko"]),
        medium_ko=rx("medium_ko"),
        absolute_en=tuple(
            (re.compile("|".join(f"(?:{p})" for p in patterns)), word)
            for word, patterns in data["absolute_en"].items()
        ),
        small_amount_en=frozenset(data["small_amount_en"]),
        large_amount_en=frozenset(data["large_amount_en"]),
        small_amount_ko=tuple(data["small_amount_ko"]),
        large_amount_ko=tuple(data["large_amount_ko"]),
    )


@dataclass(frozen=True)
class _Size:
    scale: float | None = None
    factor: float | None = None


def _en_amount(folded: str, start: int, end: int) -> str:
    before = re.split(r"[,.;!?]", folded[:start])[-1].split()[-3:]
    after = re.split(r"[,.;!?]", folded[end:])[0].split()[:3]
    words = set(before + after)
    if words & _size_words().large_amount_en:
        return "large"
    if words & _size_words().small_amount_en:
        return "small"
    return "medium"


def _ko_amount(folded: str, start: int) -> str:
    before = re.split(r"[,.;!?]", folded[:start])[-1].split()[-2:]
    if any(w.startswith(_size_words().large_amount_ko) for w in before):
        return "large"
    if any(w.startswith(_size_words().small_amount_ko) for w in before):
        return "small"
    return "medium"


def _is_noun_adjective(folded: str, end: int) -> bool:
    """True when a size word describes the next noun ("a small table"), not the product."""
    rest = folded[end:].lstrip()
    return bool(rest) and any(
        h.start == 0 for name in ("scenes", "products") for h in load_lexicon(name).find(rest[:40])
    )


def _read_size(folded: str) -> tuple[_Size, str | None]:
    """(size, how it was said) where how is 'relative', 'absolute' or None."""
    words = _size_words()
    if words.double.search(folded):
        return _Size(factor=2.0), "relative"
    if words.half.search(folded):
        return _Size(factor=0.5), "relative"
    for pattern, direction in ((words.up_en, "up"), (words.down_en, "down")):
        match = pattern.search(folded)
        if match:
            amount = _en_amount(folded, match.start(), match.end())
            return _Size(factor=SCALE_FACTORS[(direction, amount)]), "relative"
    for pattern, direction in ((words.up_ko, "up"), (words.down_ko, "down")):
        match = pattern.search(folded)
        if match:
            return _Size(factor=SCALE_FACTORS[(direction, _ko_amount(folded, match.start()))]), "relative"
    plain = words.plain_ko.search(folded)
    if plain:
        up = plain["word"] in words.plain_up_ko
        amount = _ko_amount(folded, plain.start())
        if re.search(r"훨씬\s*$", folded[: plain.start()]):  # 훨씬 작게: much smaller than now
            return _Size(factor=SCALE_FACTORS[("up" if up else "down", "large")]), "relative"
        word = ("huge" if up else "tiny") if amount == "large" else ("large" if up else "small")
        return _Size(scale=SCALE_WORDS[word]), "absolute"
    if words.medium_ko.search(folded):
        return _Size(scale=SCALE_WORDS["medium"]), "absolute"
    for pattern, word in words.absolute_en:
        for match in pattern.finditer(folded):
            if not _is_noun_adjective(folded, match.end()):
                return _Size(scale=SCALE_WORDS[word]), "absolute"
    return _Size(), None


def _as_relative(size: _Size) -> _Size:
    """In a follow-up, "크게"/"make it big" means bigger than now."""
    if size.scale is None:
        return size
    direction = "up" if size.scale >= SCALE_WORDS["medium"] else "down"
    amount = "large" if size.scale in (SCALE_WORDS["tiny"], SCALE_WORDS["huge"]) else "medium"
    return _Size(factor=SCALE_FACTORS[(direction, amount)])


# ---- actions ---------------------------------------------------------------------------------------------
@cache
def _follow_up_patterns() -> dict[str, re.Pattern[str]]:
    """The follow-up phrases of prompts/words/followups.toml, one compiled pattern per kind."""
    patterns = read_toml("words", "followups").get("patterns") or {}
    kinds = ("help", "undo", "different_scene", "scene_change", "regenerate", "keep_scene")
    missing = [k for k in kinds if not patterns.get(k)]
    if missing:
        raise ValueError(f"prompts/words/followups.toml: [patterns] lacks {', '.join(missing)}")
    return {kind: re.compile("|".join(f"(?:{p})" for p in patterns[kind])) for kind in kinds}


def _says(kind: str, folded: str) -> bool:
    return bool(_follow_up_patterns()[kind].search(folded))


def _action(
    follow_up: bool, folded: str, new_scene: bool, styles: bool, moved: bool, sized: bool
) -> tuple[str, tuple[Note, ...]]:
    if _says("help", folded) and not (new_scene or moved or sized):
        return "help", ()
    if _says("undo", folded):
        return "undo", () if follow_up else (note("undo_nothing"),)
    if (
        new_scene
        or (follow_up and styles)
        or _says("scene_change", folded)
        or _says("different_scene", folded)
    ):
        return ("new_scene" if follow_up else "place"), ()
    if _says("regenerate", folded):
        return "regenerate", () if follow_up else (note("regenerate_first"),)
    if moved:
        return "move", ()
    if sized:
        return "resize", ()
    if follow_up:
        raise BadRequestError(
            "request: nothing to change was recognised; say for example 'move it a little to the right', "
            "'bigger', 'same, but at sunset', 'on white marble', 'try again' or 'undo' (or 조금 더 크게, 되돌려줘)"
        )
    return "place", ()


def _style_family(styles: Sequence[str]) -> str | None:
    """The family the first style with one picks when no scene is named (styles.toml `family`)."""
    lexicon = load_lexicon("styles")
    known = {e.key for e in lexicon.entries}
    return next(
        (
            lexicon.get(s).fields["family"]
            for s in styles
            if s in known and lexicon.get(s).fields.get("family")
        ),
        None,
    )


def _light_keys(styles: Sequence[str]) -> set[str]:
    lexicon = load_lexicon("styles")
    return {
        s
        for s in styles
        if s in {e.key for e in lexicon.entries} and lexicon.get(s).fields.get("kind") == "light"
    }


def _merge_styles(before: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    """Earlier styles plus the new ones; a new light ("at sunset") replaces the earlier light ("night")."""
    drop = _light_keys(before) if _light_keys(new) else set()
    return tuple(dict.fromkeys([*(s for s in before if s not in drop), *new]))


def _different_scene(before: Plan) -> tuple[str, Note]:
    """The next studio family after the one `before` rendered (the family list wraps round), and the note."""
    from productshot.tools.studio_scenes import FAMILIES, family_label, find_scene

    rendered = find_scene(" ".join([before.scene, *before.style])).family
    names = [f.name for f in FAMILIES if f.name != "studio"]
    index = names.index(rendered) if rendered in names else -1
    chosen = names[(index + 1) % len(names)]
    language = before.language
    changed = note(
        "scene_changed", before=family_label(rendered, language), used=family_label(chosen, language)
    )
    return family_label(chosen, "en"), changed


def asks_for_help(request: str) -> bool:
    """True when a request asks what the studio can do ("what can you do?", "뭐 할 수 있어?", "help")."""
    folded = normalise_text(clean_request(request))
    return _says("help", folded) and not read_scene(folded).found


def view_words(text: str) -> dict[str, Any]:
    """The camera view and floating a request's words ask for (prompts/words/views.toml)."""
    keys = load_lexicon("views").keys_in(text)
    return {"view": "flat-lay" if "flat_lay" in keys else None, "floating": "floating" in keys}


class RulesPlanner:
    """The embedded planner: English and Korean word lists and patterns, no network, no model."""

    backend = RULES_BACKEND

    def plan(self, request: str, history: Sequence[Plan] = ()) -> Plan:
        """Read one request; `history` (oldest first) makes it a follow-up of the last plan."""
        text = clean_request(request)
        folded = normalise_text(text)
        language = request_language(text)
        previous = history[-1] if history else None
        listing = find_listing(text)
        if listing is not None:  # "make Amazon-ready versions", "쿠팡 대표이미지", "check this for Naver"
            scene = previous.scene if previous is not None else DEFAULT_SCENE
            return Plan(
                action=listing.action,
                scene=scene,
                preset=listing.preset,
                language=language,
                backend=RULES_BACKEND,
            )
        words = read_scene(text)
        position, position_notes = _read_position(text)
        move = find_move(text)
        if move is None and position is not None and position.is_anchor:
            refuse_contradiction(text)
        size, said = _read_size(folded)
        product = find_product(text)
        notes: list[Note] = list(position_notes)

        scene_named = words.found
        if previous is not None and said == "absolute" and not scene_named and position is None:
            size = _as_relative(size)
        moved = move is not None or (previous is not None and position is not None)
        action, action_notes = _action(
            previous is not None,
            folded,
            scene_named,
            bool(words.styles),
            moved,
            size.scale is not None or size.factor is not None,
        )
        notes.extend(action_notes)

        style = tuple(words.styles)
        if scene_named:
            scene = words.label()
        elif previous is not None:
            before = history[-2] if action == "undo" and len(history) >= 2 else previous
            scene = before.scene
            if action == "new_scene" and _says("different_scene", folded) and not _says("keep_scene", folded):
                scene, changed = _different_scene(replace(before, language=language))
                notes.append(changed)
                style = _merge_styles((), style)
            elif action == "new_scene" or not style:
                style = _merge_styles(before.style, style)
        else:
            chosen = _style_family(style) or DEFAULT_SCENE  # "at sunset" alone: a beach at sunset
            scene = display_word("scenes", chosen, "en")
            if action != "help":
                notes.append(note("scene_default", scene=display_word("scenes", chosen, language)))
        if words.free:
            notes.append(note("scene_free", words=words.free))
        if product is None and previous is not None:
            product = previous.product
        return Plan(
            action=action,
            scene=scene,
            position=position.canonical() if position else None,
            scale=size.scale,
            scale_factor=size.factor,
            move=move,
            style=style,
            product=product,
            language=language,
            backend=RULES_BACKEND,
            notes=tuple(notes),
            **view_words(text),
        )


# ---- the LLM planner ---------------------------------------------------------------------------------
class PlanAnswer(BaseModel):
    """The fields the chat model fills (structured output); mapped onto a Plan with the rules' numbers."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["place", "move", "resize", "new_scene", "regenerate", "undo", "help"] = Field(
        description="place, move, resize, new_scene, regenerate, undo or help"
    )
    scene: str = Field(description="English backdrop words, e.g. 'simple beach'; never the product")
    position: str | None = Field(description="anchor such as bottom-left, or x=0.3,y=0.8; null if not said")
    size: Literal["tiny", "small", "medium", "large", "huge"] | None = Field(
        description="absolute product size if said"
    )
    size_change: (
        Literal["much_smaller", "smaller", "slightly_smaller", "slightly_bigger", "bigger", "much_bigger"]
        | None
    ) = Field(description="relative size change if said")
    move_directions: list[Literal["left", "right", "up", "down"]] = Field(
        description="relative move directions"
    )
    move_amount: Literal["small", "medium", "large"] | None = Field(description="how far to move, if moving")
    style: list[str] = Field(description="English mood words, e.g. sunset, minimal, pastel")
    product: str | None = Field(description="the product noun in English, singular; null if not named")


_SIZE_CHANGE = {
    "much_smaller": ("down", "large"),
    "smaller": ("down", "medium"),
    "slightly_smaller": ("down", "small"),
    "slightly_bigger": ("up", "small"),
    "bigger": ("up", "medium"),
    "much_bigger": ("up", "large"),
}


def _non_english(text: str) -> bool:
    return any(char.isalpha() and not unicodedata.name(char, "").startswith("LATIN") for char in text)


def _check_answer(answer: PlanAnswer) -> list[str]:
    problems = []
    if not answer.scene.strip() or len(answer.scene) > 80 or _non_english(answer.scene):
        problems.append("scene must be a few English words (at most 80 characters)")
    if answer.position:
        try:
            parse_position(answer.position)
        except PositionError as exc:
            problems.append(str(exc))
    if answer.product and (len(answer.product) > 40 or _non_english(answer.product)):
        problems.append("product must be a short English noun or null")
    if any(_non_english(s) or len(s) > 30 for s in answer.style) or len(answer.style) > 8:
        problems.append("style must be at most 8 short English words")
    if answer.product and re.search(rf"\b{re.escape(answer.product.lower())}\b", answer.scene.lower()):
        problems.append(f"scene must not name the product ({answer.product!r})")
    return problems


def _plan_from_answer(answer: PlanAnswer, text: str, backend: str, notes: tuple[Note, ...]) -> Plan:
    move = None
    if answer.move_directions:
        step = MOVE_STEPS[answer.move_amount or "medium"]
        dx = step * (("right" in answer.move_directions) - ("left" in answer.move_directions))
        dy = step * (("down" in answer.move_directions) - ("up" in answer.move_directions))
        move = Move(dx=dx, dy=dy) if (dx or dy) else None
    product = answer.product.strip().lower() if answer.product else None
    if product:
        product = find_product(product) or product
    return Plan(
        action=answer.action,
        scene=answer.scene.strip().lower(),
        position=parse_position(answer.position).canonical() if answer.position else None,
        scale=SCALE_WORDS[answer.size] if answer.size else None,
        scale_factor=SCALE_FACTORS[_SIZE_CHANGE[answer.size_change]] if answer.size_change else None,
        move=move,
        style=tuple(dict.fromkeys(s.strip().lower() for s in answer.style if s.strip())),
        product=product,
        language=request_language(text),
        backend=backend,
        notes=notes,
        **view_words(text),
    )


def _scene_families_text() -> str:
    """One line per studio family with its English words, for the LLM planner's instructions."""
    from productshot.tools.studio_scenes import family_words

    return "\n".join(f"- {name}: {', '.join(words[:8])}" for name, words in family_words("en").items())


class LLMPlanner:
    """Plans with a chat model's structured output; any failure falls back to the rules with the reason."""

    def __init__(
        self,
        chat_model: Any,
        *,
        fallback: RulesPlanner | None = None,
        method: Literal["json_schema", "function_calling"] = "json_schema",
    ) -> None:
        self.chat_model = chat_model
        self.fallback = fallback or RulesPlanner()
        self.method = method

    @property
    def backend(self) -> str:
        from productshot.tools.llm import model_name

        return model_name(self.chat_model)

    def plan(self, request: str, history: Sequence[Plan] = ()) -> Plan:
        from productshot.tools.llm import ask_validated, json_data

        text = clean_request(request)
        template = load_template("planner")
        earlier = [
            {k: v for k, v in p.to_dict().items() if k not in ("notes", "backend")} for p in history[-6:]
        ]
        messages = [
            ("system", template.render("system", {"scenes": _scene_families_text()})),
            (
                "user",
                template.render(
                    "user", {"history_json": json_data(earlier), "request_json": json_data(text)}
                ),
            ),
        ]
        answer = ask_validated(self.chat_model, PlanAnswer, messages, _check_answer, method=self.method)
        if answer.value is not None:
            notes = tuple(note("planner_retried", problem=p) for p in answer.problems)
            return _plan_from_answer(answer.value, text, self.backend, notes)
        fallback = self.fallback.plan(text, history)
        reason = note("planner_failed", model=self.backend, reason=str(answer.failure))
        return replace(fallback, notes=(reason, *fallback.notes))


def make_planner(settings: Settings, chat_model: Any = None) -> Planner:
    """The LLM planner when a chat model is given or settings configure one (OPENAI_API_KEY), else rules."""
    if chat_model is None and settings.llm_configured:
        from productshot.tools.llm import make_chat_model

        chat_model = make_chat_model(settings)
    if chat_model is None:
        return RulesPlanner()
    return LLMPlanner(chat_model, fallback=RulesPlanner())


__all__ = [
    "ACTIONS",
    "DEFAULT_SCENE",
    "MAX_REQUEST_CHARS",
    "SCALE_FACTORS",
    "SCALE_WORDS",
    "LLMPlanner",
    "Plan",
    "PlanAnswer",
    "Planner",
    "RulesPlanner",
    "SceneWords",
    "asks_for_help",
    "clean_request",
    "find_product",
    "make_planner",
    "read_scene",
    "request_language",
]
