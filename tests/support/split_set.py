"""The split detector's frozen labelled set: recipes in a manifest, images rebuilt from them on demand.

Positives are two stacked scenes of the same kind (studio backdrops of one family over itself with another
seed, procedural landscapes of one kind over another of that kind, a real photo over itself or over a
shifted crop of itself) joined by a hard, a Gaussian-blurred or a cross-faded seam at 40-60% of the height.
Negatives are single scenes: every studio family, landscapes with strong horizons and sunsets, lakes that
mirror the scene below their water line, and the real photos bundled with scikit-image. Two-different-photo
stacks and repeated textures are reported without a target.

The manifest (tests/data/split_set/manifest.json) holds each image's recipe, label, scene type, true seam
row, its half ("tune" or "report", fixed before any tuning) and a hash; the test rebuilds every image from
its recipe and checks the hash, so neither the set nor its split can drift silently.

    python -m tests.support.split_set --write      # (re)write the manifest; refuses to change a frozen one
    python -m tests.support.split_set --scores tune  # print detector scores on the tune half
    python -m tests.support.split_set --pool 1       # ... on a fresh development pool (another seed)
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from productshot.tools.studio import render_backdrop, scene_families
from tests.support.landscapes import KINDS, lake, landscape

FROZEN_FAMILIES = frozenset(
    {"studio", "beach", "sea", "marble", "wood", "concrete", "grass", "snow", "desert", "kitchen", "forest",
     "cafe", "linen", "pastel"}
)  # fmt: skip

MANIFEST = Path(__file__).resolve().parents[1] / "data" / "split_set" / "manifest.json"
MASTER_SEED = 20261125
SIZES: tuple[tuple[int, int], ...] = ((320, 240), (384, 256), (256, 320), (288, 288), (448, 256), (256, 384))
SEAMS: tuple[str, ...] = ("hard", "blur", "fade")
THUMB = 8  # the fingerprint: an 8×8 grey thumbnail, tolerant of last-bit differences between CPUs
THUMB_TOLERANCE = 3

# Photos with a scene in them (a subject, a layout, a top and a bottom): stacked over themselves as positives.
SCENE_PHOTOS: tuple[str, ...] = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "camera.png",
    "motorcycle_left.png",
    "clock_motion.png",
    "ihc.png",
    "retina.jpg",
)
# Texture-like photos (no top or bottom: star fields, coin grids, surfaces): singles must not fire; a texture
# over itself is a repeat nobody sees, so those stacks are printed without a target.
TEXTURES: tuple[str, ...] = (
    "brick.png",
    "grass.png",
    "gravel.png",
    "coins.png",
    "moon.png",
    "hubble_deep_field.jpg",
)
EXTRA_SINGLE_PHOTOS: tuple[str, ...] = (
    "motorcycle_right.png",
    "page.png",
    "text.png",
    "cell.png",
    "color.png",
    "logo.png",
    "horse.png",
    "phantom.png",
    "microaneurysms.png",
)

POSITIVE_TYPES: tuple[str, ...] = ("stack-studio", "stack-landscape", "stack-photo")
NEGATIVE_TYPES: tuple[str, ...] = ("single-studio", "single-landscape", "single-reflection", "single-photo")
INFO_TYPES: tuple[str, ...] = ("unrelated-photo", "texture-stack")


@dataclass(frozen=True)
class Item:
    """One labelled image of the set: how to build it, what it is, and its fingerprint."""

    id: str
    label: str  # "split" (same-kind stack), "single", or "info" (printed, no target)
    type: str  # the stratum reported on: stack-studio, single-reflection, unrelated-photo, ...
    scene: str
    seam: str | None  # hard | blur | fade (stacks only)
    seam_y: int | None  # the true seam row (stacks only)
    width: int
    height: int
    half: str  # "tune" or "report"
    recipe: dict[str, Any]
    sha256: str = ""
    thumb: str = ""


# ------------------------------------------------------------------------------------------------ sources


def _photo_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations, "scikit-image is needed for the split set"
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_photo(name: str) -> Image.Image:
    """A bundled scikit-image photo as RGB (grey expanded, transparency composited on white)."""
    with Image.open(_photo_dir() / name) as raw:
        raw.load()
        if raw.mode in ("RGBA", "LA", "P"):
            rgba = raw.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            return flat.convert("RGB")
        if raw.mode == "1":
            return raw.convert("L").convert("RGB")
        return raw.convert("RGB")


def _render_part(recipe: dict[str, Any], width: int, height: int) -> Image.Image:
    """One scene at exactly width×height, from a part recipe (no size of its own)."""
    source = recipe["source"]
    if recipe.get("render") == "squash":  # render at the whole canvas, then squash into the part
        full = _render_part({**recipe, "render": "native"}, width, recipe["full_height"])
        return full.resize((width, height), Image.Resampling.BICUBIC)
    if source == "studio":
        return render_backdrop(recipe["words"], width, height, seed=recipe["seed"]).image
    if source == "landscape":
        return landscape(recipe["kind"], width, height, recipe["seed"])
    if source == "lake":
        return lake(width, height, recipe["seed"], recipe["water"])
    if source == "photo":
        photo = load_photo(recipe["name"])
        x0, y0, x1, y1 = recipe["crop"]
        box = (x0 * photo.width, y0 * photo.height, x1 * photo.width, y1 * photo.height)
        return photo.resize((width, height), Image.Resampling.BICUBIC, box=box)
    raise ValueError(f"unknown source {source!r}")


def _stack(recipe: dict[str, Any], width: int, height: int) -> Image.Image:
    """Two parts joined at `seam_y` by a hard cut, a Gaussian blur across the cut, or a linear cross-fade."""
    return join_stack(recipe, width, height, _render_part)


def join_stack(
    recipe: dict[str, Any], width: int, height: int, render: Callable[[Any, int, int], Image.Image]
) -> Image.Image:
    """Render a recipe's `top` and `bottom` parts with `render` and join them at `seam_y` (hard cut, a Gaussian
    blur across the cut, or a linear fade over `band` rows). Shared by the first and the wide labelled sets."""
    seam_y, kind, band = recipe["seam_y"], recipe["seam"], recipe["band"]
    overlap = band // 2 if kind == "fade" else 0
    top = np.asarray(render(recipe["top"], width, seam_y + overlap), np.float32)
    bottom = np.asarray(render(recipe["bottom"], width, height - seam_y + overlap), np.float32)
    if kind == "fade":
        lo, hi = seam_y - overlap, seam_y + overlap
        weight = ((np.arange(hi - lo, dtype=np.float32) + 0.5) / (hi - lo))[:, None, None]
        blend = top[lo:] * (1.0 - weight) + bottom[: hi - lo] * weight
        out = np.concatenate([top[:lo], blend, bottom[hi - lo :]], axis=0)
    else:
        out = np.concatenate([top, bottom], axis=0)
        if kind == "blur":
            sigma = float(band)
            blurred = ndimage.gaussian_filter(out, (sigma, sigma * 0.5, 0))
            rows = np.arange(height, dtype=np.float32)[:, None, None]
            weight = np.exp(-(((rows - seam_y) / (2.0 * sigma)) ** 2))
            out = out * (1.0 - weight) + blurred * weight
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def build(item: Item) -> Image.Image:
    """The image of one item, rebuilt from its recipe."""
    recipe = item.recipe
    if recipe["source"] == "stack":
        return _stack(recipe, item.width, item.height)
    return _render_part(recipe, item.width, item.height)


def fingerprint(image: Image.Image) -> tuple[str, str]:
    """(sha256 of the RGB pixels and size, hex of an 8×8 grey thumbnail)."""
    raw = image.convert("RGB")
    digest = hashlib.sha256(f"{raw.width}x{raw.height}".encode() + raw.tobytes()).hexdigest()
    thumb = raw.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX).tobytes().hex()
    return digest, thumb


def thumb_distance(a: str, b: str) -> int:
    """Largest grey-level difference between two thumbnails."""
    return int(
        np.abs(
            np.frombuffer(bytes.fromhex(a), np.uint8).astype(int) - np.frombuffer(bytes.fromhex(b), np.uint8)
        ).max()
    )


# -------------------------------------------------------------------------------------------------- plan


def _seam(rng: np.random.Generator, index: int, height: int) -> tuple[str, int, int]:
    kind = SEAMS[index % len(SEAMS)]
    seam_y = round(height * rng.uniform(0.40, 0.60))
    if kind == "fade":
        band = round(height * rng.uniform(0.05, 0.15))
        band += band % 2
    elif kind == "blur":
        band = round(rng.uniform(2.0, 6.0))
    else:
        band = 0
    return kind, seam_y, band


def _strips(rng: np.random.Generator, photo: Image.Image, aspect: float, shift: float) -> list[list[float]]:
    """Two full-width crops of the photo with this aspect (w/h), the second `shift` of a crop lower."""
    frac_h = min(1.0, photo.width / aspect / photo.height)
    room = max(1.0 - frac_h * (1.0 + abs(shift)), 0.0)
    first = min(rng.uniform(0.0, room) + (abs(shift) * frac_h if shift < 0 else 0.0), 1.0 - frac_h)
    second = min(max(first + shift * frac_h, 0.0), 1.0 - frac_h)
    return [[0.0, round(y0, 4), 1.0, min(1.0, round(y0 + frac_h, 4))] for y0 in (first, second)]


def plan(master_seed: int = MASTER_SEED) -> list[Item]:
    """Every item's recipe and truth, deterministically from the master seed (no images built here).

    The frozen set is `plan(MASTER_SEED)`; other seeds give fresh development pools of the same design.
    """
    rng = np.random.default_rng(master_seed)
    items: list[dict[str, Any]] = []

    def size() -> tuple[int, int]:
        return SIZES[int(rng.integers(len(SIZES)))]

    def add(kind: str, label: str, scene: str, width: int, height: int, recipe: dict[str, Any]) -> None:
        seam = recipe.get("seam") if recipe["source"] == "stack" else None
        seam_y = recipe.get("seam_y") if recipe["source"] == "stack" else None
        items.append(
            {"type": kind, "label": label, "scene": scene, "seam": seam, "seam_y": seam_y,
             "width": width, "height": height, "recipe": recipe}
        )  # fmt: skip

    def stack(top: dict[str, Any], bottom: dict[str, Any], index: int, height: int) -> dict[str, Any]:
        kind, seam_y, band = _seam(rng, index, height)
        return {"source": "stack", "top": top, "bottom": bottom, "seam": kind, "seam_y": seam_y, "band": band}

    # The families the frozen set was built from: families added later are checked by their own split
    # tests (tests/test_families_indoor.py), and the frozen images must not move when one is added.
    families = tuple(f for f in scene_families() if f in FROZEN_FAMILIES)
    modifiers = ("", "", " sunset", " night", " minimal", " pastel")
    n = 0
    for family in families:  # studio: the same family over itself, another seed
        for _ in range(2):
            w, h = size()
            words = family + modifiers[int(rng.integers(len(modifiers)))]
            render = "squash" if n % 2 else "native"
            a, b = (int(v) for v in rng.integers(0, 2**31, 2))
            part = {"source": "studio", "words": words, "render": render, "full_height": h}
            add("stack-studio", "split", family, w, h, stack({**part, "seed": a}, {**part, "seed": b}, n, h))
            n += 1
    for kind in (*KINDS, "lake"):  # landscapes: one kind over another of that kind
        for _ in range(4 if kind != "lake" else 3):
            w, h = size()
            a, b = (int(v) for v in rng.integers(0, 2**31, 2))
            if kind == "lake":
                water = float(round(rng.uniform(0.45, 0.6), 3))
                top = {"source": "lake", "seed": a, "water": water}
                bottom = {"source": "lake", "seed": b, "water": water}
            else:
                render = "squash" if n % 2 else "native"
                top = {"source": "landscape", "kind": kind, "seed": a, "render": render, "full_height": h}
                bottom = {**top, "seed": b}
            add("stack-landscape", "split", kind, w, h, stack(top, bottom, n, h))
            n += 1
    for name in SCENE_PHOTOS:  # photos: over itself (whole, squashed) and over a shifted crop of itself
        photo = load_photo(name)
        for variant in ("self", "shifted"):
            w, h = size()
            half_aspect = w / (h / 2)
            if variant == "self":
                top = {"source": "photo", "name": name, "crop": [0.0, 0.0, 1.0, 1.0]}
                bottom = dict(top)
            else:
                shift = float(rng.uniform(0.08, 0.25)) * (1 if rng.random() < 0.5 else -1)
                crops = _strips(rng, photo, half_aspect, shift)
                top = {"source": "photo", "name": name, "crop": crops[0]}
                bottom = {"source": "photo", "name": name, "crop": crops[1]}
            add("stack-photo", "split", name.split(".")[0], w, h, stack(top, bottom, n, h))
            n += 1

    for family in families:  # single studio backdrops, several seeds, sizes and modifiers
        for extra in (
            "",
            " sunset" if family not in ("studio",) else " pink",
            " night" if n % 2 else " minimal",
        ):
            w, h = size()
            seed = int(rng.integers(0, 2**31))
            add(
                "single-studio",
                "single",
                family,
                w,
                h,
                {"source": "studio", "words": family + extra, "seed": seed},
            )
            n += 1
    for kind in KINDS:  # single landscapes: strong horizons, sunsets
        for _ in range(5):
            w, h = size()
            seed = int(rng.integers(0, 2**31))
            add("single-landscape", "single", kind, w, h, {"source": "landscape", "kind": kind, "seed": seed})
    for _ in range(12):  # lakes: a scene and its reflection below the water line
        w, h = size()
        seed = int(rng.integers(0, 2**31))
        water = float(round(rng.uniform(0.40, 0.60), 3))
        add("single-reflection", "single", "lake", w, h, {"source": "lake", "seed": seed, "water": water})
    for name in (
        SCENE_PHOTOS + TEXTURES + EXTRA_SINGLE_PHOTOS
    ):  # real photos as they are (size kept near 256-448)
        photo = load_photo(name)
        scale = 384 / max(photo.size)
        w, h = max(64, round(photo.width * scale)), max(64, round(photo.height * scale))
        add(
            "single-photo",
            "single",
            name.split(".")[0],
            w,
            h,
            {"source": "photo", "name": name, "crop": [0.0, 0.0, 1.0, 1.0]},
        )
    for i in range(10):  # two different photos stacked: printed, no target
        first, second = rng.choice(len(SCENE_PHOTOS), 2, replace=False)
        w, h = size()
        top = {"source": "photo", "name": SCENE_PHOTOS[int(first)], "crop": [0.0, 0.0, 1.0, 1.0]}
        bottom = {"source": "photo", "name": SCENE_PHOTOS[int(second)], "crop": [0.0, 0.0, 1.0, 1.0]}
        add("unrelated-photo", "info", "photos", w, h, stack(top, bottom, i, h))
    for i, name in enumerate(TEXTURES):  # a texture over itself: a repeat nobody can see
        w, h = size()
        part = {"source": "photo", "name": name, "crop": [0.0, 0.0, 1.0, 1.0]}
        add("texture-stack", "info", name.split(".")[0], w, h, stack(part, dict(part), i, h))

    counters: dict[str, int] = {}
    out: list[Item] = []
    for entry in items:
        index = counters.get(entry["type"], 0)
        counters[entry["type"]] = index + 1
        half = "tune" if index % 2 == 0 else "report"  # stratified by type, fixed before tuning
        out.append(Item(id=f"{entry['type']}-{index:03d}", half=half, **entry))
    return out


# ---------------------------------------------------------------------------------------------- manifest


def with_fingerprints(items: Sequence[Item]) -> list[Item]:
    """The items with their images' fingerprints filled in (builds every image)."""
    out = []
    for item in items:
        sha, thumb = fingerprint(build(item))
        out.append(Item(**{**asdict(item), "sha256": sha, "thumb": thumb}))
    return out


def load_manifest(path: Path = MANIFEST) -> list[Item]:
    """The frozen items, in manifest order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Item(**entry) for entry in data["items"]]


def write_manifest(path: Path = MANIFEST, *, force: bool = False) -> list[Item]:
    """Build every image, fingerprint it and write the manifest; a changed set needs `force`."""
    items = with_fingerprints(plan())
    if path.exists() and not force:
        frozen = {item.id: item for item in load_manifest(path)}
        changed = [item.id for item in items if frozen.get(item.id) != item] + sorted(
            set(frozen) - {i.id for i in items}
        )
        if changed:
            raise SystemExit(
                f"the frozen set would change ({len(changed)} items, e.g. {changed[:5]}); use --force"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "about": "Labelled set of the split detector (tests/support/split_set.py); see docs/split-detector.md.",
        "master_seed": MASTER_SEED,
        "items": [asdict(item) for item in items],
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return items


def iter_images(items: Sequence[Item], half: str | None = None) -> Iterator[tuple[Item, Image.Image]]:
    """(item, image) for every item, or only those of one half."""
    for item in items:
        if half is None or item.half == half:
            yield item, build(item)


def _print_scores(items: Sequence[Item], half: str | None) -> None:
    from productshot.tools.split import check_split

    found = {"split": [0, 0], "single": [0, 0]}
    for item, image in iter_images(items, half):
        result = check_split(image)
        print(
            f"{item.id:24s} {item.label:6s} {item.scene:16s} {item.seam or '-':5s} truth={item.seam_y!s:5s} "
            f"split={result.split!s:5s} score={result.score:.3f} cand={result.candidate_y}"
        )
        if item.label in found:
            found[item.label][0] += 1
            found[item.label][1] += result.split
    for label, (count, flagged) in found.items():
        print(f"{label}: {flagged}/{count} flagged")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="build the set and write its manifest")
    parser.add_argument("--force", action="store_true", help="allow --write to change a frozen manifest")
    parser.add_argument("--scores", choices=("tune", "report"), help="print detector scores on one half")
    parser.add_argument(
        "--pool", type=int, help="print detector scores on a fresh pool from this master seed"
    )
    parser.add_argument("--dump", type=Path, help="write every image as PNG into this folder")
    args = parser.parse_args(argv)
    if args.write:
        items = write_manifest(force=args.force)
        print(f"wrote {len(items)} items to {MANIFEST}")
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for item, image in iter_images(load_manifest()):
            image.save(args.dump / f"{item.id}.png")
    if args.scores:
        _print_scores(load_manifest(), args.scores)
    if args.pool is not None:
        _print_scores(plan(args.pool), None)


if __name__ == "__main__":
    main()
