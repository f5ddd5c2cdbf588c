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
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from productshot.errors import BadRequestError, PositionError
from productshot.prompts import load_template
from productshot.prompts.lexicon import load_lexicon, normalise_text
from productshot.settings import Settings
from productshot.tools.position_words import MOVE_STEPS, Move, find_move, find_position
from productshot.tools.positions import parse_position

MAX_REQUEST_CHARS = 2000
ACTIONS: tuple[str, ...] = ("place", "move", "resize", "new_scene", "regenerate", "undo")
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
    notes: tuple[str, ...] = field(default=(), compare=False)
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
            "notes": list(self.notes),
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
                notes=tuple(str(n) for n in data.get("notes") or ()),
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
    return "ko" if re.search(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]", text) else "en"


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
            labels[0] = f"{self.colour} {labels[0]}"
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
    scene_hits = load_lexicon("scenes").find(folded)
    colour_hits = load_lexicon("colours").find(folded)
    styles = load_lexicon("styles").keys_in(folded)
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


# ---- size words ------------------------------------------------------------------------------------------
_EN_SIZE_UP = re.compile(
    r"\b(?:bigger|larger|enlarge[sd]?|grow|scale (?:it )?up|increase (?:the |its )?size|upsize|zoom in)\b"
)
_EN_SIZE_DOWN = re.compile(
    r"\b(?:smaller|tinier|shrink|shrunk|scale (?:it )?down|(?:reduce|decrease) (?:the |its )?size|downsize|"
    r"zoom out)\b"
)
_EN_DOUBLE = re.compile(r"\btwice (?:as (?:big|large)|the size)\b|\bdouble (?:the |its )?size\b")
_EN_HALF = re.compile(r"\bhalf (?:the|its) size\b|\bhalf as (?:big|large)\b")
_EN_SIZE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:tiny|very small|really small)\b"), "tiny"),
    (re.compile(r"\b(?:huge|very (?:large|big)|really big|enormous|fill(?:s|ing)? the frame)\b"), "huge"),
    (re.compile(r"\bsmall\b"), "small"),
    (re.compile(r"\b(?:medium|medium sized|mid sized)\b"), "medium"),
    (re.compile(r"\b(?:large|big)\b"), "large"),
)
_EN_SMALL_AMOUNT = frozenset({"slightly", "little", "bit", "tad", "touch", "somewhat", "marginally"})
_EN_LARGE_AMOUNT = frozenset({"much", "lot", "lots", "way", "far", "significantly", "considerably"})
_KO_SIZE_UP = re.compile(r"(?:더\s*)?(?:키워|키우|확대|늘려|늘리)|더\s*크(?:게|기)?")
_KO_SIZE_DOWN = re.compile(r"(?:더\s*)?(?:줄여|줄이|축소)|더\s*작(?:게|기)?")
_KO_PLAIN = re.compile(r"(?P<word>크게|작게|커다랗게|조그맣게|큼직하게)")
_KO_DOUBLE = re.compile(r"두\s*배|2\s*배")
_KO_HALF = re.compile(r"절반|반으로")
_KO_SMALL_AMOUNT = ("조금", "살짝", "약간", "좀")
_KO_LARGE_AMOUNT = ("훨씬", "많이", "아주", "매우", "엄청", "확", "꽤")


@dataclass(frozen=True)
class _Size:
    scale: float | None = None
    factor: float | None = None


def _en_amount(folded: str, start: int, end: int) -> str:
    before = re.split(r"[,.;!?]", folded[:start])[-1].split()[-3:]
    after = re.split(r"[,.;!?]", folded[end:])[0].split()[:3]
    words = set(before + after)
    if words & _EN_LARGE_AMOUNT:
        return "large"
    if words & _EN_SMALL_AMOUNT:
        return "small"
    return "medium"


def _ko_amount(folded: str, start: int) -> str:
    before = re.split(r"[,.;!?]", folded[:start])[-1].split()[-2:]
    if any(w.startswith(_KO_LARGE_AMOUNT) for w in before):
        return "large"
    if any(w.startswith(_KO_SMALL_AMOUNT) for w in before):
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
    if _EN_DOUBLE.search(folded) or _KO_DOUBLE.search(folded):
        return _Size(factor=2.0), "relative"
    if _EN_HALF.search(folded) or _KO_HALF.search(folded):
        return _Size(factor=0.5), "relative"
    for pattern, direction in ((_EN_SIZE_UP, "up"), (_EN_SIZE_DOWN, "down")):
        match = pattern.search(folded)
        if match:
            amount = _en_amount(folded, match.start(), match.end())
            return _Size(factor=SCALE_FACTORS[(direction, amount)]), "relative"
    for pattern, direction in ((_KO_SIZE_UP, "up"), (_KO_SIZE_DOWN, "down")):
        match = pattern.search(folded)
        if match:
            return _Size(factor=SCALE_FACTORS[(direction, _ko_amount(folded, match.start()))]), "relative"
    plain = _KO_PLAIN.search(folded)
    if plain:
        up = plain["word"] in ("크게", "커다랗게", "큼직하게")
        amount = _ko_amount(folded, plain.start())
        if re.search(r"훨씬\s*$", folded[: plain.start()]):  # 훨씬 작게: much smaller than now
            return _Size(factor=SCALE_FACTORS[("up" if up else "down", "large")]), "relative"
        word = ("huge" if up else "tiny") if amount == "large" else ("large" if up else "small")
        return _Size(scale=SCALE_WORDS[word]), "absolute"
    if re.search(r"(?:중간|적당한|보통)\s*(?:크기|사이즈)", folded):
        return _Size(scale=SCALE_WORDS["medium"]), "absolute"
    for pattern, word in _EN_SIZE_WORDS:
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
_UNDO = re.compile(
    r"\bundo\b|\bgo back\b|\brevert\b|\btake (?:that|it) back\b|\broll ?back\b"
    r"|\b(?:the )?previous (?:one|version|image|result|shot)\b|\bback to (?:the )?(?:previous|last|original|earlier)\b"
    r"|되돌려|되돌리|되돌아|실행\s*취소|취소해|^취소|이전\s*(?:으로|것|거|걸로|버전|상태)|원래대로|원상\s*복구|전으로\s*돌"
)
_REGENERATE = re.compile(
    r"\btry again\b|\bagain\b|\bregenerate\b|\bre-?do\b|\bre-?roll\b|\bone more\b|\bmore options\b"
    r"|\banother (?:one|version|take|variation|try|shot|image|background|option)\b"
    r"|\b(?:different|new) (?:version|variation|take|one|seed)\b"
    r"|다시\s*(?:만들|생성|해|그려|뽑|시도)|재생성|다른\s*(?:버전|걸로|거|것|시안)|한\s*번\s*더|새로\s*(?:만들|생성|뽑)"
)
_SCENE_CHANGE = re.compile(
    r"\b(?:change|swap|switch|replace|different|new|another)\b[^.]*\b(?:background|backdrop|scene|setting)\b"
    r"|배경\S*\s*(?:\S+\s*)?(?:바꿔|바꾸|변경|교체)"
)
_KEEP_SCENE = re.compile(r"\bsame\b|\bkeep (?:the )?(?:scene|background)\b|같은|그대로|똑같")


def _action(
    follow_up: bool, folded: str, new_scene: bool, styles: bool, moved: bool, sized: bool
) -> tuple[str, tuple[str, ...]]:
    if _UNDO.search(folded):
        return "undo", () if follow_up else ("no earlier result to undo",)
    if new_scene or (follow_up and styles) or _SCENE_CHANGE.search(folded):
        return ("new_scene" if follow_up else "place"), ()
    if _REGENERATE.search(folded):
        return "regenerate", () if follow_up else ("no earlier result: generating a first one",)
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
        previous = history[-1] if history else None
        words = read_scene(text)
        position = find_position(text)
        move = find_move(text)
        size, said = _read_size(folded)
        product = find_product(text)
        notes: list[str] = []

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
            if action == "new_scene" or not style:
                style = tuple(dict.fromkeys(before.style + style))
        else:
            scene = DEFAULT_SCENE
            notes.append(f"no scene given: using the default {DEFAULT_SCENE} backdrop")
        if words.free:
            notes.append(f"scene not in the word list: using the request's words {words.free!r}")
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
            language=request_language(text),
            backend=RULES_BACKEND,
            notes=tuple(notes),
            **view_words(text),
        )


# ---- the LLM planner ---------------------------------------------------------------------------------
class PlanAnswer(BaseModel):
    """The fields the chat model fills (structured output); mapped onto a Plan with the rules' numbers."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["place", "move", "resize", "new_scene", "regenerate", "undo"] = Field(
        description="place, move, resize, new_scene, regenerate or undo"
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


def _plan_from_answer(answer: PlanAnswer, text: str, backend: str, notes: tuple[str, ...]) -> Plan:
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
            ("system", template.render("system")),
            (
                "user",
                template.render(
                    "user", {"history_json": json_data(earlier), "request_json": json_data(text)}
                ),
            ),
        ]
        answer = ask_validated(self.chat_model, PlanAnswer, messages, _check_answer, method=self.method)
        if answer.value is not None:
            notes = tuple(f"LLM answer retried: {p}" for p in answer.problems)
            return _plan_from_answer(answer.value, text, self.backend, notes)
        fallback = self.fallback.plan(text, history)
        reason = f"LLM planner ({self.backend}) failed: {answer.failure}; used the rules planner"
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
    "clean_request",
    "find_product",
    "make_planner",
    "read_scene",
    "request_language",
]
