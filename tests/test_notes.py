"""Structured notes: every code has an English and a Korean text with the same placeholders."""

from __future__ import annotations

import re

import pytest

from productshot.prompts import load_template
from productshot.tools.notes import NOTE_LANGUAGES, Note, note, note_codes, render_notes

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@pytest.mark.parametrize("code", note_codes())
def test_every_code_has_every_language_with_the_same_placeholders(code: str) -> None:
    english = set(PLACEHOLDER.findall(load_template("notes_en").text(code)))
    for language in NOTE_LANGUAGES:
        text = load_template(f"notes_{language}").text(code)
        assert set(PLACEHOLDER.findall(text)) == english, (language, code)


def test_note_round_trips_and_renders_per_language() -> None:
    made = note("scene_fallback", asked="night city", used="studio")
    data = made.to_dict("ko")
    assert data["code"] == "scene_fallback"
    assert data["params"] == {"asked": "night city", "used": "studio"}
    assert "night city" in data["text"] and "배경" in data["text"]
    assert Note.from_dict(data) == made
    assert render_notes([made, data], "en") == [made.text("en")]


def test_unknown_code_and_missing_param_fail_where_the_note_is_made() -> None:
    with pytest.raises(ValueError, match="unknown note code"):
        note("no_such_code")
    with pytest.raises(KeyError, match="asked"):
        note("scene_fallback", used="studio")
