"""What flows through the graph and is kept per thread by the checkpointer: ids and parameters, never images.

`TurnInput` is what a caller sends for one turn (the request, and optionally an image reference, an earlier
result to change, position/scale overrides). `AgentState` adds what the thread remembers: the last result's
asset id and every result before it (for undo), the plans the rules planner made, the conversation messages
the model sees (text only: image previews are dropped before a tool's answer enters the state), which
backgrounds passed the split check, and this turn's outcome and reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


@dataclass
class TurnInput:
    """One turn's input; image is a reference (path, sample:NAME or asset id), never image bytes."""

    request: str = ""
    image: str | None = None
    previous: str | None = None
    position: str | None = None
    scale: float | None = None


@dataclass(frozen=True)
class Turn:
    """The current turn, validated by `prepare`: what the later nodes act on."""

    request: str
    language: str
    image: str | None = None
    previous: str | None = None
    position: str | None = None
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "language": self.language,
            "image": self.image,
            "previous": self.previous,
            "position": self.position,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        scale = data.get("scale")
        return cls(
            request=str(data["request"]),
            language=str(data.get("language") or "en"),
            image=data.get("image"),
            previous=data.get("previous"),
            position=data.get("position"),
            scale=float(scale) if scale is not None else None,
        )


@dataclass
class AgentState(TurnInput):
    """A thread's memory plus the current turn."""

    messages: Annotated[list[AnyMessage], add_messages] = field(default_factory=list)
    turn: dict[str, Any] | None = None
    turn_plan: dict[str, Any] | None = None
    language: str = "en"
    last_result: str | None = None
    last_outcome: dict[str, Any] | None = None
    results: list[str] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    outcome: dict[str, Any] | None = None
    reply: str = ""
    passed_split: list[str] = field(default_factory=list)
    backgrounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    guard_log: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    last_listing: str | None = None  # the last listing image made (what "check this for Naver" checks)

    def current(self) -> Turn:
        """This turn, as `prepare` validated it."""
        if self.turn is None:
            raise RuntimeError("the graph reached a turn node before `prepare` ran")
        return Turn.from_dict(self.turn)


__all__ = ["AgentState", "Turn", "TurnInput"]
