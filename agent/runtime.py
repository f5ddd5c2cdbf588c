"""The warm agent `productshot run` and `productshot chat` use: one MCP session, one thread store, many turns.

`AgentRuntime` opens the async SQLite checkpointer at `<data home>/threads.sqlite3` and ONE MCP session
(spawning `productshot mcp` over stdio, or a URL) and keeps both open for its life; each `run()` is one turn
of one thread. Turns of different threads run at once over that one session (each hears its own progress);
turns of one thread run in order. A server that died (during a turn or between turns) is reconnected before
the next turn, so the conversation goes on where it was. A model that never stops calling tools is stopped
at the step limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.errors import GraphRecursionError
from langgraph.graph.state import CompiledStateGraph

from productshot.agent.connection import McpEndpoint, open_toolbox
from productshot.agent.context import DEFAULT_STEP_LIMIT, AgentContext, check_step_limit
from productshot.agent.errors import StepLimitError, ToolServerError
from productshot.agent.graph import build_graph
from productshot.agent.state import AgentState, TurnInput
from productshot.agent.threads import check_thread_id, new_thread_id
from productshot.agent.toolbox import ProgressEvent, ProgressListener, Toolbox
from productshot.settings import Settings

logger = logging.getLogger(__name__)

THREADS_DB = "threads.sqlite3"


@dataclass(frozen=True)
class ToolStep:
    """One tool call of a turn, as the runtime saw it."""

    name: str
    seconds: float
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "mcp", "seconds": round(self.seconds, 3), "ok": self.ok}


@dataclass(frozen=True)
class TurnResult:
    """What one turn produced: the reply, and the result's ids, path, bbox and steps (if an image was made)."""

    thread: str
    reply: str
    language: str
    mode: str
    outcome: Mapping[str, Any] | None
    tool_steps: tuple[ToolStep, ...] = ()
    guard: tuple[Mapping[str, Any], ...] = ()
    seconds: float = 0.0

    @property
    def asset_id(self) -> str | None:
        return str(self.outcome["asset_id"]) if self.outcome and "asset_id" in self.outcome else None

    @property
    def path(self) -> Path | None:
        return Path(str(self.outcome["path"])) if self.outcome and "path" in self.outcome else None

    @property
    def bbox(self) -> tuple[int, int, int, int] | None:
        if not self.outcome or "bbox" not in self.outcome:
            return None
        x0, y0, x1, y1 = (int(v) for v in self.outcome["bbox"])
        return (x0, y0, x1, y1)

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The pipeline's steps when place_product made the shot, else the tool calls the model made."""
        if self.outcome and self.outcome.get("steps"):
            return [dict(step) for step in self.outcome["steps"]]
        return [step.to_dict() for step in self.tool_steps]

    @property
    def backend(self) -> str:
        served = str(self.outcome.get("backend", "")) if self.outcome else ""
        return f"{self.mode} + {served}" if served else self.mode

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: path, bbox, steps, thread, backend, seconds, asset_id, position, scale and the rest."""
        out = self.outcome or {}
        return {
            "thread": self.thread,
            "path": str(self.path) if self.path else None,
            "bbox": list(self.bbox) if self.bbox else None,
            "steps": self.steps,
            "asset_id": self.asset_id,
            "position": out.get("position"),
            "scale": out.get("scale"),
            "scene": out.get("scene"),
            "scene_requested": out.get("scene_requested"),
            "width": out.get("width"),
            "height": out.get("height"),
            "reused": list(out.get("reused") or []),
            "notes": list(out.get("notes") or []),
            "reply": self.reply,
            "language": self.language,
            "planner": self.mode,
            "guard": [dict(entry) for entry in self.guard],
            "listing": _listing_view(out),
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
        }


def _listing_view(outcome: Mapping[str, Any]) -> dict[str, Any] | None:
    """A listing turn's verdict (preset, ok, failed required rules, every rule as measured), else None."""
    if "preset" not in outcome:
        return None
    keys = ("preset", "ok", "failed", "rules", "needs_review", "checked")
    return {key: outcome.get(key) for key in keys}


@dataclass(frozen=True)
class ThreadView:
    """What a thread remembers: its last result and the results before it (oldest first), and the last
    listing image made (kept apart: a listing image is not a shot to move or undo)."""

    thread: str
    last_result: str | None
    results: tuple[str, ...]
    turns: int
    language: str
    last_listing: str | None = None


@dataclass
class _StepRecorder:
    """Turns the toolbox's start events into timed `ToolStep`s and forwards every event."""

    forward: ProgressListener | None
    steps: list[ToolStep] = field(default_factory=list)
    _open: dict[str, float] = field(default_factory=dict)

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            self._open[event.tool] = time.perf_counter()
        elif event.kind == "end" and event.tool in self._open:
            started = self._open.pop(event.tool)
            self.steps.append(ToolStep(event.tool, time.perf_counter() - started, event.ok))
        if self.forward is not None:
            self.forward(event)


class _SessionHost:
    """Keeps one MCP session open in a task of its own, so it is opened and closed in the same task
    whichever task runs the turns (the SDK's transports require that), and so a session that breaks
    while idle cannot take the caller's task down with it."""

    def __init__(self, endpoint: McpEndpoint) -> None:
        self.endpoint = endpoint
        self._stop = anyio.Event()
        self._done = anyio.Event()

    async def serve(self, *, task_status: TaskStatus[Toolbox] = anyio.TASK_STATUS_IGNORED) -> None:
        started: Toolbox | None = None
        try:
            async with open_toolbox(self.endpoint) as toolbox:
                started = toolbox
                task_status.started(toolbox)
                await self._stop.wait()
        except Exception as exc:
            if started is None:
                raise  # the runtime's connect() reports it
            # The session broke (a dead server's transport failing on close): the toolbox says so and
            # the runtime reconnects before the next turn.
            started.mark_dead(str(exc) or type(exc).__name__)
            logger.warning("the MCP session to %s ended with an error: %r", self.endpoint.describe, exc)
        finally:
            self._done.set()

    async def close(self) -> None:
        self._stop.set()
        await self._done.wait()


class AgentRuntime:
    """A warm agent: the checkpointer and one MCP session stay open between turns (use `async with`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        endpoint: McpEndpoint | None = None,
        chat_model: BaseChatModel | None = None,
        context: AgentContext | None = None,
        step_limit: int = DEFAULT_STEP_LIMIT,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint or McpEndpoint.from_settings(settings)
        self.chat_model = chat_model
        self.context = context or AgentContext()
        self.step_limit = check_step_limit(step_limit)
        self.connections = 0
        self._stack: AsyncExitStack | None = None
        self._group: TaskGroup | None = None
        self._host: _SessionHost | None = None
        self._checkpointer: AsyncSqliteSaver | None = None
        self._toolbox: Toolbox | None = None
        self._graph: CompiledStateGraph[AgentState, AgentContext, TurnInput, AgentState] | None = None
        # Turns of different threads run at once (each hears its own progress); turns of one thread run one
        # after another, so a follow-up always sees the result before it. Reconnecting is one at a time.
        self._thread_locks: dict[str, tuple[anyio.Lock, int]] = {}
        self._connect_lock = anyio.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        mcp_url: str | None = None,
        context: AgentContext | None = None,
        step_limit: int = DEFAULT_STEP_LIMIT,
    ) -> AgentRuntime:
        """The runtime settings describe: the LLM path when OPENAI_API_KEY is set, else the rules path."""
        chat_model = None
        if settings.llm_configured:
            from productshot.tools.llm import make_chat_model

            chat_model = make_chat_model(settings)
        return cls(
            settings,
            endpoint=McpEndpoint.from_settings(settings, url=mcp_url),
            chat_model=chat_model,
            context=context,
            step_limit=step_limit,
        )

    @property
    def threads_path(self) -> Path:
        """The thread store: one per data home."""
        return self.settings.home / THREADS_DB

    @property
    def mode(self) -> str:
        """`rules`, or the chat model's name on the LLM path."""
        if self.chat_model is None:
            return "rules"
        from productshot.tools.llm import model_name

        return model_name(self.chat_model)

    @property
    def toolbox(self) -> Toolbox:
        if self._toolbox is None:
            raise ToolServerError("the agent runtime is not open; use `async with AgentRuntime(...)`")
        return self._toolbox

    # ---- life -------------------------------------------------------------------------------------------
    async def __aenter__(self) -> AgentRuntime:
        self.settings.ensure_home()
        stack = AsyncExitStack()
        try:
            self._checkpointer = await stack.enter_async_context(
                AsyncSqliteSaver.from_conn_string(str(self.threads_path))
            )
            self._group = await stack.enter_async_context(anyio.create_task_group())
            await self._connect()
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._disconnect()
        finally:
            stack, self._stack = self._stack, None
            if stack is not None:
                await stack.aclose()

    async def _connect(self) -> None:
        assert self._group is not None
        host = _SessionHost(self.endpoint)
        toolbox = await self._group.start(host.serve)
        self._host = host
        self._toolbox = toolbox
        self._graph = build_graph(toolbox, self.settings, self.chat_model, checkpointer=self._checkpointer)
        self.connections += 1

    async def _disconnect(self) -> None:
        host, self._host = self._host, None
        self._toolbox = None
        self._graph = None
        if host is not None:
            await host.close()

    async def _ensure_connected(self) -> None:
        """Reconnect when the server is gone (it died during or after the last turn)."""
        if self._toolbox is not None and self._toolbox.alive:
            return
        async with self._connect_lock:
            if self._toolbox is not None and self._toolbox.alive:
                return  # another turn reconnected while this one waited
            if self._group is None:
                raise ToolServerError("the agent runtime is not open; use `async with AgentRuntime(...)`")
            logger.info("reconnecting to the MCP server (%s)", self.endpoint.describe)
            await self._disconnect()
            await self._connect()

    @asynccontextmanager
    async def _one_turn_of(self, thread: str) -> AsyncIterator[None]:
        """Hold `thread`'s turn lock; the lock is dropped when no turn of that thread runs or waits."""
        lock, users = self._thread_locks.get(thread) or (anyio.Lock(), 0)
        self._thread_locks[thread] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._thread_locks[thread]
            if users == 1:
                del self._thread_locks[thread]
            else:
                self._thread_locks[thread] = (lock, users - 1)

    # ---- turns ------------------------------------------------------------------------------------------
    async def run(
        self,
        request: str,
        *,
        thread: str,
        image: str | None = None,
        previous: str | None = None,
        position: str | None = None,
        scale: float | None = None,
        on_progress: ProgressListener | None = None,
        context: AgentContext | None = None,
    ) -> TurnResult:
        """One turn of `thread`: the request (and an image reference for a new product) in, the result out.

        `context` overrides the runtime's configuration (canvas, generator, seed) for this turn only.
        Turns of different threads may run at once; a second turn of the same thread waits for the first.
        """
        check_thread_id(thread)
        async with self._one_turn_of(thread):
            return await self._run(
                TurnInput(request=request, image=image, previous=previous, position=position, scale=scale),
                thread,
                on_progress,
                context or self.context,
            )

    async def _run(
        self, turn: TurnInput, thread: str, on_progress: ProgressListener | None, context: AgentContext
    ) -> TurnResult:
        await self._ensure_connected()
        assert self._graph is not None
        started = time.perf_counter()
        recorder = _StepRecorder(on_progress)
        config: RunnableConfig = {"configurable": {"thread_id": thread}, "recursion_limit": self.step_limit}
        with self.toolbox.listening(recorder):
            try:
                # The thread is written once, when the turn ends (as it stands then, also after a
                # failure), not after every step: those writes cost each request ~10-40 ms.
                state = await self._graph.ainvoke(turn, config, context=context, durability="exit")
            except GraphRecursionError as exc:
                raise StepLimitError(
                    f"stopped after {self.step_limit} steps: the model ({self.mode}) kept calling tools without "
                    "finishing the shot; the conversation is kept, so ask again or say it differently"
                ) from exc
        return TurnResult(
            thread=thread,
            reply=str(state.get("reply", "")),
            language=str(state.get("language", "en")),
            mode=self.mode,
            outcome=state.get("outcome"),
            tool_steps=tuple(recorder.steps),
            guard=tuple(state.get("guard_log") or ()),
            seconds=time.perf_counter() - started,
        )

    async def thread(self, thread: str) -> ThreadView:
        """What `thread` remembers (an unknown thread is empty)."""
        check_thread_id(thread)
        await self._ensure_connected()
        assert self._graph is not None
        snapshot = await self._graph.aget_state({"configurable": {"thread_id": thread}})
        values: Mapping[str, Any] = snapshot.values or {}
        results: Sequence[str] = values.get("results") or ()
        return ThreadView(
            thread=thread,
            last_result=values.get("last_result"),
            results=tuple(results),
            turns=int(values.get("turns") or 0),
            language=str(values.get("language") or "en"),
            last_listing=values.get("last_listing"),
        )

    async def read_asset(self, asset_id: str) -> bytes:
        """A stored image's file, read over MCP (works for a remote server too)."""
        await self._ensure_connected()
        return await self.toolbox.read_asset(asset_id)


__all__ = [
    "THREADS_DB",
    "AgentRuntime",
    "ThreadView",
    "ToolStep",
    "TurnResult",
    "check_thread_id",
    "new_thread_id",
]
