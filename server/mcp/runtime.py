"""What every MCP session of one server process shares: the store, the model services and the planner.

The SDK runs the server's lifespan once per session (each stdio connection, each streamable-HTTP session),
so the resources live in a `Studio` that sessions `hold()`: the first holder opens it, the last one closes
it, and an HTTP server holds it for its whole life so sessions never reload models. Opening starts a
background warm-up (find or start the resident worker, load the cutout session) without blocking the
client's `initialize`; a call that needs a model before the warm-up ends waits for it with progress.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from PIL import Image

from productshot.errors import ProductshotError, StoreError, WorkerUnavailableError
from productshot.server.mcp.decoded import DecodedImages
from productshot.server.priority import lower_thread_priority

if TYPE_CHECKING:
    from productshot.server.mcp.jobs import JobWatch
    from productshot.server.mcp.pixel_pool import PixelPool
    from productshot.server.mcp.pixel_work import Composited, CompositeJob
    from productshot.server.pipeline import Pipeline
    from productshot.server.services import (
        CutoutOutcome,
        GenerateAsk,
        GenerateOutcome,
        ModelServices,
        ProgressFn,
    )
    from productshot.server.worker.client import WorkerClient
    from productshot.settings import Settings
    from productshot.store import AssetStore

logger = logging.getLogger(__name__)

T = TypeVar("T")
Lane = Literal["model", "quick"]
Say = Callable[[str], None]  # sends one progress message to the client, from a worker thread

# How often a call waiting for the warm-up tells the client it is still waiting.
_WAIT_NOTICE_S = 1.0
# How long closing the server waits for model work a cancelled call left running (it records its job).
_DRAIN_S = 30.0


def default_lane_size() -> int:
    """Threads per lane: one per core, 2 to 8 (pixel and model work in more threads than cores only makes
    every call slower)."""
    return max(2, min(8, os.cpu_count() or 2))


class Studio:
    """The store, model services (per generator name), chat model and planner of one MCP server process."""

    def __init__(self, settings: Settings, *, warm_up: bool = True, max_parallel: int | None = None) -> None:
        self.settings = settings
        self._warm_up_enabled = warm_up
        self._max_parallel = max_parallel or default_lane_size()
        self._lock = threading.Lock()
        self._holders = 0
        self._open_lock: anyio.Lock | None = None
        self._store: AssetStore | None = None
        self._store_error: StoreError | None = None
        self._planner: Any = None
        self._chat_model: Any = None
        self._services: dict[str, ModelServices] = {}
        self._worker_client: WorkerClient | None = None
        self._warm: Future[str] | None = None
        # Two lanes: model work (cutouts, generation, whole product shots) and quick pixel work
        # (composite, check_split, reading arguments). A 40 ms composite must not queue behind cutouts.
        self._limiter: anyio.CapacityLimiter | None = None
        self._quick_limiter: anyio.CapacityLimiter | None = None
        # The model lane's own threads, at the model nice value (settings.model_nice): when model work and
        # quick calls want the same cores, the quick call's thread gets one first.
        self._model_pool: ThreadPoolExecutor | None = None
        self._model_work: set[Future[Any]] = set()
        # Stored images decoded by earlier calls (the same background tried at several places).
        self.decoded = DecodedImages()
        # Processes for quick pixel work (settings.pixel_processes), started at the first composite.
        self._pixel_pool: PixelPool | None = None

    # ---- life -------------------------------------------------------------------------------------
    @asynccontextmanager
    async def hold(self) -> AsyncIterator[Studio]:
        """Keep the studio open while the block runs (opening it for the first holder)."""
        if self._open_lock is None:
            self._open_lock = anyio.Lock()
        async with self._open_lock:
            if self._holders == 0:
                await anyio.to_thread.run_sync(self._open)
                self._limiter = anyio.CapacityLimiter(self._max_parallel)
                # Twice or four times as many quick threads measured within the bench's noise (p90 0.88-1.04 s
                # against 0.99 s), so one per core it stays.
                self._quick_limiter = anyio.CapacityLimiter(self._max_parallel)
                self._model_pool = ThreadPoolExecutor(
                    self._max_parallel,
                    thread_name_prefix="productshot-model",
                    initializer=_model_thread,
                    initargs=(self.settings.model_nice,),
                )
            self._holders += 1
        try:
            yield self
        finally:
            with anyio.CancelScope(shield=True):
                async with self._open_lock:
                    self._holders -= 1
                    if self._holders == 0:
                        # Model work a cancelled call left running still records its job in the store.
                        await anyio.to_thread.run_sync(self._drain_model_work)
                        self._close()

    def _open(self) -> None:
        from productshot.store import AssetStore
        from productshot.tools.llm import make_chat_model
        from productshot.tools.plan import make_planner

        self.settings.ensure_home()
        try:
            self._store = AssetStore.open(self.settings)
            self._store_error = None
            # Jobs whose server process died (killed, crashed) are marked failed with that reason.
            self._store.mark_abandoned_jobs()
        except StoreError as exc:
            # A damaged store must not take the server down: every call answers with this error and its
            # remedy (`productshot store repair`), and the client sees why instead of "connection closed".
            logger.error("the asset store cannot be opened: %s", exc)
            self._store_error = exc
        self._chat_model = make_chat_model(self.settings) if self.settings.llm_configured else None
        self._planner = make_planner(self.settings, self._chat_model)
        if self._warm_up_enabled:
            self._warm = Future()
            threading.Thread(
                target=self._warm_up, args=(self._warm,), name="productshot-warm-up", daemon=True
            ).start()

    def _close(self) -> None:
        with self._lock:
            pixels, self._pixel_pool = self._pixel_pool, None
        if pixels is not None:
            pixels.close()
        if self._store is not None:
            self._store.close()
        self._store = None
        self.decoded.clear()
        with self._lock:
            self._services.clear()
            client, self._worker_client = self._worker_client, None
        if client is not None:
            client.close()
        self._warm = None

    def _drain_model_work(self) -> None:
        """Stop the model lane: queued work never starts, running work gets `_DRAIN_S` to finish."""
        pool, self._model_pool = self._model_pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = list(self._model_work)
        if running and wait(running, timeout=_DRAIN_S).not_done:
            logger.warning("model work still running %.0f s after the last session closed", _DRAIN_S)

    def _warm_up(self, done: Future[str]) -> None:
        """Find (or start) the worker for the default generator and load the in-process cutout session."""
        _model_thread(self.settings.model_nice)  # model work: the cutout session's threads inherit it
        started = time.perf_counter()
        try:
            services = self.services("auto")
            if services.where == "local":
                services.cutout(_warm_up_photo(), model=self.settings.cutout_model)
        except ProductshotError as exc:
            # The first call that needs models meets the same error again, with its own message.
            logger.warning("warm-up could not prepare the models: %s", exc)
            done.set_result(f"warm-up failed: {exc}")
            return
        except Exception as exc:  # a bug, not a user's problem: logged in full, and reported to waiting calls
            logger.exception("warm-up failed")
            done.set_exception(exc)
            return
        done.set_result(f"ready ({services.where}) in {time.perf_counter() - started:.1f}s")

    # ---- what tools use -----------------------------------------------------------------------------
    @property
    def store(self) -> AssetStore:
        if self._store is None and self._store_error is not None:
            raise type(self._store_error)(str(self._store_error))
        if self._store is None:
            raise ProductshotError("the productshot MCP server is not open (no session holds it)")
        return self._store

    @property
    def chat_model(self) -> Any:
        return self._chat_model

    @property
    def planner(self) -> Any:
        return self._planner

    def services(self, model: str = "auto") -> ModelServices:
        """Where model work for `model` runs (the worker or this process), chosen once per model name."""
        from productshot.server.services import choose_services

        key = model.strip() or "auto"
        with self._lock:
            found = self._services.get(key)
        if found is not None:
            return found
        chosen = choose_services(self.settings, key, "auto")
        with self._lock:
            return self._services.setdefault(key, chosen)

    def forget_services(self, error: BaseException) -> None:
        """Drop cached services after the worker failed, so the next call finds or starts one again."""
        if isinstance(error, WorkerUnavailableError):
            with self._lock:
                self._services = {k: v for k, v in self._services.items() if v.where != "worker"}

    def services_for_call(self, model: str, watch: JobWatch, say: Say) -> ModelServices:
        """The services for one tool call (from its worker thread): after the launch warm-up, on the
        worker as jobs the call's `watch` can cancel, and each job recorded in the store's job table."""
        from productshot.server.job_records import RecordedServices
        from productshot.server.services import WorkerServices

        store = self.store  # a damaged store fails the call here, before any model work
        self._await_warm_up(say)
        chosen = self.services(model)
        if chosen.where == "worker":
            chosen = WorkerServices(self.worker_client(), watch=watch, owns_client=False)
        return RecordedServices(chosen, store)

    def worker_client(self) -> WorkerClient:
        """One client of the resident worker, shared by the calls (httpx clients are thread-safe)."""
        from productshot.server.worker.client import WorkerClient

        with self._lock:
            if self._worker_client is None:
                self._worker_client = WorkerClient.from_settings(self.settings)
            return self._worker_client

    def pipeline(self, model: str, watch: JobWatch, say: Say) -> Pipeline:
        """The place_product pipeline for one call; it meets the model services (and waits for the launch
        warm-up) only when a step needs a model, so a follow-up that only moves the product never waits."""
        from productshot.server.pipeline import Pipeline

        services = DeferredServices(lambda: self.services_for_call(model, watch, say))
        return Pipeline(self.store, services, self.planner, chat_model=self.chat_model)

    async def run(self, fn: Callable[[], T], *, abandon_on_cancel: bool = False, lane: Lane = "quick") -> T:
        """Run blocking work in a thread, at most `max_parallel` at once per lane (queued beyond).

        `lane="model"` is for calls that run models (cutout, generate, place_product); the default quick
        lane is for pixel work that takes milliseconds, so it never waits behind model work.
        """
        if lane == "model":
            return await self._run_model(fn, abandon_on_cancel=abandon_on_cancel)
        return await anyio.to_thread.run_sync(
            fn, limiter=self._quick_limiter, abandon_on_cancel=abandon_on_cancel
        )

    async def _run_model(self, fn: Callable[[], T], *, abandon_on_cancel: bool) -> T:
        """`fn` on one of the model lane's low-priority threads (the call's context variables with it), at
        most `max_parallel` at once; waiting and cancelling behave as `anyio.to_thread.run_sync`'s."""
        pool, limiter = self._model_pool, self._limiter
        if pool is None or limiter is None:
            raise ProductshotError("the productshot MCP server is not open (no session holds it)")
        async with limiter:
            future = pool.submit(contextvars.copy_context().run, fn)
            with self._lock:
                self._model_work.add(future)
            future.add_done_callback(self._model_done)
            try:
                return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=abandon_on_cancel)
            except anyio.get_cancelled_exc_class():
                future.cancel()  # still queued: never starts; already running: left to finish
                raise

    async def composite(self, job: CompositeJob, local: CompositeJob) -> Composited:
        """The composite tool's pixel work: in a pixel process when the pool is up and `job` names only
        stored files, else `local` (the same job with the pixels this process decoded) on the quick lane.
        A pixel process that died costs nothing but its pool: this call runs here while a new pool starts."""
        from productshot.server.mcp.pixel_work import run_composite

        pool = await self._pixels() if job.portable else None
        if pool is not None and pool.ready:
            from concurrent.futures.process import BrokenProcessPool

            try:
                return await pool.composite(job)
            except BrokenProcessPool as exc:
                logger.warning("a pixel process died (%s); this composite runs in the server", exc)
                await self._pixels()  # a new pool starts now, so the next calls find it warm
        return await self.run(lambda: run_composite(local))

    async def _pixels(self) -> PixelPool | None:
        """The pixel pool, started (in the background) by the first call that wants it; None when the
        settings ask for none. A broken pool is closed and replaced."""
        if self.settings.pixel_processes == 0:
            return None
        pool = self._pixel_pool
        if pool is not None and not pool.broken:
            return pool
        return await anyio.to_thread.run_sync(self._new_pixels)

    def _new_pixels(self) -> PixelPool | None:
        from productshot.server.mcp.pixel_pool import PixelPool

        with self._lock:
            pool = self._pixel_pool
            if pool is not None and not pool.broken:
                return pool
            if pool is not None:
                pool.close()
            if self._holders == 0:  # closing: start nothing
                self._pixel_pool = None
                return None
            self._pixel_pool = PixelPool(self.settings.pixel_processes)
            return self._pixel_pool

    async def finish(self, fn: Callable[[], T]) -> T:
        """Run a call's short closing work (store write, copy, preview) in a thread outside the queue of
        `run`, so a finished call answers at once instead of waiting behind calls still queued."""
        return await anyio.to_thread.run_sync(fn)

    def _model_done(self, future: Future[Any]) -> None:
        with self._lock:
            self._model_work.discard(future)

    def _await_warm_up(self, say: Say) -> None:
        """Block (in a worker thread) until the launch warm-up is over, telling the client once a second."""
        warm = self._warm
        if warm is None or warm.done():
            return
        started = time.perf_counter()
        while not warm.done():
            say(
                f"preparing the models (first call after launch, {time.perf_counter() - started:.0f}s so far)"
            )
            wait([warm], timeout=_WAIT_NOTICE_S)
        failure = warm.exception()
        say(f"models: {warm.result() if failure is None else f'warm-up failed: {failure}'}")


class DeferredServices:
    """`ModelServices` chosen on first use: a pipeline step that needs no model never waits for them."""

    where = "deferred"

    def __init__(self, choose: Callable[[], ModelServices]) -> None:
        self._choose = choose
        self._chosen: ModelServices | None = None

    def _services(self) -> ModelServices:
        if self._chosen is None:
            self._chosen = self._choose()
        return self._chosen

    def cutout(self, image: Image.Image, *, model: str, alpha_matting: bool = False) -> CutoutOutcome:
        return self._services().cutout(image, model=model, alpha_matting=alpha_matting)

    def generate(self, ask: GenerateAsk, *, on_progress: ProgressFn | None = None) -> GenerateOutcome:
        return self._services().generate(ask, on_progress=on_progress)

    def close(self) -> None:
        """Nothing to close: the runtime owns the chosen services and the worker client, not this call."""


def _model_thread(nice: int) -> None:
    """Start of a model-lane thread: lower its own CPU priority (Linux: this thread and those it starts)."""
    lower_thread_priority(nice)


def _warm_up_photo() -> Image.Image:
    """A tiny photo with something to cut out (a flat image is refused), to load the cutout session."""
    from PIL import ImageDraw

    image = Image.new("RGB", (96, 96), (235, 235, 230))
    ImageDraw.Draw(image).ellipse((24, 16, 72, 84), fill=(150, 60, 40))
    return image


__all__ = ["DeferredServices", "Studio", "default_lane_size"]
