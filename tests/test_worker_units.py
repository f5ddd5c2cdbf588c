"""The worker's parts on their own: config rules, the job table's state machine, the model cache's LRU
budget, and the Prometheus text it renders. No processes, no HTTP: these run in milliseconds."""

from __future__ import annotations

import io
from concurrent.futures import Future

import pytest
from PIL import Image

from productshot.errors import BadRequestError, DeviceOutOfMemoryError, ModelError, NotFoundError
from productshot.server.worker.config import WorkerConfig, is_local_host
from productshot.server.worker.jobs import Job, JobOutput, JobTable, encode_png
from productshot.server.worker.metrics import Sample, WorkerMetrics
from productshot.server.worker.models_cache import ModelCache
from productshot.server.worker.schemas import ErrorBody, JobState
from tests.support.prometheus import scrape, value


# ---- config --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
def test_loopback_hosts_are_local(host: str) -> None:
    assert is_local_host(host)
    WorkerConfig(host=host)  # no token needed


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_a_non_local_host_needs_a_token(host: str) -> None:
    assert not is_local_host(host)
    with pytest.raises(BadRequestError, match=r"--host .* PRODUCTSHOT_WORKER_TOKEN"):
        WorkerConfig(host=host)
    assert WorkerConfig(host=host, token="s3cret").url.endswith(":8765")


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [("queue_size", 0, "--queue-size"), ("max_batch", 0, "--max-batch"), ("port", 70000, "--port")],
)
def test_config_limits_name_the_flag(field: str, value: int, flag: str) -> None:
    with pytest.raises(BadRequestError, match=flag):
        WorkerConfig(**{field: value})


# ---- job table ------------------------------------------------------------------------------------------
class _Task:
    batch_key = ("k",)


def _job() -> Job:
    return Job(type="generate", model="studio", task=_Task(), timeout_s=5.0, steps_total=4)


def _encoded(image: Image.Image) -> Future[bytes]:
    done: Future[bytes] = Future()
    done.set_result(encode_png(image))
    return done


def _table(max_kept: int = 10, max_result_bytes: int = 10**9) -> JobTable:
    return JobTable(result_ttl_s=60, max_kept=max_kept, max_result_bytes=max_result_bytes, encode=_encoded)


def _output() -> JobOutput:
    return JobOutput(image=Image.new("RGB", (8, 8)), backend="studio", seconds=0.1)


def test_a_cancelled_job_stays_cancelled_when_its_batch_returns() -> None:
    table = _table()
    job = _job()
    table.add(job)
    assert table.start([job.id], batch_size=1) == [job.id]
    assert table.cancel(job.id, "stop") is JobState.RUNNING
    assert table.finish(job.id, _output()) is False
    info = table.info(job.id)
    assert info.status is JobState.CANCELLED
    assert info.error == ErrorBody(error="cancelled", message="stop")
    assert info.result_available is False


def test_progress_deadlines_and_results_follow_the_job() -> None:
    table = _table()
    seen: list[tuple[str, int]] = []
    table.subscribe(lambda info: seen.append((info.status.value, info.progress.step)))
    job = _job()
    table.add(job)
    table.start([job.id], batch_size=2)
    table.arm_deadlines([job.id], batch_size=2)
    table.progress([job.id], 2, 4)
    assert table.expired(float("inf")) == [job.id]
    assert table.finish(job.id, _output())
    info, output, png = table.result(job.id)
    assert info.status is JobState.DONE and info.progress.step == 4
    with Image.open(io.BytesIO(png.result())) as decoded:
        assert decoded.size == output.image.size == (8, 8)
    assert seen == [("queued", 0), ("running", 0), ("running", 2), ("done", 4)]
    assert table.expired(float("inf")) == []


def test_finished_jobs_beyond_the_limit_are_forgotten_oldest_first() -> None:
    table = _table(max_kept=2)
    jobs = [_job() for _ in range(4)]
    for job in jobs:
        table.add(job)
        table.cancel(job.id, "done with it")
    table.prune()
    known = [job.id for job in jobs if _known(table, job.id)]
    assert known == [jobs[2].id, jobs[3].id]


def test_the_oldest_images_are_dropped_past_the_result_memory_limit() -> None:
    one_image = 8 * 8 * 3 + len(encode_png(Image.new("RGB", (8, 8))))
    table = _table(max_result_bytes=2 * one_image)
    jobs = [_job() for _ in range(3)]
    for job in jobs:
        table.add(job)
        table.start([job.id], batch_size=1)
        table.finish(job.id, _output())
    table.prune()
    with pytest.raises(NotFoundError, match="discarded to keep the worker's memory bounded"):
        table.result(jobs[0].id)
    assert table.info(jobs[0].id).backend == "studio"  # the record stays, only the image went
    assert all(table.result(job.id)[1].image.size == (8, 8) for job in jobs[1:])


def _known(table: JobTable, job_id: str) -> bool:
    try:
        table.info(job_id)
    except Exception:
        return False
    return True


# ---- model cache ----------------------------------------------------------------------------------------
class _Blob:
    """A loaded 'model' that really holds `size` bytes, and records being closed."""

    device = "cpu"

    def __init__(self, size: int) -> None:
        self.data: bytearray | None = bytearray(size)
        self.closed = False

    def memory_bytes(self) -> int:
        return len(self.data or b"")

    def close(self) -> None:
        self.data = None
        self.closed = True


def _cache(budget: int) -> ModelCache:
    return ModelCache(
        budget,
        metrics=WorkerMetrics(),
        is_out_of_memory=lambda exc: "out of memory" in str(exc),
        release_memory=lambda: None,
    )


def test_least_recently_used_models_are_unloaded_to_stay_under_the_budget() -> None:
    cache = _cache(1000)
    a = cache.acquire("generator", "a", lambda: _Blob(400))
    b = cache.acquire("generator", "b", lambda: _Blob(400))
    assert cache.acquire("generator", "a", lambda: _Blob(999)) is a  # reused, and now the most recent
    c = cache.acquire("generator", "c", lambda: _Blob(400), estimate_bytes=400)
    assert b.closed and not a.closed and not c.closed
    assert [m.name for m in cache.loaded()] == ["c", "a"]
    assert cache.used_bytes() == 800


def test_unload_closes_one_model_and_says_when_there_was_none() -> None:
    """What a Ray replica's multiplex LRU calls when it evicts a model: that model's memory goes now."""
    cache = _cache(1000)
    a = cache.acquire("generator", "a", lambda: _Blob(300))
    b = cache.acquire("generator", "b", lambda: _Blob(300))
    assert cache.unload("generator", "a") is True
    assert a.closed and not b.closed and [m.name for m in cache.loaded()] == ["b"]
    assert cache.unload("generator", "a") is False and cache.used_bytes() == 300


def test_a_model_that_fails_to_load_leaves_the_cache_as_it_was() -> None:
    cache = _cache(1000)
    kept = cache.acquire("generator", "good", lambda: _Blob(100))

    def broken() -> _Blob:
        raise OSError("unexpected end of file in unet/diffusion_pytorch_model.safetensors")

    with pytest.raises(ModelError, match=r"model 'bad' failed to load: OSError: unexpected end of file"):
        cache.acquire("generator", "bad", broken)
    assert [m.name for m in cache.loaded()] == ["good"] and not kept.closed


def test_out_of_memory_while_loading_unloads_the_others_and_retries_once() -> None:
    cache = _cache(10_000)
    other = cache.acquire("generator", "other", lambda: _Blob(100))
    attempts: list[int] = []

    def big() -> _Blob:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return _Blob(500)

    cache.acquire("generator", "big", big)
    assert len(attempts) == 2 and other.closed
    assert [m.name for m in cache.loaded()] == ["big"]

    def never_fits() -> _Blob:
        raise RuntimeError("CUDA out of memory. Tried to allocate 80.00 GiB")

    with pytest.raises(DeviceOutOfMemoryError, match="does not fit"):
        cache.acquire("generator", "huge", never_fits)


# ---- metrics ---------------------------------------------------------------------------------------------
def test_metrics_render_prometheus_text_a_scraper_parses() -> None:
    metrics = WorkerMetrics()
    metrics.submitted("generate")
    metrics.rejected("queue_full")
    metrics.model_loaded("generator", 'odd "name"\\x', 1.5)
    metrics.batch_ran("generate", 3)
    text = metrics.render([Sample("queue_depth", "Jobs waiting.", 2), Sample("loaded_models", "Models.", 1)])
    found = scrape(text)  # prometheus_client's own parser: raises on malformed text
    assert value(text, "productshot_worker_jobs_rejected_total", reason="queue_full") == 1
    assert value(text, "productshot_worker_batch_size_bucket", type="generate", le="4.0") == 1
    assert value(text, "productshot_worker_batch_size_bucket", type="generate", le="2.0") == 0
    assert (
        value(text, "productshot_worker_model_load_seconds_sum", kind="generator", model='odd "name"\\x')
        == 1.5
    )
    assert (
        value(text, "productshot_worker_queue_depth") == 2
        and value(text, "productshot_worker_loaded_models") == 1
    )
    assert "# TYPE productshot_worker_queue_depth gauge" in text
    assert not [name for name in found if name.endswith("_created")]  # the worker's names, nothing added
    assert metrics.counter("jobs_rejected_total", (("reason", "queue_full"),)) == 1
    assert metrics.counter("jobs_rejected_total", (("reason", "shutting_down"),)) == 0


def test_each_worker_counts_in_its_own_registry() -> None:
    """Two workers in one process (tests, the Ray replicas) never share a number; the global registry is untouched."""
    import prometheus_client

    first, second = WorkerMetrics(), WorkerMetrics()
    first.submitted("generate")
    assert value(first.render([]), "productshot_worker_jobs_submitted_total", type="generate") == 1
    assert value(second.render([]), "productshot_worker_jobs_submitted_total", type="generate") is None
    assert not [m.name for m in prometheus_client.REGISTRY.collect() if m.name.startswith("productshot_")]
