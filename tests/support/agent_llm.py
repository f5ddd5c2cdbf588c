"""A scripted tool-calling model for the agent's LLM path: the real ChatOpenAI client against `OpenAIStub`.

`ScriptedChat` sits between the stub and a test: the stub's queue is filled once with dispatchers, and each
test queues its own replies here (or a function of the request body, e.g. one that reads the asset id the
last tool answered with), so one warm agent runtime serves every test of a module and a test can drop what
it left unused.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import Any

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tests.support.openai_stub import Json, OpenAIStub, Reply

Scripted = Reply | Callable[[Json], Reply]
_ASSET_ID = re.compile(r"\ba[0-9a-z]{16}\b")


class ScriptedChat:
    """Replies for the chat-completion requests, in order; an empty script is an HTTP 500 naming it."""

    def __init__(self, stub: OpenAIStub, *, capacity: int = 2000) -> None:
        self.stub = stub
        self._queue: deque[Scripted] = deque()
        stub.script(*([self._dispatch] * capacity))

    def say(self, *replies: Scripted) -> None:
        self._queue.extend(replies)

    def clear(self) -> None:
        self._queue.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _dispatch(self, body: Json) -> Reply:
        if not self._queue:
            return Reply.error(500, "scripted chat: no reply left for this request")
        scripted = self._queue.popleft()
        return scripted(body) if callable(scripted) else scripted

    def model(self, *, name: str = "stub-model") -> ChatOpenAI:
        """The real langchain-openai client pointed at the stub (no retries: a test fails fast)."""
        return ChatOpenAI(
            model=name,
            api_key=SecretStr("test-key"),
            base_url=self.stub.base_url,
            max_retries=0,
            timeout=30,
            temperature=0,
        )


def last_tool_text(body: Json) -> str:
    """The content of the last tool message the model was sent."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "tool":
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    raise AssertionError("the request holds no tool message")


def first_asset_id(text: str) -> str:
    found = _ASSET_ID.search(text)
    assert found, f"no asset id in {text!r}"
    return found.group(0)


def tool_calls_sent(body: Json) -> list[dict[str, Any]]:
    """Every tool call of the assistant messages in a request, as the model's history shows them."""
    calls = []
    for message in body.get("messages", []):
        for call in message.get("tool_calls") or []:
            calls.append(call)
    return calls


__all__ = ["ScriptedChat", "first_asset_id", "last_tool_text", "tool_calls_sent"]
