"""The resident worker as a real process on a free port: concurrent clients, seeds under batching, cancel,
timeouts, out-of-memory fallback, a corrupt model, any size, the CLI, a full queue, `kill -9` and restart,
racing auto-starts and the idle timeout.

Models: the studio generator, tiny random-weight diffusers pipelines (tests/support/tiny_pipelines.py) and
the faulty test plugin (tests/support/faulty_plugin.py), which fails like a GPU on demand.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from PIL import Image

from productshot.errors import (
    DeviceOutOfMemoryError,
    JobCancelledError,
    JobTimeoutError,
    ModelError,
    WorkerUnavailableError,
)
from productshot.models.generators import GenerateSpec
from productshot.server.worker.client import WorkerClient
from productshot.server.worker.lifecycle import ensure_worker, read_record, worker_lock_held
from productshot.server.worker.schemas import JobState
from productshot.settings import Settings
from tests.support.faulty_plugin import noise_image
from tests.support.prometheus import value
from tests.support.tiny_pipelines import copy_tiny_model, tiny_model_dir
from tests.support.waiting import wait_until
from tests.support.worker_proc import (
    FAULTY_PLUGIN,
    REPO_ROOT,
    WorkerProcess,
    start_worker,
    wait_for_health,
    worker_settings,
)

pytestmark = pytest.mark.slow

SMALL = {"width": 128, "height": 96}


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker shared by the tests that leave it healthy (every one of them checks that)."""
    home = tmp_path_factory.mktemp("worker-home")
    process = start_worker(worker_settings(home, plugins=[FAULTY_PLUGIN]))
    yield process
    assert process.stop() == 0, process.log_text()[-3000:]


@pytest.fixture
def client(worker: WorkerProcess) -> Iterator[WorkerClient]:
    with worker.client() as opened:
        yield opened
    assert opened_health(worker) == "ok"


def opened_health(worker: WorkerProcess) -> str:
    return str(_health(worker)["status"])


def occupy(client: WorkerClient, steps: int) -> str:
    """Put a slow job on the device (0.1 s a step) and return once it runs, so later jobs queue up."""
    job_id = client.submit_generate("slow", model="faulty-slow", steps=steps, **SMALL).job_id
    for _ in range(500):
        if client.job(job_id).status is JobState.RUNNING:
            return job_id
        time.sleep(0.01)
    raise AssertionError("the slow job never started")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def read_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return pixels(image)


def cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productshot", *args],
        cwd=REPO_ROOT,
        env=settings.child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ---- one shared worker ------------------------------------------------------------------------------------
def test_twenty_jobs_from_four_concurrent_clients_all_complete(worker: WorkerProcess) -> None:
    results: dict[int, tuple[str, np.ndarray]] = {}
    failures: list[BaseException] = []

    def client_thread(index: int) -> None:
        try:
            with worker.client() as own:
                for n in range(5):
                    seed = index * 100 + n
                    result = own.generate("simple beach", model="studio", seed=seed, **SMALL)
                    results[seed] = (result.job_id, pixels(result.image))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(results) == 20 and len({job_id for job_id, _ in results.values()}) == 20
    images = [image for _, image in results.values()]
    assert all(image.shape == (96, 128, 3) for image in images)
    assert len({image.tobytes() for image in images}) == 20  # twenty seeds, twenty different images
    assert opened_health(worker) == "ok"


@pytest.mark.parametrize("kind", ["sd"])
def test_same_seed_same_pixels_even_when_batched_and_different_seeds_differ(
    client: WorkerClient, kind: str
) -> None:
    model = str(tiny_model_dir(kind))
    ask = {"model": model, "width": 64, "height": 64, "steps": 2}
    alone = client.generate("a sandy beach", seed=11, **ask)
    assert alone.info.batch_size == 1 and alone.backend == f"tiny-{kind}"
    blocker = occupy(client, steps=150)
    handles = [client.submit_generate("a sandy beach", seed=seed, **ask) for seed in (11, 12, 11)]
    client.cancel(blocker)  # the three queued jobs now run as one batch
    infos = [client.wait(handle.job_id) for handle in handles]
    assert [info.batch_size for info in infos] == [3, 3, 3]
    first, second, third = (result_pixels(client, h.job_id) for h in handles)
    assert np.array_equal(first, pixels(alone.image)) and np.array_equal(third, first)
    assert not np.array_equal(second, first)


def result_pixels(client: WorkerClient, job_id: str) -> np.ndarray:
    with Image.open(io.BytesIO(client.result_png(job_id))) as image:
        return pixels(image)


def test_cancel_removes_a_queued_job_and_stops_a_running_one(client: WorkerClient) -> None:
    running = occupy(client, steps=100)
    queued = client.submit_generate("later", model="faulty-slow", steps=1, **SMALL).job_id
    info = client.cancel(queued)
    assert info.status is JobState.CANCELLED and info.timings.started_at is None
    assert client.cancel(running).status is JobState.CANCELLED
    with pytest.raises(JobCancelledError, match=f"job {running} was cancelled"):
        client.wait(running)
    after = client.generate("white studio", model="studio", **SMALL)  # the device is free again
    assert after.backend == "studio"
    assert client.job(running).progress.step < 100, "the running job stopped between steps"


def test_a_job_past_its_timeout_fails_and_its_batch_stops(client: WorkerClient) -> None:
    handle = client.submit_generate("slow", model="faulty-slow", steps=100, timeout_s=0.5, **SMALL)
    with pytest.raises(JobTimeoutError, match=r"timeout_s of 0\.5 s"):
        client.wait(handle.job_id)
    info = client.job(handle.job_id)
    assert info.status is JobState.FAILED and info.error is not None and info.error.error == "timeout"
    assert info.progress.step < 100


def test_out_of_memory_retries_the_batch_one_by_one_then_fails_clearly(
    worker: WorkerProcess, client: WorkerClient
) -> None:
    blocker = occupy(client, steps=150)
    handles = [
        client.submit_generate("p", model="faulty-oom-batch", seed=seed, **SMALL) for seed in (1, 2, 3)
    ]
    client.cancel(blocker)  # the three queued jobs now run as one batch, which runs out of memory
    infos = [client.wait(handle.job_id) for handle in handles]
    assert [info.status for info in infos] == [JobState.DONE] * 3 and [i.batch_size for i in infos] == [
        1,
        1,
        1,
    ]
    for seed, handle in zip((1, 2, 3), handles, strict=True):
        expected = noise_image(GenerateSpec("p", "", SMALL["width"], SMALL["height"], seed=seed))
        assert np.array_equal(result_pixels(client, handle.job_id), pixels(expected))
    scraped = httpx.get(f"{worker.url}/metrics", timeout=5)  # real HTTP, read by prometheus_client's parser
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert value(scraped.text, "productshot_worker_oom_retries_total", model="faulty-oom-batch") == 1

    with pytest.raises(DeviceOutOfMemoryError, match="even at batch size 1"):
        client.generate("p", model="faulty-oom-always", **SMALL)
    assert client.health().status == "ok"


def test_a_corrupt_model_folder_fails_its_jobs_and_the_worker_serves_on(
    client: WorkerClient, tmp_path: Path
) -> None:
    broken = copy_tiny_model("sd", tmp_path / "broken-sd")
    weights = next((broken / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ModelError, match=r"broken-sd.*safetensors"):
        client.generate("a beach", model=str(broken), width=64, height=64, steps=1)
    assert client.generate("a beach", model="studio", **SMALL).backend == "studio"
    good = client.generate("a beach", model=str(tiny_model_dir("sd")), width=64, height=64, steps=1)
    assert good.backend == "tiny-sd"
    assert str(broken) not in [model.name for model in client.models().loaded]


def test_any_size_from_64_to_4096_is_served(client: WorkerClient) -> None:
    for width, height in [(64, 64), (4096, 64), (64, 4096), (1000, 333)]:
        result = client.generate("white marble", model="studio", width=width, height=height, seed=1)
        assert result.image.size == (width, height) and (result.width, result.height) == (width, height)
    big = client.generate("a beach", model=str(tiny_model_dir("sd")), width=4096, height=4096, steps=1)
    assert big.image.size == (4096, 4096)


def test_cli_generate_through_the_worker_and_in_process(worker: WorkerProcess, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    done = cli(worker.settings, "generate", "simple beach", "--model", "studio", "-W", "320", "-H", "240",
               "--seed", "3", "-o", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)  # stdout holds the JSON object and nothing else
    assert {"path", "backend", "seed", "seconds", "width", "height", "model", "job_id"} <= set(payload)
    assert (payload["backend"], payload["seed"], payload["width"], payload["height"]) == (
        "studio",
        3,
        320,
        240,
    )
    assert Path(payload["path"]) == out and read_pixels(out).shape == (240, 320, 3)
    with worker.client() as own:
        same = own.generate("simple beach", model="studio", width=320, height=240, seed=3)
        assert np.array_equal(read_pixels(out), pixels(same.image))

    offline = worker_settings(tmp_path / "no-worker-home")  # nothing listens on its port; auto-start is off
    local_out = tmp_path / "local.png"
    local = cli(offline, "generate", "simple beach", "--model", "studio", "-W", "320", "-H", "240",
                "--seed", "3", "-o", str(local_out), "--local", "--json")  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["backend"] == "studio"
    assert np.array_equal(read_pixels(local_out), read_pixels(out))

    unreachable = cli(offline, "generate", "simple beach", "-o", str(tmp_path / "x.png"))
    assert unreachable.returncode == 3 and "not answering" in unreachable.stderr  # not the user's input
    assert "PRODUCTSHOT_WORKER_AUTOSTART" in unreachable.stderr
    too_wide = cli(worker.settings, "generate", "beach", "-W", "5000", "-o", str(tmp_path / "y.png"))
    assert too_wide.returncode == 2 and "width" in too_wide.stderr and len(too_wide.stderr.splitlines()) == 1
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


# ---- workers of their own ---------------------------------------------------------------------------------
def test_full_queue_then_kill_9_then_restart_then_cli_status_and_stop(tmp_path: Path) -> None:
    settings = worker_settings(tmp_path / "home", plugins=[FAULTY_PLUGIN])
    first = start_worker(settings, args=["--queue-size", "2"])
    try:
        with first.client(queue_wait_s=60) as own:
            blocker = occupy(own, steps=150)
            for _ in range(2):
                own.submit_generate("queued", model="faulty-slow", steps=1, **SMALL)
            refused = httpx.post(
                f"{first.url}/jobs", json={"type": "generate", "model": "studio", "prompt": "x"}
            )
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error"] == "queue_full"
            results: list[object] = []
            retrying = threading.Thread(
                target=lambda: results.append(own.generate("simple beach", model="studio", **SMALL))
            )
            retrying.start()
            wait_until(  # the client's own first try met the full queue too
                lambda: _rejected(first) >= 2, what="two submissions refused", every=0.05
            )
            own.cancel(blocker)  # room again: its retry after Retry-After gets through
            retrying.join(timeout=60)
            assert len(results) == 1 and getattr(results[0], "backend", None) == "studio"

            job_id = occupy(own, steps=150)
            following: list[BaseException] = []  # a client following the running job's events
            polling: list[BaseException] = []  # a client long-polling a job queued behind it
            waiters = [
                threading.Thread(target=_capture, args=(lambda: own.wait(job_id), following)),
                threading.Thread(target=_capture, args=(lambda: _other_client_generates(first), polling)),
            ]
            for waiter in waiters:
                waiter.start()
            wait_until(  # the polling client's job waits behind the slow one
                lambda: _health(first)["queue_depth"] >= 1, what="a job queued", every=0.02
            )
            time.sleep(0.5)  # and the follower, started first, is reading the running job's events
            first.kill()
            for waiter in waiters:
                waiter.join(timeout=30)
        for outcome in (following, polling):
            assert len(outcome) == 1 and isinstance(outcome[0], WorkerUnavailableError), outcome
            assert "stopped answering while job" in str(outcome[0]) and "submit it again" in str(outcome[0])
        assert f"job {job_id}" in str(following[0])
        with first.client() as late, pytest.raises(WorkerUnavailableError, match="is not answering"):
            late.health()
    finally:
        first.stop()

    second = start_worker(settings, args=["--preload", "studio"])
    try:
        with second.client() as own:
            for _ in range(100):  # --preload loads on the executor while the worker already answers
                if own.health().loaded_models == ["studio"]:
                    break
                time.sleep(0.05)
            assert own.health().loaded_models == ["studio"]
            assert own.generate("white studio", model="studio", **SMALL).backend == "studio"
        record = read_record(settings)
        assert record is not None and record.pid == second.pid
        status = cli(settings, "worker", "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["running"] is True and json.loads(status.stdout)["pid"] == second.pid
        stop = cli(settings, "worker", "stop")
        assert stop.returncode == 0 and "stopped the worker" in stop.stdout, stop.stderr
        assert second.proc.wait(timeout=30) == 0
        assert read_record(settings) is None and not worker_lock_held(settings)
        after = cli(settings, "worker", "status")
        assert after.returncode == 1 and "no worker is running" in after.stdout
    finally:
        second.stop()


def _health(worker: WorkerProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{worker.url}/health", timeout=5).json())


def _rejected(worker: WorkerProcess) -> float:
    """How many submissions the worker's metrics count as refused for a full queue."""
    text = httpx.get(f"{worker.url}/metrics", timeout=5).text
    return value(text, "productshot_worker_jobs_rejected_total", reason="queue_full") or 0.0


def _capture(action: Callable[[], object], outcome: list[BaseException]) -> None:
    try:
        action()
    except BaseException as exc:
        outcome.append(exc)


def _other_client_generates(worker: WorkerProcess) -> None:
    with worker.client() as other:
        other.generate("queued behind", model="studio", **SMALL)


def test_two_auto_starts_at_once_leave_one_detached_worker_that_idles_out(tmp_path: Path) -> None:
    settings = worker_settings(tmp_path / "home", autostart=True)
    urls: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            urls.append(ensure_worker(settings, idle_timeout_s=12.0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert not errors and urls == [settings.worker_url] * 2
    workers = _workers_of(settings.home)
    assert len(workers) == 1, [p.cmdline() for p in workers]
    process = workers[0]
    record = read_record(settings)
    assert record is not None and record.pid == process.pid and record.autostarted
    assert os.getsid(process.pid) == process.pid  # its own session: no terminal, no signals from ours
    if sys.platform.startswith("linux"):
        log_file = str(settings.logs_dir / "worker.log")
        assert os.readlink(f"/proc/{process.pid}/fd/0") == os.devnull
        assert os.readlink(f"/proc/{process.pid}/fd/1") == log_file
        assert os.readlink(f"/proc/{process.pid}/fd/2") == log_file
    wait_for_health(settings.worker_url, None, settings.logs_dir / "worker.log", timeout=5)

    process.wait(timeout=40)  # the idle timeout ends it
    assert read_record(settings) is None and not worker_lock_held(settings)
    assert "idle timeout is up" in (settings.logs_dir / "worker.log").read_text(encoding="utf-8")


def _workers_of(home: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "worker" in cmdline and "--autostarted" in cmdline:
            try:
                if Path(process.cwd()) == home:
                    found.append(process)
            except psutil.Error:
                continue
    return found
