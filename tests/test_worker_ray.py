"""`productshot worker --engine ray`: the unchanged HTTP API and client on Ray Serve replicas.

One local Ray for the whole module (2 CPUs, no dashboard, a free port, its own temp dir, RAY_ADDRESS
cleared); the worker joins it with `--address`, as it would join a real cluster. The worker autoscales
(`--autoscale 1:2`, short Serve delays through settings), so one worker start shows both the start-up answers
and replicas going up under load and back down after it. Jobs use the faulty plugin's `faulty-slow` model
(seeded noise, 0.1 s a step, honours stop) and the real u2netp cutout.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip(
    "ray", reason="Ray Serve is not installed: pip install 'productshot[ray]'", exc_type=ImportError
)
pytest.importorskip(
    "ray.serve", reason="Ray Serve is not installed: pip install 'productshot[ray]'", exc_type=ImportError
)

import httpx
import psutil

from productshot.errors import BadRequestError, ProductshotError
from productshot.models.generators import GenerateSpec
from productshot.server.worker.client import WorkerClient
from productshot.server.worker.lifecycle import WorkerStatus, worker_status
from productshot.server.worker.ray_engine import (
    ClusterTooSmallError,
    RayOptions,
    check_capacity,
    parse_autoscale,
)
from productshot.server.worker.schemas import HealthInfo, JobState
from productshot.settings import Settings
from tests.support.faulty_plugin import noise_image
from tests.support.worker_proc import (
    FAULTY_PLUGIN,
    REPO_ROOT,
    free_port,
    worker_settings,
)

SMALL = {"width": 64, "height": 64}
START_S = 120.0  # the machine is shared and loaded: generous, and every wait ends on a condition


@dataclass
class LocalRay:
    """A `ray start --head --block` cluster of this test module, and everything it leaves to check."""

    proc: subprocess.Popen[bytes]
    address: str
    temp_dir: Path
    log: Path
    closed: bool = field(default=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.proc.poll() is None:
            self.proc.terminate()  # `ray start --block` stops the processes it started on SIGTERM
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def leftovers(self) -> list[str]:
        """Processes still running that belong to this cluster (their command line names its temp dir
        or its GCS port)."""
        port = self.address.rsplit(":", 1)[1]
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if str(self.temp_dir) in cmdline or f"--gcs-address=127.0.0.1:{port}" in cmdline:
                found.append(f"{proc.info['pid']}: {cmdline[:160]}")
        return found


# Ray 2.5x+ clusters require a token; this module's cluster gets its own, never the user's ~/.ray one.
_RAY_TOKEN = secrets.token_hex(32)
_RAY_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": _RAY_TOKEN}


def _ray_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        {
            **_RAY_AUTH,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "OMP_NUM_THREADS": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "HF_HUB_OFFLINE": "1",
        }
    )
    env.update(extra or {})
    return env


@pytest.fixture(scope="module")
def local_ray() -> Iterator[LocalRay]:
    temp_dir = Path(tempfile.mkdtemp(prefix="pst-ray-", dir="/tmp"))  # short: Ray's sockets live here
    port = free_port()
    log = temp_dir / "ray-start.log"
    command = [
        sys.executable,  # Ray's own CLI, from the interpreter that has Ray (its script may not be on PATH)
        "-c",
        "from ray.scripts.scripts import main; main()",
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        "--num-gpus=0",
        "--include-dashboard=false",
        f"--port={port}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=_ray_env(), stdout=out, stderr=subprocess.STDOUT)
    cluster = LocalRay(proc, f"127.0.0.1:{port}", temp_dir, log)
    try:
        yield cluster
    finally:
        cluster.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


@dataclass
class RayWorker:
    proc: subprocess.Popen[bytes]
    settings: Settings
    log: Path
    began: float  # time.monotonic() at launch
    # Every /health poll from launch until ready: (seconds since launch, "refused" / the status / what else).
    answers: list[tuple[float, str]] = field(default_factory=list)
    status_while_starting: WorkerStatus | None = None
    seen_replicas: set[str] = field(default_factory=set)  # every replica id /health or a job named

    def client(self, **options: float) -> WorkerClient:
        return WorkerClient(self.settings.worker_url, token=self.settings.worker_token, **options)


AUTOSCALE_ENV = {  # Serve's autoscaler, fast enough for a test (defaults: 30 s up, 600 s down, 30 s window)
    "PRODUCTSHOT_RAY_UPSCALE_DELAY_S": "0.5",
    "PRODUCTSHOT_RAY_DOWNSCALE_DELAY_S": "2",
    "PRODUCTSHOT_RAY_AUTOSCALE_WINDOW_S": "2",
}


def _start_ray_worker(home: Path, cluster: LocalRay, args: list[str]) -> RayWorker:
    settings = worker_settings(home, port=free_port(), plugins=[FAULTY_PLUGIN])
    settings.ensure_home()
    env = _ray_env({**settings.child_env(), **AUTOSCALE_ENV})
    env["PRODUCTSHOT_RAY_REPLICA_CPUS"] = "0.5"  # 2 generator + 2 cutout replicas fit 2 CPUs
    log = home / "worker-ray.log"
    port = settings.worker_url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "productshot", "worker", "--engine", "ray", "--port", port]
    command += ["--address", cluster.address, *args]
    began = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return RayWorker(proc, settings, log, began)


def _watch_start(worker: RayWorker) -> None:
    """Poll /health on fresh connections from the moment of launch until the worker is ready, keeping every
    answer; and ask `worker status` (the CLI's own function) once while it says "starting"."""
    url = f"{worker.settings.worker_url}/health"
    began = worker.began
    deadline = began + START_S
    while True:
        assert worker.proc.poll() is None, worker.log.read_text(errors="replace")[-3000:]
        at = time.monotonic() - began
        health: HealthInfo | None = None
        try:
            answer = httpx.get(url, timeout=10)
            if answer.status_code == 200:
                health = HealthInfo.model_validate(answer.json())
                what = f"{health.engine}:{health.status}"
            else:
                what = f"HTTP {answer.status_code}: {answer.text[:160]}"
        except httpx.ConnectError:
            what = "refused"
        except httpx.HTTPError as exc:
            what = f"{type(exc).__name__}: {exc}"
        worker.answers.append((at, what))
        if what == "ray:starting" and worker.status_while_starting is None:
            worker.status_while_starting = worker_status(worker.settings)
        if health is not None and health.status == "ok":
            return
        assert time.monotonic() < deadline, f"not ready in {START_S:.0f} s: {worker.answers[-5:]}"
        time.sleep(0.1)  # polling a condition


def _replica_counts(client: WorkerClient) -> tuple[int, int, list[str]]:
    health = client.health()
    kinds = [row.kind for row in health.replicas]
    return kinds.count("generator"), kinds.count("cutout"), [row.replica for row in health.replicas]


@pytest.fixture(scope="module")
def ray_worker(local_ray: LocalRay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayWorker]:
    home = tmp_path_factory.mktemp("ray-home")
    worker = _start_ray_worker(home, local_ray, ["--autoscale", "1:2", "--max-batch", "2"])
    try:
        _watch_start(worker)
        yield worker
    finally:
        if worker.proc.poll() is None:
            worker.proc.terminate()
            try:
                worker.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.proc.kill()


def _photo(seed: int) -> bytes:
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((96 + seed, 96))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---- pure parts ------------------------------------------------------------------------------------------
def test_capacity_check_names_what_the_cluster_lacks() -> None:
    options = RayOptions(replicas=2, replica_cpus=1.0, replica_gpus=0.5)
    with pytest.raises(ClusterTooSmallError) as caught:
        check_capacity(options, {"CPU": 2.0, "GPU": 1.0})
    assert caught.value.code == "cluster_too_small"
    assert "4 CPU (free: 2)" in str(caught.value) and "2 GPU (free: 1)" in str(caught.value)
    check_capacity(options, {"CPU": 4.0, "GPU": 2.0})  # exactly enough is enough
    assert parse_autoscale("1:4") == (1, 4)
    with pytest.raises(BadRequestError):
        parse_autoscale("4")
    with pytest.raises(BadRequestError):
        RayOptions(autoscale=(3, 2))


def test_autoscale_delays_come_from_settings() -> None:
    settings = Settings.from_mapping(
        {
            "PRODUCTSHOT_RAY_UPSCALE_DELAY_S": "0.5",
            "PRODUCTSHOT_RAY_DOWNSCALE_DELAY_S": "2",
            "PRODUCTSHOT_RAY_AUTOSCALE_WINDOW_S": "4",
        },
        home=Path(tempfile.gettempdir()),
    )
    options = RayOptions(
        autoscale=(1, 3),
        upscale_delay_s=settings.ray_upscale_delay_s,
        downscale_delay_s=settings.ray_downscale_delay_s,
        autoscale_window_s=settings.ray_autoscale_window_s,
    )
    assert options.scaling(max_batch=2) == {
        "autoscaling_config": {
            "min_replicas": 1,
            "max_replicas": 3,
            "target_ongoing_requests": 2,
            "upscale_delay_s": 0.5,
            "downscale_delay_s": 2.0,
            "look_back_period_s": 4.0,
            "metrics_interval_s": 2.0,
        }
    }
    assert RayOptions(replicas=2).scaling(max_batch=2) == {"num_replicas": 2}
    defaults = Settings.from_mapping({}, home=Path(tempfile.gettempdir()))  # Serve's own defaults
    assert (defaults.ray_upscale_delay_s, defaults.ray_downscale_delay_s) == (30.0, 600.0)
    with pytest.raises(BadRequestError):
        RayOptions(autoscale=(1, 2), autoscale_window_s=0)


# ---- through the ingress ---------------------------------------------------------------------------------
def test_health_says_starting_from_launch_to_ready_with_no_gap(ray_worker: RayWorker) -> None:
    answers = ray_worker.answers
    first = next(i for i, (_, what) in enumerate(answers) if what != "refused")
    # Refused only before the process has bound its port (Python starting up); from the first answer on,
    # every poll got the worker's own /health: "starting", then "ok" (no refusal, no Serve 404 between).
    assert first == 0 or {what for _, what in answers[:first]} == {"refused"}
    after = [what for _, what in answers[first:]]
    assert set(after) <= {"ray:starting", "ray:ok"}, answers
    assert after[0] == "ray:starting" and after[-1] == "ray:ok", answers
    assert answers[first][0] < 60.0, f"/health first answered {answers[first][0]:.0f} s after launch"
    status = ray_worker.status_while_starting
    assert status is not None and status.running and status.health is not None
    assert status.health.status == "starting" and status.health.engine == "ray"
    with ray_worker.client(timeout=30) as client:
        health = client.health()
    assert health.engine == "ray" and health.status == "ok"
    kinds = sorted(row.kind for row in health.replicas)
    assert kinds == ["cutout", "generator"], health.replicas  # --autoscale 1:2 starts at MIN
    assert all(row.replica.startswith("SERVE_REPLICA::") for row in health.replicas)
    ray_worker.seen_replicas.update(row.replica for row in health.replicas)


def test_load_scales_replicas_up_and_both_serve_concurrent_jobs(ray_worker: RayWorker) -> None:
    served: dict[str, set[str]] = {"generate": set(), "cutout": set()}
    in_health: dict[str, set[str]] = {"generator": set(), "cutout": set()}
    enough = threading.Event()
    with ray_worker.client(timeout=60) as client:

        def generate(seed: int) -> None:
            while not enough.is_set():
                result = client.generate("p", model="faulty-slow", seed=seed, steps=8, **SMALL)
                replica = result.info.replica
                assert replica is not None and "#Generator#" in replica
                # Whatever batch it shared on whichever replica, a job's pixels are its own seed's.
                assert result.image.convert("RGB").tobytes() == noise_image(_spec(seed)).tobytes()
                served["generate"].add(replica)

        def cutout(seed: int) -> None:
            while not enough.is_set():
                result = client.cutout(_photo(seed))
                assert result.info.status is JobState.DONE and result.backend == "u2netp"
                assert result.image.mode == "RGBA"
                replica = result.info.replica
                assert replica is not None and "#Cutout#" in replica
                served["cutout"].add(replica)

        deadline = time.monotonic() + START_S
        with ThreadPoolExecutor(max_workers=10) as pool:
            futures = [pool.submit(generate, seed) for seed in range(8)]
            # Two cutout threads are enough to ask for a second cutout replica (target: 1 ongoing request per
            # replica) and leave the shared cores to the replicas starting meanwhile.
            futures += [pool.submit(cutout, seed) for seed in range(2)]
            try:
                while not (len(served["generate"]) >= 2 and len(served["cutout"]) >= 2):
                    health = client.health()
                    for row in health.replicas:
                        in_health[row.kind].add(row.replica)
                    failed = [f.exception() for f in futures if f.done() and f.exception()]
                    assert not failed, failed
                    assert time.monotonic() < deadline, f"not scaled up under load: {served}, {in_health}"
                    time.sleep(0.25)  # polling a condition
            finally:
                enough.set()
            for future in futures:
                future.result(timeout=120)
        health = client.health()
    for row in health.replicas:
        in_health[row.kind].add(row.replica)
    # The autoscaler went from MIN (1) to MAX (2) for both kinds: two replicas of each ran jobs, and /health
    # listed each replica that did.
    assert len(served["generate"]) == 2 and len(served["cutout"]) == 2, served
    assert served["generate"] <= in_health["generator"] and served["cutout"] <= in_health["cutout"]
    ray_worker.seen_replicas.update(*served.values())


def test_replicas_come_back_down_after_the_load(ray_worker: RayWorker) -> None:
    with ray_worker.client(timeout=30) as client:
        deadline = time.monotonic() + START_S
        while True:
            generators, cutouts, replicas = _replica_counts(client)
            if generators == 1 and cutouts == 1:
                break
            assert time.monotonic() < deadline, f"no downscale to MIN: {replicas}"
            time.sleep(0.25)  # polling a condition
        assert set(replicas) <= ray_worker.seen_replicas  # the survivors are replicas that served before
        [generator] = [r for r in replicas if "#Generator#" in r]
        result = client.generate("after", model="faulty-slow", seed=11, steps=2, **SMALL)
        assert result.info.replica == generator  # the one left serves the next job


def _spec(seed: int) -> GenerateSpec:
    """The spec a 64×64 faulty-slow job ran with (its noise depends on the seed and size only)."""
    return GenerateSpec(prompt="p", negative_prompt="", width=64, height=64, seed=seed)


def test_progress_and_cancel_work_through_the_ingress(ray_worker: RayWorker) -> None:
    with ray_worker.client(timeout=30) as client:
        job = client.submit_generate("slow", model="faulty-slow", steps=150, **SMALL)
        seen = []
        for info in client.events(job.job_id, end=time.monotonic() + 90):
            seen.append(info)
            if info.status is JobState.RUNNING and info.progress.step >= 2:
                break
        assert seen and seen[-1].progress.step >= 2 and seen[-1].progress.steps == 150
        assert seen[-1].replica and "#Generator#" in seen[-1].replica  # the running replica is named
        cancelled = client.cancel(job.job_id)
        assert cancelled.status is JobState.CANCELLED
        with pytest.raises(ProductshotError) as ended:
            client.wait(job.job_id, deadline=60)
        assert ended.value.code == "cancelled"
        final = client.job(job.job_id)
        assert final.status is JobState.CANCELLED and final.progress.step < 150
        # The replica stopped the batch (it honours the board's stop flag), so a new job runs promptly.
        after = client.generate("next", model="faulty-slow", seed=3, steps=2, **SMALL)
        assert after.info.status is JobState.DONE


def test_a_killed_replica_is_replaced_and_the_job_retried_or_named(ray_worker: RayWorker) -> None:
    with ray_worker.client(timeout=30) as client:
        job = client.submit_generate("doomed", model="faulty-slow", steps=60, seed=5, **SMALL)
        victim = None
        for info in client.events(job.job_id, end=time.monotonic() + 90):
            if info.status is JobState.RUNNING and info.replica and info.progress.step >= 1:
                victim = info.replica
                break
        assert victim is not None, "the job never started on a replica"
        [pid] = [row.pid for row in client.health().replicas if row.replica == victim]
        os.kill(pid, signal.SIGKILL)  # as a crash or a lost node would
        try:  # never a hang: done by another replica, or a named error
            client.wait(job.job_id, deadline=120)
        except ProductshotError as exc:
            assert exc.code == "replica_lost", exc
        final = client.job(job.job_id)
        if final.status is JobState.DONE:
            assert final.replica and final.replica != victim
            png = client.result_png(job.job_id)
            assert Image.open(io.BytesIO(png)).convert("RGB").tobytes() == noise_image(_spec(5)).tobytes()
        else:
            assert final.error is not None and final.error.error == "replica_lost", final
        # Serve replaces the dead replica: a live generator replica again (MIN is 1), not the victim.
        deadline = time.monotonic() + START_S
        while True:
            replicas = [row.replica for row in client.health().replicas if row.kind == "generator"]
            if replicas and victim not in replicas:
                break
            assert time.monotonic() < deadline, f"the killed replica was not replaced: {replicas}"
            time.sleep(0.25)  # polling a condition


def test_errors_and_guard_are_the_local_workers(ray_worker: RayWorker) -> None:
    import httpx

    url = ray_worker.settings.worker_url
    bad = httpx.post(f"{url}/jobs", json={"type": "generate", "prompt": "x", "width": 1}, timeout=30)
    assert (
        bad.status_code == 422 and bad.json()["error"] == "bad_request" and "width" in bad.json()["message"]
    )
    missing = httpx.get(f"{url}/jobs/nope", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    foreign = httpx.get(f"{url}/health", headers={"Host": "evil.example"}, timeout=30)
    assert foreign.status_code == 421 and foreign.json()["error"] == "bad_host", foreign.text
    with ray_worker.client(timeout=30) as client, pytest.raises(ProductshotError) as caught:
        client.generate("x", model="no-such-model", **SMALL)
    assert caught.value.code == "model_unavailable"


def test_a_cluster_too_small_is_a_named_error_not_a_hang(
    ray_worker: RayWorker, local_ray: LocalRay, tmp_path: Path
) -> None:
    began = time.monotonic()
    other = _start_ray_worker(tmp_path / "other", local_ray, ["--replicas", "3"])
    try:
        code = other.proc.wait(timeout=60)
    finally:
        if other.proc.poll() is None:
            other.proc.kill()
    assert time.monotonic() - began < 60
    text = other.log.read_text(encoding="utf-8", errors="replace")
    assert code != 0 and "cannot place 3 generator and 3 cutout" in text, text[-2000:]
    with ray_worker.client(timeout=30) as client:  # the running worker was not disturbed
        assert client.health().status == "ok"


def test_status_stop_and_nothing_of_ray_left(ray_worker: RayWorker, local_ray: LocalRay) -> None:
    env = {**_ray_env(ray_worker.settings.child_env())}
    status = subprocess.run(
        [sys.executable, "-m", "productshot", "worker", "status"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "worker running at" in status.stdout and "(engine ray," in status.stdout, status.stdout
    stop = subprocess.run(
        [sys.executable, "-m", "productshot", "worker", "stop", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stop.returncode == 0 and '"stopped": true' in stop.stdout, stop.stdout + stop.stderr
    assert ray_worker.proc.wait(timeout=60) == 0
    text = ray_worker.log.read_text(encoding="utf-8", errors="replace")
    assert "removed the Serve application" in text, text[-2000:]
    local_ray.close()
    deadline = time.monotonic() + 60
    while local_ray.leftovers():
        assert time.monotonic() < deadline, "Ray processes left:\n" + "\n".join(local_ray.leftovers())
        time.sleep(0.25)  # polling a condition
