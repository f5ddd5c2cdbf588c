"""Composition benchmark: embedded place_product, warm, at 1024×768 with grounding, shadows from the scene's
light and harmonisation on; and the composition pieces alone.

Run: .venv/bin/python bench/composition.py   (prints a markdown table; record it in docs/benchmarks.md)
Target (2-core machine): embedded place_product warm ≤ 1.5 s at 1024×768.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.imagegen import make_product  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    from productshot.server.pipeline import Pipeline, PlaceOptions
    from productshot.server.services import LocalServices
    from productshot.settings import Settings
    from productshot.store import AssetStore
    from productshot.tools.composite import alpha_bbox, composite, plan_placement
    from productshot.tools.harmonize import harmonize
    from productshot.tools.imageio import LoadedImage, load_image
    from productshot.tools.plan import RulesPlanner
    from productshot.tools.studio import render_backdrop

    home = Path(tempfile.mkdtemp(prefix="pscomp-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    env["PRODUCTSHOT_HOME"] = str(home)
    env["PRODUCTSHOT_WORKER_AUTOSTART"] = "0"
    settings = Settings.from_mapping(env, home=home)
    pipe = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    opts = PlaceOptions(width=1024, height=768, seed=3)
    photo = load_image("sample:coffee")
    cut = make_product((300, 520), kind="bottle")
    cutout = LoadedImage(image=cut, source="bottle", format="PNG", has_alpha=True, notes=())

    rows: list[tuple[str, float, float]] = []

    def place(request: str, image: LoadedImage, **kw: object) -> Callable[[], object]:
        return lambda: pipe.place_product(
            request, image=image, options=PlaceOptions(width=1024, height=768, seed=3, **kw)
        )  # type: ignore[arg-type]

    rows.append(
        (
            "place_product photo (u2netp) on a sunset beach, bottom-left",
            *median_ms(place("sunset beach, bottom-left", photo)),
        )
    )
    rows.append(
        (
            "place_product cutout on white marble, top-right (pedestal)",
            *median_ms(place("white marble, top right", cutout)),
        )
    )
    rows.append(
        ("place_product cutout, flat lay on wood", *median_ms(place("flat lay on a wooden table", cutout)))
    )
    rows.append(
        ("place_product cutout, harmonize off", *median_ms(place("sunset beach", cutout, harmonize=False)))
    )
    first = pipe.place_product("wooden table, bottom", image=cutout, options=opts)
    rows.append(
        (
            "follow-up 'move it a bit left' (background reused)",
            *median_ms(lambda: pipe.place_product("move it a bit left", previous=first.asset.id)),
        )
    )
    rows.append(
        (
            "follow-up 'move it up' x2 (surface redrawn)",
            *median_ms(
                lambda: pipe.place_product(
                    "move it up", previous=pipe.place_product("move it up", previous=first.asset.id).asset.id
                )
            ),
        )
    )

    placement = plan_placement((1024, 768), alpha_bbox(cut), "bottom")
    backdrop = render_backdrop("sunset beach", 1024, 768, seed=3, footprint=placement.footprint)
    rows.append(
        (
            "render_backdrop 1024×768 with footprint",
            *median_ms(
                lambda: render_backdrop("sunset beach", 1024, 768, seed=3, footprint=placement.footprint)
            ),
        )
    )
    rows.append(
        (
            "composite + shadows from the light, 1024×768",
            *median_ms(lambda: composite(backdrop.image, cut, ground=backdrop.ground)),
        )
    )
    placed = cut.resize(placement.size)
    rows.append(
        (
            "harmonize the placed product",
            *median_ms(lambda: harmonize(placed, backdrop.image, placement.corner)),
        )
    )

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print()
    print("| step | median ms | max ms |")
    print("|---|---:|---:|")
    for name, med, worst in rows:
        print(f"| {name} | {med:.0f} | {worst:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
