"""HTTP safety for the MCP server: DNS-rebinding checks (Host/Origin) and a bearer token off localhost.

On 127.0.0.1 (the default) only local Host and Origin headers pass, so a web page the seller visits cannot
drive the server through a rebound DNS name (the SDK answers 421 for a bad Host, 403 for a bad Origin).
Any other bind address needs `PRODUCTSHOT_MCP_TOKEN`: the server refuses to start without it, and every
request must carry `Authorization: Bearer <token>` or gets 401.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from productshot.errors import BadRequestError
from productshot.hosts import is_local_host

if TYPE_CHECKING:  # the CLI checks the token rule before paying for the mcp import
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Receive, Scope, Send

    from productshot.settings import Settings

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = frozenset({"0.0.0.0", "::", "[::]", ""})


def transport_security(host: str, allowed_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """Host/Origin checks for a server bound to `host`; `allowed_hosts` adds names clients may use.

    Local names (127.0.0.1, localhost, [::1], any port) are always allowed; a bind to one specific
    non-local address allows that address too. An entry without a port allows any port.
    """
    patterns: list[str] = []
    for name in _LOCAL_HOSTS:
        patterns += [name, f"{name}:*"]
    bound = host.strip()
    extra = list(allowed_hosts)
    if bound not in _WILDCARDS and not is_local_host(bound):
        extra.append(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    for entry in extra:
        cleaned = entry.strip().lower()
        if not cleaned or "/" in cleaned:
            raise BadRequestError(
                f"--allowed-host {entry!r}: give a host name or address, optionally with :port"
            )
        has_port = cleaned.rsplit(":", 1)[-1].isdigit() and not cleaned.endswith("]")
        patterns += [cleaned] if has_port else [cleaned, f"{cleaned}:*"]
    from mcp.server.transport_security import TransportSecuritySettings

    unique = list(dict.fromkeys(patterns))
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


class BearerTokenMiddleware:
    """ASGI middleware: HTTP requests without `Authorization: Bearer <token>` get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise BadRequestError("PRODUCTSHOT_MCP_TOKEN is empty")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": "unauthorized",
                "message": "missing or wrong 'Authorization: Bearer <PRODUCTSHOT_MCP_TOKEN>'",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="productshot"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        given = [value for key, value in scope.get("headers", []) if key.lower() == b"authorization"]
        return len(given) == 1 and hmac.compare_digest(given[0], self._expected)


__all__ = ["BearerTokenMiddleware", "is_local_host", "required_token", "transport_security"]
