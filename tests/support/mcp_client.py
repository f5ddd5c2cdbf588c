"""Reading MCP tool results in tests: the image block, the structured content, errors and progress."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent
from PIL import Image

from productshot.server.mcp.app import create_server
from productshot.settings import Settings


@asynccontextmanager
async def memory_session(settings: Settings, *, warm_up: bool = False) -> AsyncIterator[ClientSession]:
    """A real client session connected in memory to a fresh productshot MCP server."""
    server = create_server(settings, warm_up=warm_up)
    async with create_connected_server_and_client_session(server) as session:
        yield session


@dataclass
class ProgressLog:
    """Collects a call's progress notifications (value, total, message) in arrival order."""

    events: list[tuple[float, float | None, str | None]] = field(default_factory=list)

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))

    @property
    def messages(self) -> list[str]:
        return [message or "" for _, _, message in self.events]


def image_of(result: CallToolResult) -> Image.Image:
    """The decoded preview image of a result (exactly one image block)."""
    blocks = [block for block in result.content if isinstance(block, ImageContent)]
    assert len(blocks) == 1, f"expected one image block, got {result.content!r}"[:500]
    image = Image.open(io.BytesIO(base64.b64decode(blocks[0].data)))
    assert image.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[blocks[0].mimeType]
    return image


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def links_of(result: CallToolResult) -> list[str]:
    return [str(block.uri) for block in result.content if isinstance(block, ResourceLink)]


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful result (fails the test with the error text otherwise)."""
    assert not result.isError, text_of(result)
    assert result.structuredContent is not None
    return result.structuredContent


def error_text(result: CallToolResult) -> str:
    """The message of a tool error (fails the test when the call succeeded)."""
    assert result.isError, f"expected a tool error, got {result.structuredContent!r}"[:500]
    return text_of(result)


__all__ = ["ProgressLog", "error_text", "image_of", "links_of", "memory_session", "ok", "text_of"]
