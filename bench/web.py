"""Studio page benchmark: what the page adds to a turn (HTTP, the job, the long poll) over the runtime's own time.

Run: .venv/bin/python bench/web.py [--requests 8] [--width 1024 --height 768]
(prints a markdown table; record it in docs/benchmarks.md)

One `productshot web` server (in-process, the real uvicorn app and guard, the agent runtime on the rules
path with one stdio MCP server) on a throwaway data home. Each round uploads the coffee sample, makes a new
shot and one follow-up ("move it a little to the right") over HTTP exactly as the page does (POST the turn,
long-poll the job). The overhead is the wall time the client saw minus the turn's own `seconds`.
Also: the upload (bytes in, decoded, stored) and the page load (HTML with its labels).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [str(REPO)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

import httpx  # noqa: E402

from productshot.agent.context import AgentContext  # noqa: E402
from productshot.agent.runtime import AgentRuntime  # noqa: E402
from productshot.settings import Settings  # noqa: E402
from productshot.tools.imageio import load_sample  # noqa: E402
from productshot.web.serve import WebServer  # noqa: E402


def _turn(client: httpx.Client, thread: str, request: str, image: str | None) -> tuple[float, float]:
    """(wall seconds the client waited, the turn's own seconds)."""
    started = time.perf_counter()
    body: dict[str, Any] = {"thread": thread, "request": request}
    if image:
        body["image"] = image
    job = client.post("/api/turns", json=body).json()
    cursor = 0
    while job["status"] == "running":
        job = client.get(f"/api/jobs/{job['job']}", params={"after": cursor, "wait": 20}).json()
        cursor = job["next"]
    wall = time.perf_counter() - started
    if job["status"] != "done":
        raise SystemExit(f"turn failed: {job['error']}")
    return wall, float(job["result"]["seconds"])


def _row(name: str, values: list[float], unit: str = "s") -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    if unit == "ms":
        return f"| {name} | {statistics.median(values) * 1000:.0f} ms | {p90 * 1000:.0f} ms |"
    return f"| {name} | {statistics.median(values):.2f} s | {p90:.2f} s |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="productshot-bench-web-") as folder:
        home = Path(folder) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
        env.update({"PRODUCTSHOT_HOME": str(home), "PRODUCTSHOT_WORKER_AUTOSTART": "0"})
        settings = Settings.from_mapping(env, home=home)
        context = AgentContext(width=args.width, height=args.height, model="studio")
        buffer = io.BytesIO()
        load_sample("coffee").convert("RGB").save(buffer, format="JPEG", quality=92)
        photo = buffer.getvalue()
        started = time.perf_counter()
        server = WebServer(settings, port=0, runtime=lambda: AgentRuntime(settings, context=context))
        with server, httpx.Client(base_url=server.url, timeout=300) as client:
            opened = time.perf_counter() - started
            page, upload, new_wall, new_own, move_wall, move_own = [], [], [], [], [], []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                client.get("/").raise_for_status()
                page.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                image = client.post("/api/uploads", content=photo, headers={"content-type": "image/jpeg"})
                upload.append(time.perf_counter() - t0)
                thread = client.post("/api/threads").json()["thread"]
                wall, own = _turn(
                    client, thread, "put this cup on white marble, bottom-left", image.json()["image"]
                )
                new_wall.append(wall)
                new_own.append(own)
                wall, own = _turn(client, thread, "move it a little to the right", None)
                move_wall.append(wall)
                move_own.append(own)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"canvas {args.width}x{args.height}, {args.requests} rounds, studio opened in {opened:.1f} s\n")
    print("| measure | median | p90 |")
    print("| --- | ---: | ---: |")
    print(_row("page load (GET /)", page, "ms"))
    print(_row(f"upload ({len(photo) // 1024} KB JPEG: checked, decoded, stored)", upload, "ms"))
    print(_row("new shot, as the page waits for it", new_wall))
    print(_row("new shot, the turn itself", new_own))
    print(_row("follow-up (move), as the page waits for it", move_wall))
    print(_row("follow-up (move), the turn itself", move_own))
    overhead = [w - o for w, o in zip(new_wall + move_wall, new_own + move_own, strict=True)]
    print(_row("page overhead per turn (HTTP, job, long poll)", overhead, "ms"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
