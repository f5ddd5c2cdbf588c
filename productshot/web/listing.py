"""The page's listing choices: each marketplace preset with the sentence its button sends to the agent.

The page makes a listing image the way a seller would ask for one in chat ("make a listing image for amazon"),
so it goes through the same agent runtime, rules planner and MCP `make_listing_image` tool as the CLI: one
pipeline. The sentence is built from the page's words (`listing_request`) and the marketplace's own name
in prompts/words/marketplaces.toml, and kept only when the planner reads it back as that preset.
"""

from __future__ import annotations

import string
from functools import cache

from productshot.prompts import load_template
from productshot.prompts.lexicon import load_lexicon
from productshot.tools.listing_presets import listing_presets
from productshot.tools.listing_words import find_listing
from productshot.web.labels import FALLBACK, LANGUAGES


@cache
def listing_choices(language: str) -> tuple[dict[str, str], ...]:
    """(preset, label, request) for every preset a sentence can ask for, in the marketplace file's order."""
    lang = language if language in LANGUAGES else FALLBACK
    phrase = string.Template(load_template(f"web_page_{lang}").parts["listing_request"])
    presets = listing_presets()
    choices = []
    for entry in load_lexicon("marketplaces").entries:
        name = entry.fields.get("preset", "")
        words = entry.ko if lang == "ko" else entry.en
        if name not in presets or not words:
            continue
        market = words[0]
        request = phrase.substitute(market=market)
        understood = find_listing(request)
        if understood is None or (understood.action, understood.preset) != ("listing", name):
            continue  # the planner would read it otherwise; never offer a button that does something else
        choices.append({"preset": name, "label": presets[name].label, "request": request})
    return tuple(choices)


__all__ = ["listing_choices"]
