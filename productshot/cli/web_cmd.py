"""`productshot web`: the studio page in a browser (drop a photo, type a sentence, keep talking).

Localhost by default. Any other address needs PRODUCTSHOT_WEB_TOKEN, and the command refuses to start
without it. The page talks to the same agent runtime and thread store as `productshot run`, so a
conversation started in the page goes on with `productshot run "..." --thread ID`.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from productshot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "web",
        help="open the studio page in a browser (drop a photo, say what you want)",
        description="Serve the studio page on http://127.0.0.1:8770/ (by default). Example: productshot web",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8770, help="port (default 8770; 0 picks a free one)")
    p.add_argument(
        "--allow-host",
        "--allowed-host",
        dest="allow_host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name browsers use to reach the page (e.g. studio.lan); repeatable",
    )
    p.add_argument("--workers", type=int, default=2, help="shots made at once (default 2)")
    p.add_argument(
        "--mcp-url",
        default=None,
        metavar="URL",
        help="use a running MCP server instead of starting `productshot mcp` over stdio",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.web.guard import web_policy

    web_policy(args.host, settings.web_token, args.allow_host)  # refuse before anything starts

    from productshot.agent.runtime import AgentRuntime
    from productshot.web.app import StudioOptions
    from productshot.web.serve import WebServer

    options = StudioOptions(workers=args.workers, capacity=max(8, args.workers * 4))
    server = WebServer(
        settings,
        host=args.host,
        port=args.port,
        allow_hosts=args.allow_host,
        runtime=lambda: AgentRuntime.from_settings(settings, mcp_url=args.mcp_url),
        options=options,
    )
    login = "?token=<PRODUCTSHOT_WEB_TOKEN>" if settings.web_token else ""
    print(f"productshot studio: open {server.url}{login}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    server.serve()
    return 0
