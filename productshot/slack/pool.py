"""A bounded pool of agent turns that share ONE agent runtime (one MCP session) on one event loop thread.

Slack handlers run on bolt's threads and must return at once; the agent is async and keeps its MCP session
open on the loop that opened it. So the pool runs one asyncio loop in a dedicated thread, opens the runtime
there, and takes jobs (coroutine functions of the runtime) with `asyncio.run_coroutine_threadsafe`. At most
`workers` jobs run at once and at most `queue_size` wait; past that `submit` refuses with `BotBusyError`
instead of letting a backlog grow. Jobs that share a key (a Slack thread) run one after another, so two
quick follow-ups in one thread never race on the thread's last result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from productshot.agent.runtime import ThreadView, TurnResult
from productshot.errors import BadRequestError
from productshot.slack.config import DEFAULT_QUEUE_SIZE, DEFAULT_WORKERS
from productshot.slack.errors import BotBusyError, BotStoppedError

logger = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT_S = 180.0  # a cold MCP server imports its libraries before it answers
DEFAULT_STOP_GRACE_S = 30.0

T = TypeVar("T")


class TurnRunner(Protocol):
    """What the bot needs of the agent: a turn of a thread, a thread's memory, and a result's file."""

    async def run(self, request: str, *, thread: str, image: str | None = None) -> TurnResult: ...

    async def thread(self, thread: str) -> ThreadView: ...

    async def read_asset(self, asset_id: str) -> bytes: ...


R = TypeVar("R", bound=TurnRunner)


class AgentPool(Generic[R]):
    """Runs jobs against one opened runtime; `start()` opens it (blocking), `stop()` closes it."""

    def __init__(
        self,
        runtime: AbstractAsyncContextManager[R],
        *,
        workers: int = DEFAULT_WORKERS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
    ) -> None:
        if not isinstance(workers, int) or not 1 <= workers <= 64:
            raise BadRequestError(f"workers must be a whole number within 1..64, got {workers!r}")
        if not isinstance(queue_size, int) or not 0 <= queue_size <= 10_000:
            raise BadRequestError(f"queue_size must be a whole number within 0..10000, got {queue_size!r}")
        self.workers = workers
        self.queue_size = queue_size
        self.start_timeout_s = start_timeout_s
        self._runtime_cm = runtime
        self._runtime: R | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Future[object]] = set()
        self._lock = threading.Lock()
        self._pending = 0
        self._accepting = False
        self._grace_s = DEFAULT_STOP_GRACE_S

    # ---- life -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the runtime on the pool's own loop thread; raises what opening it raised."""
        if self._thread is not None:
            raise BotStoppedError("the agent pool was already started once; make a new one")
        self._thread = threading.Thread(target=self._main, name="productshot-slack-agent", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s):
            raise BotStoppedError(f"the agent runtime did not open within {self.start_timeout_s:.0f}s")
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error
        with self._lock:
            self._accepting = True

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """Stop taking jobs, let running ones finish for up to `grace_s`, cancel the rest, close the runtime."""
        with self._lock:
            self._accepting = False
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            self._grace_s = grace_s
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(grace_s + 60.0)
            if self._thread.is_alive():
                logger.warning("the agent pool's thread did not end within %.0fs", grace_s + 60.0)

    def __enter__(self) -> AgentPool[R]:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pending(self) -> int:
        """Jobs accepted and not finished (running or waiting)."""
        with self._lock:
            return self._pending

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_size

    # ---- jobs -------------------------------------------------------------------------------------------
    def submit(
        self, job: Callable[[R], Awaitable[T]], *, key: str | None = None
    ) -> concurrent.futures.Future[T]:
        """Queue `job(runtime)`; jobs with the same `key` run in order. BotBusyError when the pool is full."""
        with self._lock:
            if not self._accepting or self._loop is None:
                raise BotStoppedError("the bot is not taking requests (starting or shutting down)")
            if self._pending >= self.capacity:
                raise BotBusyError(
                    f"all {self.workers} workers are busy and {self.queue_size} requests are already waiting"
                )
            self._pending += 1
        try:
            future = asyncio.run_coroutine_threadsafe(self._guarded(job, key), self._loop)
        except RuntimeError as exc:  # the loop closed between the check and the call
            with self._lock:
                self._pending -= 1
            raise BotStoppedError("the bot is shutting down and took no new request") from exc
        future.add_done_callback(self._done)
        return future

    def _done(self, _: concurrent.futures.Future[T]) -> None:
        with self._lock:
            self._pending -= 1

    async def _guarded(self, job: Callable[[R], Awaitable[T]], key: str | None) -> T:
        assert self._slots is not None and self._runtime is not None
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        lock = self._acquire_key(key)
        try:
            async with lock, self._slots:
                return await job(self._runtime)
        finally:
            self._release_key(key)
            if task is not None:
                self._tasks.discard(task)

    def _acquire_key(self, key: str | None) -> asyncio.Lock:
        if key is None:
            return asyncio.Lock()
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        return lock

    def _release_key(self, key: str | None) -> None:
        if key is None or key not in self._key_locks:
            return
        lock, users = self._key_locks[key]
        if users <= 1:
            del self._key_locks[key]
        else:
            self._key_locks[key] = (lock, users - 1)

    # ---- the loop thread -----------------------------------------------------------------------------------
    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); after start, logged
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:
                logger.exception("the agent pool's loop failed")
        finally:
            with self._lock:
                self._accepting = False
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(self.workers)
        async with self._runtime_cm as runtime:
            self._runtime = runtime
            self._ready.set()
            await self._stop.wait()
            await self._drain(self._grace_s)
            self._runtime = None

    async def _drain(self, grace_s: float) -> None:
        """Wait for the jobs still running, then cancel whatever is left after `grace_s`."""
        if not self._tasks:
            return
        _, left = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in left:
            task.cancel()
        if left:
            logger.warning("cancelled %d agent job(s) still running at shutdown", len(left))
            await asyncio.wait(left, timeout=10.0)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel jobs that were scheduled but never started (submitted as the pool stopped) and let them end."""
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


__all__ = ["AgentPool", "TurnRunner"]
