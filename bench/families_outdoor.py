"""Studio families benchmark: the median render time of every scene family at 1024×768 (five seeds each).

Run: .venv/bin/python bench/families_outdoor.py   (prints a markdown table; record it in docs/benchmarks.md)
Target: each family ≤ 100 ms at 1024×768. Families come from `scene_families()` at run time, so rows added
on other branches are timed too; the outdoor ones (tools/studio_outdoor.py) are marked.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

from productshot.prompts.lexicon import display_word
from productshot.tools.studio import render_backdrop, scene_families
from productshot.tools.studio_outdoor import OUTDOOR_PAINTERS

TARGET_MS = 100.0
SEEDS = (1, 2, 3, 4, 5)


def family_ms(family: str) -> float:
    """Median milliseconds of one render, asked for by the family's own English label."""
    words = display_word("scenes", family, "en")
    render_backdrop(words, 1024, 768, seed=0)  # warm-up: tiles, caches, first allocation
    samples = []
    for seed in SEEDS:
        started = time.perf_counter()
        backdrop = render_backdrop(words, 1024, 768, seed=seed)
        samples.append((time.perf_counter() - started) * 1000)
        if backdrop.scene != family:
            raise SystemExit(f"{words!r} painted {backdrop.scene}, not {family}")
    return statistics.median(samples)


def main() -> int:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.1f}, Python {platform.python_version()}"
    )
    print()
    print("| family | outdoor module | median ms (1024×768) | target |")
    print("| --- | :---: | ---: | --- |")
    timings = {}
    for family in scene_families():
        timings[family] = family_ms(family)
        mark = "yes" if family in OUTDOOR_PAINTERS else ""
        print(f"| {family} | {mark} | {timings[family]:.0f} | ≤ {TARGET_MS:.0f} ms |")
    ours = [timings[f] for f in timings if f in OUTDOOR_PAINTERS]
    rest = [timings[f] for f in timings if f not in OUTDOOR_PAINTERS]
    print()
    print(f"median outdoor {statistics.median(ours):.0f} ms, median others {statistics.median(rest):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
