"""The page's HTTP guard: Host/Origin allow-list against DNS rebinding, and a token off localhost.

A thin ASGI middleware with the interface the shared one (hardening) has: allowed hosts, allowed origins,
an optional token. A foreign Host gets 421, a cross-site Origin 403, a missing or wrong token 401. A browser
cannot add an Authorization header when it navigates, so besides `Authorization: Bearer <token>` the token
is accepted once as `?token=` on the page's address, which sets a same-site, HTTP-only cookie and redirects
to the clean address; the page's own requests then carry the cookie.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from productshot.errors import BadRequestError, ProductshotError
from productshot.hosts import is_local_host

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_COOKIE = "productshot_web_token"
_LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = frozenset({"0.0.0.0", "::", "[::]", ""})


class WebTokenRequiredError(ProductshotError):
    """`productshot web` was asked to listen on a non-local address without PRODUCTSHOT_WEB_TOKEN."""

    code = "web_token_required"
    http_status = 400


@dataclass(frozen=True)
class GuardPolicy:
    """Which Host names and Origins may reach the page, and the token every request needs (None: none)."""

    allowed_hosts: frozenset[str]
    allowed_origins: frozenset[str]
    token: str | None = None
    any_host: bool = False  # a wildcard bind without named hosts: the token is the only gate

    @classmethod
    def for_bind(cls, host: str, token: str | None, extra_hosts: Iterable[str] = ()) -> GuardPolicy:
        """The policy for a server bound to `host`: local names always, the bound address, `extra_hosts`.

        A non-local bind without a token raises `WebTokenRequiredError` (refuse to start, never serve open).
        """
        bound = host.strip()
        if not is_local_host(bound) and not token:
            raise WebTokenRequiredError(
                f"--host {host}: listening on a non-local address exposes the studio to the network; set "
                "PRODUCTSHOT_WEB_TOKEN to a long random secret (then open http://HOST:PORT/?token=<token>), "
                "or keep the default 127.0.0.1"
            )
        names = [*_LOCAL_NAMES]
        if bound not in _WILDCARDS and not is_local_host(bound):
            names.append(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
        extra = [_check_host_name(entry) for entry in extra_hosts]
        names += extra
        hosts = frozenset(name.lower() for name in names)
        origins = frozenset(f"{scheme}://{name}" for name in hosts for scheme in ("http", "https"))
        return cls(hosts, origins, token or None, any_host=bound in _WILDCARDS and not extra)

    def host_allowed(self, host_header: str) -> bool:
        if self.any_host:
            return True
        return _strip_port(host_header.strip().lower()) in self.allowed_hosts

    def origin_allowed(self, origin: str, host_header: str = "") -> bool:
        """Same-site only: the Origin's scheme://host (any port) must be an allowed one; with any host
        allowed (a wildcard bind), the Origin must name the very host the request was sent to."""
        text = origin.strip().lower()
        if "://" not in text:
            return False
        scheme, _, rest = text.partition("://")
        if scheme not in ("http", "https"):
            return False
        if self.any_host:
            return bool(host_header) and rest.rstrip("/") == host_header.strip().lower()
        return f"{scheme}://{_strip_port(rest.rstrip('/'))}" in self.allowed_origins


def _check_host_name(entry: str) -> str:
    cleaned = entry.strip().lower()
    if not cleaned or "/" in cleaned or " " in cleaned:
        raise BadRequestError(f"--allow-host {entry!r}: give a host name or address, without a port or path")
    return cleaned


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class WebGuard:
    """ASGI middleware applying a `GuardPolicy` to every HTTP request (421 host, 403 origin, 401 token)."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if not self.policy.host_allowed(headers.get("host", "")):
            await _refuse(send, 421, "wrong_host", "this address is not one the studio answers to")
            return
        origin = headers.get("origin")
        if origin is not None and not self.policy.origin_allowed(origin, headers.get("host", "")):
            await _refuse(send, 403, "cross_site", "requests from other sites are refused")
            return
        token = self.policy.token
        if token is None:
            await self.app(scope, receive, send)
            return
        given = _query_token(scope)
        if given is not None and scope.get("method") == "GET" and _same(given, token):
            await _login_redirect(send, scope, token)
            return
        if _bearer(headers) is not None and _same(_bearer(headers) or "", token):
            await self.app(scope, receive, send)
            return
        if _same(_cookie(headers) or "", token):
            await self.app(scope, receive, send)
            return
        await _refuse(
            send, 401, "unauthorized", "open the studio with its token: http://HOST:PORT/?token=<token>"
        )


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _same(given: str, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: dict[str, str]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is treated as no cookie
        return None
    morsel = jar.get(TOKEN_COOKIE)
    return morsel.value if morsel is not None else None


def _query_token(scope: Scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


async def _login_redirect(send: Send, scope: Scope, token: str) -> None:
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", str(scope.get("path") or "/").encode()),
                (b"set-cookie", cookie.encode()),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="productshot-web"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["TOKEN_COOKIE", "GuardPolicy", "WebGuard", "WebTokenRequiredError"]
