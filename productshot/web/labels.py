"""The page's words in the browser's language: `prompts/templates/web_page_<lang>.toml`, picked by Accept-Language."""

from __future__ import annotations

import string
from collections.abc import Mapping

from productshot.prompts import load_template

LANGUAGES = ("en", "ko")
FALLBACK = "en"


def pick_language(accept_language: str | None) -> str:
    """The first language of an Accept-Language header we have words for (weights honoured), else English."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and weight > 0:
            ranked.append((-weight, index, primary))
    return sorted(ranked)[0][2] if ranked else FALLBACK


def page_labels(language: str, values: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every label of the page in `language`; `$placeholders` in `values` are filled, the rest kept for the page."""
    template = load_template(f"web_page_{language if language in LANGUAGES else FALLBACK}")
    fill = dict(values or {})
    return {key: string.Template(text).safe_substitute(fill) for key, text in template.parts.items()}


__all__ = ["FALLBACK", "LANGUAGES", "page_labels", "pick_language"]
