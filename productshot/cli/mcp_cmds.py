"""`productshot mcp`: serve the tools over MCP (stdio or streamable HTTP); `productshot mcp config`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from productshot.cli.output import add_json_flag, emit
from productshot.server.mcp.config import DEFAULT_HTTP_PORT as DEFAULT_PORT

if TYPE_CHECKING:
    from productshot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mcp",
        help="serve productshot's tools to Claude Desktop and other MCP clients",
        description="Serve the tools over MCP. stdio (default) is what Claude Desktop starts; "
        "--transport http serves streamable HTTP at http://HOST:PORT/mcp. "
        "`productshot mcp config` prints the entry for claude_desktop_config.json.",
    )
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default stdio")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="HTTP bind address (default 127.0.0.1); any other address needs PRODUCTSHOT_MCP_TOKEN",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"HTTP port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="a Host name clients may use besides localhost (repeatable), e.g. studio.lan:8766",
    )
    p.set_defaults(handler=serve)
    inner = p.add_subparsers(dest="mcp_command", metavar="SUBCOMMAND")
    config = inner.add_parser(
        "config",
        help="print the mcpServers entry for Claude Desktop",
        description="Prints JSON to paste into "
        "claude_desktop_config.json (no secrets: keys stay in the data home's .env).",
    )
    config.add_argument(
        "--name", default="productshot", help="the server's name in the client (default productshot)"
    )
    add_json_flag(config)
    config.set_defaults(handler=config_cmd)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.errors import BadRequestError

    if not 0 <= args.port <= 65535:
        raise BadRequestError(f"--port must be 0..65535, got {args.port}")
    if args.transport == "stdio":
        from productshot.server.mcp.serve import run_stdio

        run_stdio(settings)
        return 0
    from productshot.server.mcp.security import required_token

    required_token(settings, args.host)  # refuse an unprotected network bind before loading anything
    from productshot.server.mcp.serve import run_http

    def ready(url: str) -> None:
        sys.stderr.write(f"productshot mcp: serving streamable HTTP at {url} (home {settings.home})\n")
        sys.stderr.flush()

    run_http(settings, host=args.host, port=args.port, allowed_hosts=args.allowed_host, on_ready=ready)
    return 0


def config_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.mcp.config import client_config, desktop_config_paths

    started = time.perf_counter()
    entry = client_config(settings, name=args.name)
    payload = {
        **entry,
        "config_files": desktop_config_paths(),
        "backend": "config",
        "seconds": round(time.perf_counter() - started, 3),
    }
    emit(args, payload, json.dumps(entry, indent=2, ensure_ascii=False))
    return 0
