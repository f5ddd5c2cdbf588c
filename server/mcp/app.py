"""The productshot MCP server: FastMCP with the seven tools and the `productshot://assets/{id}` resources.

`create_server(settings)` builds it; the transports (stdio, streamable HTTP) live in `serve.py`. Assets
are resources: the newest are listed, any one is readable at full resolution by its URI.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ResourceError
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import Resource as MCPResource
from mcp.types import ResourceTemplate as MCPResourceTemplate
from pydantic import AnyUrl

from productshot.errors import NotFoundError
from productshot.server.mcp.config import DEFAULT_HTTP_PORT
from productshot.server.mcp.listing_tools import register_listing_tools
from productshot.server.mcp.runtime import Studio
from productshot.server.mcp.schemas import RESOURCE_PREFIX, resource_uri
from productshot.server.mcp.security import transport_security
from productshot.server.mcp.tools import register_tools
from productshot.settings import Settings
from productshot.store import require_file

SERVER_NAME = "productshot"
# How many assets resources/list shows (newest first); older ones stay readable by URI.
LISTED_ASSETS = 50
# JSON-RPC framing and base64 add about a third to an upload.
_BODY_SLACK = 1024 * 1024

INSTRUCTIONS = """\
productshot makes product photos: cut a product out of its photo, generate a simple background, and place
the product on it. For a finished shot from one sentence call place_product(image=..., request=...); for a
change to that shot ("move it a little right", "bigger", "new background") call place_product again with
previous=<the asset_id it returned> and no image. The step tools (remove_background, write_prompt,
generate_background, check_split, composite) do one step each. Images are passed as asset ids from earlier
results, file paths inside the user's allowed folders, base64, or sample:coffee to try it out. Every image
result has an asset_id, a file path and a productshot://assets/{id} resource with the full resolution.
"""


class ProductshotMCP(FastMCP[Studio]):
    """FastMCP plus the asset resources, which come from the store rather than from registered functions."""

    def __init__(
        self,
        studio: Studio,
        *,
        host: str,
        port: int,
        transport_security: TransportSecuritySettings,
        max_request_body_size: int,
    ) -> None:
        super().__init__(
            SERVER_NAME,
            INSTRUCTIONS,
            host=host,
            port=port,
            log_level="WARNING",
            lifespan=_lifespan(studio),
            transport_security=transport_security,
            max_request_body_size=max_request_body_size,
        )
        self.studio = studio

    async def list_resources(self) -> list[MCPResource]:
        listed = await super().list_resources()
        assets = await anyio.to_thread.run_sync(lambda: self.studio.store.list(limit=LISTED_ASSETS))
        return listed + [
            MCPResource(
                uri=AnyUrl(resource_uri(asset.id)),
                name=f"{asset.kind} {asset.id}",
                description=f"{asset.kind}, {asset.width}x{asset.height} {asset.format}, made by {asset.backend}",
                mimeType=asset.mime,
                size=asset.size_bytes,
            )
            for asset in assets
        ]

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        templates = await super().list_resource_templates()
        return [
            *templates,
            MCPResourceTemplate(
                uriTemplate=RESOURCE_PREFIX + "{asset_id}",
                name="asset",
                description="Any stored image (input, cutout, background, result) at full resolution, by asset id.",
            ),
        ]

    async def read_resource(self, uri: AnyUrl | str) -> Iterable[ReadResourceContents]:
        text = str(uri)
        if not text.startswith(RESOURCE_PREFIX):
            return await super().read_resource(uri)
        asset_id = text[len(RESOURCE_PREFIX) :]
        try:
            asset = await anyio.to_thread.run_sync(lambda: self.studio.store.get(asset_id))
        except NotFoundError as exc:
            raise ResourceError(
                f"{text}: no such asset in the store; use an asset_id from a tool result"
            ) from exc
        try:
            data = await anyio.to_thread.run_sync(lambda: require_file(asset).read_bytes())
        except NotFoundError as exc:
            raise ResourceError(f"{text}: {exc}") from exc
        return [ReadResourceContents(content=data, mime_type=asset.mime)]

    async def run_stdio_protected(self) -> None:
        """Serve over stdio with fd 1 reserved for the protocol: anything else that writes to stdout
        (a library's print, a C extension's warning, a child process) lands on stderr instead."""
        protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
        os.dup2(2, 1)
        stdout = anyio.wrap_file(protocol)
        try:
            async with stdio_server(stdout=stdout) as (read_stream, write_stream):
                await self._mcp_server.run(
                    read_stream, write_stream, self._mcp_server.create_initialization_options()
                )
        finally:
            protocol.close()


def _lifespan(studio: Studio) -> Callable[[FastMCP[Studio]], AbstractAsyncContextManager[Studio]]:
    @asynccontextmanager
    async def lifespan(_: FastMCP[Studio]) -> AsyncIterator[Studio]:
        async with studio.hold():
            yield studio

    return lifespan


def create_server(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_HTTP_PORT,
    allowed_hosts: Sequence[str] = (),
    warm_up: bool = True,
    studio: Studio | None = None,
) -> ProductshotMCP:
    """The MCP server for these settings; `host`, `port` and `allowed_hosts` matter for HTTP only."""
    shared = studio or Studio(settings, warm_up=warm_up)
    server = ProductshotMCP(
        shared,
        host=host,
        port=port,
        transport_security=transport_security(host, allowed_hosts),
        max_request_body_size=settings.max_upload_bytes * 4 // 3 + _BODY_SLACK,
    )
    register_tools(server)
    register_listing_tools(server)
    return server


__all__ = ["DEFAULT_HTTP_PORT", "SERVER_NAME", "ProductshotMCP", "create_server"]
