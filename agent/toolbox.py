"""The MCP tools as the agent uses them: one call in, text and structured content out, never image bytes.

`Toolbox` wraps the LangChain tools that `langchain-mcp-adapters` loaded from ONE open MCP session. A call
returns a `ToolOutcome`: the text blocks a model reads, the tool's structured content (asset ids, paths,
bboxes), and whether the tool reported an error. Image previews are dropped here, so nothing the graph keeps
in its state or sends to a model holds image bytes. A transport failure (the server died, the connection
closed) raises `ToolServerError` and marks the box dead, so the runtime reconnects before the next turn.
Progress notifications of the server reach the turn that made the call (`Toolbox.listening`) as
`ProgressEvent`s; turns running at the same time each hear only their own.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.callbacks import CallbackContext, Callbacks
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, BlobResourceContents
from pydantic import AnyUrl

from productshot.agent.errors import ToolCallError, ToolServerError

logger = logging.getLogger(__name__)

_ERROR_PREFIX = re.compile(r"^Error executing tool [\w-]+: ")
# What a failing transport raises: a closed stream, a dead pipe, a refused or broken HTTP connection.
_TRANSPORT_ERRORS = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    httpx.TransportError,
    ConnectionError,
    BrokenPipeError,
)


@dataclass(frozen=True)
class ProgressEvent:
    """One thing worth showing while a turn runs: a tool call starting or ending, or the server's progress.

    `kind` is `start`, `end` (with `ok`) or `progress` (the server's message, e.g. `generate: step 3/8`).
    """

    tool: str
    message: str = ""
    kind: str = "progress"
    ok: bool = True
    progress: float | None = None
    total: float | None = None

    def line(self) -> str:
        """A short human line, e.g. `place_product: generate: step 3/8`."""
        if self.kind == "start":
            return f"{self.tool} …"
        if self.kind == "end":
            return f"{self.tool} {'done' if self.ok else 'failed'}"
        return f"{self.tool}: {self.message}" if self.message else self.tool


ProgressListener = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call gave back: its text (images dropped), structured content, and error status."""

    name: str
    ok: bool
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def require(self) -> Mapping[str, Any]:
        """The structured content of a successful call; `ToolCallError` with the tool's message otherwise."""
        if not self.ok:
            raise ToolCallError(self.name, self.text)
        return self.data


# The listener of the turn running in this context. Concurrent turns run in their own contexts, so each
# hears only its own calls.
_LISTENER: ContextVar[ProgressListener | None] = ContextVar("productshot_progress_listener", default=None)


class ProgressHub:
    """Routes a session's progress to the listener of the turn that made the call; turns may overlap."""

    @contextmanager
    def listening(self, listener: ProgressListener | None) -> Iterator[None]:
        """Send this context's events to `listener` while the block runs (nested blocks restore the outer)."""
        token = _LISTENER.set(listener)
        try:
            yield
        finally:
            _LISTENER.reset(token)

    def emit(self, event: ProgressEvent) -> None:
        """Give `event` to the listener of the current context, if there is one."""
        _deliver(_LISTENER.get(), event)

    def callbacks(self) -> Callbacks:
        """The `langchain_mcp_adapters` callbacks for `load_mcp_tools`: each call's server progress goes to
        the listener that was current when the call began (notifications arrive on the session's own task)."""
        return _CallScopedProgress()


@dataclass
class _CallScopedProgress(Callbacks):
    """Binds the caller's listener when the adapter converts the callbacks, which it does once per call."""

    def to_mcp_format(self, *, context: CallbackContext) -> Any:
        listener = _LISTENER.get()
        if listener is None:
            return Callbacks().to_mcp_format(context=context)

        async def on_progress(
            progress: float, total: float | None, message: str | None, context: CallbackContext
        ) -> None:  # parameter names as in the adapter's ProgressCallback protocol
            tool = context.tool_name or "tool"
            event = ProgressEvent(tool=tool, message=message or "", progress=progress, total=total)
            _deliver(listener, event)

        return Callbacks(on_progress=on_progress).to_mcp_format(context=context)


def _deliver(listener: ProgressListener | None, event: ProgressEvent) -> None:
    if listener is not None:
        listener(event)


class Toolbox:
    """The tools of one MCP session, by name; calls go over that session and nowhere else."""

    def __init__(
        self,
        tools: Sequence[BaseTool],
        hub: ProgressHub,
        *,
        describe: str,
        session: ClientSession | None = None,
        gone: anyio.Event | None = None,
    ) -> None:
        """`gone` is set by the connection when the server's stream ended (the server exited)."""
        self._tools = {tool.name: tool for tool in tools}
        self.hub = hub
        self.describe = describe
        self._session = session
        self._gone = gone
        self._dead: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    @property
    def tools(self) -> list[BaseTool]:
        """The LangChain tools, for a chat model's `bind_tools` (their schemas are the MCP ones)."""
        return list(self._tools.values())

    @property
    def alive(self) -> bool:
        """False once the server exited or a call found it gone."""
        if self._dead is None and self._gone is not None and self._gone.is_set():
            self._dead = "the server exited"
        return self._dead is None

    def mark_dead(self, reason: str) -> None:
        self._dead = reason

    @contextmanager
    def listening(self, listener: ProgressListener | None) -> Iterator[None]:
        with self.hub.listening(listener):
            yield

    async def call(self, name: str, args: Mapping[str, Any], *, call_id: str | None = None) -> ToolOutcome:
        """Call tool `name`; a tool error is an outcome (ok=False), a dead server is `ToolServerError`."""
        if not self.alive:
            raise ToolServerError(f"the MCP server ({self.describe}) is gone: {self._dead}")
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return ToolOutcome(name=name, ok=False, text=f"there is no tool named {name!r}; tools: {known}")
        self.hub.emit(ProgressEvent(tool=name, kind="start"))
        call = {
            "name": name,
            "args": dict(args),
            "id": call_id or f"call_{uuid.uuid4().hex[:12]}",
            "type": "tool_call",
        }
        try:
            message = await tool.ainvoke(call)
        except McpError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                raise self._died(name, exc) from exc
            raise ToolServerError(f"{name}: the MCP server refused the call: {exc.error.message}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise self._died(name, exc) from exc
        outcome = _outcome(name, message)
        self.hub.emit(ProgressEvent(tool=name, kind="end", ok=outcome.ok))
        return outcome

    async def read_asset(self, asset_id: str) -> bytes:
        """The full-resolution file of a stored asset, read through its `productshot://assets/{id}` resource."""
        if self._session is None:
            raise ToolServerError(f"cannot read asset {asset_id}: no MCP session is open")
        if not self.alive:
            raise ToolServerError(f"the MCP server ({self.describe}) is gone: {self._dead}")
        uri = f"productshot://assets/{asset_id}"
        try:
            result = await self._session.read_resource(AnyUrl(uri))
        except McpError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                raise self._died("read_resource", exc) from exc
            raise ToolCallError("read_resource", f"{uri}: {exc.error.message}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise self._died("read_resource", exc) from exc
        for item in result.contents:
            if isinstance(item, BlobResourceContents):
                return base64.b64decode(item.blob)
        raise ToolCallError("read_resource", f"{uri} has no image data")

    def _died(self, name: str, exc: BaseException) -> ToolServerError:
        reason = str(exc) or type(exc).__name__
        self.mark_dead(reason)
        logger.info("MCP server %s died during %s: %s", self.describe, name, reason)
        return ToolServerError(
            f"the MCP server ({self.describe}) stopped answering during {name} ({reason}); the conversation "
            "is unchanged (its last result is the one before this request): send the request again and "
            "the agent reconnects first"
        )


def _outcome(name: str, message: Any) -> ToolOutcome:
    if not isinstance(message, ToolMessage):
        raise ToolServerError(f"{name}: unexpected answer from the tool adapter: {type(message).__name__}")
    text = content_text(message.content)
    if message.status == "error":
        return ToolOutcome(name=name, ok=False, text=_ERROR_PREFIX.sub("", text).strip() or "the tool failed")
    artifact = message.artifact if isinstance(message.artifact, Mapping) else {}
    data = artifact.get("structured_content") or {}
    return ToolOutcome(name=name, ok=True, text=text, data=dict(data) if isinstance(data, Mapping) else {})


def content_text(content: str | list[Any]) -> str:
    """The text of a message's content: text blocks joined, image and file blocks left out."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(part for part in parts if part)


__all__ = ["ProgressEvent", "ProgressHub", "ProgressListener", "ToolOutcome", "Toolbox", "content_text"]
