"""Prompt templates and word lists, as versioned files read through `importlib.resources`.

`templates/NAME.toml` holds one template: `name`, `version`, `description` and its `[parts]` (texts with
`$placeholders`, e.g. `system` and `user` for a chat prompt, `text` for a diffusion prompt). Results record
`Template.ref` ("diffusion_prompt@1") so every prompt can be traced to the file that made it.
`words/NAME.toml` holds word lists (scenes, styles, colours, products) in English and Korean with the
English phrase each one becomes; `productshot.prompts.lexicon` loads and matches them.
Edit the files and bump `version`; nothing here is inline in code.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

_PACKAGE = "productshot.prompts"


@dataclass(frozen=True)
class Template:
    """One named, versioned template with one or more text parts."""

    name: str
    version: int
    description: str
    parts: Mapping[str, str]

    @property
    def ref(self) -> str:
        """`name@version`, what results record as their template version."""
        return f"{self.name}@{self.version}"

    def text(self, part: str = "text") -> str:
        """The raw text of one part (placeholders left in)."""
        try:
            return self.parts[part]
        except KeyError:
            raise KeyError(
                f"template {self.ref} has no part {part!r}; parts: {', '.join(self.parts)}"
            ) from None

    def render(self, part: str = "text", values: Mapping[str, str] | None = None) -> str:
        """Fill the `$placeholders` of one part; every placeholder must be given a value."""
        try:
            return string.Template(self.text(part)).substitute(values or {})
        except KeyError as exc:
            raise KeyError(f"template {self.ref} part {part!r} needs a value for ${exc.args[0]}") from None


def read_toml(folder: str, name: str) -> dict[str, Any]:
    """Parse `prompts/FOLDER/NAME.toml` from the installed package (FileNotFoundError lists what exists)."""
    resource = resources.files(_PACKAGE).joinpath(folder, f"{name}.toml")
    if not resource.is_file():
        available = ", ".join(sorted(_names(folder)))
        raise FileNotFoundError(
            f"no {folder[:-1]} named {name!r} in prompts/{folder}; available: {available}"
        )
    return tomllib.loads(resource.read_text(encoding="utf-8"))


def _names(folder: str) -> tuple[str, ...]:
    entries = resources.files(_PACKAGE).joinpath(folder).iterdir()
    return tuple(sorted(e.name[: -len(".toml")] for e in entries if e.name.endswith(".toml")))


def template_names() -> tuple[str, ...]:
    """Names of every template shipped in prompts/templates."""
    return _names("templates")


@cache
def load_template(name: str) -> Template:
    """Load `prompts/templates/NAME.toml` (cached: templates are read-only package data)."""
    data = read_toml("templates", name)
    parts = data.get("parts")
    version = data.get("version")
    if data.get("name") != name:
        raise ValueError(
            f"prompts/templates/{name}.toml: field name is {data.get('name')!r}, expected {name!r}"
        )
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"prompts/templates/{name}.toml: version must be an integer >= 1, got {version!r}")
    if not isinstance(parts, dict) or not parts or not all(isinstance(v, str) and v for v in parts.values()):
        raise ValueError(f"prompts/templates/{name}.toml: [parts] must hold at least one non-empty text")
    return Template(
        name=name,
        version=version,
        description=str(data.get("description", "")),
        parts=MappingProxyType({k: v.strip("\n") for k, v in parts.items()}),
    )


__all__ = ["Template", "load_template", "read_toml", "template_names"]
