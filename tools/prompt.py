"""Write the diffusion prompt for a product backdrop, from a request in any language, and check it.

The experiments' lessons are rules here, checked on every prompt whoever wrote it (`validate_prompt`):
English only (SD 3.5 degrades on other languages); "one single continuous scene" (some models stack two
scenes); a simple, uncluttered background; empty space where the product will stand; never the product
itself (it is pasted in later, and a named product gets painted into the background); within CLIP's 77
tokens for SD 1.x/2.x/SDXL (counted with the pipeline's tokenizer when given, else estimated
conservatively), longer for the T5-based SD3 and FLUX. With a chat model the LLM writes the prompt
(structured output, one retry with the reasons, then the template writer with the reason in `notes`);
without one the template writer maps scene words (English and Korean, prompts/words) to English phrases.
Product facts are data: the template writer uses at most their colours (from a fixed colour list), the LLM
gets them as delimited JSON with an instruction that they are data.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from productshot.errors import BadRequestError
from productshot.prompts import load_template
from productshot.prompts.lexicon import display_word, language_of, load_lexicon
from productshot.tools.anchors import Position
from productshot.tools.ground import VIEWS
from productshot.tools.llm import json_data
from productshot.tools.notes import Note, note, notes_to_dicts
from productshot.tools.plan import clean_request, read_scene, view_words
from productshot.tools.positions import parse_position

TEMPLATE_BACKEND = "template"
MAX_FACT_CHARS = 200
MAX_FACTS = 20
_COLOUR_KEYS = ("colours", "colors", "colour", "color", "색상", "색")


@dataclass(frozen=True)
class ModelFamily:
    """How a diffusion model reads prompts: its text encoder and that encoder's token window."""

    name: str
    encoder: Literal["clip", "t5"]
    token_limit: int  # including the start and end tokens
    max_words: int  # what the LLM is asked to stay under


MODEL_FAMILIES: dict[str, ModelFamily] = {
    "sd1": ModelFamily("sd1", "clip", 77, 45),
    "sd2": ModelFamily("sd2", "clip", 77, 45),
    "sdxl": ModelFamily("sdxl", "clip", 77, 45),
    "sd3": ModelFamily("sd3", "t5", 256, 120),
    "flux": ModelFamily("flux", "t5", 512, 150),
}
_FAMILY_ALIASES = {
    "sd15": "sd1",
    "sd1.5": "sd1",
    "sd21": "sd2",
    "sdxl-turbo": "sdxl",
    "sd35": "sd3",
    "sd3.5": "sd3",
}


class Tokenizer(Protocol):
    """A pipeline's tokenizer (e.g. transformers CLIPTokenizer): called on text, returns `input_ids`."""

    def __call__(self, text: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class PromptSpec:
    """A diffusion prompt and what made it: `backend` is "template" or the LLM's name."""

    prompt: str
    negative_prompt: str
    backend: str
    template_version: str
    notes: tuple[Note, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "backend": self.backend,
            "template_version": self.template_version,
            "notes": notes_to_dicts(self.notes),
        }


def resolve_family(name: str) -> ModelFamily:
    """The family by name ("sdxl", "sd3", "flux", aliases such as "sdxl-turbo"); BadRequestError if unknown."""
    key = _FAMILY_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in MODEL_FAMILIES:
        known = ", ".join([*MODEL_FAMILIES, *_FAMILY_ALIASES])
        raise BadRequestError(f"model_family: unknown {name!r}; use one of {known}")
    return MODEL_FAMILIES[key]


# ---- validation ------------------------------------------------------------------------------------------
_SINGLE_SCENE = re.compile(r"\b(?:one|a)?\s*single\s+(?:continuous\s+)?(?:scene|setting|image)\b")
_MANY_SCENES = re.compile(
    r"\b(?:collage|diptych|triptych|split[\s-]screen|two scenes|multiple scenes|grid of)\b"
)
_TOP_DOWN = re.compile(r"\b(?:flat[\s-]?lay|top[\s-]?down|overhead|from (?:directly )?above)\b")
_SIMPLE = re.compile(r"\b(?:simple|uncluttered|minimal|minimalist|plain)\b")
_EMPTY_SPACE = re.compile(
    r"\b(?:empty|clear|open|negative|free|unoccupied)\b(?:\W+\w+){0,3}?\W+"
    r"(?:space|area|foreground|surface|spot|floor|ground|room)\b"
)
_PLACE_WORDS: dict[str, tuple[str, ...]] = {
    "left": (r"\bleft\b",),
    "right": (r"\bright\b",),
    "top": (r"\b(?:top|upper)\b",),
    "bottom": (r"\b(?:bottom|lower|foreground)\b",),
    "center": (r"\b(?:center|centre|middle)\b",),
}


def _non_latin_letters(text: str) -> str:
    return "".join(
        dict.fromkeys(c for c in text if c.isalpha() and not unicodedata.name(c, "").startswith("LATIN"))
    )


def estimate_tokens(prompt: str) -> int:
    """A conservative CLIP/T5 token count without a tokenizer: words x 1.3 + punctuation + start/end."""
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)?", prompt)
    punctuation = re.findall(r"[^\w\s]", prompt)
    return math.ceil(len(words) * 1.3 + len(punctuation)) + 2


def count_tokens(prompt: str, tokenizer: Tokenizer | None = None) -> tuple[int, str]:
    """(tokens, how counted): with the pipeline's tokenizer when given, else `estimate_tokens`."""
    if tokenizer is None:
        return estimate_tokens(prompt), "estimated"
    ids = tokenizer(prompt)["input_ids"]
    if ids and isinstance(ids[0], list | tuple):
        ids = ids[0]
    return len(ids), "counted with the tokenizer"


def _region(position: Position) -> str | None:
    """The anchor-like region of a position (fractions by thirds); None for pixels (canvas unknown)."""
    if position.anchor is not None:
        return position.anchor
    if position.unit != "fraction" or position.x is None or position.y is None:
        return None
    column = "left" if position.x < 1 / 3 else "right" if position.x > 2 / 3 else ""
    row = "top" if position.y < 1 / 3 else "bottom" if position.y > 2 / 3 else ""
    return "-".join(p for p in (row, column) if p) or "center"


def _noun_pattern(noun: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(noun.lower())}(?:s|es)?(?!\w)")


def validate_prompt(
    prompt: str,
    *,
    product_nouns: Sequence[str] = (),
    model_family: str = "sdxl",
    tokenizer: Tokenizer | None = None,
    position: str | Position | None = None,
) -> list[str]:
    """Every way `prompt` breaks the rules (English, one scene, simple, empty space, no product, length).

    An empty list means valid. `position`, when given, must be where the prompt leaves the empty space.
    """
    family = resolve_family(model_family)
    text = prompt.strip() if isinstance(prompt, str) else ""
    if not text:
        return ["prompt is empty"]
    lower = text.lower()
    problems = []
    foreign = _non_latin_letters(text)
    if foreign:
        problems.append(f"not English: contains {foreign[:12]!r}; diffusion prompts must be English")
    if not _SINGLE_SCENE.search(lower):
        problems.append("does not ask for one single continuous scene")
    if _MANY_SCENES.search(lower):
        problems.append("asks for more than one scene (collage, split or grid)")
    if not _SIMPLE.search(lower):
        problems.append("does not keep the background simple (say 'simple uncluttered background')")
    space = _EMPTY_SPACE.search(lower)
    if not space:
        problems.append("leaves no empty space for the product (e.g. 'empty foreground at the lower left')")
    elif position is not None:
        region = _region(parse_position(position))
        around = lower[space.start() : space.end() + 40]
        for part in (region or "").replace("-", " ").split():
            if not any(re.search(p, around) for p in _PLACE_WORDS[part]):
                problems.append(f"the empty space is not where the product stands ({region})")
                break
    named = [n for n in dict.fromkeys(product_nouns) if n.strip() and _noun_pattern(n.strip()).search(lower)]
    if named:
        problems.append(
            f"names the product ({', '.join(named)}); it is pasted in later and must not be painted"
        )
    tokens, how = count_tokens(text, tokenizer)
    limit = family.token_limit
    if tokenizer is not None:
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 100_000:
            limit = model_max
    if tokens > limit:
        problems.append(
            f"too long for {family.name}'s {family.encoder.upper()} text encoder: {tokens} tokens ({how}), "
            f"limit {limit}"
        )
    return problems


# ---- product facts ---------------------------------------------------------------------------------------
def _clean_fact(value: str) -> str:
    kept = "".join(
        " " if unicodedata.category(c) == "Cc" else c for c in unicodedata.normalize("NFKC", value)
    )
    kept = "".join(c for c in kept if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn"))
    return re.sub(r"\s+", " ", kept).strip()[:MAX_FACT_CHARS]


def sanitize_facts(product_facts: Mapping[str, Any] | None) -> dict[str, str | list[str]]:
    """Product facts as plain, bounded JSON data: text keys, text or list-of-text values, control chars gone.

    They stay data: nothing in them is ever followed as an instruction.
    """
    if product_facts is None:
        return {}
    if not isinstance(product_facts, Mapping):
        raise BadRequestError(
            f"product_facts: must be a mapping such as {{'name': ..., 'colours': [...]}}, "
            f"got {type(product_facts).__name__}"
        )
    if len(product_facts) > MAX_FACTS:
        raise BadRequestError(f"product_facts: {len(product_facts)} entries, at most {MAX_FACTS}")
    clean: dict[str, str | list[str]] = {}
    for key, value in product_facts.items():
        name = _clean_fact(str(key))[:40]
        if isinstance(value, str | int | float | bool):
            clean[name] = _clean_fact(str(value))
        elif isinstance(value, Sequence) and all(isinstance(v, str | int | float) for v in value):
            clean[name] = [_clean_fact(str(v)) for v in list(value)[:10]]
        elif value is not None:
            raise BadRequestError(
                f"product_facts[{name!r}]: must be text, a number or a list of text, got {type(value).__name__}"
            )
    return clean


def _fact_texts(facts: Mapping[str, str | list[str]], keys: Sequence[str]) -> list[str]:
    texts: list[str] = []
    for key, value in facts.items():
        if key.lower() in keys:
            texts.extend([value] if isinstance(value, str) else value)
    return texts


def product_nouns(request: str, facts: Mapping[str, str | list[str]]) -> tuple[str, ...]:
    """Words that would name the product: its listed nouns and synonyms, the category and the name."""
    products = load_lexicon("products")
    nouns: list[str] = []
    sources = [request, *_fact_texts(facts, ("name", "category", "type", "product", "title"))]
    for text in sources:
        for key in products.keys_in(text):
            nouns.extend([key, *products.get(key).en])
    for text in _fact_texts(facts, ("category", "type", "name", "title")):
        if re.fullmatch(r"[A-Za-z][A-Za-z '-]{1,40}", text) and len(text.split()) <= 3:
            nouns.append(text.lower())
    return tuple(dict.fromkeys(n for n in nouns if n))


def harmony_colours(facts: Mapping[str, str | list[str]], nouns: Sequence[str]) -> tuple[str, ...]:
    """At most two English colours from the facts' colour fields, from the fixed colour list only."""
    colours = load_lexicon("colours")
    found: list[str] = []
    for text in _fact_texts(facts, _COLOUR_KEYS):
        found.extend(colours.keys_in(text))
    banned = {n.lower() for n in nouns}
    return tuple(c for c in dict.fromkeys(found) if c not in banned)[:2]


# ---- the template writer ---------------------------------------------------------------------------------
def _placement(position: str | Position | None) -> tuple[str, list[Note]]:
    placement = load_template("placement")
    if position is None:
        return placement.text("unknown"), []
    region = _region(parse_position(position))
    if region is None:
        return placement.text("unknown"), [note("position_pixels_unplaced")]
    return placement.text(region), []


def _scene_phrases(request: str) -> tuple[list[str], list[str], str | None, list[Note]]:
    """(scene phrases, mood phrases, light phrase, notes) for a request, from prompts/words."""
    words = read_scene(request)
    diffusion = load_template("diffusion_prompt")
    scenes = load_lexicon("scenes")
    styles = load_lexicon("styles")
    notes: list[Note] = []
    phrases = []
    for index, key in enumerate(words.scenes[:2]):
        colour = f"{words.colour} " if words.colour and index == 0 else ""
        phrase = scenes.get(key).fields["phrase"].replace("${colour}", colour)
        phrases.append(re.sub(r"\s+", " ", phrase).strip())
    if words.free:
        phrases.append(diffusion.render("free_scene", {"words": words.free}))
        notes.append(note("scene_free", words=words.free))
    if not phrases:
        phrases.append(diffusion.text("default_scene"))
        notes.append(note("scene_default", scene=display_word("scenes", "studio", language_of(request))))
    moods = [
        styles.get(k).fields["phrase"] for k in words.styles if styles.get(k).fields.get("kind") == "mood"
    ]
    lights = [
        styles.get(k).fields["phrase"] for k in words.styles if styles.get(k).fields.get("kind") == "light"
    ]
    return phrases, moods, (lights[0] if lights else None), notes


def _template_spec(
    request: str,
    facts: Mapping[str, str | list[str]],
    position: str | Position | None,
    family: ModelFamily,
    tokenizer: Tokenizer | None,
    nouns: Sequence[str],
    notes: Sequence[Note] = (),
    view: str = "eye-level",
) -> PromptSpec:
    diffusion = load_template("diffusion_prompt")
    negative = load_template("negative_prompt").text()
    space, place_notes = _placement(position)
    phrases, moods, light, scene_notes = _scene_phrases(request)
    colours = harmony_colours(facts, nouns)
    palette = diffusion.render("palette", {"colours": " and ".join(colours)}) if colours else ""

    def build(scene: Sequence[str], mood: Sequence[str], with_palette: bool) -> str:
        joined = ", ".join(scene)
        values = {
            "scene": diffusion.render("flat_lay", {"scene": joined}) if view == "flat-lay" else joined,
            "mood": "".join(f", {m}" for m in mood) + (palette if with_palette else ""),
            "space": space,
            "light": light or diffusion.text("light"),
        }
        return diffusion.render("text", values)

    # Richest first; drop detail until the prompt passes (e.g. a long request over CLIP's 77 tokens).
    candidates = [
        build(phrases, moods[:2], True),
        build(phrases[:1], moods[:1], False),
        build(phrases[:1], (), False),
        build([diffusion.text("default_scene")], (), False),
    ]
    check_position = position if not place_notes else None
    first_problems: list[str] = []
    problems: list[str] = []
    for candidate in candidates:
        problems = validate_prompt(
            candidate,
            product_nouns=nouns,
            model_family=family.name,
            tokenizer=tokenizer,
            position=check_position,
        )
        first_problems = first_problems or problems
        if not problems:
            dropped = [note("prompt_shortened", problems="; ".join(first_problems))] if first_problems else []
            return PromptSpec(
                prompt=candidate,
                negative_prompt=negative,
                backend=TEMPLATE_BACKEND,
                template_version=diffusion.ref,
                notes=(*notes, *scene_notes, *place_notes, *dropped),
            )
    raise BadRequestError(f"request: no prompt passes the checks for {family.name}: {'; '.join(problems)}")


# ---- the LLM writer ---------------------------------------------------------------------------------------
class PromptDraft(BaseModel):
    """What the chat model writes (structured output)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="the English diffusion prompt for the empty backdrop")
    negative_prompt: str = Field(description="a short English negative prompt")


def write_prompt(
    request: str,
    product_facts: Mapping[str, Any] | None = None,
    position: str | Position | None = None,
    *,
    chat_model: Any = None,
    model_family: str = "sdxl",
    tokenizer: Tokenizer | None = None,
    structured_method: Literal["json_schema", "function_calling"] = "json_schema",
    view: str | None = None,
) -> PromptSpec:
    """The diffusion prompt for `request` (any language): LLM-written with `chat_model`, else template-written.

    Every result passes `validate_prompt`. An LLM answer that fails it is retried once with the reasons,
    then replaced by the template writer; HTTP errors, timeouts and malformed replies go straight to the
    template writer. `notes` says which happened and why. `view` ("eye-level" | "flat-lay"; None: what the
    request's words ask) makes a flat-lay prompt say so, so the model paints the surface seen from above.
    """
    text = clean_request(request)
    family = resolve_family(model_family)
    if position is not None:
        position = parse_position(position)
    if view is None:
        view = view_words(text)["view"] or "eye-level"
    if view not in VIEWS:
        raise BadRequestError(f"view: {view!r} is not a camera view; use one of {', '.join(VIEWS)}")
    facts = sanitize_facts(product_facts)
    nouns = product_nouns(text, facts)
    if chat_model is None:
        return _template_spec(text, facts, position, family, tokenizer, nouns, view=view)

    from productshot.tools.llm import ask_validated, model_name

    writer = load_template("prompt_writer")
    space, _ = _placement(position)
    system = writer.render(
        "system",
        {
            "family": family.name,
            "space": space,
            "product_words": ", ".join(nouns[:8]) or "the product itself",
            "max_words": str(family.max_words),
            "view_rule": writer.text("flat_lay_rule") if view == "flat-lay" else "",
        },
    )
    user = writer.render("user", {"request_json": json_data(text), "facts_json": json_data(facts)})

    def check(draft: PromptDraft) -> list[str]:
        found = validate_prompt(
            draft.prompt,
            product_nouns=nouns,
            model_family=family.name,
            tokenizer=tokenizer,
            position=position,
        )
        if view == "flat-lay" and not _TOP_DOWN.search(draft.prompt.lower()):
            found.append("the shot is a flat lay: say 'flat lay, top-down view of' the surface")
        if _non_latin_letters(draft.negative_prompt):
            found.append("negative_prompt is not English")
        if len(draft.negative_prompt.split()) > 20:
            found.append("negative_prompt is too long (keep it under 12 words)")
        return found

    answer = ask_validated(
        chat_model, PromptDraft, [("system", system), ("user", user)], check, method=structured_method
    )
    name = model_name(chat_model)
    if answer.value is not None:
        negative = answer.value.negative_prompt.strip() or load_template("negative_prompt").text()
        return PromptSpec(
            prompt=answer.value.prompt.strip(),
            negative_prompt=negative,
            backend=name,
            template_version=writer.ref,
            notes=tuple(note("writer_retried", problem=p) for p in answer.problems),
        )
    reason = note("writer_failed", model=name, reason=str(answer.failure))
    return _template_spec(text, facts, position, family, tokenizer, nouns, notes=(reason,), view=view)


__all__ = [
    "MODEL_FAMILIES",
    "TEMPLATE_BACKEND",
    "ModelFamily",
    "PromptDraft",
    "PromptSpec",
    "Tokenizer",
    "count_tokens",
    "estimate_tokens",
    "product_nouns",
    "resolve_family",
    "sanitize_facts",
    "validate_prompt",
    "write_prompt",
]


def reinforce_single_scene(spec: PromptSpec, *, model_family: str = "sdxl") -> PromptSpec:
    """The same prompt with the single-scene instruction moved to the front and the split named as negative.

    For a background that stayed split after new seeds; the result stays within the family's token limit
    by dropping trailing phrases of the original prompt when needed.
    """
    template = load_template("reinforce_single_scene")
    prefix = template.text("prefix")
    phrases = [p.strip() for p in spec.prompt.split(",") if p.strip()]
    kept = [p for p in phrases if "single continuous scene" not in p.lower()]
    family = resolve_family(model_family)
    prompt = ", ".join([prefix, *kept])
    while kept and estimate_tokens(prompt) > family.token_limit - 2:
        kept.pop()
        prompt = ", ".join([prefix, *kept])
    negative = ", ".join(
        dict.fromkeys(
            [*(n.strip() for n in spec.negative_prompt.split(",") if n.strip()), template.text("negative")]
        )
    )
    return PromptSpec(
        prompt=prompt,
        negative_prompt=negative,
        backend=spec.backend,
        template_version=f"{spec.template_version}+{template.ref}",
        notes=(*spec.notes, note("prompt_reinforced")),
    )
