"""Benchmark: what the resident worker buys over loading a model per request.

Prints one table with three measurements:
  1. N requests the old way (load the pipeline, generate, unload, per request) vs through a resident worker
     that has the model loaded (tiny random-weight diffusers pipeline; the studio generator too);
  2. HTTP overhead per job: a 1024×768 PNG result through the worker vs the same backend in-process
     (generate + the same PNG encoding), medians over repeats;
  3. B same-size requests submitted together (one batched device call) vs one after another.

Run from the repository root:  .venv/bin/python bench/worker.py [--requests 10] [--batch 8] [--repeats 20]
The worker runs as a real subprocess on a free port with a throw-away data home.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from productshot.models.registry import get_preset
from productshot.models.runner import ModelRunner, spec_for
from productshot.server.worker.client import WorkerClient
from productshot.server.worker.jobs import encode_png
from productshot.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a simple beach scene"


@dataclass(frozen=True)
class Row:
    what: str
    baseline: str
    worker: str
    ratio: str
    target: str


def _seconds(value: float) -> str:
    return f"{value:.3f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def old_way_vs_resident(
    model: str, label: str, requests: int, settings: Settings, client: WorkerClient, *, target: str
) -> Row:
    """`requests` sequential generations: load+generate+unload each time, vs the worker's loaded model.
    (Studio has no steps to tune and ignores them, as it does in production.)"""
    old = resident = 0.0
    for seed in range(requests):
        started = time.perf_counter()
        runner = ModelRunner(settings, device="cpu")
        try:
            preset, _ = runner.resolve(model)
            runner.generate(preset, spec_for(preset, PROMPT, width=512, height=512, seed=seed, steps=2))
        finally:
            runner.close()
        old += time.perf_counter() - started
        started = time.perf_counter()
        client.generate(PROMPT, model=model, width=512, height=512, seed=seed, steps=2)
        resident += time.perf_counter() - started
    return Row(
        f"{requests} requests, {label} (512²)",
        f"load per request {_seconds(old)}",
        f"resident {_seconds(resident)}",
        f"{old / resident:.1f}× faster",
        target,
    )


def http_overhead(client: WorkerClient, settings: Settings, repeats: int) -> Row:
    """A 1024×768 studio image as PNG: in-process (generate + encode) vs submitted to the worker and
    fetched; the overhead is the median of paired differences (the two runs alternate)."""
    runner = ModelRunner(settings, device="cpu")
    preset = get_preset("studio", settings)
    backend = runner.load(preset)
    spec = spec_for(preset, "simple beach", width=1024, height=768, seed=1)

    def in_process() -> bytes:
        return encode_png(runner.run(backend, [spec])[0].image)

    def through_worker() -> bytes:
        return client.generate(spec.prompt, model="studio", width=1024, height=768, seed=1).png

    for _ in range(3):  # warm both paths (imports, allocator, connection)
        in_process()
        through_worker()
    local: list[float] = []
    remote: list[float] = []
    for _ in range(repeats):
        local.append(_timed(in_process))
        remote.append(_timed(through_worker))
    runner.close()
    overhead = statistics.median(there - here for there, here in zip(remote, local, strict=True))
    return Row(
        "one 1024×768 PNG (studio), medians",
        f"in-process {_seconds(statistics.median(local))}",
        f"via HTTP {_seconds(statistics.median(remote))}",
        f"{overhead * 1000:+.1f} ms per job",
        "≤ 15 ms",
    )


def batched_vs_sequential(client: WorkerClient, model: str, batch: int) -> Row:
    """`batch` same-size jobs one after another vs all submitted at once (batched device calls); medians
    of three runs each."""

    def one_by_one() -> None:
        for seed in range(batch):
            client.generate(PROMPT, model=model, width=512, height=512, seed=seed, steps=2)

    def together() -> None:
        handles = [
            client.submit_generate(PROMPT, model=model, width=512, height=512, seed=seed, steps=2)
            for seed in range(batch)
        ]
        sizes = {client.wait(handle.job_id).batch_size or 1 for handle in handles}
        for handle in handles:
            client.result_png(handle.job_id)
        if max(sizes) < 2:
            raise RuntimeError(f"the jobs were not batched (batch sizes {sizes})")

    together()  # warm the batched shapes once, as the warm-up request did for single ones
    sequential = statistics.median(_timed(one_by_one) for _ in range(3))
    batched = statistics.median(_timed(together) for _ in range(3))
    return Row(
        f"{batch} same-size requests (tiny-sd)",
        f"one by one {_seconds(sequential)} ({batch / sequential:.1f}/s)",
        f"batched {_seconds(batched)} ({batch / batched:.1f}/s)",
        f"{sequential / batched:.2f}× throughput",
        "report",
    )


def _print_table(rows: list[Row], notes: list[str]) -> None:
    headers = Row("measurement", "baseline", "worker", "ratio", "target")
    table = [headers, *rows]
    widths = [max(len(getattr(row, field)) for row in table) for field in Row.__dataclass_fields__]
    for index, row in enumerate(table):
        cells = [
            getattr(row, field).ljust(width)
            for field, width in zip(Row.__dataclass_fields__, widths, strict=True)
        ]
        print(" | ".join(cells))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    for note in notes:
        print(note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10, help="requests for the old-way comparison (10)")
    parser.add_argument("--batch", type=int, default=8, help="same-size requests for the batching run (8)")
    parser.add_argument("--repeats", type=int, default=20, help="repeats for the HTTP overhead medians (20)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))  # tests.support (tiny pipelines, worker process) lives in the repo

    import platform

    import torch

    from tests.support.tiny_pipelines import tiny_model_dir
    from tests.support.worker_proc import start_worker, worker_settings

    torch.set_num_threads(1)  # the same as the worker's (worker_settings sets OMP_NUM_THREADS=1): a fair race
    tiny = str(tiny_model_dir("sd"))
    with tempfile.TemporaryDirectory(prefix="productshot-bench-") as tmp:
        settings = worker_settings(Path(tmp) / "home")
        worker = start_worker(settings, args=["--preload", tiny, "studio", "--max-batch", str(args.batch)])
        try:
            with worker.client(timeout=120.0) as client:
                client.generate("warm up", model=tiny, width=512, height=512, steps=2)
                rows = [
                    old_way_vs_resident(tiny, "tiny-sd", args.requests, settings, client, target="≥ 5×"),
                    old_way_vs_resident("studio", "studio", args.requests, settings, client, target="report"),
                    http_overhead(client, settings, args.repeats),
                    batched_vs_sequential(client, tiny, args.batch),
                ]
        finally:
            worker.stop()
    notes = [
        "",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        "device cpu, one torch thread in both processes",
        "old way = a fresh ModelRunner per request: load the pipeline from disk, generate one image, unload; imports already paid.",
        "resident = the same requests to a worker that holds the model (--preload), over HTTP on 127.0.0.1.",
    ]
    _print_table(rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
