"""Imaging benchmark: median timings of the toolkit's hot paths, and whole-process CLI starts.

Run: .venv/bin/python bench/imaging.py   (prints a markdown table; record it in docs/benchmarks.md)
Targets (2-core machine): composite+shadow 1024² ≤ 40 ms, split 1024² ≤ 30 ms, backdrop 1024×768 ≤ 100 ms,
cutout 1024² ≤ 600 ms with the second cutout ≤ half the first, `--help` ≤ 0.6 s, cold composite ≤ 2 s.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.imagegen import make_product, on_background  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def median_cpu_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    """Median process CPU time (all threads) of ``fn``: steadier than wall time on a shared machine."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        samples.append((time.process_time() - t0) * 1000)
    return statistics.median(samples)


def photo(size: int) -> Image.Image:
    product = make_product((size // 2, size * 5 // 8), kind="bottle")
    bg = Image.new("RGB", (size, size), (245, 245, 245))
    image, _ = on_background(product, bg)
    return image


def main() -> int:
    from productshot.tools.composite import composite
    from productshot.tools.cutout import Cutter
    from productshot.tools.imageio import load_image
    from productshot.tools.split import check_split
    from productshot.tools.studio import render_backdrop

    rows: list[tuple[str, float, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="psbench-"))

    # load + validate a 2048² JPEG from disk
    src = tmp / "photo.jpg"
    photo(2048).save(src, quality=92)
    rows.append(("load+validate 2048² JPEG", median_ms(lambda: load_image(src)), "—"))

    # cutout, session reused; first call includes the session load
    cutter = Cutter("u2netp")
    images = {s: photo(s) for s in (512, 1024, 2048)}
    t0 = time.perf_counter()
    cutter.cut(images[1024])
    first = (time.perf_counter() - t0) * 1000
    rows.append(("cutout 1024², first in process (loads model)", first, "—"))
    for s in (512, 1024, 2048):
        ms = median_ms(lambda s=s: cutter.cut(images[s]), repeat=5)
        target = "≤ 600 ms" if s == 1024 else "—"
        rows.append((f"cutout {s}², session reused", ms, target))
    # A clean product photo (JPEG, noise, floor shadow) and a cluttered real one, both at 1024².
    from tests.support.cutout_renders import load_render_set
    from tests.support.imagegen import skimage_data_file

    clean = load_render_set()[0].load()[0].resize((1024, 1024), Image.Resampling.LANCZOS)
    cluttered = Image.open(skimage_data_file("motorcycle_left.png")).convert("RGB").resize((1024, 1024))
    rows.append(
        ("cutout 1024², clean product photo (render set)", median_ms(lambda: cutter.cut(clean)), "≤ 600 ms")
    )
    rows.append(
        (
            "cutout 1024², cluttered real photo (motorcycle)",
            median_ms(lambda: cutter.cut(cluttered)),
            "≤ 600 ms",
        )
    )
    session = cutter.session
    assert session is not None
    rows.append(
        ("  of which the model alone (rembg predict), 1024²", median_ms(lambda: session.predict(clean)), "—")
    )
    # Process CPU: the model runs on two threads, everything after it on one, so on a quiet machine the
    # wall time is about the model's wall time plus (cutout CPU − model CPU).
    model_cpu = median_cpu_ms(lambda: session.predict(clean))
    rows.append(("  the model alone, process CPU (2 threads), 1024²", model_cpu, "—"))
    for name, image in (("clean product photo", clean), ("cluttered real photo", cluttered)):
        cpu = median_cpu_ms(lambda image=image: cutter.cut(image))
        rows.append((f"cutout 1024², {name}: process CPU after the model", cpu - model_cpu, "—"))
    second = median_ms(lambda: cutter.cut(images[1024]), repeat=3, warmup=0)
    rows.append(("second cutout / first (1024²)", second / first, "≤ 0.5"))

    cut = cutter.cut(images[1024]).image
    for s, target in ((1024, "≤ 40 ms"), (2048, "—")):
        bg = render_backdrop("simple beach", s, s, seed=1).image
        ms = median_ms(lambda bg=bg: composite(bg, cut, position="bottom-left", shadow=True))
        rows.append((f"composite with shadow {s}²", ms, target))

    bg1024 = render_backdrop("white marble", 1024, 1024, seed=2).image
    rows.append(("split check 1024²", median_ms(lambda: check_split(bg1024)), "≤ 30 ms"))
    rows.append(
        (
            "backdrop 1024×768",
            median_ms(lambda: render_backdrop("simple beach", 1024, 768, seed=3)),
            "≤ 100 ms",
        )
    )

    # whole-process starts
    exe = str(Path(sys.executable).with_name("productshot"))
    env = dict(os.environ, PRODUCTSHOT_HOME=str(tmp / "home"))
    rows.append(
        (
            "`productshot --help` (process)",
            median_ms(
                lambda: subprocess.run([exe, "--help"], capture_output=True, env=env, check=True), repeat=5
            ),
            "≤ 600 ms",
        )
    )
    cutout_png = tmp / "cut.png"
    cut.save(cutout_png)
    bg_png = tmp / "bg.png"
    render_backdrop("simple beach", 1024, 768, seed=4).image.save(bg_png)

    def cold_composite() -> None:
        subprocess.run(
            [
                exe,
                "composite",
                str(bg_png),
                str(cutout_png),
                "--position",
                "bottom-left",
                "-o",
                str(tmp / "o.png"),
            ],
            capture_output=True,
            env=env,
            check=True,
        )

    rows.append(
        (
            "cold `productshot composite` of a cutout (process)",
            median_ms(cold_composite, repeat=5),
            "≤ 2000 ms",
        )
    )

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print()
    print("| measurement | median | target |")
    print("| --- | ---: | --- |")
    for name, value, target in rows:
        shown = f"{value:.2f}" if "/" in name else f"{value:.1f} ms"
        print(f"| {name} | {shown} | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
