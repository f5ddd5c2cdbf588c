"""How a turn flows: prepare, then the rules path or the LLM path, then the reply.

```
START -> prepare --+--> plan --+--> place ----------------+--> reply -> END
                   |           +--> listing --------------|      (a marketplace listing image or check)
                   |           +--------------------------|      (undo of the first shot: no new image)
                   +--> model --+--> guard -> tools -> model
                                +-------------------------+      (the model answers in words)
```

`build_graph` wires the nodes to one MCP toolbox (and a chat model for the LLM path); the agent runtime
compiles it with its SQLite checkpointer. `make_graph` is the factory `langgraph.json` points at, so
LangGraph's own server (`langgraph dev`) serves the same graph with its own persistence: for a run it opens
one MCP session for that run's life; for reading state and schemas it builds the graph without one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk.runtime import ServerRuntime

from productshot.agent.context import AgentContext
from productshot.agent.nodes import Nodes
from productshot.agent.state import AgentState, TurnInput
from productshot.agent.toolbox import ProgressHub, Toolbox
from productshot.settings import Settings

GRAPH_NAME = "productshot"


def build_graph(
    toolbox: Toolbox,
    settings: Settings,
    chat_model: BaseChatModel | None = None,
    *,
    checkpointer: BaseCheckpointSaver[str] | None = None,
) -> CompiledStateGraph[AgentState, AgentContext, TurnInput, AgentState]:
    """The agent's graph over `toolbox`; with `chat_model` the model composes the tools (LLM path)."""
    nodes = Nodes(toolbox, settings, chat_model)
    graph = StateGraph(AgentState, context_schema=AgentContext, input_schema=TurnInput)
    graph.add_node("prepare", nodes.prepare)
    graph.add_node("plan", nodes.plan)
    graph.add_node("place", nodes.place)
    graph.add_node("listing", nodes.listing)
    graph.add_node("model", nodes.call_model)
    graph.add_node("guard", nodes.guard)
    graph.add_node("tools", nodes.run_tools)
    graph.add_node("reply", nodes.reply)
    graph.add_edge(START, "prepare")
    graph.add_conditional_edges("prepare", nodes.route_mode, {"rules": "plan", "llm": "model"})
    graph.add_conditional_edges(
        "plan", nodes.route_plan, {"place": "place", "listing": "listing", "reply": "reply"}
    )
    graph.add_edge("place", "reply")
    graph.add_edge("listing", "reply")
    graph.add_conditional_edges("model", nodes.route_model, {"tools": "guard", "reply": "reply"})
    graph.add_edge("guard", "tools")
    graph.add_edge("tools", "model")
    graph.add_edge("reply", END)
    return graph.compile(checkpointer=checkpointer, name=GRAPH_NAME)


@asynccontextmanager
async def make_graph(
    runtime: ServerRuntime,
) -> AsyncIterator[CompiledStateGraph[AgentState, AgentContext, TurnInput, AgentState]]:
    """The graph factory for `langgraph.json`: no checkpointer here (the server brings its own)."""
    import anyio.to_thread

    from productshot.agent.connection import McpEndpoint, open_toolbox

    # Reading settings touches files; the server's event loop must not block on them.
    settings = await anyio.to_thread.run_sync(Settings.load)
    if runtime.execution_runtime is None:
        # Reading state or schemas: the same graph, no MCP session.
        yield build_graph(Toolbox([], ProgressHub(), describe="not connected"), settings)
        return
    chat_model = None
    if settings.llm_configured:
        from productshot.tools.llm import make_chat_model

        chat_model = make_chat_model(settings)
    async with open_toolbox(McpEndpoint.from_settings(settings)) as toolbox:
        yield build_graph(toolbox, settings, chat_model)


__all__ = ["GRAPH_NAME", "build_graph", "make_graph"]
