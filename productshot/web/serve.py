"""Serve the studio: the token rule checked first, the port bound at once, uvicorn in front or in a thread.

`WebServer` binds its socket in the constructor (a busy port fails before anything slow starts), wraps the
app in the shared `HttpGuard`, and runs uvicorn either in the caller's thread (`serve()`, the CLI; Ctrl-C stops it) or
in a background thread (`start()`/`stop()`, tests and the screenshot script), where `start()` returns once
the agent runtime is open and the page answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import uvicorn

from productshot.agent.runtime import AgentRuntime
from productshot.errors import BadRequestError, ProductshotError
from productshot.http_guard import HttpGuard
from productshot.settings import Settings
from productshot.web.app import StudioOptions, create_app
from productshot.web.guard import web_policy

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8770
DEFAULT_START_TIMEOUT_S = 180.0  # a cold stdio MCP server imports its libraries before it answers


class WebServer:
    """The studio on `host:port` (port 0 picks a free one); `url` is where a browser opens it."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        allow_hosts: Iterable[str] = (),
        runtime: Callable[[], AbstractAsyncContextManager[AgentRuntime]] | None = None,
        options: StudioOptions | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise BadRequestError(f"--port must be within 0..65535, got {port}")
        self.policy = web_policy(host, settings.web_token, allow_hosts)  # refuses before binding
        self.settings = settings
        self.host = host
        self._socket = _bind(host, port)
        self.port = int(self._socket.getsockname()[1])
        make_runtime = runtime or (lambda: AgentRuntime.from_settings(settings))
        app = create_app(settings, make_runtime, options)
        self.app = HttpGuard(app, self.policy)
        self._server = _uvicorn_server(self.app)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "", "::", "[::]") else self.host
        shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
        return f"http://{shown}:{self.port}/"

    def serve(self) -> None:
        """Serve in this thread until interrupted (uvicorn handles Ctrl-C and SIGTERM)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()
        if not self._server.started:
            raise ProductshotError("the studio did not start; the lines above say why (the agent runtime)")

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> WebServer:
        """Serve in a background thread; returns once the page answers (raises if it never does)."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="productshot-web", daemon=True
        )
        self._thread.start()
        stop_at = threading.Event()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                self._socket.close()
                raise ProductshotError(
                    "the studio did not start: the agent runtime failed to open (see the log)"
                )
            if waited >= timeout_s:
                self.stop()
                raise ProductshotError(f"the studio did not start within {timeout_s:.0f}s")
            stop_at.wait(0.05)
            waited += 0.05
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(60.0)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bare, port))
    except OSError as exc:
        sock.close()
        raise ProductshotError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port, or stop what uses it"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: HttpGuard) -> uvicorn.Server:
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    return uvicorn.Server(config)


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "WebServer"]
