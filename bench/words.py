"""Words benchmark: median time to read a request with the one lexicon (planner, studio family choice).

Run: .venv/bin/python bench/words.py   (prints a markdown table; record it in docs/benchmarks.md)
No target: reading words must stay far below the imaging steps (tens of milliseconds).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

from productshot.agent.replies import describe_result
from productshot.tools.plan import RulesPlanner
from productshot.tools.studio_scenes import find_scene

REQUESTS = (
    "put this bag on a simple beach scene, bottom-left",
    "이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘",
    "underwater, at 30%, 80%",
    "크리스마스 느낌 네온 거리, 조금 더 크게",
)


def median_ms(fn: Callable[[], object], repeat: int = 9, inner: int = 50) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - started) / inner * 1000)
    return statistics.median(times)


def main() -> None:
    planner = RulesPlanner()
    outcome = {"position": "bottom", "scale": 0.5, "scene": "beach", "path": "/tmp/a.png", "notes": []}
    print(f"machine: {platform.machine()}, {platform.python_version()}")
    print("| step | median ms per request |")
    print("|---|---|")
    print(
        f"| studio family choice (find_scene) | {median_ms(lambda: [find_scene(r) for r in REQUESTS]) / 4:.3f} |"
    )
    print(f"| rules planner (plan) | {median_ms(lambda: [planner.plan(r) for r in REQUESTS]) / 4:.3f} |")
    print(
        f"| Korean reply (describe_result) | {median_ms(lambda: describe_result(outcome, 'ko', action='place')):.3f} |"
    )


if __name__ == "__main__":
    main()
