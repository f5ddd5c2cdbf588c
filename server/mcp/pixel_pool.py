"""Quick pixel work in a few processes of its own, beside the MCP server's event loop.

A composite is ~60 ms of numpy and Pillow work that keeps dropping and retaking the GIL; in the server's
own threads it shares that GIL with the event loop (HTTP, JSON, SSE for every client) and with the model
lane, so under many clients each composite waits on the others' Python. Measured on 2 cores with 8 clients
looping composite and 8 looping place_product: spreading the composites over two processes took their p90
from 0.55-0.63 s to 0.48-0.49 s (docs/benchmarks.md). The processes start in the background at the first
composite call (spawned, so no lock or thread of the server is inherited) and serve once every one has
imported the pixel code; until then, and whenever a job names pixels only this process holds, the quick
lane's threads run the very same `run_composite`.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import anyio.to_thread

from productshot.server.mcp.pixel_work import (
    Composited,
    CompositeJob,
    run_composite,
    start_pixel_process,
    warm,
)

logger = logging.getLogger(__name__)


class PixelPool:
    """`processes` spawned pixel processes (each imports the pixel code as it starts); `ready` once they
    have answered a first task."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"a pixel pool needs at least one process, got {processes}")
        self.processes = processes
        self._executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_pixel_process,
        )
        self._ready = threading.Event()
        self._broken = threading.Event()
        self._lock = threading.Lock()
        self._starting = processes
        # One trivial task per process: the pool spawns a process for each while none is idle.
        for _ in range(processes):
            self._executor.submit(warm).add_done_callback(self._started)

    @property
    def ready(self) -> bool:
        """Every process is up and warm, and none has died."""
        return self._ready.is_set() and not self._broken.is_set()

    @property
    def broken(self) -> bool:
        """A process died (killed, out of memory): the pool serves nothing more and should be replaced."""
        return self._broken.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Block until the pool is ready (True) or `timeout` seconds pass or it broke (False)."""
        return self._ready.wait(timeout) and not self._broken.is_set()

    async def composite(self, job: CompositeJob) -> Composited:
        """Run `run_composite(job)` in a pixel process. A named error the job raises comes back as itself;
        a process that died raises BrokenProcessPool (the caller runs the job itself and replaces the pool)."""
        try:
            future = self._executor.submit(run_composite, job)
        except (BrokenProcessPool, RuntimeError) as exc:  # RuntimeError: shut down meanwhile
            self._broken.set()
            raise BrokenProcessPool(str(exc)) from exc
        try:
            return await anyio.to_thread.run_sync(future.result)
        except BrokenProcessPool:
            self._broken.set()
            raise

    def close(self) -> None:
        """Stop the processes; queued jobs never start (a job still running finishes in its process)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _started(self, future: Future[int]) -> None:
        if future.cancelled() or future.exception() is not None:
            reason = "cancelled" if future.cancelled() else future.exception()
            logger.warning("a pixel process did not start: %s", reason)
            self._broken.set()
            return
        with self._lock:
            self._starting -= 1
            if self._starting == 0:
                self._ready.set()


__all__ = ["PixelPool"]
