"""Fair scheduling under load: do quick MCP calls wait behind model work?

Run: .venv/bin/python bench/fair.py [--seconds 30] [--place 8] [--composite 8] [--pixel-processes N]
(prints a markdown table; N defaults to the product's default, 0 runs composites in the server's threads)

Starts a resident worker and `productshot mcp --transport http` on one data home, then opens 2×N HTTP MCP
sessions at once (default 16): N loop `place_product` (cutout and background on the worker, composite in
the server) and N loop `composite` of a stored background and cutout (pixel work only), for a fixed time.
Prints p50/p90/max latency and call count per tool, as the client sees it and inside the tool (the
`seconds` the tool reports: from the call reaching the tool, lane wait included, to its answer being built). Target: composite p90 ≤ 0.5 s while the cutouts run.

Before the load, one client makes `--serial` composite calls one at a time and the CPU time they cost is
read from the server process and from this (client) process: on a shared machine, CPU per call is the
figure that does not depend on what else runs. The CPU each process used during the load is printed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
# Keep this folder off the import path (bench/mcp.py would shadow the `mcp` SDK); the repo root on it.
sys.path[:] = [str(REPO)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

from productshot.settings import Settings, default_pixel_processes  # noqa: E402
from tests.support.mcp_client import ok  # noqa: E402
from tests.support.mcp_proc import (  # noqa: E402
    http_server,
    http_session,
    server_env,
    wait_for_pixel_processes,
)
from tests.support.worker_proc import running_worker, worker_settings  # noqa: E402

SIZE = (1024, 768)
PLACE = {
    "image": "sample:coffee",
    "request": "put this cup on a simple beach scene, bottom-left",
    "model": "studio",
    "width": SIZE[0],
    "height": SIZE[1],
}


def make_assets(settings: Settings) -> tuple[str, str]:
    """A stored studio backdrop and an RGBA cutout (made once, here) for the composite loop."""
    from productshot.store import AssetStore
    from productshot.tools.cutout import Cutter
    from productshot.tools.imageio import load_image
    from productshot.tools.studio import render_backdrop

    backdrop = render_backdrop("sandy beach", *SIZE, seed=1).image.convert("RGB")
    cut = Cutter("u2netp", u2net_home=settings.u2net_home).cut(load_image("sample:coffee").image).image
    with AssetStore.open(settings) as store:
        background = store.put_image(backdrop, kind="background", backend="studio")
        product = store.put_image(cut, kind="cutout", backend="u2netp")
    return background.id, product.id


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def serial_composites(
    url: str, calls: int, composite_args: dict[str, Any], server_pid: int, pixel_processes: int
) -> tuple[float, float, float]:
    """Server CPU (its pixel processes included), client CPU and wall seconds per composite call, `calls`
    made one at a time once the pixel processes are up."""
    import psutil

    server = psutil.Process(server_pid)
    async with http_session(url) as client:
        ok(await client.call_tool("composite", composite_args))  # warm: imports, first decode
        if pixel_processes:
            await anyio.to_thread.run_sync(wait_for_pixel_processes, server_pid, pixel_processes)
        ok(await client.call_tool("composite", composite_args))  # the pixel processes' first decode
        cpu_before, mine_before = _cpu(server), time.process_time()
        started = time.perf_counter()
        for _ in range(calls):
            ok(await client.call_tool("composite", composite_args))
        wall = time.perf_counter() - started
        return (_cpu(server) - cpu_before) / calls, (time.process_time() - mine_before) / calls, wall / calls


def _cpu(process: Any) -> float:
    """CPU seconds of a process and of the processes it started (the MCP server's pixel processes)."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except Exception:  # a child that ended meanwhile
            continue
        total += float(times.user + times.system)
    return total


async def load_test(
    url: str, placers: int, compositors: int, seconds: float, composite_args: dict[str, Any]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """`placers` sessions looping place_product and `compositors` looping composite, for `seconds`."""
    timings: dict[str, list[float]] = {"place_product": [], "composite": []}
    server: dict[str, list[float]] = {"place_product": [], "composite": []}
    ready = anyio.Event()
    opened = 0
    end = 0.0

    async def loop(tool: str, arguments: dict[str, Any]) -> None:
        nonlocal opened, end
        async with http_session(url) as client:
            await client.list_tools()
            opened += 1
            if opened == placers + compositors:
                end = time.monotonic() + seconds
                ready.set()
            await ready.wait()
            while time.monotonic() < end:
                started = time.perf_counter()
                answer = ok(await client.call_tool(tool, arguments))
                timings[tool].append(time.perf_counter() - started)
                server[tool].append(float(answer["seconds"]))  # inside the tool, lane wait included

    async with anyio.create_task_group() as group:
        for _ in range(placers):
            group.start_soon(loop, "place_product", PLACE)
        for _ in range(compositors):
            group.start_soon(loop, "composite", composite_args)
    return timings, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the clients loop (default 30)")
    parser.add_argument("--place", type=int, default=8, help="clients looping place_product (default 8)")
    parser.add_argument("--composite", type=int, default=8, help="clients looping composite (default 8)")
    parser.add_argument("--serial", type=int, default=10, help="one-at-a-time composite calls first (10)")
    parser.add_argument(
        "--model-nice",
        type=int,
        default=None,
        help="PRODUCTSHOT_MODEL_NICE for the run (default: the setting's)",
    )
    parser.add_argument(
        "--pixel-processes",
        type=int,
        default=default_pixel_processes(),
        help="PRODUCTSHOT_PIXEL_PROCESSES for the run (default: the setting's default, one per core up to 4)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="psbench-fair-") as tmp:
        root = Path(tmp)
        # The product's default pixel processes (the test helpers turn them off for short tests).
        settings = worker_settings(root / "home").with_overrides(pixel_processes=args.pixel_processes)
        if args.model_nice is not None:
            settings = settings.with_overrides(model_nice=args.model_nice)
        settings.ensure_home()
        background, product = make_assets(settings)
        composite_args = {"background": background, "product": product, "position": "bottom-left"}
        with (
            running_worker(settings) as worker,
            http_server(server_env(settings.child_env()), root / "mcp.log") as server,
        ):
            import psutil

            serial = anyio.run(
                serial_composites,
                server.url,
                args.serial,
                composite_args,
                server.process.pid,
                args.pixel_processes,
            )
            processes = {
                "MCP server (with its pixel processes)": psutil.Process(server.process.pid),
                "worker": psutil.Process(worker.pid),
            }
            worker_nice = processes["worker"].nice()
            before = {name: _cpu(process) for name, process in processes.items()}
            mine = time.process_time()
            started = time.perf_counter()
            timings, inside = anyio.run(
                load_test, server.url, args.place, args.composite, args.seconds, composite_args
            )
            wall = time.perf_counter() - started
            used = {name: _cpu(process) - before[name] for name, process in processes.items()}
            used["bench client"] = time.process_time() - mine
            worker_jobs = worker.client().health()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"# fair scheduling under load ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})"
    )
    print(
        f"\n{args.place} clients looping place_product + {args.composite} looping composite over HTTP MCP for "
        f"{args.seconds:g} s, worker {worker_jobs.device} at nice {worker_nice}, "
        f"{args.pixel_processes} pixel processes, "
        f"{SIZE[0]}×{SIZE[1]}; load average at the end: {load}\n"
    )
    server_cpu, client_cpu, serial_wall = serial
    print(
        f"composite alone ({args.serial} calls one at a time, before the load): {server_cpu * 1000:.0f} ms "
        f"CPU in the server + {client_cpu * 1000:.0f} ms in the client per call, {serial_wall * 1000:.0f} ms wall\n"
    )
    cores = ", ".join(f"{name} {seconds / wall:.2f}" for name, seconds in used.items())
    print(f"CPU used during the load ({wall:.0f} s until the last call ended), in cores: {cores}\n")
    print(
        "| call | calls | p50 (s) | p90 (s) | max (s) | mean (s) | in the tool p50 (s) | in the tool p90 (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tool, samples in timings.items():
        if not samples:
            print(f"| {tool} | 0 | - | - | - | - | - | - |")
            continue
        print(
            f"| {tool} | {len(samples)} | {quantile(samples, 0.5):.3f} | {quantile(samples, 0.9):.3f} | "
            f"{max(samples):.3f} | {statistics.fmean(samples):.3f} | {quantile(inside[tool], 0.5):.3f} | "
            f"{quantile(inside[tool], 0.9):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
