"""Split-detector benchmark: median wall and CPU time of `check_split` at several sizes, plus the first call.

Run: .venv/bin/python bench/split.py   (prints a markdown table; record it in docs/benchmarks.md)
Target (2-core machine): 1024² ≤ 30 ms. The first call in a process also reads the weights (≈ 1.4 MB).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _photo_like(width: int, height: int) -> Image.Image:
    """A deterministic textured picture (the detector's cost does not depend on content)."""
    rng = np.random.default_rng(0)
    base = np.linspace(40, 220, height, dtype=np.float32)[:, None, None] * np.ones((1, width, 3), np.float32)
    noise = rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def _median(fn: Callable[[], object], repeat: int = 15) -> tuple[float, float]:
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    started = time.perf_counter()
    from productshot.tools.split import check_split

    first_image = _photo_like(1024, 1024)
    t0 = time.perf_counter()
    check_split(first_image)
    first = (time.perf_counter() - t0) * 1000
    print(f"import {(t0 - started) * 1000:.0f} ms; first call (reads the weights) {first:.1f} ms\n")
    print("| size | median wall | median CPU | target |")
    print("| --- | ---: | ---: | --- |")
    for width, height in ((1024, 1024), (1024, 768), (768, 1344), (2048, 2048), (4096, 4096)):
        image = _photo_like(width, height)
        wall, cpu = _median(partial(check_split, image))
        target = "≤ 30 ms" if (width, height) == (1024, 1024) else "—"
        print(f"| {width}×{height} | {wall:.1f} ms | {cpu:.1f} ms | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
