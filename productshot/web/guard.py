"""The page's door: the shared `productshot.http_guard` policy for a bind, with the browser's token cookie.

No checks live here: Host/Origin allow-list, token and cross-site-post rules are the shared `HttpGuard`'s,
the same the MCP server and the worker use. This module only says what the page needs of it: a token is
required off localhost (`PRODUCTSHOT_WEB_TOKEN`), and a browser logs in once with `/?token=<token>`, which
sets the HttpOnly, SameSite=Strict cookie `TOKEN_COOKIE` the page's own requests then carry.
"""

from __future__ import annotations

from collections.abc import Iterable

from productshot.errors import ProductshotError
from productshot.hosts import is_local_host
from productshot.http_guard import GuardPolicy, bind_policy

TOKEN_COOKIE = "productshot_web_token"


class WebTokenRequiredError(ProductshotError):
    """`productshot web` was asked to listen on a non-local address without PRODUCTSHOT_WEB_TOKEN."""

    code = "web_token_required"
    http_status = 400


def web_policy(host: str, token: str | None, extra_hosts: Iterable[str] = ()) -> GuardPolicy:
    """The shared guard's policy for the page bound to `host` (local names always, the bound address,
    `extra_hosts`); a non-local bind without a token raises `WebTokenRequiredError` (never serve open)."""
    if not is_local_host(host.strip()) and not token:
        raise WebTokenRequiredError(
            f"--host {host}: listening on a non-local address exposes the studio to the network; set "
            "PRODUCTSHOT_WEB_TOKEN to a long random secret (then open http://HOST:PORT/?token=<token>), "
            "or keep the default 127.0.0.1"
        )
    return bind_policy(
        host,
        token or None,
        extra_hosts=tuple(extra_hosts),
        token_hint="PRODUCTSHOT_WEB_TOKEN",
        token_cookie=TOKEN_COOKIE,
    )


__all__ = ["TOKEN_COOKIE", "WebTokenRequiredError", "web_policy"]
