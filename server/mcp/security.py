"""HTTP safety for the MCP server: DNS-rebinding checks (Host/Origin) and a bearer token off localhost.

On 127.0.0.1 (the default) only local Host and Origin headers pass, so a web page the seller visits cannot
drive the server through a rebound DNS name (421 for a bad Host, 403 for a bad Origin or a cross-site
form post). Any other bind address needs `PRODUCTSHOT_MCP_TOKEN`: the server refuses to start without it,
and every request must carry `Authorization: Bearer <token>` or gets 401. The checks are the shared
`productshot.http_guard.HttpGuard`, which the worker uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from productshot.errors import BadRequestError
from productshot.hosts import is_local_host
from productshot.http_guard import CLIENT_HEADER, GuardPolicy, HttpGuard, host_patterns

if TYPE_CHECKING:  # the CLI checks the token rule before paying for the mcp import
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp

    from productshot.settings import Settings


def transport_security(host: str, allowed_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """The SDK's Host/Origin checks for a server bound to `host` (the same allow-list `HttpGuard` applies).

    Local names (127.0.0.1, localhost, [::1], any port) are always allowed; a bind to one specific
    non-local address allows that address too. An entry without a port allows any port.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    unique = list(host_patterns(host, allowed_hosts))
    origins = [f"{scheme}://{pattern}" for pattern in unique for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=unique, allowed_origins=origins
    )


def required_token(settings: Settings, host: str) -> str | None:
    """The bearer token HTTP requests must carry: required off localhost, enforced whenever it is set."""
    if not is_local_host(host) and not settings.mcp_token:
        raise BadRequestError(
            f"--host {host}: binding a non-local address exposes the server to the network; set "
            "PRODUCTSHOT_MCP_TOKEN to a long random secret (clients then send 'Authorization: Bearer <token>'), "
            "or bind 127.0.0.1"
        )
    return settings.mcp_token


def mcp_guard(app: ASGIApp, allowed_hosts: Sequence[str], token: str | None) -> HttpGuard:
    """The shared HTTP guard in front of the MCP app: token (when set), Host/Origin, no cross-site posts."""
    policy = GuardPolicy(
        allowed_hosts=tuple(allowed_hosts),
        token=token,
        token_hint="PRODUCTSHOT_MCP_TOKEN",
        # A client ends its session with a bodyless DELETE that carries the session id.
        client_headers=(CLIENT_HEADER, "Mcp-Session-Id"),
    )
    return HttpGuard(app, policy)


__all__ = ["is_local_host", "mcp_guard", "required_token", "transport_security"]
