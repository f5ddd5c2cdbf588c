"""One ASGI guard for every productshot HTTP door (MCP server, worker, any later web page).

Checks, in order, before a request reaches the app:
1. the bearer token when one is set (`Authorization: Bearer <token>`, the scheme in any case) -> 401;
2. the Host header against an allow-list (blocks DNS rebinding) -> 421;
3. the Origin header, when a browser sends one, against the same list -> 403;
4. a state-changing method (POST, PUT, PATCH, DELETE) must carry `X-Productshot-Client` (or another header
   the door names, e.g. MCP's `Mcp-Session-Id` on a session DELETE) or a JSON body, none of which a
   cross-site page can send without a CORS preflight (which nothing here answers) -> 403.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from productshot.errors import BadRequestError
from productshot.hosts import is_local_host

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLIENT_HEADER = "X-Productshot-Client"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_patterns(bind_host: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Host-header patterns (`name` and `name:*`) a server bound to `bind_host` accepts.

    Local names are always allowed; a bind to one specific non-local address allows that address; `extra`
    adds names clients may use (an entry without a port allows any port).
    """
    patterns: list[str] = []
    for name in LOCAL_HOSTS:
        patterns += [name, f"{name}:*"]
    bound = bind_host.strip()
    names = list(extra)
    if bound not in WILDCARD_BINDS and not is_local_host(bound):
        names.append(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    for entry in names:
        cleaned = entry.strip().lower()
        if not cleaned or "/" in cleaned:
            raise BadRequestError(
                f"--allowed-host {entry!r}: give a host name or address, optionally with :port"
            )
        has_port = cleaned.rsplit(":", 1)[-1].isdigit() and not cleaned.endswith("]")
        patterns += [cleaned] if has_port else [cleaned, f"{cleaned}:*"]
    return tuple(dict.fromkeys(patterns))


@dataclass(frozen=True)
class GuardPolicy:
    """What one HTTP door accepts. `allowed_hosts=None` accepts any Host (only with a token: the token is
    then what keeps other pages out); `token_hint` names where the token comes from, for the 401 message."""

    allowed_hosts: tuple[str, ...] | None
    token: str | None = None
    token_hint: str = "the server's token"
    # Headers that prove a state-changing request is not a cross-site form (a page cannot send any of them
    # without a preflight): productshot's own client header, plus any the door's protocol sets itself.
    client_headers: tuple[str, ...] = (CLIENT_HEADER,)

    def __post_init__(self) -> None:
        if self.token is not None and not self.token:
            raise BadRequestError(f"{self.token_hint} is empty")
        if self.allowed_hosts is None and not self.token:
            raise BadRequestError("accepting any Host header needs a token")

    def host_allowed(self, host: str) -> bool:
        if self.allowed_hosts is None:
            return True
        name = host.strip().lower()
        return any(fnmatchcase(name, pattern) for pattern in self.allowed_hosts)

    def origin_allowed(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        netloc = parts.netloc.lower()
        if self.allowed_hosts is None:
            return netloc == host.strip().lower()
        return self.host_allowed(netloc)


def bearer_ok(header: str, token: str) -> bool:
    """Whether an Authorization header carries this bearer token (scheme case-insensitive, RFC 7235)."""
    scheme, _, credentials = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class HttpGuard:
    """ASGI middleware applying a `GuardPolicy` to every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message, extra = refusal
        await _send_json(send, status, {"error": code, "message": message}, extra)

    def refusal(self, scope: Scope) -> tuple[int, str, str, dict[str, str]] | None:
        """(status, code, message, headers) when the request must be refused, else None."""
        headers: dict[str, list[str]] = {}
        for key, value in scope.get("headers", []):
            headers.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        policy = self.policy
        if policy.token is not None:
            given = headers.get("authorization", [])
            if len(given) != 1 or not bearer_ok(given[0], policy.token):
                what = "no Authorization header" if not given else "a wrong bearer token"
                return (
                    401,
                    "unauthorized",
                    f"this server needs 'Authorization: Bearer <token>' and got {what}; "
                    f"give the client {policy.token_hint}",
                    {"WWW-Authenticate": 'Bearer realm="productshot"'},
                )
        host = (headers.get("host") or [""])[0]
        if not policy.host_allowed(host):
            return (
                421,
                "bad_host",
                f"Host {host!r} is not one this server answers to (DNS-rebinding protection); "
                "use 127.0.0.1 or localhost, or start the server with --allowed-host",
                {},
            )
        origin = (headers.get("origin") or [""])[0]
        if origin and not policy.origin_allowed(origin, host):
            return 403, "bad_origin", f"requests from web pages at {origin!r} are refused", {}
        method = str(scope.get("method", "GET")).upper()
        if method in _STATE_CHANGING:
            named = any(headers.get(name.lower()) for name in policy.client_headers)
            if not named and not _is_json((headers.get("content-type") or [""])[0]):
                return (
                    403,
                    "cross_site_refused",
                    f"{method} needs a JSON body or the {CLIENT_HEADER} header (cross-site form posts are "
                    "refused); productshot's own clients send it",
                    {},
                )
        return None


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["CLIENT_HEADER", "GuardPolicy", "HttpGuard", "bearer_ok", "host_patterns"]
