"""Render the composition contact sheet: 12 requests through the real place_product pipeline.

Products are synthetic RGBA objects with known shapes (a long thin knife, a tall bottle, a wide bag, a plate
photographed from straight above) and real photos from scikit-image cut out by u2netp (a coffee cup, a
motorcycle). Requests are English and Korean, cover every anchor, and run on the embedded defaults
(studio backdrops, rules planner) in a throwaway data home. Usage:

    .venv/bin/python scripts/contact_sheet.py docs/images/composition-after.jpg
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from productshot.server.pipeline import Pipeline, PlaceOptions
from productshot.server.services import LocalServices
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.imageio import LoadedImage
from productshot.tools.plan import RulesPlanner

TILE_W = 480
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@dataclass(frozen=True)
class Shot:
    product: str
    request: str
    caption: str  # ASCII (the sheet's font has no Hangul)
    size: tuple[int, int] = (1024, 768)


SHOTS: tuple[Shot, ...] = (
    Shot("knife", "put this knife on a white marble table", "EN knife, marble, default"),
    Shot("knife", "이 칼을 나무 테이블 왼쪽 아래에 놓아줘", "KO knife, wood, bottom-left", (1600, 600)),
    Shot("bottle", "tall bottle on a simple beach, top-right", "EN bottle, beach, top-right"),
    Shot("bottle", "눈 덮인 설원 왼쪽 위에 병을 놓아줘", "KO bottle, snow, top-left", (768, 1024)),
    Shot("bag", "put the bag on concrete, on the right", "EN bag, concrete, right"),
    Shot("bag", "가방을 카페 테이블 가운데에 놓아줘", "KO bag, cafe, center"),
    Shot("plate", "flat lay of this plate on linen, top", "EN plate (top-down), linen flat lay, top"),
    Shot("plate", "접시를 위에서 본 대리석 위에 놓아줘", "KO plate (top-down), marble from above"),
    Shot("coffee", "coffee cup on a sunset beach, left", "EN cup (u2netp), sunset beach, left"),
    Shot(
        "coffee", "커피잔을 밤의 콘크리트 배경 오른쪽 아래에", "KO cup (u2netp), night concrete, bottom-right"
    ),
    Shot(
        "motorcycle",
        "motorcycle in the desert, bottom",
        "EN motorcycle (u2netp), desert, bottom",
        (1600, 900),
    ),
    Shot("bottle", "병을 숲속 위쪽에 놓아줘", "KO bottle, forest, top"),
)


# ---- products ----------------------------------------------------------------------------------------


def _supersampled(mask_fn, size: tuple[int, int], ss: int = 3) -> np.ndarray:  # type: ignore[no-untyped-def]
    w, h = size
    yy, xx = np.mgrid[0 : h * ss, 0 : w * ss].astype(np.float32)
    u, v = (xx + 0.5) / (w * ss), (yy + 0.5) / (h * ss)
    return mask_fn(u, v).astype(np.float32).reshape(h, ss, w, ss).mean(axis=(1, 3))


def _rgba(rgb: np.ndarray, alpha: np.ndarray) -> Image.Image:
    pixels = np.dstack([np.clip(rgb, 0, 255), np.clip(alpha * 255.0, 0, 255)])
    return Image.fromarray(np.rint(pixels).astype(np.uint8), "RGBA")


def knife() -> Image.Image:
    """A chef's knife lying sideways: steel blade (bright, brushed) and a dark riveted handle, 1200×140."""
    w, h = 1200, 140

    def blade(u, v):  # type: ignore[no-untyped-def]
        tip = np.clip((0.62 - u) / 0.62, 0, 1)  # 1 at the bolster, 0 at the tip
        top = 0.18 + 0.02 * (1 - tip)
        bottom = 0.18 + 0.78 * np.sqrt(tip)
        return (u < 0.62) & (v > top) & (v < bottom)

    def handle(u, v):  # type: ignore[no-untyped-def]
        return (u >= 0.61) & (u < 0.99) & (v > 0.22) & (v < 0.62 + 0.06 * np.sin((u - 0.61) * 8))

    a_blade = _supersampled(blade, (w, h))
    a_handle = _supersampled(handle, (w, h))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    brushed = 200 + 30 * np.sin(yy / h * 3.0) + np.random.default_rng(1).normal(0, 3, (h, w))
    steel = np.dstack([brushed, brushed + 3, brushed + 8])
    wood = np.dstack([np.full((h, w), 45.0), np.full((h, w), 32.0), np.full((h, w), 28.0)])
    wood += 10 * np.sin(xx / 9.0)[..., None]
    rivets = (((xx - 0.70 * w) ** 2 + (yy - 0.42 * h) ** 2) < 60) | (
        ((xx - 0.85 * w) ** 2 + (yy - 0.42 * h) ** 2) < 60
    )
    wood[rivets] = 190
    alpha = np.clip(a_blade + a_handle, 0, 1)
    rgb = np.where((a_handle > a_blade)[..., None], wood, steel)
    return _rgba(rgb, alpha)


def bottle() -> Image.Image:
    """A tall green glass bottle with a cream label, 220×700."""
    w, h = 220, 700

    def shape(u, v):  # type: ignore[no-untyped-def]
        neck = (v < 0.30) & (np.abs(u - 0.5) < 0.13) & (v > 0.02)
        shoulder_w = 0.13 + (0.45 - 0.13) * np.clip((v - 0.30) / 0.12, 0, 1)
        body = (v >= 0.30) & (np.abs(u - 0.5) < shoulder_w) & (v < 0.995)
        return neck | body

    alpha = _supersampled(shape, (w, h))
    xx = (np.arange(w, dtype=np.float32) + 0.5) / w
    x = np.clip((xx - 0.5) / 0.45, -1, 1)
    shade = 0.45 + 0.55 * np.sqrt(np.clip(1 - x * x, 0, 1)) + 0.5 * np.exp(-(((x + 0.5) / 0.07) ** 2))
    rgb = np.array([40.0, 110.0, 60.0])[None, None, :] * shade[None, :, None] * np.ones((h, 1, 1))
    label = (np.arange(h)[:, None] > 0.52 * h) & (np.arange(h)[:, None] < 0.78 * h)
    rgb = np.where(
        label[..., None], np.array([235.0, 225.0, 200.0]) * (0.6 + 0.4 * shade[None, :, None]), rgb
    )
    return _rgba(rgb, alpha)


def bag() -> Image.Image:
    """A wide tan leather tote with two handles (holes between them), 900×520."""
    w, h = 900, 520

    def shape(u, v):  # type: ignore[no-untyped-def]
        body = (v > 0.35) & (v < 0.99) & (np.abs(u - 0.5) < 0.40 + 0.08 * (v - 0.35))
        r = np.sqrt(((u - 0.5) / 0.30) ** 2 + ((v - 0.38) / 0.34) ** 2)
        handle = (r > 0.86) & (r < 1.0) & (v < 0.38)
        return body | handle

    alpha = _supersampled(shape, (w, h))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.75 + 0.25 * np.cos((xx / w - 0.45) * 2.5) - 0.15 * (yy / h)
    grain = np.random.default_rng(2).normal(0, 4, (h, w))
    rgb = np.array([176.0, 120.0, 72.0])[None, None, :] * shade[..., None] + grain[..., None]
    stitch = (np.abs(yy - 0.42 * h) < 2) & ((xx.astype(int) // 12) % 2 == 0)
    rgb[stitch] = (230, 210, 180)
    return _rgba(rgb, alpha)


def plate() -> Image.Image:
    """A white plate with a tart, photographed from straight above (round, shadowless), 700×700."""
    s = 700
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    r = np.sqrt((xx - s / 2 + 0.5) ** 2 + (yy - s / 2 + 0.5) ** 2) / (s / 2)
    alpha = np.clip((0.985 - r) * s / 2, 0, 1)
    rim = np.clip((r - 0.62) / 0.3, 0, 1)
    plate_rgb = 240 - 25 * np.exp(-(((r - 0.66) / 0.03) ** 2)) - 8 * rim * (xx / s)
    rgb = np.dstack([plate_rgb, plate_rgb, plate_rgb + 3])
    tart = r < 0.45
    crust = (r > 0.40) & tart
    berries = np.random.default_rng(3).normal(0, 1, (s, s))
    rgb[tart] = (180, 40, 60)
    rgb[tart & (berries > 1.0)] = (90, 20, 50)
    rgb[crust] = (200, 150, 80)
    return _rgba(rgb, alpha)


def _photo(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


PRODUCTS = {
    "knife": knife,
    "bottle": bottle,
    "bag": bag,
    "plate": plate,
    "coffee": lambda: _photo("coffee"),
}


def _motorcycle() -> Image.Image:
    import skimage.data

    left, _right, _disp = skimage.data.stereo_motorcycle()
    return Image.fromarray(left).convert("RGB")


PRODUCTS["motorcycle"] = _motorcycle  # its loader returns a stereo pair: the left view is the photo


# ---- sheet -------------------------------------------------------------------------------------------


def run(out: Path, shots: Path | None = None) -> list[dict[str, object]]:
    """Run every shot through a fresh pipeline and write the sheet to `out` (and a JSON log beside it)."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
        env["PRODUCTSHOT_HOME"] = home
        env["PRODUCTSHOT_WORKER_AUTOSTART"] = "0"
        settings = Settings.from_mapping(env, home=Path(home))
        pipeline = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
        cache: dict[str, Image.Image] = {}
        tiles, log = [], []
        for index, shot in enumerate(SHOTS, 1):
            if shot.product not in cache:
                cache[shot.product] = PRODUCTS[shot.product]()
            photo = cache[shot.product]
            loaded = LoadedImage(
                image=photo,
                source=f"sheet:{shot.product}",
                format="PNG",
                has_alpha=photo.mode == "RGBA",
                notes=(),
            )
            result = pipeline.place_product(
                shot.request,
                image=loaded,
                options=PlaceOptions(width=shot.size[0], height=shot.size[1], seed=index),
            )
            data = result.to_dict()
            if shots is not None:
                result.image.save(shots / f"shot-{index:02d}.png")
            log.append(
                {
                    "request": shot.request,
                    "size": list(shot.size),
                    **{k: data[k] for k in ("position", "scale", "scene", "bbox", "notes", "seconds")},
                    **{k: data[k] for k in ("view", "light") if k in data},
                }
            )
            tiles.append(
                _tile(result.image, f"{index}. {shot.caption}", f"{data['position']}, {data['scene']}")
            )
            print(
                f"{index:2d} {result.seconds:5.2f}s {shot.request} -> {data['position']} {data['notes']}",
                file=sys.stderr,
            )
    _sheet(tiles).save(out, quality=86)
    out.with_suffix(".json").write_text(json.dumps(log, ensure_ascii=False, indent=1))
    return log


def _tile(image: Image.Image, title: str, detail: str) -> Image.Image:
    scale = TILE_W / max(image.width, image.height * 4 / 3)
    shot = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (TILE_W, round(TILE_W * 3 / 4) + 40), (24, 24, 24))
    tile.paste(shot, ((TILE_W - shot.width) // 2, (round(TILE_W * 3 / 4) - shot.height) // 2))
    draw = ImageDraw.Draw(tile)
    font = ImageFont.truetype(FONT, 13)
    draw.text((6, round(TILE_W * 3 / 4) + 3), title, fill=(240, 240, 240), font=font)
    draw.text((6, round(TILE_W * 3 / 4) + 21), detail, fill=(170, 170, 170), font=font)
    return tile


def _sheet(tiles: list[Image.Image], cols: int = 4) -> Image.Image:
    rows = (len(tiles) + cols - 1) // cols
    tw, th = tiles[0].size
    sheet = Image.new("RGB", (cols * tw + (cols + 1) * 6, rows * th + (rows + 1) * 6), (10, 10, 10))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (6 + (i % cols) * (tw + 6), 6 + (i // cols) * (th + 6)))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the sheet (JPEG); a .json log goes beside it")
    parser.add_argument("--shots", type=Path, default=None, help="also write each full-size shot here")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.shots is not None:
        args.shots.mkdir(parents=True, exist_ok=True)
    run(args.out, args.shots)


if __name__ == "__main__":
    main()
