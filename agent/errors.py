"""The agent's own failures: the MCP tool server went away, or a model would not stop calling tools.

Both are productshot errors, so the CLI prints them without a traceback and the chat goes on; bad input
(no image, an empty request, an unreadable file) raises the named errors of `productshot.errors` instead.
"""

from __future__ import annotations

from productshot.errors import LLMError, ProductshotError


class ToolServerError(ProductshotError):
    """The MCP server could not be started, or stopped answering during a request."""

    code = "tool_server_unavailable"
    http_status = 503


class ToolCallError(ProductshotError):
    """A tool answered with an error (a bad argument, a missing asset, a failed model); the message is its own."""

    code = "tool_error"
    http_status = 422

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(f"{tool}: {message}")
        self.tool = tool


class StepLimitError(LLMError):
    """The chat model kept calling tools past the step limit, so the request was stopped."""

    code = "step_limit"
    http_status = 508


__all__ = ["StepLimitError", "ToolCallError", "ToolServerError"]
