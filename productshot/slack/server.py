"""HTTP mode: bolt's own WSGI adapter served by a threading stdlib WSGI server.

Bolt's `App.start()` is a single-threaded development server bound to 0.0.0.0 that cannot be stopped from
code; this serves the same `App.dispatch` path (`slack_bolt.adapter.wsgi.SlackRequestHandler`) on the host
and port asked for (port 0 picks a free one), one thread per request, with `GET /healthz` for a load
balancer, and stops cleanly. Put it behind an HTTPS reverse proxy: Slack only posts to https:// URLs.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from productshot.errors import BadRequestError, ProductshotError
from productshot.slack.config import DEFAULT_PATH

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the log (debug), not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class EventsServer:
    """Serves Slack's Events API requests at `path` on `host:port` in a background thread."""

    def __init__(
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        path: str = DEFAULT_PATH,
        health: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise BadRequestError(f"path must start with '/', got {path!r}")
        if not 0 <= port <= 65535:
            raise BadRequestError(f"port must be within 0..65535, got {port}")
        self.path = path
        self._bolt = SlackRequestHandler(app, path=path)
        self._health = health
        try:
            self._server = make_server(
                host, port, self._wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise ProductshotError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port, or stop what uses it"
            ) from exc
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The Request URL to give Slack (behind your HTTPS proxy, with the same path)."""
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="productshot-slack-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10.0)
            self._thread = None
        self._server.server_close()

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == HEALTH_PATH:
            body = json.dumps(dict(self._health()) if self._health else {"ok": True}).encode("utf-8")
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        if stamp is not None and not re.fullmatch(r"[0-9]{1,15}", stamp.strip()):
            # bolt's verifier calls int() on it and answers 500; a forged or broken request is a 401.
            body = json.dumps({"error": "invalid request"}).encode("utf-8")
            start_response(
                "401 Unauthorized", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return self._bolt(environ, start_response)


__all__ = ["HEALTH_PATH", "EventsServer"]
