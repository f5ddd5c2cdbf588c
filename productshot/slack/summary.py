"""The words that go with a result in Slack: the agent's reply and one line saying what served each step.

The step line reads like `plan: rules 0.01s · cutout: u2netp 0.40s · generate: studio 0.10s · composite 0.02s`,
so nobody mistakes the embedded studio backdrop or the rules planner for a diffusion model or an LLM.
Everything posted is escaped for Slack's mrkdwn (`&`, `<`, `>`), so a file name can never become a mention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from productshot.agent.runtime import TurnResult

SEPARATOR = " · "


def escape(text: str) -> str:
    """Text as Slack shows it literally: `&`, `<` and `>` are the three characters mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_seconds(seconds: float) -> str:
    """0.01s, 0.40s, 6.8s, 42s: two decimals under a second, one under ten, whole seconds above."""
    value = max(0.0, float(seconds))
    if value < 1.0:
        return f"{value:.2f}s"
    if value < 10.0:
        return f"{value:.1f}s"
    return f"{value:.0f}s"


def steps_line(steps: Sequence[Mapping[str, Any]], *, reused: Iterable[str] = ()) -> str:
    """`name: backend Ns` per step (just `name Ns` when the backend is the step itself), then what was reused."""
    parts = []
    for step in steps:
        name = str(step.get("name") or "step")
        backend = str(step.get("backend") or "")
        seconds = format_seconds(float(step.get("seconds") or 0.0))
        parts.append(
            f"{name} {seconds}" if not backend or backend == name else f"{name}: {backend} {seconds}"
        )
    kept = [str(item) for item in reused if str(item)]
    if kept:
        parts.append("reused " + ", ".join(kept))
    return SEPARATOR.join(parts)


def reply_lines(result: TurnResult) -> list[str]:
    """The agent's reply without the line naming the result's local file (meaningless in Slack)."""
    path = str(result.path) if result.path else None
    return [line for line in result.reply.splitlines() if line.strip() and not (path and path in line)]


def result_comment(result: TurnResult, *, hint: str | None = None) -> str:
    """The upload's comment: the reply in the user's language, the step line, and an optional hint."""
    out = reply_lines(result)
    outcome = result.outcome or {}
    line = steps_line(result.steps, reused=outcome.get("reused") or ())
    if line:
        out.append(line)
    if hint:
        out.append(hint)
    return escape("\n".join(out))


__all__ = ["SEPARATOR", "escape", "format_seconds", "reply_lines", "result_comment", "steps_line"]
