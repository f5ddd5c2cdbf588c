"""Run the MCP server over stdio (Claude Desktop and other local clients) or streamable HTTP at `/mcp`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
from starlette.types import ASGIApp

from productshot.server.mcp.app import ProductshotMCP, create_server
from productshot.server.mcp.config import DEFAULT_HTTP_PORT
from productshot.server.mcp.security import mcp_guard, required_token
from productshot.settings import Settings


def run_stdio(settings: Settings) -> None:
    """Serve one client on stdin/stdout until it disconnects."""
    server = create_server(settings)
    anyio.run(server.run_stdio_protected)


def http_app(server: ProductshotMCP, token: str | None) -> ASGIApp:
    """The streamable-HTTP ASGI app (`/mcp`) behind the shared guard: Host/Origin allow-list, no cross-site
    posts, and the bearer token when one is set."""
    app: ASGIApp = server.streamable_http_app()
    security = server.settings.transport_security
    allowed = security.allowed_hosts if security is not None else []
    return mcp_guard(app, allowed, token)


def run_http(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_HTTP_PORT,
    allowed_hosts: Sequence[str] = (),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve streamable HTTP until interrupted; `on_ready` gets the URL once the socket listens.

    Refuses (BadRequestError) a non-local `host` without `PRODUCTSHOT_MCP_TOKEN`. Port 0 picks a free port.
    """
    token = required_token(settings, host)
    server = create_server(settings, host=host, port=port, allowed_hosts=allowed_hosts)
    anyio.run(_serve_http, server, token, host, port, on_ready)


async def _serve_http(
    server: ProductshotMCP, token: str | None, host: str, port: int, on_ready: Callable[[str], None] | None
) -> None:
    import uvicorn

    config = uvicorn.Config(
        http_app(server, token), host=host, port=port, log_level="warning", lifespan="on", access_log=False
    )
    web = uvicorn.Server(config)
    # The HTTP server holds the studio for its whole life, so sessions share loaded models.
    async with server.studio.hold(), anyio.create_task_group() as tg:
        tg.start_soon(web.serve)
        while not web.started:
            if web.should_exit:
                return
            await anyio.sleep(0.02)
        if on_ready is not None:
            bound = web.servers[0].sockets[0].getsockname()[1] if web.servers else port
            shown = f"[{host}]" if ":" in host else host
            on_ready(f"http://{shown}:{bound}{server.settings.streamable_http_path}")


__all__ = ["http_app", "run_http", "run_stdio"]
