"""A TCP relay that holds the worker's public port and pipes each new connection to a switchable upstream.

The Ray engine binds the public port once, at launch, and never lets go of it until it stops: connections
first go to the process's own "starting" answerer, then (after one `switch`) to Ray Serve's proxy on its
internal port. A client therefore never meets a refused connection or Serve's 404 during start-up. The relay
works on bytes, not HTTP: keep-alive, streamed progress events and large uploads pass through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from contextlib import suppress

log = logging.getLogger(__name__)

CHUNK = 256 * 1024


class PortRelay:
    """Holds one listening socket and pipes each accepted connection to the upstream current at accept time.

    `switch` affects new connections only; a connection keeps the upstream it was opened to.
    """

    def __init__(self, listener: socket.socket, upstream: tuple[str, int]) -> None:
        self._listener = listener
        self._upstream = upstream
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._connecting = 0  # connections accepted whose upstream connection is not open yet
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="productshot-port-relay", daemon=True)

    @property
    def upstream(self) -> tuple[str, int]:
        return self._upstream

    @property
    def connecting(self) -> int:
        """How many accepted connections are still opening their upstream connection."""
        return self._connecting

    def start(self) -> None:
        """Start accepting (the socket already listens, so nothing is refused even before this)."""
        self._thread.start()
        self._ready.wait(timeout=30)

    def switch(self, upstream: tuple[str, int]) -> None:
        """Send every connection accepted from now on to `upstream`."""
        log.info("port relay: new connections go to %s:%d", *upstream)
        self._upstream = upstream

    def close(self) -> None:
        """Stop listening and end the open connections."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._listener.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, sock=self._listener, limit=CHUNK)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with suppress(RuntimeError):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        host, port = self._upstream
        self._connecting += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port, limit=CHUNK)
        except OSError as exc:
            log.warning("port relay: upstream %s:%d did not accept a connection (%s)", host, port, exc)
            client_writer.close()
            return
        finally:
            self._connecting -= 1
        to_upstream = asyncio.ensure_future(_pipe(client_reader, up_writer))
        try:
            # The answer's direction decides: once the upstream has closed, the exchange is over.
            await _pipe(up_reader, client_writer)
        finally:
            to_upstream.cancel()
            for writer in (up_writer, client_writer):
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until EOF, then pass the half-close on; a peer resetting the connection ends the copy."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError) as exc:  # the other side went away mid-stream: nothing left to copy
        log.debug("port relay: connection ended (%s)", exc)


__all__ = ["PortRelay"]
