"""Benchmark: throughput of the worker on Ray Serve with 1 vs 2 generator replicas (and the local engine).

One local Ray (`ray start --head`, CPU only, no dashboard, its own temp dir and token); for each replica count
a real `productshot worker --engine ray --replicas R --address …` joins it, with each replica asking for
1/R of the cluster's CPUs (generator and cutout replicas alike, so everything fits). N generate jobs on the
tiny random-weight SD pipeline (64×64) are submitted at once through the unchanged WorkerClient; the table
shows wall time, jobs/s, and how many distinct replicas served them. The local engine runs the same jobs for
reference (one process, its own batching).

Run from the repository root:  .venv/bin/python bench/ray_scaleout.py [--jobs 16] [--steps 4] [--cpus 2]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from productshot.errors import ProductshotError  # noqa: E402
from productshot.server.worker.client import WorkerClient  # noqa: E402
from tests.support.tiny_pipelines import tiny_model_dir  # noqa: E402
from tests.support.worker_proc import free_port, wait_for_health, worker_settings  # noqa: E402

START_S = 300.0


@dataclass(frozen=True)
class Row:
    engine: str
    replicas: str
    jobs: int
    seconds: float
    served_by: int
    largest_batch: int
    health_ms: float

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def _env(extra: dict[str, str], token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(extra)
    env.update(
        {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            "RAY_USAGE_STATS_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return env


def _wait_ready(client: WorkerClient, replicas: int) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            health = client.health()
        except ProductshotError:  # the proxy takes the port over from the starting answer
            time.sleep(0.5)
            continue
        if health.status == "ok" and [r.kind for r in health.replicas].count("generator") >= replicas:
            return
        time.sleep(0.5)
    raise RuntimeError(f"replicas not ready within {START_S:.0f} s")


def _run_jobs(client: WorkerClient, model: str, jobs: int, steps: int, seed0: int) -> tuple[float, int, int]:
    """Wall seconds for `jobs` concurrent generate jobs, how many replicas served them, the largest batch."""

    def one(seed: int) -> tuple[str, int]:
        result = client.generate("a beach", model=model, width=64, height=64, steps=steps, seed=seed)
        return result.info.replica or "local", result.info.batch_size or 1

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        served = list(pool.map(one, range(seed0, seed0 + jobs)))
    return time.perf_counter() - began, len({r for r, _ in served}), max(b for _, b in served)


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of one HTTP round trip (here /health): the per-request cost of the path."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _measure(
    command: list[str], env: dict[str, str], url: str, replicas: int, args: argparse.Namespace
) -> Row:
    home = Path(env["PRODUCTSHOT_HOME"])
    log = home / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_health(url, proc, log, timeout=START_S)
        model = str(tiny_model_dir("sd"))
        engine = "ray" if "--engine" in command else "local"
        with WorkerClient(url, timeout=300) as client:
            if engine == "ray":
                _wait_ready(client, replicas)
            _run_jobs(client, model, 2 * replicas, args.steps, 10_000)  # warm: load the model everywhere
            seconds, served, batch = _run_jobs(client, model, args.jobs, args.steps, 0)
            health_ms = _median_ms(client.health, 20)
        return Row(
            engine, str(replicas) if engine == "ray" else "-", args.jobs, seconds, served, batch, health_ms
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=16, help="generate jobs submitted at once (16)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per job (4)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (2)")
    args = parser.parse_args(argv)

    token = secrets.token_hex(32)
    temp = Path(tempfile.mkdtemp(prefix="pst-raybench-", dir="/tmp"))
    port = free_port()
    ray_cmd = [
        sys.executable,
        "-c",
        "from ray.scripts.scripts import main; main()",
        "start",
        "--head",
        "--block",
    ]
    ray_cmd += [f"--num-cpus={args.cpus}", "--num-gpus=0", "--include-dashboard=false", f"--port={port}"]
    ray_cmd += [f"--temp-dir={temp}", "--disable-usage-stats"]
    ray_proc = subprocess.Popen(
        ray_cmd, env=_env({}, token), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rows: list[Row] = []
    try:
        for replicas in (1, 2):
            home = temp / f"home-{replicas}"
            settings = worker_settings(home, port=free_port())
            settings.ensure_home()
            extra = settings.child_env() | {"PRODUCTSHOT_RAY_REPLICA_CPUS": f"{args.cpus / (2 * replicas):g}"}
            wport = settings.worker_url.rsplit(":", 1)[1]
            command = [sys.executable, "-m", "productshot", "worker", "--engine", "ray", "--port", wport]
            command += ["--replicas", str(replicas), "--address", f"127.0.0.1:{port}"]
            rows.append(_measure(command, _env(extra, token), settings.worker_url, replicas, args))
            print(f"measured ray × {replicas}", file=sys.stderr)
        home = temp / "home-local"
        settings = worker_settings(home, port=free_port())
        settings.ensure_home()
        wport = settings.worker_url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "productshot", "worker", "--port", wport]
        rows.append(_measure(command, _env(settings.child_env(), token), settings.worker_url, 1, args))
    finally:
        ray_proc.send_signal(signal.SIGTERM)
        ray_proc.wait(timeout=120)
        shutil.rmtree(temp, ignore_errors=True)

    print(
        f"\n{args.jobs} generate jobs at once, tiny SD 64×64, {args.steps} steps, Ray cluster of {args.cpus} CPUs\n"
    )
    print(
        "| engine | replicas | jobs | wall (s) | jobs/s | replicas that served | largest batch | /health p50 (ms) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row.engine} | {row.replicas} | {row.jobs} | {row.seconds:.2f} | {row.rate:.2f} | {row.served_by} | {row.largest_batch} | {row.health_ms:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
