"""Listing batch benchmark: throughput of `batch` on 1024² photos, and its cost beyond the warm cutout.

Run: .venv/bin/python bench/listing.py [--photos 8]   (prints a markdown table; record it in docs/benchmarks.md)
Target (2-core machine): per photo, everything but the (warm) cutout ≤ 25% of the cutout's own time.
The cutout function is wrapped to time each call, so the rest (decode, hash, layout, JPEG encode with its
decode-and-verify, the check, atomic writes, manifest, report, contact sheet) is the batch's time minus that.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.imagegen import make_product, on_background  # noqa: E402

KINDS = ("bottle", "cup", "box")


def write_photos(folder: Path, count: int, size: int = 1024) -> None:
    """`count` product photos of `size`² on light backdrops, as JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        w, h = (size * 2 // 5, size * 3 // 5) if kind != "box" else (size * 3 // 5, size * 2 // 5)
        product = make_product((w, h), kind, (40 + 20 * i % 200, 60, 180 - 15 * i % 150), seed=i)  # type: ignore[arg-type]
        photo, _ = on_background(product, (238, 238, 236), canvas=(size, size))
        photo.save(folder / f"photo{i:02d}.jpg", quality=92)


def main() -> int:
    from productshot.server.listing_batch import BatchOptions, run_batch
    from productshot.settings import Settings
    from productshot.tools.cutout import Cutter

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--presets", default="coupang,amazon")
    args = parser.parse_args()

    settings = Settings.load()
    cutter = Cutter(settings.cutout_model, u2net_home=settings.u2net_home)
    cutter.load()
    tmp = Path(tempfile.mkdtemp(prefix="pslisting-"))
    photos = tmp / "photos"
    write_photos(photos, args.photos)

    # Warm the session (the first run of an onnxruntime graph is slower) outside any measurement.
    from PIL import Image

    with Image.open(next(photos.iterdir())) as first:
        cutter.cut(first.convert("RGB"))

    rows: list[tuple[str, str, str, str, str, str]] = []
    for preset in args.presets.split(","):
        cut_times: list[float] = []

        def timed_cut(photo: Any, cut_times: list[float] = cut_times) -> Any:
            t0 = time.perf_counter()
            result = cutter.cut(photo)
            cut_times.append(time.perf_counter() - t0)
            return result

        out = tmp / f"out-{preset}"
        t0 = time.perf_counter()
        report = run_batch(
            photos, out, default_preset=preset, cut=lambda: timed_cut, options=BatchOptions(force=True)
        )
        total = time.perf_counter() - t0
        assert report.done == args.photos and not report.failed, report.to_summary()
        cut_mean = statistics.mean(cut_times)
        beyond = (total - sum(cut_times)) / args.photos
        # A re-run over unchanged inputs: what resuming a finished catalogue costs.
        t1 = time.perf_counter()
        again = run_batch(photos, out, default_preset=preset, cut=lambda: timed_cut)
        resume = (time.perf_counter() - t1) / args.photos
        assert again.skipped == args.photos and again.done == 0
        rows.append(
            (
                preset,
                f"{args.photos / total:.2f}",
                f"{cut_mean * 1000:.0f}",
                f"{beyond * 1000:.0f}",
                f"{100 * beyond / cut_mean:.0f}%",
                f"{resume * 1000:.0f}",
            )
        )

    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.1f}/{load[1]:.1f}; {args.photos} photos of 1024², warm {cutter.model} session"
    )
    print()
    print(
        "| preset | photos/s | cutout ms/photo | beyond cutout ms/photo | beyond / cutout (≤ 25%) | resume ms/photo |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
