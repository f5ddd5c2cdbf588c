"""Structured notes: what a result wants its user to know, as `{code, params, text}`.

A note is a code plus parameters; its text is rendered per language from `prompts/templates/notes_LANG.toml`
(one part per code, `${param}` placeholders). Results carry notes, never bare strings, so every front end
(CLI, MCP, agent, Slack) can say them in the user's language without matching on English text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from productshot.prompts import Template, load_template

NOTE_LANGUAGES: tuple[str, ...] = ("en", "ko")
FALLBACK_LANGUAGE = "en"
NoteParam = str | int | float | bool


@cache
def _catalogue(language: str) -> Template:
    """The note texts of one language (English where the language has no file)."""
    return load_template(f"notes_{language if language in NOTE_LANGUAGES else FALLBACK_LANGUAGE}")


def note_codes() -> tuple[str, ...]:
    """Every known note code (the parts of the English catalogue)."""
    return tuple(_catalogue(FALLBACK_LANGUAGE).parts)


@dataclass(frozen=True, eq=True)
class Note:
    """One thing a result wants its user to know: a stable `code`, its `params`, rendered on demand."""

    code: str
    params: Mapping[str, NoteParam] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in _catalogue(FALLBACK_LANGUAGE).parts:
            raise ValueError(f"unknown note code {self.code!r}; add it to prompts/templates/notes_en.toml")
        object.__setattr__(self, "params", dict(self.params))
        self.text()  # every placeholder must have a value: fail where the note is made, not where it is shown

    def __hash__(self) -> int:
        return hash((self.code, tuple(sorted((k, str(v)) for k, v in self.params.items()))))

    def text(self, language: str = FALLBACK_LANGUAGE) -> str:
        """The note in `language` (English when that language has no text for this code)."""
        values = {k: _param_text(v) for k, v in self.params.items()}
        catalogue = _catalogue(language)
        if self.code not in catalogue.parts:
            catalogue = _catalogue(FALLBACK_LANGUAGE)
        return catalogue.render(self.code, values)

    def to_dict(self, language: str = FALLBACK_LANGUAGE) -> dict[str, Any]:
        """`{code, params, text}` as every `--json`, MCP structured content and pipeline result carries it."""
        return {"code": self.code, "params": dict(self.params), "text": self.text(language)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Note:
        """The inverse of `to_dict` (the text is re-rendered, so it may be dropped)."""
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            raise ValueError(f"note params must be a mapping, got {type(params).__name__}")
        return cls(str(data["code"]), {str(k): v for k, v in params.items()})


def note(code: str, **params: NoteParam) -> Note:
    """Shorthand: `note("scene_fallback", asked="night city", used="studio")`."""
    return Note(code, params)


def notes_to_dicts(notes: Iterable[Note], language: str = FALLBACK_LANGUAGE) -> list[dict[str, Any]]:
    return [n.to_dict(language) for n in notes]


def notes_from_dicts(items: Iterable[Mapping[str, Any] | Note]) -> tuple[Note, ...]:
    return tuple(item if isinstance(item, Note) else Note.from_dict(item) for item in items)


def render_notes(notes: Iterable[Note | Mapping[str, Any]], language: str) -> list[str]:
    """Each note's text in `language`, in order, without repeats."""
    texts = (n.text(language) for n in notes_from_dicts(notes))
    return list(dict.fromkeys(texts))


def _param_text(value: NoteParam) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


__all__ = [
    "NOTE_LANGUAGES",
    "Note",
    "NoteParam",
    "note",
    "note_codes",
    "notes_from_dicts",
    "notes_to_dicts",
    "render_notes",
]
