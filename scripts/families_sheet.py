"""Render a contact sheet of every studio scene family (enumerated at run time) into docs/images/families.jpg.

Each tile is the family rendered from its own name at a 4:3 canvas with a fixed seed, labelled with the
family name; `--png PATH` also writes a lossless copy to look at. Run: python scripts/families_sheet.py
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from PIL import Image, ImageDraw

from productshot.tools.studio import render_backdrop, scene_families
from productshot.tools.studio_scenes import family_label

ROOT = Path(__file__).resolve().parents[1]
TILE = (320, 240)
COLUMNS = 6


def families_sheet(seed: int = 3, words: str = "") -> Image.Image:
    """One labelled tile per family, in table order; `words` (e.g. "navy") is added to each family's name."""
    names = scene_families()
    rows = math.ceil(len(names) / COLUMNS)
    pad, caption = 6, 18
    sheet = Image.new(
        "RGB", (COLUMNS * (TILE[0] + pad) + pad, rows * (TILE[1] + caption + pad) + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(names):
        label = family_label(name, "en")
        backdrop = render_backdrop(f"{label} {words}".strip(), *TILE, seed=seed)
        x = pad + (i % COLUMNS) * (TILE[0] + pad)
        y = pad + (i // COLUMNS) * (TILE[1] + caption + pad)
        sheet.paste(backdrop.image, (x, y))
        draw.text((x + 2, y + TILE[1] + 3), f"{name} ({backdrop.scene})", fill=(20, 20, 20))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "families.jpg")
    parser.add_argument("--png", type=Path, default=None, help="also save a PNG here (to look at)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--words", default="", help="words added to every family, e.g. 'pastel mint'")
    args = parser.parse_args()
    sheet = families_sheet(args.seed, args.words)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=88)
    if args.png is not None:
        sheet.save(args.png)


if __name__ == "__main__":
    main()
