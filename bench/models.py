"""Benchmark: compare diffusion models side by side (what the experiments did by hand).

For each model: load time from disk, first and warm generation time at its native size, peak memory; and a
contact sheet PNG with the same prompts and seeds, one labelled row per model. Same as
`productshot bench models`; with no --models it compares the tiny random-weight test pipelines (SD 1.x,
SDXL and SD3 shapes, built offline) and the studio generator, so it runs on any machine.

Run from the repository root:  .venv/bin/python bench/models.py [--models M ...] [-o sheet.png] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys

from productshot.cli import models_cmds
from productshot.errors import ProductshotError
from productshot.settings import Settings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/models.py")
    models_cmds.register(parser.add_subparsers(dest="command"))
    forwarded = ["bench", "models", *argv]
    if "--models" not in argv:
        from tests.support.tiny_pipelines import TINY_KINDS, tiny_model_dir

        forwarded += ["--models", *(str(tiny_model_dir(kind)) for kind in TINY_KINDS), "studio"]
    args = parser.parse_args(forwarded)
    try:
        return int(args.handler(args, Settings.load()))
    except ProductshotError as exc:
        sys.stderr.write(f"bench/models.py: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
