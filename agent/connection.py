"""Where the agent's tools live, and the one MCP session it keeps open to them.

By default the agent spawns `productshot mcp` over stdio with an explicit environment from
`Settings.child_env()` (the stdio client would otherwise pass the child almost nothing: no data home, no
worker URL, no keys) and the server's stderr going to a log file in the data home, so a crash can be
explained with the log's last lines. Given a URL it connects over streamable HTTP instead (with the bearer
token when settings have one). Either way `open_toolbox` keeps ONE session open while its block runs and
loads the tools from it with `langchain_mcp_adapters.tools.load_mcp_tools(session)`; the tools call over
that session, so no tool call ever starts a server (`MultiServerMCPClient.get_tools()` would, per call).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.to_thread
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream
from langchain_mcp_adapters.tools import load_mcp_tools
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from productshot.agent.errors import ToolServerError
from productshot.agent.toolbox import ProgressHub, Toolbox
from productshot.errors import BadRequestError, ProductshotError
from productshot.settings import Settings

logger = logging.getLogger(__name__)

SERVER_NAME = "productshot"
LOG_NAME = "agent-mcp.log"
# The tools the agent's graph calls; a server without them is not a productshot server.
REQUIRED_TOOLS = ("place_product", "check_split", "generate_background", "write_prompt", "composite")
_LOG_TAIL_LINES = 12
_LOG_TAIL_BYTES = 8192
_HTTP_TIMEOUT = httpx.Timeout(60.0, read=600.0)
_START_TIMEOUT_S = 120.0  # a cold server imports its libraries before it answers `initialize`
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


@dataclass(frozen=True)
class McpEndpoint:
    """A stdio command (with its environment and log file) or a streamable-HTTP URL."""

    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    log_path: Path | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, *, url: str | None = None) -> McpEndpoint:
        """Spawn `python -m productshot mcp` with the settings' child environment, or connect to `url`."""
        if url is not None:
            text = url.strip()
            if not text.startswith(("http://", "https://")):
                raise BadRequestError(
                    f"MCP URL {url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8766/mcp)"
                )
            headers = {"Authorization": f"Bearer {settings.mcp_token}"} if settings.mcp_token else {}
            return cls(url=text, headers=headers)
        return cls(
            command=(sys.executable, "-m", "productshot", "mcp"),
            env=settings.child_env(),
            log_path=settings.logs_dir / LOG_NAME,
        )

    @property
    def describe(self) -> str:
        """The URL, or the stdio command as a person would type it (`stdio: python -m productshot mcp`)."""
        if self.url:
            return self.url
        return "stdio: " + " ".join([Path(self.command[0]).name, *self.command[1:]])

    def log_tail(self) -> str:
        """The last lines the stdio server wrote to its log ('' for HTTP or when there is none)."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, 2) - _LOG_TAIL_BYTES))
            lines = log.read().decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-_LOG_TAIL_LINES:])


@asynccontextmanager
async def open_toolbox(endpoint: McpEndpoint) -> AsyncIterator[Toolbox]:
    """Open one MCP session to `endpoint`, load its tools, and keep it open while the block runs.

    An error raised in the block (or while starting) leaves through the transport's task groups, which wrap
    it in exception groups; a group holding one error is unwrapped, so callers see `ToolServerError`,
    `ToolCallError` or whatever the block raised, as raised.
    """
    started = False
    try:
        async with _toolbox(endpoint) as box:
            started = True
            yield box
    except BaseExceptionGroup as group:
        single = _single_error(group)
        if single is None:
            raise
        if not started and not isinstance(single, ProductshotError):
            # A transport task failed while connecting (nothing listening, a refused connection).
            raise _start_failed(endpoint, single) from single
        raise single from single.__cause__


def _single_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The one error inside nested single-member groups, or None when there are several (or a cancel)."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup) and len(found.exceptions) == 1:
        found = found.exceptions[0]
    return found if isinstance(found, Exception) and not isinstance(found, BaseExceptionGroup) else None


@asynccontextmanager
async def _toolbox(endpoint: McpEndpoint) -> AsyncIterator[Toolbox]:
    hub = ProgressHub()
    async with AsyncExitStack() as stack:
        try:
            session, gone = await stack.enter_async_context(_session(endpoint))
            with anyio.fail_after(_START_TIMEOUT_S):
                await session.initialize()
            tools = await load_mcp_tools(session, callbacks=hub.callbacks(), server_name=SERVER_NAME)
        except (McpError, OSError, TimeoutError, httpx.TransportError, *_STREAM_ERRORS) as exc:
            raise _start_failed(endpoint, exc) from exc
        box = Toolbox(tools, hub, describe=endpoint.describe, session=session, gone=gone)
        missing = [name for name in REQUIRED_TOOLS if name not in box.names]
        if missing:
            raise ToolServerError(
                f"the MCP server at {endpoint.describe} lacks the tools {', '.join(missing)}; is it productshot's?"
            )
        yield box


@asynccontextmanager
async def _session(endpoint: McpEndpoint) -> AsyncIterator[tuple[ClientSession, anyio.Event]]:
    """A client session over the endpoint's transport, and an event set once the server's stream ends."""
    if endpoint.url is not None:
        async with (
            httpx.AsyncClient(headers=dict(endpoint.headers), timeout=_HTTP_TIMEOUT) as client,
            streamable_http_client(endpoint.url, http_client=client) as (read, write, _),
            _watched(read) as (watched, gone),
            ClientSession(watched, write) as session,
        ):
            yield session, gone
        return
    params = StdioServerParameters(
        command=endpoint.command[0],
        args=list(endpoint.command[1:]),
        env=dict(endpoint.env),
        cwd=str(endpoint.cwd) if endpoint.cwd else None,
    )
    assert endpoint.log_path is not None
    errlog = await anyio.to_thread.run_sync(_open_log, endpoint.log_path)
    with errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            _watched(read) as (watched, gone),
            ClientSession(watched, write) as session,
        ):
            yield session, gone


@asynccontextmanager
async def _watched(
    stream: MemoryObjectReceiveStream[Any],
) -> AsyncIterator[tuple[MemoryObjectReceiveStream[Any], anyio.Event]]:
    """Relay the server's messages and set an event when its stream ends (the server exited).

    The SDK's session notices a dead server only through a pending request; a request sent after the
    server died would hit a broken pipe inside the transport's task group. The event lets the toolbox
    refuse calls to a server that is already gone, and the runtime reconnect before the next turn.
    """
    relay_in, relay_out = anyio.create_memory_object_stream[Any](0)
    gone = anyio.Event()

    async def relay() -> None:
        try:
            async with relay_in, stream:
                async for item in stream:
                    await relay_in.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            logger.debug("MCP session closed while relaying the server's messages")
        finally:
            gone.set()

    async with anyio.create_task_group() as group:
        group.start_soon(relay)
        try:
            yield relay_out, gone
        finally:
            group.cancel_scope.cancel()


def _open_log(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")


def _start_failed(endpoint: McpEndpoint, exc: BaseException) -> ToolServerError:
    reason = str(exc) or type(exc).__name__
    tail = endpoint.log_tail()
    where = f"; its log ({endpoint.log_path}) ends with:\n{tail}" if tail else ""
    return ToolServerError(
        f"could not start a session with the MCP server ({endpoint.describe}): {reason}{where}"
    )


__all__ = ["LOG_NAME", "REQUIRED_TOOLS", "SERVER_NAME", "McpEndpoint", "open_toolbox"]
