"""Word lists (`prompts/words/NAME.toml`) and finding their words in a request, English or Korean.

English words match as whole words (a plural `s`/`es` allowed). Korean words carry particles and endings
("해변에", "미니멀한", "가방을") and compound nouns put the head last ("가죽가방"), so a Korean word matches
at the end of a space-separated word followed only by a known particle or ending; a one-syllable word
(눈, 산, 숲) must also start the word, so 부산 is not a mountain and 되돌려 holds no stone.
Where words overlap, the longest at the earliest place wins ("perfume bottle" before "bottle").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from productshot.prompts import read_toml


@cache
def _korean_tails() -> tuple[str, str]:
    """(noun tail, adjective tail) regex fragments, from prompts/words/korean.toml."""
    data = read_toml("words", "korean")

    def alt(name: str) -> str:
        items = data.get(name)
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ValueError(f"prompts/words/korean.toml: {name} must be a list of non-empty strings")
        return "|".join(re.escape(i) for i in sorted(set(items), key=len, reverse=True))

    particle = rf"(?:들)?(?:{alt('particles')})?"
    noun_tail = rf"(?:{alt('noun_tails')})?{particle}"
    adjective_tail = rf"(?:(?:{alt('adjective_endings')}){particle})?"
    return noun_tail, adjective_tail


@dataclass(frozen=True)
class LexiconEntry:
    """One entry: English and Korean words that mean it, and its fields (label, phrase, kind...)."""

    key: str
    en: tuple[str, ...]
    ko: tuple[str, ...]
    fields: Mapping[str, str]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class LexiconHit:
    """Where one entry's word was found in a normalised text."""

    key: str
    start: int
    end: int
    word: str


def normalise_text(text: str) -> str:
    """NFKC (composed Hangul, half-width forms), lower case, one space between words (an underscore, as in a
    family name such as "night_city" that an MCP client or planner passes back, counts as a space)."""
    return re.sub(r"[\s_]+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def _compact(word: str) -> str:
    return re.sub(r"[\s-]+", "", normalise_text(word))


def _body(word: str) -> str:
    parts = [re.escape(p) for p in normalise_text(word).split(" ")]
    return r"[\s-]*".join(parts)


def _alternation(words: list[str]) -> str:
    return "|".join(_body(w) for w in sorted(set(words), key=len, reverse=True))


def _matcher(words: list[str], adjectives: bool) -> re.Pattern[str]:
    """One regex for a whole list: at each place the longest word wins, Korean words with their endings."""
    english = [w for w in words if not re.search(r"[가-힣]", w)]
    korean = [w for w in words if re.search(r"[가-힣]", w)]
    single = [w for w in korean if len(w.replace(" ", "")) == 1]
    longer = [w for w in korean if len(w.replace(" ", "")) > 1]
    noun_tail, adjective_tail = _korean_tails()
    tail = rf"(?:{adjective_tail}|{noun_tail})" if adjectives else noun_tail
    branches = []
    if english:
        branches.append(rf"(?<!\w)(?P<en>{_alternation(english)})(?:s|es)?(?!\w)")
    if longer:
        branches.append(rf"(?P<ko>{_alternation(longer)}){tail}(?![가-힣])")
    if single:
        branches.append(rf"(?<![가-힣])(?P<ko1>{_alternation(single)}){tail}(?![가-힣])")
    return re.compile("|".join(branches) or r"(?!)")


@dataclass(frozen=True)
class Lexicon:
    """A versioned word list, entries in file order, with a matcher over English and Korean text."""

    name: str
    version: int
    entries: tuple[LexiconEntry, ...]
    adjectives: bool
    _matcher: re.Pattern[str]
    _keys: Mapping[str, str]  # compacted word -> entry key
    _excludes: tuple[re.Pattern[str], ...]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def get(self, key: str) -> LexiconEntry:
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise KeyError(f"lexicon {self.ref} has no entry {key!r}")

    def words(self, key: str) -> tuple[str, ...]:
        """Every word (English and Korean) of one entry."""
        entry = self.get(key)
        return entry.en + entry.ko

    def find(self, text: str) -> list[LexiconHit]:
        """Every non-overlapping hit in `text` (normalised first), in reading order."""
        folded = normalise_text(text)
        blocked = [m.span() for pattern in self._excludes for m in pattern.finditer(folded)]
        hits = []
        for match in self._matcher.finditer(folded):
            word = match["en"] or match["ko"] or match["ko1"]
            if any(match.start() < end and start < match.end() for start, end in blocked):
                continue
            hits.append(
                LexiconHit(key=self._keys[_compact(word)], start=match.start(), end=match.end(), word=word)
            )
        return hits

    def keys_in(self, text: str) -> tuple[str, ...]:
        """The distinct entry keys found in `text`, in reading order."""
        return tuple(dict.fromkeys(h.key for h in self.find(text)))


@dataclass(frozen=True)
class WordHit:
    """One word found by `find_words`: which list, which entry, where (in the normalised text)."""

    lexicon: str
    key: str
    start: int
    end: int
    word: str


def find_words(text: str, names: Sequence[str]) -> list[WordHit]:
    """The words of several lists in one text, overlaps resolved across the lists, in reading order.

    Where two words overlap the longer one wins, then the earlier one, then the earlier list: "snow white"
    is a colour, not snow; "golden hour" is a light, not gold; "night city" is a scene, not night.
    """
    folded = normalise_text(text)
    found = [
        WordHit(name, h.key, h.start, h.end, h.word)
        for name in names
        for h in load_lexicon(name).find(folded)
    ]
    order = {name: i for i, name in enumerate(names)}
    found.sort(key=lambda h: (-(h.end - h.start), h.start, order[h.lexicon]))
    kept: list[WordHit] = []
    for hit in found:
        if all(hit.end <= k.start or k.end <= hit.start for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def language_of(text: str) -> str:
    """'ko' when the text holds Hangul, else 'en' (the two languages the word lists read)."""
    return "ko" if re.search(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]", text) else "en"


def display_word(name: str, key: str, language: str) -> str:
    """How a reply names one entry: its `label` (English) or `label_ko` (Korean, else its first Korean word)."""
    entry = load_lexicon(name).get(key)
    english = entry.fields.get("label") or key.replace("_", " ")
    if language == "ko":
        return entry.fields.get("label_ko") or (entry.ko[0] if entry.ko else english)
    return english


def display_phrase(text: str, language: str, names: Sequence[str] = ("scenes", "styles", "colours")) -> str:
    """`text` with every listed word replaced by its display words in `language` ("sunset beach" → "노을 해변").

    English text is returned as given; in Korean, words of no list stay as they are.
    """
    if language != "ko":
        return text
    folded = normalise_text(text)
    parts: list[str] = []
    last = 0
    for hit in find_words(folded, names):
        parts.append(folded[last : hit.start])
        parts.append(display_word(hit.lexicon, hit.key, language))
        last = hit.end
    parts.append(folded[last:])
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def style_words(styles: Sequence[str], language: str = "en") -> list[str]:
    """Style keys as display words ("soft_light" → "soft light" / "은은한 조명"); unknown words as given."""
    lexicon = load_lexicon("styles")
    keys = {entry.key for entry in lexicon.entries}
    return [display_word("styles", s, language) if s in keys else s for s in styles]


@cache
def load_lexicon(name: str) -> Lexicon:
    """Load `prompts/words/NAME.toml`: `version`, optional `adjectives`, one `[entry.KEY]` per entry (cached)."""
    data = read_toml("words", name)
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"prompts/words/{name}.toml: version must be an integer >= 1, got {version!r}")
    adjectives = bool(data.get("adjectives", True))
    entries = []
    for key, raw in (data.get("entry") or {}).items():
        words_en = tuple(raw.get("en", ()))
        words_ko = tuple(raw.get("ko", ()))
        if not words_en and not words_ko:
            raise ValueError(f"prompts/words/{name}.toml: entry {key!r} has no words")
        fields = {k: v for k, v in raw.items() if isinstance(v, str)}
        entries.append(
            LexiconEntry(
                key=key,
                en=words_en,
                ko=words_ko,
                fields=MappingProxyType(fields),
                exclude=tuple(raw.get("exclude", ())),
            )
        )
    keys: dict[str, str] = {}
    for entry in entries:
        for word in entry.en + entry.ko:
            keys.setdefault(_compact(word), entry.key)
    excludes = tuple(
        re.compile(r"\s*".join(re.escape(p) for p in normalise_text(x).split(" ")))
        for e in entries
        for x in e.exclude
    )
    return Lexicon(
        name=name,
        version=version,
        entries=tuple(entries),
        adjectives=adjectives,
        _matcher=_matcher([w for e in entries for w in e.en + e.ko], adjectives),
        _keys=MappingProxyType(keys),
        _excludes=excludes,
    )


__all__ = [
    "Lexicon",
    "LexiconEntry",
    "LexiconHit",
    "WordHit",
    "display_phrase",
    "display_word",
    "find_words",
    "language_of",
    "load_lexicon",
    "normalise_text",
    "style_words",
]
