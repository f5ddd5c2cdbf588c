"""Counters and histograms the worker keeps, rendered in Prometheus text format (version 0.0.4) by hand.

Counting lives here; gauges that describe the present (queue depth, loaded models, device memory) are read
from the runtime at scrape time and passed to `render`, so they can never drift from the truth.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from productshot.server.worker.schemas import JobInfo

PREFIX = "productshot_worker_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    """One gauge value read at scrape time."""

    name: str
    help: str
    value: float
    labels: Labels = ()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Labels = ()) -> str:
    pairs = (*labels, *extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape(val)}"' for key, val in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1

    def lines(self, name: str, labels: Labels) -> list[str]:
        out = [
            f"{name}_bucket{_labels(labels, (('le', _number(bound)),))} {count}"
            for bound, count in zip(self.buckets, self.counts, strict=True)
        ]
        out.append(f"{name}_bucket{_labels(labels, (('le', '+Inf'),))} {self.total}")
        out.append(f"{name}_sum{_labels(labels)} {_number(self.sum)}")
        out.append(f"{name}_count{_labels(labels)} {self.total}")
        return out


class WorkerMetrics:
    """Thread-safe counters and histograms of what the worker has done since it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}

    # ---- recording -------------------------------------------------------------------------------------
    def job_changed(self, info: JobInfo) -> None:
        """Job-table listener: count finished jobs and time them (each job finishes exactly once)."""
        if not info.terminal:
            return
        labels: Labels = (("type", info.type),)
        self._inc("jobs_finished_total", (*labels, ("status", info.status.value)))
        if info.timings.queue_seconds is not None:
            self._observe("job_queue_seconds", labels, info.timings.queue_seconds, _SECONDS_BUCKETS)
        if info.timings.run_seconds is not None:
            self._observe("job_run_seconds", labels, info.timings.run_seconds, _SECONDS_BUCKETS)

    def submitted(self, job_type: str) -> None:
        self._inc("jobs_submitted_total", (("type", job_type),))

    def rejected(self, reason: str) -> None:
        self._inc("jobs_rejected_total", (("reason", reason),))

    def batch_ran(self, job_type: str, size: int) -> None:
        self._observe("batch_size", (("type", job_type),), float(size), _BATCH_BUCKETS)

    def oom_retry(self, model: str) -> None:
        self._inc("oom_retries_total", (("model", model),))

    def model_loaded(self, kind: str, model: str, seconds: float) -> None:
        self._observe("model_load_seconds", (("kind", kind), ("model", model)), seconds, _SECONDS_BUCKETS)

    def model_load_failed(self, kind: str, model: str) -> None:
        self._inc("model_load_failures_total", (("kind", kind), ("model", model)))

    def model_evicted(self, kind: str, model: str) -> None:
        self._inc("model_evictions_total", (("kind", kind), ("model", model)))

    def counter(self, name: str, labels: Labels) -> float:
        """The current value of one counter (0 when it was never incremented)."""
        with self._lock:
            return self._counters.get(name, {}).get(labels, 0.0)

    def _inc(self, name: str, labels: Labels, amount: float = 1.0) -> None:
        with self._lock:
            family = self._counters.setdefault(name, {})
            family[labels] = family.get(labels, 0.0) + amount

    def _observe(self, name: str, labels: Labels, value: float, buckets: Sequence[float]) -> None:
        with self._lock:
            family = self._histograms.setdefault(name, {})
            family.setdefault(labels, _Histogram(buckets)).observe(value)

    # ---- rendering -------------------------------------------------------------------------------------
    def render(self, gauges: Iterable[Sample]) -> str:
        """The whole exposition: counters, histograms, then the gauges read just now."""
        lines: list[str] = []
        with self._lock:
            for name, family in sorted(self._counters.items()):
                full = PREFIX + name
                lines += [f"# HELP {full} {_HELP.get(name, name)}", f"# TYPE {full} counter"]
                lines += [
                    f"{full}{_labels(labels)} {_number(value)}" for labels, value in sorted(family.items())
                ]
            for name, histograms in sorted(self._histograms.items()):
                full = PREFIX + name
                lines += [f"# HELP {full} {_HELP.get(name, name)}", f"# TYPE {full} histogram"]
                for labels, histogram in sorted(histograms.items()):
                    lines += histogram.lines(full, labels)
        by_name: dict[str, list[Sample]] = {}
        for sample in gauges:
            by_name.setdefault(sample.name, []).append(sample)
        for name, samples in by_name.items():
            full = PREFIX + name
            lines += [f"# HELP {full} {samples[0].help}", f"# TYPE {full} gauge"]
            lines += [f"{full}{_labels(sample.labels)} {_number(sample.value)}" for sample in samples]
        return "\n".join(lines) + "\n"


_HELP = {
    "jobs_submitted_total": "Jobs accepted into the queue, by type.",
    "jobs_finished_total": "Jobs that reached a final state, by type and status.",
    "jobs_rejected_total": "Job submissions refused, by reason (queue_full, shutting_down).",
    "job_queue_seconds": "Seconds jobs waited in the queue.",
    "job_run_seconds": "Seconds from leaving the queue to finishing (model loading included).",
    "batch_size": "Jobs per device call.",
    "oom_retries_total": "Batches retried one job at a time after the device ran out of memory.",
    "model_load_seconds": "Seconds to load a model onto its device.",
    "model_load_failures_total": "Model loads that failed.",
    "model_evictions_total": "Models unloaded to stay under the memory budget.",
}

__all__ = ["CONTENT_TYPE", "Sample", "WorkerMetrics"]
