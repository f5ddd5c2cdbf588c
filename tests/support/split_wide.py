"""The split detector's wide labelled set: any two pictures stacked one above the other, and single scenes.

Stacks join two pictures of any kind (a studio family over itself or over another family, a landscape over
another landscape of the same or another kind, a landscape over a texture, a photo over itself or over an
unrelated photo, two interiors, and mixed sources) by a hard, a Gaussian-blurred or a cross-faded seam at
30-70% of the height, at 1:1, 4:3, 16:9 or 3:4, saved as PNG or JPEG (quality 80-90). Each part is
rendered at its own size or squashed from a full-canvas render. Single scenes that
must not fire: studio backdrops, horizons and sunsets, lake reflections, real photos, textures, printed
text, shelves, window frames, a wall over a floor, empty tables.

The two halves are disjoint BY SOURCE, fixed before any tuning: each half has its own scikit-image photos,
its own studio families and its own seed family for the procedural generators (even seeds tune, odd seeds
report). The manifest (tests/data/split_set/wide.json) holds each item's recipe, truth and fingerprint;
images (at most 256 px) are rebuilt from their recipes on demand. Fresh training pools of the tune half's
sources come from `plan(other_seed, halves=("tune",))`.

    python -m tests.support.split_wide --write [--force]   # build and freeze the manifest
    python -m tests.support.split_wide --scores tune       # detector scores on one half
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from productshot.tools.studio import match_scene, render_backdrop
from tests.support.interiors import INTERIORS, TEXTURE_KINDS, interior, text_page, texture
from tests.support.landscapes import KINDS, lake, landscape
from tests.support.split_set import Item, fingerprint, join_stack, load_photo

MANIFEST = Path(__file__).resolve().parents[1] / "data" / "split_set" / "wide.json"
MASTER_SEED = 20261203
HALVES: tuple[str, ...] = ("tune", "report")
SIZES: tuple[tuple[int, int], ...] = ((256, 256), (256, 192), (256, 144), (192, 256))  # 1:1 4:3 16:9 3:4
SEAMS: tuple[str, ...] = ("hard", "blur", "fade")
SEAM_RANGE = (0.30, 0.70)
PER_KIND = 24  # items of each kind in each half

STUDIO: dict[str, tuple[str, ...]] = {
    "tune": ("studio", "sea", "wood", "grass", "desert", "forest", "linen"),
    "report": ("beach", "marble", "concrete", "snow", "kitchen", "cafe", "pastel"),
}
MODIFIERS: tuple[str, ...] = ("", "", " sunset", " night", " minimal", " pastel", " warm")
PHOTOS: dict[str, tuple[str, ...]] = {
    "tune": (
        "astronaut.png",
        "chelsea.png",
        "camera.png",
        "motorcycle_left.png",
        "motorcycle_right.png",
        "ihc.png",
        "phantom.png",
    ),
    "report": (
        "coffee.png",
        "rocket.jpg",
        "clock_motion.png",
        "retina.jpg",
        "horse.png",
        "cell.png",
        "microaneurysms.png",
        "color.png",
    ),
}
TEXTURE_PHOTOS: dict[str, tuple[str, ...]] = {
    "tune": ("brick.png", "gravel.png", "moon.png"),
    "report": ("grass.png", "coins.png", "hubble_deep_field.jpg"),
}
TEXT_PHOTOS: dict[str, tuple[str, ...]] = {"tune": ("page.png",), "report": ("text.png",)}

POSITIVE_TYPES: tuple[str, ...] = (
    "stack-same-studio",
    "stack-studio-studio",
    "stack-same-landscape",
    "stack-landscape-landscape",
    "stack-landscape-texture",
    "stack-photo-self",
    "stack-photo-photo",
    "stack-interior",
    "stack-mixed",
)
NEGATIVE_TYPES: tuple[str, ...] = (
    "single-studio",
    "single-landscape",
    "single-reflection",
    "single-photo",
    "single-texture",
    "single-text",
    "single-shelf",
    "single-window",
    "single-wall-floor",
    "single-table",
)


# ------------------------------------------------------------------------------------------------ build


def _generated(recipe: dict[str, Any], width: int, height: int) -> Image.Image:
    source = recipe["source"]
    if source == "studio":
        if min(width, height) < 64:  # the studio paints at least 64 px a side: paint larger, shrink
            scale = 64 / min(width, height)
            big = render_backdrop(
                recipe["words"], round(width * scale), round(height * scale), seed=recipe["seed"]
            )
            return big.image.resize((width, height), Image.Resampling.BOX)
        return render_backdrop(recipe["words"], width, height, seed=recipe["seed"]).image
    if source == "landscape":
        return landscape(recipe["kind"], width, height, recipe["seed"])
    if source == "lake":
        return lake(width, height, recipe["seed"], recipe["water"])
    if source == "interior":
        return interior(recipe["kind"], width, height, recipe["seed"])
    if source == "page":
        return text_page(width, height, recipe["seed"])
    if source == "texture":
        return texture(recipe["kind"], width, height, recipe["seed"])
    if source == "photo":
        photo = load_photo(recipe["name"])
        x0, y0, x1, y1 = recipe["crop"]
        box = (x0 * photo.width, y0 * photo.height, x1 * photo.width, y1 * photo.height)
        return photo.resize((width, height), Image.Resampling.BICUBIC, box=box)
    raise ValueError(f"unknown source {source!r}")


def render_part(recipe: dict[str, Any], width: int, height: int) -> Image.Image:
    """One picture at exactly width×height: rendered at that size, or squashed from a render at the whole
    canvas's height (`full_height`)."""
    render = recipe.get("render", "native")
    if render == "native" or recipe["source"] == "photo":
        return _generated(recipe, width, height)
    full_h = max(recipe["full_height"], height)
    full = _generated(recipe, width, full_h)
    return full.resize((width, height), Image.Resampling.BICUBIC)


def stack(recipe: dict[str, Any], width: int, height: int) -> Image.Image:
    """Two pictures joined at `seam_y` by a hard cut, a Gaussian blur across the cut, or a linear fade."""
    return join_stack(recipe, width, height, render_part)


def build(item: Item) -> Image.Image:
    """The image of one item, rebuilt from its recipe (and passed through JPEG when the recipe says so)."""
    recipe = item.recipe
    image = (
        stack(recipe, item.width, item.height)
        if recipe["source"] == "stack"
        else render_part(recipe, item.width, item.height)
    )
    if recipe.get("format") == "jpeg":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=recipe["quality"])
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            image = decoded.convert("RGB")
    return image


# ------------------------------------------------------------------------------------------------- plan


class _Planner:
    """Draws the recipes of one half from that half's sources only."""

    def __init__(self, rng: np.random.Generator, half: str) -> None:
        self.rng, self.half = rng, half
        self.parity = 0 if half == "tune" else 1

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def seed(self) -> int:
        return int(self.rng.integers(0, 2**30)) * 2 + self.parity

    def render(self, full_height: int) -> dict[str, Any]:
        # Each part is a whole picture: rendered at its own size or squashed from the canvas size. (A crop
        # of a render was dropped before the report half was ever scored: a crop can hold only a blank
        # wall or sky, and a wall strip over a floor strip is one room, not two pictures.)
        mode = self.pick(("native", "native", "squash"))
        return {"render": mode, "full_height": full_height}

    def studio(self, family: str | None = None, h: int = 256) -> dict[str, Any]:
        family = family or self.pick(STUDIO[self.half])
        words = family + self.pick(MODIFIERS)
        if match_scene(words)[0] != family:  # "pastel night" paints the studio family: keep the family alone
            words = family
        return {"source": "studio", "words": words, "seed": self.seed(), **self.render(h)}

    def landscape(self, kind: str | None = None, h: int = 256) -> dict[str, Any]:
        kind = kind or self.pick((*KINDS, "lake"))
        if kind == "lake":
            water = round(float(self.rng.uniform(0.4, 0.6)), 3)
            return {"source": "lake", "seed": self.seed(), "water": water, **self.render(h)}
        return {"source": "landscape", "kind": kind, "seed": self.seed(), **self.render(h)}

    def interior(self, kind: str | None = None, h: int = 256) -> dict[str, Any]:
        if kind is None and self.rng.random() < 0.15:
            return {"source": "page", "seed": self.seed(), **self.render(h)}
        return {
            "source": "interior",
            "kind": kind or self.pick(INTERIORS),
            "seed": self.seed(),
            **self.render(h),
        }

    def crop(self, name: str, aspect: float, *, low: float = 0.5) -> list[float]:
        """A crop of the photo covering `low`..100% of its width at this aspect (w/h) where it fits."""
        photo = load_photo(name)
        frac_w = float(self.rng.uniform(low, 1.0))
        frac_h = min(1.0, frac_w * photo.width / aspect / photo.height)
        frac_w = min(1.0, frac_h * aspect * photo.height / photo.width)
        x0 = float(self.rng.uniform(0, 1 - frac_w))
        y0 = float(self.rng.uniform(0, 1 - frac_h))
        return [round(x0, 4), round(y0, 4), round(x0 + frac_w, 4), round(y0 + frac_h, 4)]

    def photo(self, aspect: float, name: str | None = None) -> dict[str, Any]:
        name = name or self.pick(PHOTOS[self.half])
        return {"source": "photo", "name": name, "crop": self.crop(name, aspect)}

    def texture(self, aspect: float) -> dict[str, Any]:
        if self.rng.random() < 0.5:
            name = self.pick(TEXTURE_PHOTOS[self.half])
            return {"source": "photo", "name": name, "crop": self.crop(name, aspect, low=0.3)}
        return {"source": "texture", "kind": self.pick(TEXTURE_KINDS), "seed": self.seed()}

    def any_source(self, aspect: float, h: int, exclude: str = "") -> tuple[str, dict[str, Any]]:
        kinds = [k for k in ("studio", "landscape", "photo", "interior") if k != exclude]
        kind = self.pick(kinds)
        if kind == "studio":
            return kind, self.studio(h=h)
        if kind == "landscape":
            return kind, self.landscape(h=h)
        if kind == "interior":
            return kind, self.interior(h=h)
        return kind, self.photo(aspect)

    def seam(self, index: int, height: int) -> dict[str, Any]:
        kind = SEAMS[index % len(SEAMS)]
        seam_y = round(height * float(self.rng.uniform(*SEAM_RANGE)))
        if kind == "fade":
            band = round(height * float(self.rng.uniform(0.05, 0.15)))
            band += band % 2
        elif kind == "blur":
            band = max(2, round(height * float(self.rng.uniform(0.008, 0.03))))
        else:
            band = 0
        return {"seam": kind, "seam_y": seam_y, "band": band}

    def positive(self, kind: str, index: int, w: int, h: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
        seam = self.seam(index, h)
        top_aspect, bottom_aspect = w / seam["seam_y"], w / (h - seam["seam_y"])
        if kind == "stack-same-studio":
            family = self.pick(STUDIO[self.half])
            top, bottom, scene = self.studio(family, h), self.studio(family, h), family
        elif kind == "stack-studio-studio":
            first, second = self.rng.choice(len(STUDIO[self.half]), 2, replace=False)
            top, bottom = self.studio(STUDIO[self.half][first], h), self.studio(STUDIO[self.half][second], h)
            scene = f"{top['words']}/{bottom['words']}"
        elif kind == "stack-same-landscape":
            land = self.pick((*KINDS, "lake"))
            top, bottom, scene = self.landscape(land, h), self.landscape(land, h), land
        elif kind == "stack-landscape-landscape":
            first, second = self.rng.choice(len(KINDS) + 1, 2, replace=False)
            names = (*KINDS, "lake")
            top, bottom = self.landscape(names[first], h), self.landscape(names[second], h)
            scene = f"{names[first]}/{names[second]}"
        elif kind == "stack-landscape-texture":
            land = self.landscape(h=h)
            if self.rng.random() < 0.5:
                top, bottom = land, self.texture(bottom_aspect)
            else:
                top, bottom = self.texture(top_aspect), land
            scene = f"{top.get('kind', top.get('name', top['source']))}/{bottom.get('kind', bottom.get('name', bottom['source']))}"
        elif kind == "stack-photo-self":
            name = self.pick(PHOTOS[self.half])
            top = self.photo(top_aspect, name)
            bottom = {**top} if self.rng.random() < 0.4 else self.photo(bottom_aspect, name)
            scene = name.split(".")[0]
        elif kind == "stack-photo-photo":
            first, second = self.rng.choice(len(PHOTOS[self.half]), 2, replace=False)
            top = self.photo(top_aspect, PHOTOS[self.half][first])
            bottom = self.photo(bottom_aspect, PHOTOS[self.half][second])
            scene = f"{top['name'].split('.')[0]}/{bottom['name'].split('.')[0]}"
        elif kind == "stack-interior":
            top, bottom = self.interior(h=h), self.interior(h=h)
            scene = f"{top.get('kind', 'page')}/{bottom.get('kind', 'page')}"
        else:  # stack-mixed: two different kinds of source
            first, top = self.any_source(top_aspect, h)
            second, bottom = self.any_source(bottom_aspect, h, exclude=first)
            scene = f"{first}/{second}"
        recipe = {"source": "stack", "top": top, "bottom": bottom, **seam}
        return scene, recipe, seam

    def negative(self, kind: str, w: int, h: int) -> tuple[str, dict[str, Any]]:
        aspect = w / h
        if kind == "single-studio":
            recipe = {**self.studio(h=h), "render": "native"}
            return recipe["words"], recipe
        if kind == "single-landscape":
            land = self.pick(KINDS)
            return land, {"source": "landscape", "kind": land, "seed": self.seed()}
        if kind == "single-reflection":
            water = round(float(self.rng.uniform(0.35, 0.65)), 3)
            return "lake", {"source": "lake", "seed": self.seed(), "water": water}
        if kind == "single-photo":
            recipe = self.photo(aspect)
            return recipe["name"].split(".")[0], recipe
        if kind == "single-texture":
            recipe = self.texture(aspect)
            return recipe.get("kind", recipe.get("name", "")), recipe
        if kind == "single-text":
            if self.rng.random() < 0.3:
                name = self.pick(TEXT_PHOTOS[self.half])
                return name.split(".")[0], {"source": "photo", "name": name, "crop": self.crop(name, aspect)}
            return "page", {"source": "page", "seed": self.seed()}
        room = kind.removeprefix("single-")
        return room, {"source": "interior", "kind": room, "seed": self.seed()}


def plan(
    master_seed: int = MASTER_SEED, halves: Sequence[str] = HALVES, per_kind: int = PER_KIND
) -> list[Item]:
    """Every item's recipe and truth, deterministically from the master seed (no images built here).

    The frozen set is `plan()`; other seeds (with halves=("tune",)) give fresh pools of the tune sources.
    """
    out: list[Item] = []
    for half in halves:
        rng = np.random.default_rng([master_seed, HALVES.index(half)])
        planner = _Planner(rng, half)
        for kind in POSITIVE_TYPES + NEGATIVE_TYPES:
            for index in range(per_kind):
                w, h = SIZES[int(rng.integers(len(SIZES)))]
                fmt = "jpeg" if rng.random() < 0.5 else "png"
                quality = int(rng.integers(80, 91))
                if kind in POSITIVE_TYPES:
                    scene, recipe, seam = planner.positive(kind, index, w, h)
                    label, seam_kind, seam_y = "split", seam["seam"], seam["seam_y"]
                else:
                    scene, recipe = planner.negative(kind, w, h)
                    label, seam_kind, seam_y = "single", None, None
                recipe = {**recipe, "format": fmt, "quality": quality}
                out.append(
                    Item(
                        id=f"{half}-{kind}-{index:03d}",
                        label=label,
                        type=kind,
                        scene=scene,
                        seam=seam_kind,
                        seam_y=seam_y,
                        width=w,
                        height=h,
                        half=half,
                        recipe=recipe,
                    )
                )
    return out


# ---------------------------------------------------------------------------------------------- manifest


def load_manifest(path: Path = MANIFEST) -> list[Item]:
    """The frozen items, in manifest order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Item(**entry) for entry in data["items"]]


def write_manifest(path: Path = MANIFEST, *, force: bool = False) -> list[Item]:
    """Build every image, fingerprint it and write the manifest; a changed set needs `force`."""
    items = []
    for item in plan():
        sha, thumb = fingerprint(build(item))
        items.append(Item(**{**asdict(item), "sha256": sha, "thumb": thumb}))
    if path.exists() and not force:
        frozen = {item.id: item for item in load_manifest(path)}
        changed = [item.id for item in items if frozen.get(item.id) != item]
        if changed or len(frozen) != len(items):
            raise SystemExit(
                f"the frozen set would change ({len(changed)} items, e.g. {changed[:5]}); use --force"
            )
    payload = {
        "about": "Wide labelled set of the split detector (tests/support/split_wide.py); see docs/split-detector.md.",
        "master_seed": MASTER_SEED,
        "items": [asdict(item) for item in items],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(payload, separators=(",", ":")).replace('},{"id"', '},\n{"id"') + "\n", encoding="utf-8"
    )
    return items


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help="build the set and write its manifest")
    parser.add_argument("--force", action="store_true", help="allow --write to change a frozen manifest")
    parser.add_argument("--dump", type=Path, help="write every image of the set as PNG into this folder")
    parser.add_argument("--scores", choices=HALVES, help="print detector scores on one half")
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {len(write_manifest(force=args.force))} items to {MANIFEST}")
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for item in load_manifest():
            build(item).save(args.dump / f"{item.id}.png")
    if args.scores:
        from productshot.tools.split import check_split

        for item in load_manifest():
            if item.half == args.scores:
                result = check_split(build(item))
                print(
                    f"{item.id:36s} {item.scene:28s} truth={item.seam_y!s:5s} {result.split!s:5s} {result.score:.3f}"
                )


if __name__ == "__main__":
    main()
