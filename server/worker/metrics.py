"""Counters and histograms the worker keeps, exposed in Prometheus text format (version 0.0.4).

prometheus_client does the counting and the text; each `WorkerMetrics` has its own `CollectorRegistry`, so
two workers (or a worker and its tests) in one process never share a number. Gauges that describe the
present (queue depth, loaded models, device memory) are read from the runtime at scrape time and passed to
`render`, so they can never drift from the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from productshot.server.worker.schemas import JobInfo

PREFIX = "productshot_worker_"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)

Labels = tuple[tuple[str, str], ...]

# name (without PREFIX) → (help, label names)
_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jobs_submitted_total": ("Jobs accepted into the queue, by type.", ("type",)),
    "jobs_finished_total": ("Jobs that reached a final state, by type and status.", ("type", "status")),
    "jobs_rejected_total": ("Job submissions refused, by reason (queue_full, shutting_down).", ("reason",)),
    "oom_retries_total": (
        "Batches retried one job at a time after the device ran out of memory.",
        ("model",),
    ),
    "model_load_failures_total": ("Model loads that failed.", ("kind", "model")),
    "model_evictions_total": ("Models unloaded to stay under the memory budget.", ("kind", "model")),
}
# name (without PREFIX) → (help, label names, bucket bounds)
_HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "job_queue_seconds": ("Seconds jobs waited in the queue.", ("type",), _SECONDS_BUCKETS),
    "job_run_seconds": (
        "Seconds from leaving the queue to finishing (model loading included).",
        ("type",),
        _SECONDS_BUCKETS,
    ),
    "batch_size": ("Jobs per device call.", ("type",), _BATCH_BUCKETS),
    "model_load_seconds": ("Seconds to load a model onto its device.", ("kind", "model"), _SECONDS_BUCKETS),
}


@dataclass(frozen=True)
class Sample:
    """One gauge value read at scrape time."""

    name: str
    help: str
    value: float
    labels: Labels = ()


class WorkerMetrics:
    """Thread-safe counters and histograms of what the worker has done since it started (its own registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {
            name: Counter(PREFIX + name, help_text, labels, registry=self.registry)
            for name, (help_text, labels) in _COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(PREFIX + name, help_text, labels, buckets=buckets, registry=self.registry)
            for name, (help_text, labels, buckets) in _HISTOGRAMS.items()
        }

    # ---- recording -------------------------------------------------------------------------------------
    def job_changed(self, info: JobInfo) -> None:
        """Job-table listener: count finished jobs and time them (each job finishes exactly once)."""
        if not info.terminal:
            return
        self._counters["jobs_finished_total"].labels(info.type, info.status.value).inc()
        if info.timings.queue_seconds is not None:
            self._histograms["job_queue_seconds"].labels(info.type).observe(info.timings.queue_seconds)
        if info.timings.run_seconds is not None:
            self._histograms["job_run_seconds"].labels(info.type).observe(info.timings.run_seconds)

    def submitted(self, job_type: str) -> None:
        self._counters["jobs_submitted_total"].labels(job_type).inc()

    def rejected(self, reason: str) -> None:
        self._counters["jobs_rejected_total"].labels(reason).inc()

    def batch_ran(self, job_type: str, size: int) -> None:
        self._histograms["batch_size"].labels(job_type).observe(float(size))

    def oom_retry(self, model: str) -> None:
        self._counters["oom_retries_total"].labels(model).inc()

    def model_loaded(self, kind: str, model: str, seconds: float) -> None:
        self._histograms["model_load_seconds"].labels(kind, model).observe(seconds)

    def model_load_failed(self, kind: str, model: str) -> None:
        self._counters["model_load_failures_total"].labels(kind, model).inc()

    def model_evicted(self, kind: str, model: str) -> None:
        self._counters["model_evictions_total"].labels(kind, model).inc()

    def counter(self, name: str, labels: Labels) -> float:
        """The current value of one counter (0 when it was never incremented)."""
        return self.registry.get_sample_value(PREFIX + name, dict(labels)) or 0.0

    # ---- rendering -------------------------------------------------------------------------------------
    def render(self, gauges: Iterable[Sample]) -> str:
        """The whole exposition: counters, histograms, then the gauges read just now."""
        return generate_latest(_Scrape(self.registry, list(gauges))).decode("utf-8")


class _Scrape:
    """One scrape: the registry's counters and histograms, then this moment's gauges.

    The `_created` timestamps prometheus_client adds are left out: the 0.0.4 text format can only show them
    as extra gauge series, and the worker's metric names stay exactly the ones it has always exposed."""

    def __init__(self, registry: CollectorRegistry, gauges: list[Sample]) -> None:
        self._registry = registry
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            family.samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            yield family
        families: dict[str, GaugeMetricFamily] = {}
        for sample in self._gauges:
            gauge = families.get(sample.name)
            if gauge is None:
                label_names = [key for key, _ in sample.labels]
                gauge = GaugeMetricFamily(PREFIX + sample.name, sample.help, labels=label_names)
                families[sample.name] = gauge
            gauge.add_metric([value for _, value in sample.labels], sample.value)
        yield from families.values()


__all__ = ["CONTENT_TYPE", "Sample", "WorkerMetrics"]
