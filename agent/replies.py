"""The agent's words to the seller, in the seller's language, from templates in prompts/templates/agent.

`replies_<language>.toml` holds one part per action (place, move, resize, ...), the help answer and anchor
names; a language without a file falls back to English. Every note of a result is said too, rendered in the
reply's language from its code (prompts/templates/notes_*.toml), and scenes are named in that language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from productshot.prompts import Template, load_template
from productshot.tools.notes import Note, render_notes

LANGUAGES = ("en", "ko")
FALLBACK_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "ko": "Korean (한국어)"}
ACTION_PARTS = (
    "place",
    "move",
    "resize",
    "new_scene",
    "regenerate",
    "undo",
    "nothing_to_undo",
    "listing",
    "check_listing",
)


def replies(language: str) -> Template:
    """The reply template of `language` (English when there is none for it)."""
    return load_template(f"agent/replies_{language if language in LANGUAGES else FALLBACK_LANGUAGE}")


def language_name(language: str) -> str:
    return LANGUAGE_NAMES.get(language, LANGUAGE_NAMES[FALLBACK_LANGUAGE])


def position_words(position: str, language: str) -> str:
    """An anchor in words ("the bottom left", "왼쪽 아래"); an exact point as its canonical form."""
    template = replies(language)
    part = f"anchor_{position}"
    if part in template.parts:
        return template.text(part)
    return template.render("exact", {"position": position})


def describe_result(
    outcome: Mapping[str, Any], language: str, *, action: str | None, model_text: str = ""
) -> str:
    """The reply for a finished turn: what was done (or the model's own words), every note, and the file."""
    template = replies(language)
    values = {
        "position": position_words(str(outcome.get("position", "")), language),
        "scale": f"{float(outcome.get('scale') or 0):.2f}",
        "scene": scene_words(outcome, language),
        "path": str(outcome.get("path", "")),
        **_listing_values(template, outcome),
    }
    lines: list[str] = []
    if model_text.strip():
        lines.append(model_text.strip())
    elif action in ACTION_PARTS:
        lines.append(template.render(action, values))
    else:
        lines.append(template.render("composed", values))
    lines.extend(_notes(outcome, language))
    lines.extend(_listing_review(template, outcome))
    if action == "check_listing":
        return "\n".join(lines)  # nothing was made, so nothing was saved
    lines.append(template.render("saved", values))
    return "\n".join(lines)


def describe_nothing(language: str, model_text: str = "") -> str:
    """The reply for a turn that made no image (the model answered in words only)."""
    return model_text.strip() or replies(language).text("no_result")


def describe_help(language: str) -> str:
    """A short answer to "what can you do?" / "뭐 할 수 있어?", with example requests."""
    return replies(language).text("help")


def follow_up_hint(language: str) -> str:
    return replies(language).text("follow_up")


def scene_words(outcome: Mapping[str, Any], language: str) -> str:
    """The scene shown, in `language`, its mood words first ("minimal beach", "미니멀 해변").

    A studio family is named by its own words ("wood" → "wooden table" / "나무 테이블") with the moods the
    studio shows; scene words a diffusion model painted are translated word by word where the lists know them.
    """
    from productshot.prompts.lexicon import display_phrase, load_lexicon, style_words
    from productshot.tools.studio_scenes import family_label, scene_family_names

    plan = outcome.get("plan")
    styles = [str(s) for s in plan.get("style", ())] if isinstance(plan, Mapping) else []
    scene = str(outcome.get("scene") or "")
    if scene in scene_family_names():
        lexicon = load_lexicon("styles")
        known = {entry.key for entry in lexicon.entries}
        styles = [s for s in styles if s in known and lexicon.get(s).fields.get("studio")]
        shown = family_label(scene, language)
    else:
        shown = display_phrase(scene, language)
    moods = [m for m in style_words(styles, language) if m not in shown]
    return " ".join(dict.fromkeys([*moods, shown])).strip()


def _notes(outcome: Mapping[str, Any], language: str) -> list[str]:
    """Every note of the result (the plan's included), in `language`, each once."""
    items = [n for n in outcome.get("notes") or () if isinstance(n, Mapping | Note)]
    plan = outcome.get("plan")
    if isinstance(plan, Mapping):
        items.extend(n for n in plan.get("notes") or () if isinstance(n, Mapping | Note))
    return render_notes(items, language)


def _listing_review(template: Template, outcome: Mapping[str, Any]) -> list[str]:
    """What a listing result asks the seller to look at, and the rules no pixel test can measure."""
    notes: list[str] = []
    review = [template.text(f"review_{reason}") for reason in outcome.get("needs_review") or ()]
    if review:
        notes.append(template.render("listing_review", {"review": "; ".join(review)}))
    if "preset" in outcome:
        notes.append(template.text("listing_unmeasured"))
    return notes


def _listing_values(template: Template, outcome: Mapping[str, Any]) -> dict[str, str]:
    """The words a listing reply fills in: preset, size, and whether the image passes its rules."""
    if "preset" not in outcome:
        return {}
    failed = ", ".join(str(name) for name in outcome.get("failed") or ())
    verdict = (
        template.render("listing_fails", {"failed": failed}) if failed else template.text("listing_passes")
    )
    return {
        "preset": str(outcome["preset"]),
        "verdict": verdict,
        "width": str(outcome.get("width", "")),
        "height": str(outcome.get("height", "")),
    }


__all__ = [
    "ACTION_PARTS",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "describe_help",
    "describe_nothing",
    "describe_result",
    "follow_up_hint",
    "language_name",
    "position_words",
    "replies",
    "scene_words",
]
