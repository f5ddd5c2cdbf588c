"""The blocking `WorkerClient` against the real worker app in-process: the app runs on the test's event loop
behind httpx's ASGITransport, and the client calls it from a thread through `LoopTransport`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


class LoopTransport(httpx.BaseTransport):
    """A blocking transport that hands each request to an async transport on `loop` and waits for it.

    Call it from a thread other than the loop's (see `InThread`); the ASGI response arrives whole, so a
    server-sent-events stream is read once its job has ended."""

    def __init__(self, inner: httpx.AsyncBaseTransport, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        future = asyncio.run_coroutine_threadsafe(self._send(copy), self._loop)
        return future.result()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)


class InThread:
    """Every method of a blocking object as a coroutine that runs it in a thread (`await x.health()`)."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._target, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


__all__ = ["InThread", "LoopTransport"]
