"""Contact sheet of cutouts: varied products on a contrasting colour and on a checkerboard, with zoomed edges.

Run: .venv/bin/python scripts/cutout_sheet.py out/cutout_sheet.png
Rows: a selection of the frozen render set (glossy, metallic, dark, white, holed, thin) and real photos from
scikit-image. Columns: photo, cutout on magenta, cutout on a checkerboard, a 4× crop of the edge, confidence.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productshot.settings import Settings
from productshot.tools.cutout import Cutter
from productshot.tools.imageio import load_sample
from tests.support.cutout_renders import load_render_set

TILE = 220


def checker(size: tuple[int, int], cell: int = 12) -> Image.Image:
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 200, 120).astype(np.uint8)
    return Image.fromarray(np.dstack([board] * 3), mode="RGB")


def over(cut: Image.Image, background: Image.Image) -> Image.Image:
    base = background.convert("RGBA").resize(cut.size)
    return Image.alpha_composite(base, cut).convert("RGB")


def edge_crop(cut: Image.Image) -> Image.Image:
    """A 4× crop of the cutout on magenta around the rightmost edge point at mid-height of the product."""
    alpha = np.asarray(cut.getchannel("A"))
    rows = np.flatnonzero(alpha.max(axis=1) >= 128)
    y = int(rows[len(rows) // 2]) if rows.size else cut.height // 2
    cols = np.flatnonzero(alpha[y] >= 128)
    x = int(cols[-1]) if cols.size else cut.width // 2
    half = TILE // 8
    box = (max(0, x - half), max(0, y - half), max(0, x - half) + 2 * half, max(0, y - half) + 2 * half)
    shown = over(cut, Image.new("RGB", cut.size, (255, 0, 255))).crop(box)
    return shown.resize((TILE, TILE), Image.Resampling.NEAREST)


def fit(image: Image.Image) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((TILE, TILE))
    canvas = Image.new(copy.mode, (TILE, TILE), (255, 255, 255) if copy.mode == "RGB" else (0, 0, 0, 0))
    canvas.paste(copy, ((TILE - copy.width) // 2, (TILE - copy.height) // 2))
    return canvas


def main(out: Path) -> None:
    cutter = Cutter(u2net_home=Settings.from_mapping(os.environ).u2net_home)
    renders = {r.name: r for r in load_render_set()}
    picks = [
        "glossy-0",
        "glossy-2",
        "metallic-0",
        "metallic-4",
        "dark-0",
        "dark-2",
        "white-0",
        "white-2",
        "holed-0",
        "holed-2",
        "thin-0",
        "thin-3",
        "glossy-4",
        "thin-2",
    ]
    photos = [(name, renders[name].load()[0]) for name in picks]
    photos += [(f"sample:{name}", load_sample(name)) for name in ("coffee", "chelsea", "rocket", "astronaut")]
    sheet = Image.new("RGB", (TILE * 4 + 160, TILE * len(photos)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, (name, photo) in enumerate(photos):
        result = cutter.cut(photo)
        cut = result.image
        tiles = [
            fit(photo.convert("RGB")),
            fit(over(cut, Image.new("RGB", cut.size, (255, 0, 255)))),
            fit(over(cut, checker(cut.size))),
            edge_crop(cut),
        ]
        for col, tile in enumerate(tiles):
            sheet.paste(tile, (col * TILE, row * TILE))
        draw.text((TILE * 4 + 8, row * TILE + 8), name, fill=(0, 0, 0))
        draw.text((TILE * 4 + 8, row * TILE + 28), f"confidence {result.confidence:.2f}", fill=(0, 0, 0))
        for index, item in enumerate(result.notes):
            draw.text(
                (TILE * 4 + 8, row * TILE + 48 + 16 * index),
                item.code.removeprefix("cutout_"),
                fill=(160, 0, 0),
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/cutout_sheet.png"))
