"""Loaded models (diffusion backends, rembg sessions) kept on the device under a memory budget.

Loading is slow and happens once per model; every later job reuses the loaded one. When a new model would
push the total over the budget, the least recently used ones are closed first. A model that fails to
load raises `ModelError` for the jobs that asked for it; the cache and the other models stay as they were.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn, Protocol, TypeVar

from productshot.errors import DeviceOutOfMemoryError, ModelError, ProductshotError
from productshot.server.worker.metrics import WorkerMetrics
from productshot.server.worker.schemas import LoadedModel

log = logging.getLogger(__name__)

ModelKind = Literal["generator", "cutout"]


class CachedModel(Protocol):
    """What the cache needs from a loaded model: where it lives, how big it is, how to free it."""

    @property
    def device(self) -> str: ...

    def memory_bytes(self) -> int: ...

    def close(self) -> None: ...


M = TypeVar("M", bound=CachedModel)


@dataclass
class _Entry:
    kind: ModelKind
    name: str
    model: CachedModel
    memory_bytes: int
    load_seconds: float
    loaded_at: float
    last_used: float
    last_used_mono: float
    uses: int = 0


class ModelCache:
    """Least-recently-used cache of loaded models under `budget_bytes` (loads are serialised)."""

    def __init__(
        self,
        budget_bytes: int,
        *,
        metrics: WorkerMetrics,
        is_out_of_memory: Callable[[BaseException], bool],
        release_memory: Callable[[], None],
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be positive, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._metrics = metrics
        self._is_oom = is_out_of_memory
        self._release = release_memory
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._entries: dict[tuple[ModelKind, str], _Entry] = {}

    def acquire(self, kind: ModelKind, name: str, load: Callable[[], M], *, estimate_bytes: int = 0) -> M:
        """The loaded model `name`, loading it with `load()` first if needed (making room under the budget)."""
        with self._load_lock:
            cached = self._touch(kind, name)
            if cached is not None:
                return cached  # type: ignore[return-value]  # entries hold any model; this key was loaded by a load() -> M
            self._make_room(estimate_bytes)
            started = time.perf_counter()
            model = self._load(kind, name, load)
            seconds = time.perf_counter() - started
            size = max(0, int(model.memory_bytes()))
            now, mono = time.time(), time.monotonic()
            with self._lock:
                self._entries[(kind, name)] = _Entry(kind, name, model, size, seconds, now, now, mono, uses=1)
            self._metrics.model_loaded(kind, name, seconds)
            log.info("loaded %s %s on %s in %.2f s (%.1f MB)", kind, name, model.device, seconds, size / 1e6)
            self._make_room(0, keep=(kind, name))
            return model

    def is_loaded(self, kind: ModelKind, name: str) -> bool:
        with self._lock:
            return (kind, name) in self._entries

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: e.last_used_mono, reverse=True)
            return [
                LoadedModel(
                    name=e.name,
                    kind=e.kind,
                    device=e.model.device,
                    memory_bytes=e.memory_bytes,
                    load_seconds=round(e.load_seconds, 4),
                    loaded_at=e.loaded_at,
                    last_used=e.last_used,
                    uses=e.uses,
                )
                for e in entries
            ]

    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.memory_bytes for e in self._entries.values())

    def unload(self, kind: ModelKind, name: str) -> bool:
        """Close one model now (a Ray replica's multiplex LRU evicting it); False when it was not loaded."""
        with self._lock:
            entry = self._entries.pop((kind, name), None)
        if entry is None:
            return False
        self._close(entry)
        return True

    def close_all(self) -> None:
        """Close every model, then give the memory back to the device once."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        try:
            for entry in entries:
                entry.model.close()
        finally:
            if entries:
                self._release()

    # ---- internals -------------------------------------------------------------------------------------
    def _touch(self, kind: ModelKind, name: str) -> CachedModel | None:
        with self._lock:
            entry = self._entries.get((kind, name))
            if entry is None:
                return None
            entry.last_used, entry.last_used_mono = time.time(), time.monotonic()
            entry.uses += 1
            return entry.model

    def _load(self, kind: ModelKind, name: str, load: Callable[[], M]) -> M:
        """Run the loader; on out-of-memory with other models loaded, unload them all and try once more."""
        try:
            return load()
        except Exception as exc:
            if not (self._is_oom(exc) and self.used_bytes() > 0):
                self._raise_load_error(kind, name, exc)
            log.warning("out of memory loading %s %s; unloading the other models and retrying", kind, name)
        self.close_all()
        try:
            return load()
        except Exception as exc:
            self._raise_load_error(kind, name, exc)

    def _raise_load_error(self, kind: ModelKind, name: str, exc: Exception) -> NoReturn:
        error = self._load_error(kind, name, exc)
        if error is exc:
            raise exc
        raise error from exc

    def _load_error(self, kind: ModelKind, name: str, exc: Exception) -> ProductshotError:
        """The error jobs see: the loader's own ProductshotError, else one naming the model and the cause."""
        self._metrics.model_load_failed(kind, name)
        if isinstance(exc, ProductshotError):
            return exc
        if self._is_oom(exc):
            return DeviceOutOfMemoryError(
                f"model {name!r} does not fit in the device's memory with the other models unloaded; "
                "use a smaller model, one with CPU offload, or a device with more memory"
            )
        return ModelError(f"model {name!r} failed to load: {type(exc).__name__}: {exc}")

    def _make_room(self, incoming_bytes: int, *, keep: tuple[ModelKind, str] | None = None) -> None:
        """Close least recently used models until the loaded ones plus `incoming_bytes` fit the budget."""
        while True:
            with self._lock:
                used = sum(e.memory_bytes for e in self._entries.values())
                if used + incoming_bytes <= self.budget_bytes:
                    return
                candidates = [e for key, e in self._entries.items() if key != keep]
                if not candidates:
                    return
                victim = min(candidates, key=lambda e: e.last_used_mono)
                del self._entries[(victim.kind, victim.name)]
            log.info(
                "unloading %s %s (%.1f MB) to stay under the %.1f GB memory budget",
                victim.kind,
                victim.name,
                victim.memory_bytes / 1e6,
                self.budget_bytes / 1024**3,
            )
            self._metrics.model_evicted(victim.kind, victim.name)
            self._close(victim)

    def _close(self, entry: _Entry) -> None:
        try:
            entry.model.close()
        finally:
            self._release()


__all__ = ["CachedModel", "ModelCache", "ModelKind"]
