"""The agent: a LangGraph graph that turns a request (English or Korean) into MCP tool calls.

Modules, in the LangGraph template's shape: `state` (what flows and is kept per thread), `context` (what a
run is configured with), `graph` (how a turn flows, and the `langgraph.json` factory), `nodes` (what each
step does), plus `guard` (no split background reaches composite), `toolbox` and `connection` (the one MCP
session), `images` (attached photos as references), `replies` (words from prompts/templates/agent) and
`runtime` (`AgentRuntime`, the warm agent `productshot run` and `productshot chat` use).

Nothing is imported here, so `productshot.agent.threads` and friends stay light for the CLI's early checks.
"""
