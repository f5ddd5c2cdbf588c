"""The Ray engine's port relay on real sockets: no refused connection across a switch, bytes unchanged."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from productshot.server.worker.port_relay import PortRelay


def _server(name: str) -> ThreadingHTTPServer:
    """A loopback HTTP server that answers GET with its name and echoes a POST body."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn and Serve's proxy speak

        def do_GET(self) -> None:
            self._answer(name.encode())

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers["Content-Length"])))

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _address(server: ThreadingHTTPServer) -> tuple[str, int]:
    host, port = server.server_address[:2]
    return str(host), int(port)


@contextmanager
def _relay(upstream: tuple[str, int]) -> Iterator[tuple[PortRelay, str]]:
    listener = socket.create_server(("127.0.0.1", 0))
    relay = PortRelay(listener, upstream)
    relay.start()
    try:
        yield relay, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        relay.close()


def test_new_connections_follow_the_switch_and_none_is_refused() -> None:
    first, second = _server("first"), _server("second")
    answers: list[str] = []
    errors: list[str] = []
    switched = threading.Event()
    done = threading.Event()
    try:
        with _relay(_address(first)) as (relay, url):

            def poll() -> None:
                after_switch = 0
                while after_switch < 20:
                    try:  # a new connection each time, as a client polling /health does
                        answers.append(httpx.get(url, timeout=10).text)
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                    after_switch += switched.is_set()
                done.set()

            poller = threading.Thread(target=poll)
            poller.start()
            while len(answers) < 20 and poller.is_alive():
                done.wait(0.01)
            relay.switch(_address(second))
            switched.set()
            poller.join(timeout=60)
            assert done.is_set()
            # Through the same relay, keep-alive and a large body pass unchanged.
            body = bytes(range(256)) * 8192  # 2 MiB
            with httpx.Client(timeout=30) as client:
                assert client.get(url).text == "second"
                assert client.post(url, content=body).content == body
                assert client.get(url).text == "second"
    finally:
        for server in (first, second):
            server.shutdown()
            server.server_close()
    assert errors == []
    assert set(answers) == {"first", "second"}
    flip = answers.index("second")
    assert set(answers[:flip]) == {"first"} and set(answers[flip:]) == {"second"}, answers


def test_an_upstream_that_refuses_ends_the_connection_not_hangs() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = ("127.0.0.1", int(probe.getsockname()[1]))  # bound, never listening: refuses
        with _relay(nowhere) as (_, url), pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=10)
