"""Reading a listing request: a marketplace name (prompts/words/marketplaces.toml) next to a listing word
(prompts/words/listing_intents.toml) asks for a listing image or a check, in English or Korean."""

from __future__ import annotations

from dataclasses import dataclass

from productshot.prompts.lexicon import load_lexicon, normalise_text


@dataclass(frozen=True)
class ListingAsk:
    """What a listing request wants: `listing` (make the image) or `check_listing`, for which preset."""

    action: str
    preset: str


def find_listing(text: str) -> ListingAsk | None:
    """The listing request in `text`, or None when it names no marketplace or no listing word."""
    folded = normalise_text(text)
    markets = load_lexicon("marketplaces").find(folded)
    if not markets:
        return None
    intents = set(load_lexicon("listing_intents").keys_in(folded))
    if not intents:
        return None
    preset = load_lexicon("marketplaces").get(markets[0].key).fields["preset"]
    return ListingAsk("check_listing" if "check" in intents else "listing", preset)


__all__ = ["ListingAsk", "find_listing"]
