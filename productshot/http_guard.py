"""One ASGI guard for every productshot HTTP door (MCP server, worker, any later web page).

Checks, in order, before a request reaches the app:
1. the bearer token when one is set (`Authorization: Bearer <token>`, the scheme in any case) -> 401;
2. the Host header against an allow-list (blocks DNS rebinding) -> 421;
3. the Origin header, when a browser sends one, against the same list -> 403;
4. a state-changing method (POST, PUT, PATCH, DELETE) must carry `X-Productshot-Client` (or another header
   the door names, e.g. MCP's `Mcp-Session-Id` on a session DELETE) or a JSON body, none of which a
   cross-site page can send without a CORS preflight (which nothing here answers) -> 403.

A door a browser navigates to (the studio page) opts into a token cookie (`GuardPolicy.token_cookie`): a
browser cannot add an Authorization header when it follows a link, so `GET /any/path?token=<token>` from an
allowed Host answers 303 to the clean path with the token in an HttpOnly, SameSite=Strict cookie, and later
requests may carry the token in that cookie instead of the header. SameSite=Strict keeps the cookie off
every cross-site request, and rules 2-4 still apply to requests that carry it.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")  # RFC 6265 cookie-octets


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
    # A cookie that may carry the token instead of the Authorization header (None: header only); setting it
    # also enables the `?token=` login redirect that sets the cookie (see the module docstring).
    token_cookie: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and not self.token:
            raise BadRequestError(f"{self.token_hint} is empty")
        if self.allowed_hosts is None and not self.token:
            raise BadRequestError("accepting any Host header needs a token")
        if self.token_cookie is not None and not _COOKIE_NAME.fullmatch(self.token_cookie):
            raise BadRequestError(f"token cookie name {self.token_cookie!r}: use letters, digits, _ and -")
        if self.token_cookie is not None and self.token and not _COOKIE_VALUE.fullmatch(self.token):
            raise BadRequestError(
                f"{self.token_hint} must be printable ASCII without spaces, quotes, commas, semicolons or "
                "backslashes, so a browser can keep it in a cookie; e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )

    def host_allowed(self, host: str) -> bool:
        if self.allowed_hosts is None:
            return True
        name = host.strip().lower()
        return any(_host_matches(name, pattern) for pattern in self.allowed_hosts)

    def origin_allowed(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        netloc = parts.netloc.lower()
        if self.allowed_hosts is None:
            return netloc == host.strip().lower()
        return self.host_allowed(netloc)


def _host_matches(name: str, pattern: str) -> bool:
    """`name` is `pattern`, or `pattern` ends in `:*` and `name` is its host with a numeric port. Not
    fnmatch: its `[...]` is a character class, which would misread an IPv6 literal such as `[::1]`."""
    if pattern.endswith(":*"):
        host, _, port = name.rpartition(":")
        return host == pattern[:-2] and port.isdigit()
    return name == pattern


def bind_policy(
    bind_host: str,
    token: str | None,
    *,
    extra_hosts: Sequence[str] = (),
    token_hint: str = "the server's token",
    token_cookie: str | None = None,
) -> GuardPolicy:
    """The policy of a door bound to `bind_host`: the local names, the bound address and `extra_hosts`;
    a wildcard bind (0.0.0.0, ::) with a token and no named hosts accepts any Host, since the token keeps
    other pages out and an Origin must then name the very host the request was sent to."""
    wildcard = bind_host.strip() in WILDCARD_BINDS
    allowed = None if wildcard and token and not extra_hosts else host_patterns(bind_host, extra_hosts)
    return GuardPolicy(allowed_hosts=allowed, token=token, token_hint=token_hint, token_cookie=token_cookie)


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
        headers = _headers(scope)
        if self._is_login(scope, headers) and self._site_refusal(scope, headers) is None:
            await _login_redirect(send, scope, self.policy)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message, extra = refusal
        await _send_json(send, status, {"error": code, "message": message}, extra)

    def refusal(self, scope: Scope) -> tuple[int, str, str, dict[str, str]] | None:
        """(status, code, message, headers) when the request must be refused, else None."""
        headers = _headers(scope)
        return self._token_refusal(headers) or self._site_refusal(scope, headers)

    def _is_login(self, scope: Scope, headers: dict[str, list[str]]) -> bool:
        """A `GET ...?token=<the token>` on a door with a token cookie (checked in constant time)."""
        policy = self.policy
        if policy.token is None or policy.token_cookie is None:
            return False
        if str(scope.get("method", "GET")).upper() != "GET":
            return False
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [""]
        return _same(given[0], policy.token)

    def _token_refusal(self, headers: dict[str, list[str]]) -> tuple[int, str, str, dict[str, str]] | None:
        policy = self.policy
        if policy.token is None:
            return None
        given = headers.get("authorization", [])
        if len(given) == 1 and bearer_ok(given[0], policy.token):
            return None
        if not given and policy.token_cookie is not None:
            if _same(_cookie(headers, policy.token_cookie), policy.token):
                return None
            return (
                401,
                "unauthorized",
                f"open this page with its token once (http://HOST:PORT/?token=<token>, {policy.token_hint}), "
                "or send 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": 'Bearer realm="productshot"'},
            )
        what = "no Authorization header" if not given else "a wrong bearer token"
        return (
            401,
            "unauthorized",
            f"this server needs 'Authorization: Bearer <token>' and got {what}; "
            f"give the client {policy.token_hint}",
            {"WWW-Authenticate": 'Bearer realm="productshot"'},
        )

    def _site_refusal(
        self, scope: Scope, headers: dict[str, list[str]]
    ) -> tuple[int, str, str, dict[str, str]] | None:
        """Host allow-list, Origin, and the cross-site-post rule (rules 2-4 of the module docstring)."""
        policy = self.policy
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


def _headers(scope: Scope) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for key, value in scope.get("headers", []):
        headers.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return headers


def _same(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def _cookie(headers: dict[str, list[str]], name: str) -> str | None:
    """The value of cookie `name` (None when absent, or when a Cookie header cannot be parsed)."""
    for line in headers.get("cookie", []):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        morsel = jar.get(name)
        if morsel is not None:
            return morsel.value
    return None


async def _login_redirect(send: Send, scope: Scope, policy: GuardPolicy) -> None:
    """303 to the same path without the query, setting the token cookie (HttpOnly, SameSite=Strict)."""
    cookie = f"{policy.token_cookie}={policy.token}; Path=/; HttpOnly; SameSite=Strict"
    if scope.get("scheme") == "https":
        cookie += "; Secure"
    raw = [
        (b"location", str(scope.get("path") or "/").encode("utf-8")),
        (b"set-cookie", cookie.encode("latin-1")),
        (b"content-length", b"0"),
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
    ]
    await send({"type": "http.response.start", "status": 303, "headers": raw})
    await send({"type": "http.response.body", "body": b""})


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["CLIENT_HEADER", "GuardPolicy", "HttpGuard", "bearer_ok", "bind_policy", "host_patterns"]
