"""The scene table of the studio generator: how each family is painted, and which family words pick.

The words live in prompts/words (scenes, styles, colours; English and Korean) and are read by the one
matcher, `productshot.prompts.lexicon`, shared with the planner, the prompt writer and the replies. A scene
entry names the family that paints it (`family`); a style names the modifier that shows it (`studio`).
Adding a family is a row here, a painter in `studio` and `family = "NAME"` on its words in scenes.toml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from productshot.prompts import read_toml
from productshot.prompts.lexicon import (
    display_phrase,
    display_word,
    find_words,
    language_of,
    load_lexicon,
    normalise_text,
)
from productshot.tools.notes import Note, note

RGB = tuple[float, float, float]

DEFAULT_FAMILY = "studio"
WORD_LISTS = ("scenes", "styles", "colours")  # what scene words are read against, in this order on a tie


@dataclass(frozen=True)
class SceneFamily:
    """One kind of set: how the line between backdrop and floor sits, and its base colours."""

    name: str
    outdoor: bool
    line: float  # the horizon / wall-floor line as a fraction of the height (before the seed's jitter)
    wall: RGB  # the backdrop colour (outdoor: the sky near the horizon)
    floor: RGB  # the colour of the surface the product stands on
    priority: int = 1  # the generic studio sweep yields to any named surface or place
    tints: str = "grade"  # what a colour word repaints: "set" (wall and floor), "surface", "wall", "grade"
    tint_strength: float = 1.0


@dataclass(frozen=True)
class Colour:
    """A colour (a key of prompts/words/colours.toml) and how it tints the set."""

    name: str
    rgb: RGB


FAMILIES: tuple[SceneFamily, ...] = (
    SceneFamily(
        "studio",
        outdoor=False,
        line=0.60,
        wall=(0.86, 0.86, 0.87),
        floor=(0.95, 0.95, 0.95),
        priority=0,
        tints="set",
    ),
    SceneFamily(
        "beach",
        outdoor=True,
        line=0.47,
        wall=(0.82, 0.90, 0.96),
        floor=(0.93, 0.86, 0.73),
    ),
    SceneFamily(
        "sea",
        outdoor=True,
        line=0.46,
        wall=(0.80, 0.89, 0.96),
        floor=(0.93, 0.92, 0.89),
    ),
    SceneFamily(
        "marble",
        outdoor=False,
        line=0.56,
        wall=(0.87, 0.85, 0.83),
        floor=(0.92, 0.92, 0.91),
        tints="surface",
    ),
    SceneFamily(
        "wood",
        outdoor=False,
        line=0.56,
        wall=(0.86, 0.83, 0.78),
        floor=(0.70, 0.52, 0.34),
        tints="surface",
        tint_strength=0.75,
    ),
    SceneFamily(
        "concrete",
        outdoor=False,
        line=0.58,
        wall=(0.62, 0.62, 0.61),
        floor=(0.55, 0.55, 0.54),
        tints="set",
        tint_strength=0.55,
    ),
    SceneFamily(
        "grass",
        outdoor=True,
        line=0.48,
        wall=(0.82, 0.89, 0.95),
        floor=(0.42, 0.62, 0.26),
    ),
    SceneFamily(
        "snow",
        outdoor=True,
        line=0.48,
        wall=(0.84, 0.89, 0.95),
        floor=(0.95, 0.97, 1.00),
    ),
    SceneFamily(
        "desert",
        outdoor=True,
        line=0.50,
        wall=(0.90, 0.88, 0.84),
        floor=(0.88, 0.70, 0.49),
    ),
    SceneFamily(
        "kitchen",
        outdoor=False,
        line=0.58,
        wall=(0.93, 0.93, 0.92),
        floor=(0.88, 0.87, 0.85),
        tints="wall",
    ),
    SceneFamily(
        "forest",
        outdoor=True,
        line=0.55,
        wall=(0.45, 0.58, 0.42),
        floor=(0.36, 0.40, 0.24),
    ),
    SceneFamily(
        "cafe",
        outdoor=False,
        line=0.57,
        wall=(0.42, 0.33, 0.26),
        floor=(0.46, 0.31, 0.20),
        tints="wall",
    ),
    SceneFamily(
        "linen",
        outdoor=False,
        line=0.58,
        wall=(0.88, 0.85, 0.79),
        floor=(0.90, 0.87, 0.81),
        tints="set",
    ),
    SceneFamily(
        "pastel",
        outdoor=False,
        line=0.60,
        wall=(0.96, 0.80, 0.78),
        floor=(0.98, 0.89, 0.84),
        tints="set",
    ),
    # indoor
    SceneFamily(
        "bathroom", outdoor=False, line=0.60, wall=(0.84, 0.90, 0.91), floor=(0.95, 0.95, 0.94), tints="wall"
    ),
    SceneFamily(
        "spa", outdoor=False, line=0.60, wall=(0.80, 0.75, 0.66), floor=(0.86, 0.82, 0.75), tints="wall"
    ),
    SceneFamily(
        "christmas", outdoor=False, line=0.60, wall=(0.12, 0.30, 0.20), floor=(0.40, 0.25, 0.16), tints="wall"
    ),
    SceneFamily(
        "living_room",
        outdoor=False,
        line=0.62,
        wall=(0.88, 0.85, 0.80),
        floor=(0.80, 0.66, 0.48),
        tints="wall",
    ),
    SceneFamily(
        "bedroom",
        outdoor=False,
        line=0.60,
        wall=(0.72, 0.66, 0.58),
        floor=(0.95, 0.94, 0.92),
        tints="set",
        tint_strength=0.7,
    ),
    SceneFamily(
        "office", outdoor=False, line=0.62, wall=(0.34, 0.38, 0.43), floor=(0.86, 0.84, 0.80), tints="wall"
    ),
    SceneFamily(
        "gym", outdoor=False, line=0.58, wall=(0.30, 0.30, 0.31), floor=(0.14, 0.14, 0.15), tints="wall"
    ),
    SceneFamily(
        "bakery", outdoor=False, line=0.62, wall=(0.93, 0.86, 0.74), floor=(0.72, 0.54, 0.36), tints="wall"
    ),
    SceneFamily(
        "podium", outdoor=False, line=0.56, wall=(0.85, 0.70, 0.62), floor=(0.88, 0.74, 0.66), tints="set"
    ),
    SceneFamily(
        "cafe_table",
        outdoor=False,
        line=0.62,
        wall=(0.36, 0.28, 0.22),
        floor=(0.90, 0.89, 0.87),
        tints="surface",
        tint_strength=0.7,
    ),
    SceneFamily(
        "library",
        outdoor=False,
        line=0.62,
        wall=(0.26, 0.17, 0.10),
        floor=(0.36, 0.22, 0.13),
        tints="surface",
        tint_strength=0.6,
    ),
    SceneFamily(
        "terrazzo",
        outdoor=False,
        line=0.58,
        wall=(0.90, 0.88, 0.85),
        floor=(0.93, 0.91, 0.87),
        tints="surface",
        tint_strength=0.7,
    ),
    SceneFamily(
        "velvet",
        outdoor=False,
        line=0.58,
        wall=(0.46, 0.10, 0.18),
        floor=(0.50, 0.12, 0.20),
        tints="set",
        tint_strength=0.9,
    ),
    # outdoor
    SceneFamily("night_city", outdoor=True, line=0.62, wall=(0.07, 0.09, 0.22), floor=(0.30, 0.30, 0.34)),
    SceneFamily("neon_street", outdoor=True, line=0.62, wall=(0.08, 0.06, 0.12), floor=(0.10, 0.10, 0.12)),
    SceneFamily("underwater", outdoor=True, line=0.58, wall=(0.08, 0.42, 0.52), floor=(0.62, 0.66, 0.56)),
    SceneFamily("pool", outdoor=True, line=0.60, wall=(0.82, 0.90, 0.96), floor=(0.90, 0.88, 0.84)),
    SceneFamily("rooftop", outdoor=True, line=0.62, wall=(0.98, 0.62, 0.42), floor=(0.56, 0.54, 0.55)),
    SceneFamily("leaves", outdoor=True, line=0.55, wall=(0.88, 0.46, 0.14), floor=(0.40, 0.28, 0.18)),
    SceneFamily("cherry_blossom", outdoor=True, line=0.56, wall=(0.98, 0.80, 0.86), floor=(0.82, 0.78, 0.74)),
    SceneFamily("outer_space", outdoor=True, line=0.60, wall=(0.01, 0.012, 0.03), floor=(0.42, 0.41, 0.40)),
    SceneFamily("garden", outdoor=True, line=0.50, wall=(0.82, 0.89, 0.95), floor=(0.74, 0.72, 0.68)),
    SceneFamily("lake", outdoor=True, line=0.60, wall=(0.80, 0.88, 0.96), floor=(0.60, 0.58, 0.55)),
    SceneFamily("lavender_field", outdoor=True, line=0.48, wall=(0.84, 0.88, 0.96), floor=(0.55, 0.42, 0.80)),
    SceneFamily("tropical", outdoor=True, line=0.60, wall=(0.55, 0.74, 0.56), floor=(0.62, 0.42, 0.26)),
    SceneFamily("picnic", outdoor=True, line=0.50, wall=(0.82, 0.89, 0.95), floor=(0.80, 0.16, 0.18)),
)

# The modifiers the painters know; styles.toml maps mood and light words onto them (`studio = "..."`).
MODIFIERS: tuple[str, ...] = ("sunset", "night", "minimal", "pastel", "bright")

# Keys of prompts/words/colours.toml and the colour each one paints.
COLOURS: tuple[Colour, ...] = (
    Colour("white", (0.96, 0.96, 0.95)),
    Colour("black", (0.13, 0.13, 0.14)),
    Colour("gray", (0.62, 0.62, 0.63)),
    Colour("beige", (0.90, 0.84, 0.74)),
    Colour("cream", (0.97, 0.94, 0.86)),
    Colour("pink", (0.95, 0.72, 0.76)),
    Colour("red", (0.78, 0.20, 0.20)),
    Colour("burgundy", (0.50, 0.14, 0.20)),
    Colour("orange", (0.95, 0.58, 0.25)),
    Colour("coral", (0.97, 0.56, 0.46)),
    Colour("yellow", (0.98, 0.86, 0.38)),
    Colour("gold", (0.86, 0.70, 0.38)),
    Colour("green", (0.45, 0.70, 0.45)),
    Colour("olive", (0.52, 0.55, 0.33)),
    Colour("mint", (0.70, 0.90, 0.82)),
    Colour("blue", (0.45, 0.62, 0.88)),
    Colour("sky_blue", (0.70, 0.84, 0.96)),
    Colour("navy", (0.16, 0.21, 0.38)),
    Colour("purple", (0.66, 0.55, 0.84)),
    Colour("brown", (0.48, 0.34, 0.24)),
    Colour("silver", (0.78, 0.79, 0.80)),
)

_FAMILY_BY_NAME = MappingProxyType({family.name: family for family in FAMILIES})
_COLOUR_BY_NAME = MappingProxyType({colour.name: colour for colour in COLOURS})


@dataclass(frozen=True)
class SceneMatch:
    """What the words picked: a family, modifiers (and colours, in the order given) and the words used.

    `unmatched` are the scene words asked for that no family paints (the family is then a fallback).
    """

    family: str
    modifiers: tuple[str, ...]
    colours: tuple[str, ...]
    words: tuple[str, ...]
    unmatched: tuple[str, ...] = ()

    @property
    def fell_back(self) -> bool:
        return bool(self.unmatched)


@cache
def _filler() -> frozenset[str]:
    data = read_toml("words", "filler")
    return frozenset(normalise_text(w) for w in [*data.get("en", ()), *data.get("ko", ())])


def _leftover_words(text: str, spans: list[tuple[int, int]]) -> tuple[str, ...]:
    """Words of `text` outside every matched span that are not filler or product words ("volcano")."""
    chars = list(normalise_text(text))
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    products = load_lexicon("products")
    words = re.findall(r"[a-z]+(?:'[a-z]+)?|[가-힣]+", "".join(chars))
    return tuple(w for w in words if w not in _filler() and not products.find(w))


def find_scene(words: str) -> SceneMatch:
    """Pick the family, modifiers and colours named by English or Korean words; unknown words → studio.

    The family is the most specific one named (any named place or surface beats the generic studio sweep),
    the earliest in the text on a tie. With no family word, a style may choose (sunset → beach, pastel →
    pastel paper); else the white studio sweep. Scene words no family paints, and with no scene word
    recognised any other non-filler words ("volcano"), are `unmatched`: the family is a fallback.
    """
    hits = find_words(words, WORD_LISTS)
    families: list[tuple[int, str]] = []
    defaults: list[str] = []
    modifiers: list[str] = []
    colours: list[str] = []
    used: list[str] = []
    unmatched: list[str] = []
    for hit in hits:
        fields = load_lexicon(hit.lexicon).get(hit.key).fields
        if hit.lexicon == "scenes":
            if fields.get("family"):
                families.append((hit.start, fields["family"]))
            else:
                unmatched.append(hit.word)
                continue
        elif hit.lexicon == "styles":
            if fields.get("studio"):
                modifiers.append(fields["studio"])
            if fields.get("family"):
                defaults.append(fields["family"])
        else:
            colours.append(hit.key)
        used.append(hit.word)
    if families:
        chosen = max(families, key=lambda row: (_FAMILY_BY_NAME[row[1]].priority, -row[0]))[1]
    else:
        chosen = defaults[0] if defaults else DEFAULT_FAMILY
    if not any(hit.lexicon == "scenes" for hit in hits):
        unmatched.extend(_leftover_words(words, [(hit.start, hit.end) for hit in hits]))
    return SceneMatch(
        family=chosen,
        modifiers=tuple(dict.fromkeys(modifiers)),
        colours=tuple(dict.fromkeys(colours)),
        words=tuple(used),
        unmatched=tuple(dict.fromkeys(unmatched)),
    )


def fallback_note(match: SceneMatch, language: str | None = None) -> Note | None:
    """The `scene_fallback` note when the words asked for a scene no family paints, else None.

    Named in `language` (default: the language of the words), e.g. "밤의 도시" → "스튜디오".
    """
    if not match.unmatched:
        return None
    lang = language or language_of(" ".join(match.unmatched))
    asked = ", ".join(dict.fromkeys(display_phrase(word, lang) for word in match.unmatched))
    return note("scene_fallback", asked=asked, used=family_label(match.family, lang))


def scene_family_names() -> tuple[str, ...]:
    """The names of every family, in table order."""
    return tuple(_FAMILY_BY_NAME)


def family_row(name: str) -> SceneFamily:
    """The family row of this name (KeyError for an unknown name: callers pass names from FAMILIES)."""
    return _FAMILY_BY_NAME[name]


def colour_row(name: str) -> Colour:
    """The colour row of this name."""
    return _COLOUR_BY_NAME[name]


def family_words(language: str) -> dict[str, tuple[str, ...]]:
    """Every family and the scene words (of `language`: "en" or "ko") that pick it, in file order."""
    words: dict[str, list[str]] = {family.name: [] for family in FAMILIES}
    for entry in load_lexicon("scenes").entries:
        family = entry.fields.get("family")
        if family in words:
            words[family].extend(entry.ko if language == "ko" else entry.en)
    return {name: tuple(dict.fromkeys(found)) for name, found in words.items()}


def family_label(name: str, language: str) -> str:
    """How a reply names a family ("wooden table", "나무 테이블"): the label of its own scenes entry."""
    return display_word("scenes", name, language)


def scene_catalogue() -> dict[str, Any]:
    """The families with their English and Korean words, the scenes not painted yet, the mood and light
    words the studio shows, and the colours: what MCP clients and an LLM planner may ask for."""
    english, korean = family_words("en"), family_words("ko")
    families = [
        {
            "name": f.name,
            "label": family_label(f.name, "en"),
            "label_ko": family_label(f.name, "ko"),
            "en": list(english[f.name]),
            "ko": list(korean[f.name]),
        }
        for f in FAMILIES
    ]
    unpainted = [
        {
            "name": e.key,
            "label": display_word("scenes", e.key, "en"),
            "label_ko": display_word("scenes", e.key, "ko"),
            "en": list(e.en),
            "ko": list(e.ko),
        }
        for e in load_lexicon("scenes").entries
        if not e.fields.get("family")
    ]
    styles = [
        {
            "name": e.key,
            "kind": e.fields.get("kind", "mood"),
            "studio": e.fields.get("studio"),
            "label": display_word("styles", e.key, "en"),
            "label_ko": display_word("styles", e.key, "ko"),
            "en": list(e.en),
            "ko": list(e.ko),
        }
        for e in load_lexicon("styles").entries
    ]
    colours = [
        {"name": e.key, "label": display_word("colours", e.key, "en"), "en": list(e.en), "ko": list(e.ko)}
        for e in load_lexicon("colours").entries
    ]
    return {"families": families, "unpainted_scenes": unpainted, "styles": styles, "colours": colours}
