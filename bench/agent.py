"""Agent benchmark: a cold `productshot run` process, and one warm agent's time per request and overhead.

Run: .venv/bin/python bench/agent.py [--requests 10] [--width 1024 --height 768]
(prints a markdown table; record it in docs/benchmarks.md)

1. Cold: `productshot run "put this cup on a simple beach scene, bottom-left" --image sample:coffee` as a
   new process (start Python, open the thread store, start the stdio MCP server, run the turn), as is.
2. Warm: one `AgentRuntime` (the object `productshot chat` keeps for its life: one MCP session, the thread
   store) runs N new shots (each cuts the sample out again) and N follow-ups ("move it a little to the
   right"), interleaved with the same calls made directly as `place_product` over the same MCP session.
   The agent's overhead is its time minus the direct call's, relative to the direct call.
3. Beside another: a follow-up in one thread sent while another thread's new shot is being made on the
   same runtime (as two Slack threads on the bot's shared agent): its time, against the follow-up alone.
Targets (2-core machine, embedded defaults): warm ≤ 4 s per request, overhead ≤ 15%.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
# bench/ holds a script named like the `mcp` SDK: keep this folder off the import path (so `import mcp` finds
# the SDK) and put the repository root on it.
sys.path[:] = [str(REPO)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

from productshot.agent.context import AgentContext  # noqa: E402
from productshot.agent.runtime import AgentRuntime  # noqa: E402
from productshot.agent.toolbox import ProgressEvent  # noqa: E402
from productshot.settings import Settings  # noqa: E402

REQUEST = "put this cup on a simple beach scene, bottom-left"
FOLLOW_UP = "move it a little to the right"
IMAGE = "sample:coffee"


def bench_settings(home: Path) -> Settings:
    """Settings on a fresh data home, no worker autostart, no LLM: the embedded defaults (rules path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    env.update(
        PRODUCTSHOT_HOME=str(home), PRODUCTSHOT_ALLOWED_DIRS=str(home), PRODUCTSHOT_WORKER_AUTOSTART="0"
    )
    return Settings.from_mapping(env, home=home)


def cold_run(settings: Settings, size: tuple[int, int]) -> tuple[float, dict[str, Any]]:
    """Wall time of one `productshot run` process, and its JSON."""
    env = {**os.environ, **settings.child_env()}
    env.pop("OPENAI_API_KEY", None)
    command = [sys.executable, "-m", "productshot", "run", REQUEST, "--image", IMAGE, "--json"]
    command += ["-W", str(size[0]), "-H", str(size[1])]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"productshot run failed ({proc.returncode}):\n{proc.stderr}")
    return seconds, json.loads(proc.stdout)


async def timed(call: Callable[..., Awaitable[Any]], *args: Any, **options: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await call(*args, **options)
    return time.perf_counter() - started, value


async def warm(settings: Settings, size: tuple[int, int], requests: int) -> dict[str, list[float]]:
    """Agent turns and direct place_product calls over the same MCP session, interleaved."""
    samples: dict[str, list[float]] = {
        "agent new": [],
        "direct new": [],
        "agent follow": [],
        "direct follow": [],
        "beside": [],
    }
    context = AgentContext(width=size[0], height=size[1])
    canvas = {"width": size[0], "height": size[1]}
    async with AgentRuntime(settings, context=context) as runtime:
        # Unmeasured turns first: the server's first call loads the cutout model and the word lists, and
        # onnxruntime's first few runs (one at a time, then several at once) grow its memory arena.
        first = await runtime.run(REQUEST, thread="bench-warm-up", image=IMAGE)
        await runtime.run(REQUEST, thread="bench-warm-up-2", image=IMAGE)
        (
            await runtime.toolbox.call("place_product", {"request": FOLLOW_UP, "previous": first.asset_id})
        ).require()
        place = runtime.toolbox.call
        for index in range(requests):
            thread = f"bench-{index}"
            seconds, _ = await timed(place, "place_product", {"request": REQUEST, "image": IMAGE, **canvas})
            samples["direct new"].append(seconds)
            seconds, result = await timed(runtime.run, REQUEST, thread=thread, image=IMAGE)
            samples["agent new"].append(seconds)
            seconds, _ = await timed(
                place, "place_product", {"request": FOLLOW_UP, "previous": result.asset_id}
            )
            samples["direct follow"].append(seconds)
            seconds, _ = await timed(runtime.run, FOLLOW_UP, thread=thread)
            samples["agent follow"].append(seconds)
        for index in range(requests):
            samples["beside"].append(
                await beside_a_new_shot(runtime, f"bench-{index}", f"bench-other-{index}")
            )
    return samples


async def beside_a_new_shot(runtime: AgentRuntime, thread: str, other: str) -> float:
    """Seconds of a follow-up in `thread`, sent once a new shot in thread `other` has reached the MCP
    server (the other shot then runs to its end, untimed, so the next sample starts on an idle server)."""
    reached = anyio.Event()

    def on_progress(event: ProgressEvent) -> None:
        if event.kind == "progress":
            reached.set()

    async with anyio.create_task_group() as group:
        group.start_soon(
            functools.partial(runtime.run, REQUEST, thread=other, image=IMAGE, on_progress=on_progress)
        )
        await reached.wait()
        seconds, _ = await timed(runtime.run, FOLLOW_UP, thread=thread)
    return seconds


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"| {name} | {len(values)} | {statistics.mean(values):.2f} | {statistics.median(values):.2f} | {p90:.2f} |"


def overhead(agent: list[float], direct: list[float]) -> str:
    a, d = statistics.median(agent), statistics.median(direct)
    return f"{(a - d) * 1000:.0f} ms ({(a - d) / d:.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10, help="warm requests of each kind (default 10)")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()
    size = (args.width, args.height)
    with tempfile.TemporaryDirectory(prefix="productshot-bench-agent-") as folder:
        settings = bench_settings(Path(folder) / "home")
        settings.ensure_home()
        cold_seconds, cold = cold_run(settings, size)
        samples = anyio.run(warm, settings, size, args.requests)
    print(
        f"agent benchmark on {platform.machine()} ({os.cpu_count()} cores), {size[0]}x{size[1]}, rules path, "
        f"embedded defaults; cold run served by {cold['backend']}\n"
    )
    print("| measure | n | mean s | median s | p90 s |")
    print("| --- | --- | --- | --- | --- |")
    print(row("cold `productshot run` process", [cold_seconds]))
    print(row("warm agent turn, new shot (cutout + backdrop)", samples["agent new"]))
    print(row("direct place_product, new shot", samples["direct new"]))
    print(row("warm agent turn, follow-up (move)", samples["agent follow"]))
    print(row("direct place_product, follow-up", samples["direct follow"]))
    print(row("warm agent turn, follow-up beside another thread's new shot", samples["beside"]))
    print()
    print(
        f"agent overhead (median): new shot {overhead(samples['agent new'], samples['direct new'])}, "
        f"follow-up {overhead(samples['agent follow'], samples['direct follow'])}"
    )
    print("targets: warm ≤ 4 s per request; overhead ≤ 15%")


if __name__ == "__main__":
    main()
