"""What a run of the agent is configured with: canvas, generator, seed, split retries, MCP endpoint.

Plain JSON-able values (LangGraph's server passes a run's `context` as JSON); the objects the graph works
with (the MCP tools, the chat model, settings) are bound when the graph is built, see `graph.build_graph`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from productshot.errors import BadRequestError

# Enough for a careful model (cutout, prompt, generate, check, composite, a retry or two and the answer);
# a model that keeps calling tools past it is stopped with StepLimitError.
DEFAULT_STEP_LIMIT = 30
DEFAULT_SPLIT_RETRIES = 3
# The model sees this many earlier turns of the thread (the ids it needs live in the state anyway).
DEFAULT_HISTORY_TURNS = 6
MAX_CANVAS = 4096
MIN_CANVAS = 64


@dataclass(frozen=True, kw_only=True)
class AgentContext:
    """Per-run configuration; None leaves the choice to the tools (the pipeline's defaults)."""

    width: int | None = None
    height: int | None = None
    model: str = "auto"
    seed: int | None = None
    max_split_retries: int = DEFAULT_SPLIT_RETRIES
    history_turns: int = DEFAULT_HISTORY_TURNS
    harmonize: bool = True  # match the product's light and colour to the scene (`--no-harmonize`: off)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and not MIN_CANVAS <= value <= MAX_CANVAS:
                raise BadRequestError(
                    f"{name} must be between {MIN_CANVAS} and {MAX_CANVAS} pixels, got {value}"
                )
        if not self.model.strip():
            raise BadRequestError("model: empty; use 'auto', 'studio' or a name from `productshot models`")
        if self.seed is not None and not 0 <= self.seed <= 2**32 - 1:
            raise BadRequestError(f"seed must be within 0..4294967295, got {self.seed}")
        if not 0 <= self.max_split_retries <= 10:
            raise BadRequestError(f"max_split_retries must be within 0..10, got {self.max_split_retries}")
        if not 1 <= self.history_turns <= 50:
            raise BadRequestError(f"history_turns must be within 1..50, got {self.history_turns}")

    def canvas_args(self) -> dict[str, Any]:
        """The canvas and generator arguments every image-making tool call carries."""
        args: dict[str, Any] = {"model": self.model}
        if self.width is not None:
            args["width"] = self.width
        if self.height is not None:
            args["height"] = self.height
        if self.seed is not None:
            args["seed"] = self.seed
        return args

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_step_limit(value: int) -> int:
    """A step limit (LangGraph's recursion limit) a run can live with: 4..500 steps."""
    if not isinstance(value, int) or not 4 <= value <= 500:
        raise BadRequestError(f"step limit must be an integer within 4..500, got {value!r}")
    return value


__all__ = [
    "DEFAULT_HISTORY_TURNS",
    "DEFAULT_SPLIT_RETRIES",
    "DEFAULT_STEP_LIMIT",
    "AgentContext",
    "check_step_limit",
]
