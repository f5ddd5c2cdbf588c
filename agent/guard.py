"""The split guard: no background reaches `composite` before it passed `check_split`, whatever the model did.

Diffusion models sometimes paint two scenes stacked top and bottom. On the LLM path the model composes the
tools itself and may skip the check, so the graph's guard node intercepts every composite call whose
background has not passed: it runs check_split over MCP and, when the background is split, generates a new
one with a new seed (the same prompt and size when the agent saw it made, else a prompt from write_prompt
for the request at the split background's size), up to `max_split_retries` times, and composites on the
first one that passes (or the least split, said so). If no new background can be made, the composite is
blocked with the reason rather than run on a split background.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from productshot.agent.context import AgentContext
from productshot.agent.errors import ToolCallError
from productshot.agent.images import is_asset_id
from productshot.agent.toolbox import Toolbox

MAX_SEED = 2**32 - 1
_SEED_STEP = 7919  # a prime: successive retries land far apart in seed space
DEFAULT_CANVAS = (1024, 768)


@dataclass(frozen=True)
class Recipe:
    """How a background was (or will be) made: enough to make another like it with a new seed."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    model: str = "auto"
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": self.width,
            "height": self.height,
            "model": self.model,
            "seed": self.seed,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Recipe:
        """From generate_background's structured content (or a stored recipe)."""
        seed = data.get("seed")
        return cls(
            prompt=str(data["prompt"]),
            negative_prompt=str(data.get("negative_prompt") or ""),
            width=int(data["width"]),
            height=int(data["height"]),
            model=str(data.get("model") or "auto"),
            seed=int(seed) if seed is not None else None,
        )

    def next_seed(self, attempt: int) -> int:
        if self.seed is None:
            return secrets.randbelow(MAX_SEED)
        return (self.seed + _SEED_STEP * (attempt + 1)) % MAX_SEED


@dataclass(frozen=True)
class GuardVerdict:
    """What the guard decided for one composite call."""

    call_id: str
    asked: str
    background: str
    passed: tuple[str, ...] = ()
    note: str = ""
    blocked: str | None = None
    made: Mapping[str, Recipe] = field(default_factory=dict)
    regenerated: int = 0
    kept_split: bool = False

    @property
    def replaced(self) -> bool:
        return self.background != self.asked

    def log_entry(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "asked": self.asked,
            "background": self.background,
            "split": self.replaced or self.kept_split or self.blocked is not None,
            "regenerated": self.regenerated,
            "kept_split": self.kept_split,
            "blocked": self.blocked,
            "note": self.note,
        }


class SplitGuard:
    """Checks (and if need be replaces) a background over MCP before it is composited."""

    def __init__(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox

    async def check(
        self,
        *,
        call_id: str,
        background: str,
        recipes: Mapping[str, Mapping[str, Any]],
        request: str,
        position: str,
        context: AgentContext,
    ) -> GuardVerdict:
        first = await self.toolbox.call("check_split", {"image": background})
        if not first.ok:
            # Not a readable background: composite will fail on it too and the model reads that error.
            return GuardVerdict(call_id=call_id, asked=background, background=background, note=first.text)
        if not first.data.get("split"):
            return GuardVerdict(
                call_id=call_id, asked=background, background=background, passed=_ids(background, first.data)
            )
        seam = first.data.get("seam_y")
        try:
            recipe = await self._recipe(background, recipes, request, position, context)
            return await self._regenerate(
                call_id, background, recipe, float(first.data.get("score", 1.0)), seam, context
            )
        except ToolCallError as exc:
            reason = f"background {background} is two stacked scenes (seam at y={seam}) and a new one could not be made: {exc}"
            return GuardVerdict(
                call_id=call_id, asked=background, background=background, blocked=reason, note=reason
            )

    async def _regenerate(
        self,
        call_id: str,
        background: str,
        recipe: Recipe,
        score: float,
        seam: Any,
        context: AgentContext,
    ) -> GuardVerdict:
        best: tuple[float, str] = (score, background)
        made: dict[str, Recipe] = {}
        tries = max(1, context.max_split_retries)
        for attempt in range(tries):
            seed = recipe.next_seed(attempt)
            args = {**recipe.to_dict(), "seed": seed}
            generated = (await self.toolbox.call("generate_background", args)).require()
            new_id = str(generated["asset_id"])
            made[new_id] = Recipe.from_data({**args, **generated})
            checked = (await self.toolbox.call("check_split", {"image": new_id})).require()
            new_score = float(checked.get("score", 1.0))
            if not checked.get("split"):
                note = (
                    f"guard: background {background} was two stacked scenes (seam at y={seam}); made {new_id} "
                    f"with seed {seed}, which passed check_split, and composited on it instead"
                )
                return GuardVerdict(
                    call_id=call_id,
                    asked=background,
                    background=new_id,
                    passed=_ids(new_id, checked),
                    note=note,
                    made=made,
                    regenerated=attempt + 1,
                )
            if new_score < best[0]:
                best = (new_score, new_id)
        note = (
            f"guard: background {background} was two stacked scenes; {tries} new ones all looked split too, "
            f"so the least split one ({best[1]}, score {best[0]:.2f}) was used"
        )
        return GuardVerdict(
            call_id=call_id,
            asked=background,
            background=best[1],
            passed=(best[1],),
            note=note,
            made=made,
            regenerated=tries,
            kept_split=True,
        )

    async def _recipe(
        self,
        background: str,
        recipes: Mapping[str, Mapping[str, Any]],
        request: str,
        position: str,
        context: AgentContext,
    ) -> Recipe:
        known = recipes.get(background)
        if known is not None:
            return Recipe.from_data(known)
        written = (
            await self.toolbox.call("write_prompt", {"request": request, "position": position})
        ).require()
        width, height = await self._size(background, context)
        return Recipe(
            prompt=str(written["prompt"]),
            negative_prompt=str(written.get("negative_prompt") or ""),
            width=width,
            height=height,
            model=context.model,
        )

    async def _size(self, background: str, context: AgentContext) -> tuple[int, int]:
        """The split background's size (read from its stored file), else the configured canvas."""
        from PIL import Image, UnidentifiedImageError

        if is_asset_id(background):
            data = await self.toolbox.read_asset(background.strip().removeprefix("productshot://assets/"))
            try:
                with Image.open(io.BytesIO(data)) as image:  # the header only: no pixels decoded
                    return image.size
            except (UnidentifiedImageError, OSError) as exc:
                raise ToolCallError("read_resource", f"{background}: not an image ({exc})") from exc
        return (context.width or DEFAULT_CANVAS[0], context.height or DEFAULT_CANVAS[1])


def _ids(reference: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The forms a checked background may be named by later: the reference used, and its asset id."""
    found = [reference]
    if data.get("image_id"):
        found.append(str(data["image_id"]))
    return tuple(dict.fromkeys(found))


__all__ = ["DEFAULT_CANVAS", "GuardVerdict", "Recipe", "SplitGuard"]
