"""Every model job an MCP call runs, recorded in the store's job table: queued, running, then done, failed
(with the reason, e.g. a worker that died mid-job) or cancelled, with its timings and the asset it made.

`RecordedServices` wraps the `ModelServices` of one call; the caller links the stored asset to the job with
`AssetStore.link_job(outcome.job_id, asset.id)`. The worker's own in-memory job table is separate: it
forgets finished jobs after a while, while these rows stay until the store's gc.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image

from productshot.errors import JobCancelledError
from productshot.server.services import CutoutOutcome, GenerateAsk, GenerateOutcome, ModelServices, ProgressFn
from productshot.store import AssetStore


class RecordedServices:
    """`ModelServices` that keep a job row per cutout or generate call (see the module docstring)."""

    def __init__(self, inner: ModelServices, store: AssetStore) -> None:
        self._inner = inner
        self._store = store

    @property
    def where(self) -> str:
        return self._inner.where

    def cutout(self, image: Image.Image, *, model: str, alpha_matting: bool = False) -> CutoutOutcome:
        params = {
            "model": model,
            "alpha_matting": alpha_matting,
            "width": image.width,
            "height": image.height,
        }
        with self._job("cutout", params) as job_id:
            outcome = self._inner.cutout(image, model=model, alpha_matting=alpha_matting)
        return dataclasses.replace(outcome, job_id=job_id)

    def generate(self, ask: GenerateAsk, *, on_progress: ProgressFn | None = None) -> GenerateOutcome:
        params = {
            "model": ask.model,
            "prompt": ask.prompt,
            "width": ask.width,
            "height": ask.height,
            "seed": ask.seed,
            "steps": ask.steps,
        }
        with self._job("generate", params) as job_id:
            outcome = self._inner.generate(ask, on_progress=on_progress)
        return dataclasses.replace(outcome, job_id=job_id)

    def close(self) -> None:
        self._inner.close()

    @contextmanager
    def _job(self, kind: str, params: dict[str, Any]) -> Iterator[str]:
        job_id = self._store.create_job(kind, {**params, "where": self.where})
        self._store.update_job(job_id, status="running")
        try:
            yield job_id
        except JobCancelledError as exc:
            self._store.update_job(job_id, status="cancelled", error=str(exc))
            raise
        except BaseException as exc:
            reason = str(exc) or type(exc).__name__
            self._store.update_job(job_id, status="failed", error=f"{type(exc).__name__}: {reason}")
            raise
        self._store.update_job(job_id, status="done")


__all__ = ["RecordedServices"]
