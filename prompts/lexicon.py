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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from productshot.prompts import read_toml

# Particles after a Korean noun (optionally plural 들, optionally a location noun first: 해변가에, 숲속에).
_KO_PARTICLE = (
    r"(?:들)?(?:에서|에다|에는|에도|에선|으로|로|에|을|를|이|가|은|는|의|와|과|도|만|처럼|같은|같이|"
    r"이랑|랑|하고|부터|까지|이나|나|쯤)?"
)
_KO_NOUN_TAIL = rf"(?:속|안|옆|앞|위|밖|가|쪽)?{_KO_PARTICLE}"
# Endings that make an adjective or a manner of a noun: 미니멀한, 노을진, 파스텔톤, 흰색의.
_KO_ADJ_TAIL = (
    rf"(?:(?:한|하게|하고|하며|해|스러운|스럽게|스런|적인|적으로|풍|톤|느낌|감성|빛|색|진|인){_KO_PARTICLE})?"
)


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
    """NFKC (composed Hangul, half-width forms), lower case, one space between words."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


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
    tail = rf"(?:{_KO_ADJ_TAIL}|{_KO_NOUN_TAIL})" if adjectives else _KO_NOUN_TAIL
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


__all__ = ["Lexicon", "LexiconEntry", "LexiconHit", "load_lexicon", "normalise_text"]
