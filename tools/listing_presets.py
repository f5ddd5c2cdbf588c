"""Marketplace listing presets: the table in `listing_presets.toml`, read once and validated.

A preset says what `listing` makes (size, fill, shadow allowed, scene or white) and which rules
`check-listing` measures, each with a level (required | recommended) and where the rule comes from.
Add a marketplace by adding a `[preset.NAME]` table to the TOML file; nothing else changes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from productshot.errors import BadRequestError

LEVELS: Final = ("required", "recommended")
BASES: Final = ("official", "secondary", "unverified", "house")
# Rule kinds `check-listing` can measure, and those it cannot measure offline (reported with measured null).
MEASURED_KINDS: Final = (
    "format",
    "colour",
    "white_background",
    "fill",
    "centred",
    "min_long_side",
    "min_short_side",
    "max_side",
    "max_bytes",
    "max_megapixels",
    "square",
)
UNMEASURABLE_KINDS: Final = ("no_text", "no_logos", "no_border", "no_watermark")
_TABLE = "listing_presets.toml"


@dataclass(frozen=True)
class ListingRule:
    """One rule of one marketplace: what is measured, the limit, how binding it is and its source."""

    name: str
    kind: str
    value: Any
    level: str
    basis: str
    source: str

    @property
    def required(self) -> bool:
        return self.level == "required"

    @property
    def measurable(self) -> bool:
        return self.kind in MEASURED_KINDS


@dataclass(frozen=True)
class ListingPreset:
    """What one marketplace wants: the image `listing` writes and the rules `check-listing` applies."""

    name: str
    label: str
    width: int
    height: int
    fill: float
    shadow: bool
    needs_request: bool
    sources: tuple[str, ...]
    rules: tuple[ListingRule, ...]

    def rule(self, kind: str) -> ListingRule | None:
        """The first rule of this kind, required before recommended (None when the preset has none)."""
        found = [r for r in self.rules if r.kind == kind]
        found.sort(key=lambda r: LEVELS.index(r.level))
        return found[0] if found else None

    @property
    def max_bytes(self) -> int | None:
        """The tightest file-size cap of this preset's rules (what the JPEG quality steps down to meet)."""
        caps = [int(r.value) for r in self.rules if r.kind == "max_bytes"]
        return min(caps) if caps else None

    @property
    def white(self) -> bool:
        """A product-on-white preset (every preset but a scene shot)."""
        return not self.needs_request

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "width": self.width,
            "height": self.height,
            "fill": self.fill,
            "shadow": self.shadow,
            "needs_request": self.needs_request,
            "sources": list(self.sources),
            "rules": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "value": r.value,
                    "level": r.level,
                    "basis": r.basis,
                    "source": r.source,
                }
                for r in self.rules
            ],
        }


@cache
def listing_presets() -> Mapping[str, ListingPreset]:
    """Every preset of the table, by name (read and validated once; the file is package data)."""
    text = resources.files("productshot.tools").joinpath(_TABLE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    presets = {name: _preset(name, row) for name, row in data.get("preset", {}).items()}
    if not presets:
        raise ValueError(f"{_TABLE} defines no presets")
    return MappingProxyType(presets)


def get_preset(name: str) -> ListingPreset:
    """The preset called `name` (case-insensitive), or a BadRequestError listing the valid names."""
    presets = listing_presets()
    key = str(name).strip().lower()
    if key not in presets:
        raise BadRequestError(f"preset {name!r} is unknown; valid presets: {', '.join(presets)}")
    return presets[key]


def preset_names() -> tuple[str, ...]:
    return tuple(listing_presets())


def _preset(name: str, row: Mapping[str, Any]) -> ListingPreset:
    where = f"{_TABLE} [preset.{name}]"
    try:
        width, height, fill = int(row["width"]), int(row["height"]), float(row["fill"])
        rules = tuple(_rule(where, item) for item in row["rules"])
        preset = ListingPreset(
            name=name,
            label=str(row["label"]),
            width=width,
            height=height,
            fill=fill,
            shadow=bool(row.get("shadow", False)),
            needs_request=bool(row.get("needs_request", False)),
            sources=tuple(str(s) for s in row.get("sources", ())),
            rules=rules,
        )
    except KeyError as exc:
        raise ValueError(f"{where} lacks {exc.args[0]!r}") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"{where}: size {width}x{height} is out of 16..8192")
    # At most 0.92 keeps a white margin wider than the 2% border band plus a JPEG block on every side.
    if not 0.05 <= fill <= 0.92:
        raise ValueError(f"{where}: fill {fill} must be within 0.05..0.92")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: rule names repeat: {names}")
    if not any(r.kind == "format" for r in rules):
        raise ValueError(f"{where}: every preset needs a format rule")
    return preset


def _rule(where: str, item: Mapping[str, Any]) -> ListingRule:
    rule = ListingRule(
        name=str(item["name"]),
        kind=str(item["kind"]),
        value=item["value"],
        level=str(item["level"]),
        basis=str(item["basis"]),
        source=str(item["source"]),
    )
    if rule.kind not in MEASURED_KINDS + UNMEASURABLE_KINDS:
        raise ValueError(f"{where}: rule {rule.name!r} has unknown kind {rule.kind!r}")
    if rule.level not in LEVELS:
        raise ValueError(f"{where}: rule {rule.name!r} level must be one of {LEVELS}, got {rule.level!r}")
    if rule.basis not in BASES:
        raise ValueError(f"{where}: rule {rule.name!r} basis must be one of {BASES}, got {rule.basis!r}")
    return rule


__all__ = [
    "LEVELS",
    "MEASURED_KINDS",
    "UNMEASURABLE_KINDS",
    "ListingPreset",
    "ListingRule",
    "get_preset",
    "listing_presets",
    "preset_names",
]
