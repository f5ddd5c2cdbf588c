"""MCP benchmark: what the protocol costs per call, place_product end to end, and the cold first call.

Run: .venv/bin/python bench/mcp.py   (prints a markdown table; record it in docs/benchmarks.md)

The same `composite` and `check_split` calls at 1024×768 are timed four ways: the library function alone,
the MCP tool in memory (server code, no transport), over stdio (a `productshot mcp` subprocess) and over
streamable HTTP. Protocol overhead is stdio/HTTP minus in-memory. Then `place_product` on the embedded
defaults (studio backdrop, u2netp cutout, rules planner) once warm, and the first call after a client
starts the server. Targets (2-core machine): overhead ≤ 20 ms per call, warm place_product ≤ 3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
# This script shares its name with the `mcp` SDK it measures: keep its own folder off the import path so
# `import mcp` finds the SDK, and put the repository root on it for `tests.support`.
sys.path[:] = [str(REPO)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

from mcp import ClientSession  # noqa: E402

from productshot.settings import Settings  # noqa: E402
from tests.support.mcp_client import memory_session, ok  # noqa: E402
from tests.support.mcp_proc import http_server, http_session, server_env, stdio_session  # noqa: E402

SIZE = (1024, 768)
PLACE = {"image": "sample:coffee", "request": "put this cup on a simple beach scene, bottom-left"}


def bench_settings(home: Path) -> Settings:
    """Settings on a fresh data home, no worker autostart, no LLM: the embedded defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    env.update(
        PRODUCTSHOT_HOME=str(home), PRODUCTSHOT_ALLOWED_DIRS=str(home), PRODUCTSHOT_WORKER_AUTOSTART="0"
    )
    return Settings.from_mapping(env, home=home)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def make_assets(settings: Settings) -> tuple[str, str, Any, Any]:
    """A 1024×768 studio backdrop and a u2netp cutout of the coffee sample, stored; plus the images."""
    from productshot.store import AssetStore
    from productshot.tools.cutout import Cutter
    from productshot.tools.imageio import load_image
    from productshot.tools.studio import render_backdrop

    backdrop = render_backdrop("sandy beach", *SIZE, seed=1).image.convert("RGB")
    cut = Cutter("u2netp", u2net_home=settings.u2net_home).cut(load_image("sample:coffee").image).image
    with AssetStore.open(settings) as store:
        background = store.put_image(backdrop, kind="background", backend="studio")
        product = store.put_image(cut, kind="cutout", backend="u2netp")
    return background.id, product.id, backdrop, cut


def library_timings(backdrop: Any, cut: Any, repeats: int) -> dict[str, float]:
    from productshot.tools.composite import composite
    from productshot.tools.split import check_split

    timings: dict[str, float] = {}
    for name, fn in (
        ("composite", lambda: composite(backdrop, cut)),
        ("check_split", lambda: check_split(backdrop)),
    ):
        fn()
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        timings[name] = median_ms(samples)
    return timings


async def tool_timings(
    client: ClientSession, background: str, product: str, repeats: int
) -> dict[str, float]:
    # One whole pipeline first: it waits for the server's launch warm-up, which would otherwise compete
    # with the timed calls for the CPU.
    ok(await client.call_tool("place_product", PLACE))
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "composite": ("composite", {"background": background, "product": product}),
        "check_split": ("check_split", {"image": background}),
    }
    timings: dict[str, float] = {}
    for name, (tool, arguments) in calls.items():
        ok(await client.call_tool(tool, arguments))
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            ok(await client.call_tool(tool, arguments))
            samples.append(time.perf_counter() - started)
        timings[name] = median_ms(samples)
    return timings


async def place_timings(client: ClientSession, repeats: int) -> tuple[float, dict[str, Any]]:
    ok(await client.call_tool("place_product", PLACE))  # warm: imports, rembg session
    samples, last = [], {}
    for seed in range(repeats):
        started = time.perf_counter()
        last = ok(await client.call_tool("place_product", {**PLACE, "seed": seed}))
        samples.append(time.perf_counter() - started)
    return median_ms(samples), last


async def cold_first_call(settings: Settings, log: Path) -> tuple[float, float]:
    """Seconds from spawning `productshot mcp` to initialized, and to the first place_product result."""
    started = time.perf_counter()
    async with stdio_session(server_env(settings.child_env()), errlog=log) as client:
        ready = time.perf_counter() - started
        ok(await client.call_tool("place_product", PLACE))
        return ready, time.perf_counter() - started


async def run(repeats: int, root: Path) -> None:
    settings = bench_settings(root / "home")
    settings.ensure_home()
    background, product, backdrop, cut = make_assets(settings)
    lib = library_timings(backdrop, cut, repeats)

    async def with_memory(fn: Callable[[ClientSession], Awaitable[Any]]) -> Any:
        async with memory_session(settings) as client:
            return await fn(client)

    memory = await with_memory(lambda c: tool_timings(c, background, product, repeats))
    place_ms, place = await with_memory(lambda c: place_timings(c, max(3, repeats // 3)))
    env = server_env(settings.child_env())
    async with stdio_session(env, errlog=root / "stdio.log") as client:
        stdio = await tool_timings(client, background, product, repeats)
    with http_server(env, root / "http.log") as server:
        async with http_session(server.url) as client:
            http = await tool_timings(client, background, product, repeats)
    cold_ready, cold_total = await cold_first_call(settings, root / "cold.log")

    print(
        f"# productshot MCP benchmark ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})"
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nmedian of {repeats} calls at {SIZE[0]}×{SIZE[1]}, in ms (load average at the end: {load})\n")
    print(
        "| call | library | MCP in memory | stdio | HTTP | stdio overhead | HTTP overhead | stdio / library |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in ("composite", "check_split"):
        print(
            f"| {name} | {lib[name]:.1f} | {memory[name]:.1f} | {stdio[name]:.1f} | {http[name]:.1f} | "
            f"{stdio[name] - memory[name]:+.1f} | {http[name] - memory[name]:+.1f} | {stdio[name] / lib[name]:.2f}× |"
        )
    steps = ", ".join(f"{s['name']} {s['backend']} {s['seconds'] * 1000:.0f}" for s in place["steps"])
    print(
        f"\nplace_product, embedded defaults, {SIZE[0]}×{SIZE[1]}, warm (MCP in memory): {place_ms:.0f} ms median"
    )
    print(f"  steps (ms): {steps}")
    print(f"first call after a client starts the server (stdio, cold): initialized in {cold_ready:.1f} s, ")
    print(f"  first place_product result after {cold_total:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="calls per median (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="psbench-mcp-") as tmp:
        anyio.run(run, args.repeats, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
