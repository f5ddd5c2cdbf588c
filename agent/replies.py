"""The agent's words to the seller, in the seller's language, from templates in prompts/templates/agent.

`replies_<language>.toml` holds one part per action (place, move, resize, ...), notes (a default scene, a
regenerated split background) and anchor names; a language without a file falls back to English. Only the
words live in the files; which parts a reply uses is decided here from the result's own fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from productshot.prompts import Template, load_template

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
    """The reply for a finished turn: what was done (or the model's own words), notes, and the file."""
    template = replies(language)
    values = {
        "position": position_words(str(outcome.get("position", "")), language),
        "scale": f"{float(outcome.get('scale') or 0):.2f}",
        "scene": _scene_words(outcome),
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
    lines.extend(_notes(template, outcome, values))
    if action == "check_listing":
        return "\n".join(lines)  # nothing was made, so nothing was saved
    lines.append(template.render("saved", values))
    return "\n".join(lines)


def describe_nothing(language: str, model_text: str = "") -> str:
    """The reply for a turn that made no image (the model answered in words only)."""
    return model_text.strip() or replies(language).text("no_result")


def follow_up_hint(language: str) -> str:
    return replies(language).text("follow_up")


def _scene_words(outcome: Mapping[str, Any]) -> str:
    """The scene with its mood words first ("sunset beach"), as the plan understood them."""
    plan = outcome.get("plan")
    style = [str(s) for s in plan.get("style", ())] if isinstance(plan, Mapping) else []
    scene = str(outcome.get("scene") or "")
    return " ".join(dict.fromkeys([*(s for s in style if s not in scene), scene])).strip()


def _notes(template: Template, outcome: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    notes: list[str] = []
    plan = outcome.get("plan")
    plan_notes: Sequence[str] = plan.get("notes", ()) if isinstance(plan, Mapping) else ()
    if any(str(note).startswith("no scene given") for note in [*plan_notes, *outcome.get("notes", ())]):
        notes.append(template.render("default_scene", values))
    regenerated = int(outcome.get("split_regenerated") or _split_retries(outcome.get("steps") or ()))
    if regenerated:
        notes.append(template.render("split_fixed", {"count": str(regenerated)}))
    if outcome.get("split_kept"):
        notes.append(template.text("split_kept"))
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


def _split_retries(steps: Sequence[Mapping[str, Any]]) -> int:
    """How many backgrounds the pipeline threw away as split: every split check but a final passing one."""
    checks = [step for step in steps if step.get("name") == "check_split"]
    return sum(1 for step in checks if str(step.get("detail", "")).startswith("split"))


__all__ = [
    "ACTION_PARTS",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "describe_nothing",
    "describe_result",
    "follow_up_hint",
    "language_name",
    "position_words",
    "replies",
]
