"""Train the split detector's whole-picture network (EXPERIMENTAL, not shipped). Deterministic; never in CI.

Third pass of issue 14 (docs/split-detector.md, "Third pass"): on the report half this network raised recall
from 0.727 to 0.875-0.889 but failed a hard guard each time (false alarms 3.7 %, then a lake-sunset studio
backdrop flagged and the first set's recall 0.882 < 0.90), so tools/split.py still runs the row scorer of
scripts/train_split_detector.py. This script writes build/split_net.npz; tools/split_net.py runs it in numpy.

The network (tools/split_net.py: a small convolutional trunk over the 96×160 working copy, 1-D convolutions
along the height, joined with the 70 row features of tools/split_features.py per candidate row) learns a
correction added to the logits of the second pass's row scorer (scripts/train_split_detector.py, the
shipped tools/split_model.npz, kept frozen here); it is trained with torch on the CPU and the product runs it in numpy. Training pools are fresh draws
of the wide labelled set's design, other draws than the row scorer's, from the TUNE half's sources only (its photos, studio families and even generator
seeds: `tests.support.split_wide.plan(seed, halves=("tune",))`), plus single studio backdrops of EVERY
family (the product must never flag its own generator; this makes the report half's single-studio row not
held out by family, see docs/split-detector.md) at the set's four sizes and at 384², 448×256 and 256×448,
weighing 5× in the loss. No report-half photo, generator seed or studio-family stack is read here.

The decision threshold is fixed on data not trained on: the frozen tune half (its singles' 99th percentile,
its studio backdrops + 0.5 logit) and a held-out sweep of every studio family (other seeds, six modifiers,
all seven canvas shapes; + 0.5 logit). The shipped weights came from the defaults:

    .venv/bin/python scripts/train_split_net.py --cache /tmp/split_cache [--base tools/split_model.npz]
    # ~5 min building pictures and row features (cached), 9-21 min of training (1 thread, shared machine)
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from productshot.tools.split_features import WORK_H, candidate_rows, row_features, working_copy  # noqa: E402
from productshot.tools.split_net import HEIGHT, TRUNK, WEIGHT_NAMES, row_interpolation  # noqa: E402
from productshot.tools.studio import render_backdrop, scene_families  # noqa: E402
from tests.support.split_set import Item, join_stack, load_photo  # noqa: E402
from tests.support.split_wide import (  # noqa: E402
    PHOTOS,
    SEAM_RANGE,
    SEAMS,
    SIZES,
    TEXT_PHOTOS,
    TEXTURE_PHOTOS,
    build,
    load_manifest,
    plan,
)

BASE = ROOT / "tools" / "split_model.npz"  # the shipped row scorer
MODEL = ROOT / "build" / "split_net.npz"
# Fresh tune-source pools of 456 pictures each (plan(1000 + k)); the row scorer was trained on pools 1-8, so
# its logits here are what it does on pictures it never saw.
POOLS = (9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20)
VALIDATION_POOL = 12  # a further fresh pool, only printed (development check; never trained on)
PHOTO_VARIANTS = 1600  # altered tune photos, half single, half stacked
EPOCHS = 12
BATCH = 64
LEARNING_RATE = 2e-3
CHANNELS = (16, 32, 48, 64)  # the trunk's convolutions (split_net.TRUNK)
HEIGHT_UNITS, EMBEDDING, HIDDEN = 64, 32, 128
FEATURE_CLIP = 5.0  # as split_net
STUDIO_SHAPES = ((384, 384), (448, 256), (256, 448))
MODIFIERS = ("", " sunset", " night", " minimal", " pastel", " warm")
STUDIO_WEIGHT = 5.0  # a studio backdrop's loss counts this many times a stack's: the studio must never fire
POSITIVE_REACH = 0.012  # rows within this share of the height of the true seam (or fade band) are the seam
FAR = 0.05  # rows further than this from the seam are "not the seam" in a stacked image
MARGIN = 0.5  # the threshold stays this far (in logits) above every unseen studio backdrop scored
ROWS = candidate_rows() / WORK_H

Arrays = dict[str, np.ndarray]


# ------------------------------------------------------------------------------------------------ data


def _truth(item: Item) -> tuple[float, float]:
    """The seam as a share of the height (the blended rows for a cross-fade); (-1, -1) for a single."""
    if item.seam_y is None:
        return -1.0, -1.0
    half = item.recipe["band"] / 2 if item.seam == "fade" else 0.0
    return (item.seam_y - half) / item.height, (item.seam_y + half) / item.height


def _arrays(pictures: list[tuple[np.ndarray, str, tuple[float, float]]]) -> Arrays:
    return {
        "px": np.stack([np.round(p * 255).astype(np.uint8) for p, _, _ in pictures]),
        "x": np.stack([row_features(p) for p, _, _ in pictures]),
        "kind": np.array([kind for _, kind, _ in pictures]),
        "lo": np.array([t[0] for _, _, t in pictures], np.float32),
        "hi": np.array([t[1] for _, _, t in pictures], np.float32),
    }


def _cached(cache: Path | None, name: str, make: object) -> Arrays:
    """Working copies (uint8), row features, kinds and seams of one named collection, cached as npz."""
    path = cache / f"{name}.npz" if cache else None
    if path and path.exists():
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    started = time.perf_counter()
    arrays = _arrays(make())  # type: ignore[operator]
    print(f"  built {name}: {len(arrays['px'])} pictures ({time.perf_counter() - started:.0f} s)", flush=True)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)  # type: ignore[arg-type]
    return arrays


def items(cache: Path | None, name: str, chosen: list[Item]) -> Arrays:
    return _cached(
        cache, name, lambda: [(working_copy(build(item)), item.type, _truth(item)) for item in chosen]
    )


def studio(cache: Path | None, name: str, shapes: tuple[tuple[int, int], ...], seeds: tuple[int, ...],
           shift: int, step: tuple[int, int] = (97, 13)) -> Arrays:  # fmt: skip
    """Single backdrops of EVERY family the studio paints: 6 modifiers × each shape × each seed."""

    def make() -> list[tuple[np.ndarray, str, tuple[float, float]]]:
        out = []
        for index, family in enumerate(scene_families()):
            for m, extra in enumerate(MODIFIERS):
                for k, (width, height) in enumerate(shapes):
                    for seed in seeds:
                        seed_k = seed + step[0] * index + step[1] * m + shift + k
                        image = render_backdrop(family + extra, width, height, seed=seed_k).image
                        out.append((working_copy(image), "studio-backdrop", (-1.0, -1.0)))
        return out

    arrays = _cached(cache, name, make)
    return {**arrays, "kind": np.full(len(arrays["px"]), "studio-backdrop")}


def _variant(rng: np.random.Generator, name: str, width: int, height: int) -> Image.Image:
    """A crop of a tune-half photo turned 0/90/180/270°, maybe mirrored, channels shuffled or grey, gamma
    0.7-1.4: more kinds of "one real photo" than the few tune photos (the first network fired on unseen
    photos and textures)."""
    photo = load_photo(name)
    turn = int(rng.integers(4))
    if turn:
        photo = photo.transpose((Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                                 Image.Transpose.ROTATE_270)[turn - 1])  # fmt: skip
    if rng.random() < 0.5:
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    aspect = width / height
    frac_w = float(rng.uniform(0.3, 1.0))
    frac_h = min(1.0, frac_w * photo.width / aspect / photo.height)
    frac_w = min(1.0, frac_h * aspect * photo.height / photo.width)
    x0, y0 = float(rng.uniform(0, 1 - frac_w)), float(rng.uniform(0, 1 - frac_h))
    box = (x0 * photo.width, y0 * photo.height, (x0 + frac_w) * photo.width, (y0 + frac_h) * photo.height)
    pixels = np.asarray(photo.resize((width, height), Image.Resampling.BICUBIC, box=box), np.float32) / 255
    pixels = pixels[..., rng.permutation(3)]
    if rng.random() < 0.2:
        pixels = np.repeat(pixels.mean(axis=2, keepdims=True), 3, axis=2)
    pixels = pixels ** float(rng.uniform(0.7, 1.4))
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8), "RGB")


def photo_variants(cache: Path | None, count: int, seed: int) -> Arrays:
    """`count` pictures made of altered tune-half photos (and texture and text photos): half single crops,
    half two crops stacked (the same photo 40% of the time) with the wide set's seams; half through JPEG."""

    def make() -> list[tuple[np.ndarray, str, tuple[float, float]]]:
        rng = np.random.default_rng(seed)
        names = (*PHOTOS["tune"], *TEXTURE_PHOTOS["tune"], *TEXT_PHOTOS["tune"])
        out = []
        for index in range(count):
            width, height = SIZES[int(rng.integers(len(SIZES)))]
            first = names[int(rng.integers(len(names)))]
            truth = (-1.0, -1.0)
            if index % 2 == 0:
                image, kind = _variant(rng, first, width, height), "single-photo-variant"
            else:
                seam_kind = SEAMS[(index // 2) % len(SEAMS)]
                seam_y = round(height * float(rng.uniform(*SEAM_RANGE)))
                band = {"hard": 0, "blur": max(2, round(height * float(rng.uniform(0.008, 0.03)))),
                        "fade": round(height * float(rng.uniform(0.05, 0.15))) // 2 * 2}[seam_kind]  # fmt: skip
                second = first if rng.random() < 0.4 else names[int(rng.integers(len(names)))]
                recipe = {"top": first, "bottom": second, "seam": seam_kind, "seam_y": seam_y, "band": band}
                image = join_stack(recipe, width, height, lambda name, w, h: _variant(rng, name, w, h))
                half = band / 2 if seam_kind == "fade" else 0.0
                kind, truth = "stack-photo-variant", ((seam_y - half) / height, (seam_y + half) / height)
            if rng.random() < 0.5:
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=int(rng.integers(80, 91)))
                buffer.seek(0)
                with Image.open(buffer) as decoded:
                    image = decoded.convert("RGB")
            out.append((working_copy(image), kind, truth))
        return out

    return _cached(cache, f"photo_variants{seed}", make)


def _join(parts: list[Arrays]) -> Arrays:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def masks(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate row: is it the seam, and is it far from any seam (every row of a single)."""
    stack = lo >= 0
    off = np.maximum(np.maximum(lo[:, None] - ROWS[None], ROWS[None] - hi[:, None]), 0.0)
    return stack[:, None] & (off <= POSITIVE_REACH), ~stack[:, None] | (off > FAR)


# ---------------------------------------------------------------------------------------------- network


class Net(nn.Module):
    """The torch twin of split_net.row_logits (same layers, same order; exported weight for weight)."""

    def __init__(self, features: int, base: Arrays) -> None:
        super().__init__()
        for key in ("mean", "std", "w1", "b1", "w2", "b2"):
            self.register_buffer(f"base_{key}", torch.tensor(base[key], dtype=torch.float32))
        inputs, convs = 6, []
        for channels, (_, stride) in zip(CHANNELS, TRUNK, strict=True):
            convs.append(nn.Conv2d(inputs, channels, 3, stride=stride, padding=1))
            inputs = channels
        self.convs = nn.ModuleList(convs)
        width, heights = 4 * inputs, []
        for index, (_, dilation) in enumerate(HEIGHT):
            out = EMBEDDING if index == len(HEIGHT) - 1 else HEIGHT_UNITS
            heights.append(nn.Conv1d(width, out, 5, dilation=dilation, padding=2 * dilation))
            width = out
        self.heights = nn.ModuleList(heights)
        self.register_buffer("interp", torch.tensor(row_interpolation(WORK_H // 4)))
        self.fc1 = nn.Linear(features + EMBEDDING, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, 1)
        nn.init.zeros_(self.fc2.weight)  # the correction starts at zero: training starts from the row scorer
        nn.init.zeros_(self.fc2.bias)

    def base(self, raw: torch.Tensor) -> torch.Tensor:
        standard = (raw - self.base_mean) / self.base_std
        return torch.tanh(standard @ self.base_w1 + self.base_b1) @ self.base_w2 + self.base_b2.reshape(())

    def forward(self, x: torch.Tensor, features: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        pooled = torch.cat([x.mean(3), x.amax(3)], 1)
        h = torch.cat([pooled, pooled.mean(2, keepdim=True).expand_as(pooled)], 1)
        for index, conv in enumerate(self.heights):
            h = conv(h)
            if index < len(self.heights) - 1:
                h = F.relu(h)
        embedding = torch.tanh(torch.einsum("rl,bel->bre", self.interp, h))
        correction = self.fc2(torch.tanh(self.fc1(torch.cat([features, embedding], 2))))[..., 0]
        return self.base(raw) + correction


def net_input(px: np.ndarray) -> torch.Tensor:
    """split_net.net_input for a batch of uint8 working copies, as N×6×H×W."""
    p = torch.from_numpy(px).float() / 255.0
    centred = p - p.mean((1, 2), keepdim=True)
    contrast = centred.flatten(1).std(1, unbiased=False).clamp(min=0.02)[:, None, None, None]
    return torch.cat([p - 0.5, centred / contrast * 0.25], 3).permute(0, 3, 1, 2).contiguous()


def _lse(z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(z.masked_fill(~mask, -1e9), 1)


def mil_loss(z: torch.Tensor, pos: torch.Tensor, far: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A single's best row must score low; a stack's seam rows high and above its far rows (the seam is
    found, not a horizon inside one half). Soft maxima (log-sum-exp) over rows; `weight` per picture."""
    stack = pos.any(1)
    single = F.softplus(_lse(z, torch.ones_like(pos)))
    seam = _lse(z, pos | ~stack[:, None])
    stacked = F.softplus(-seam) + 0.5 * F.softplus(_lse(z, far) - seam)
    return (weight * torch.where(stack, stacked, single)).sum() / weight.sum()


def logits(model: Net, data: Arrays, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data["px"]), 256):
            feats = np.clip((data["x"][start : start + 256] - mean) / std, -FEATURE_CLIP, FEATURE_CLIP)
            raw = torch.from_numpy(data["x"][start : start + 256])
            out.append(
                model(net_input(data["px"][start : start + 256]), torch.from_numpy(feats), raw).numpy()
            )
    model.train()
    return np.concatenate(out)


def evaluate(name: str, data: Arrays, z: np.ndarray, threshold: float) -> None:
    """Per-kind recall (seams placed within 3%) and false alarms at this logit threshold."""
    best, where = z.max(1), ROWS[z.argmax(1)]
    print(f"  {name}:")
    stacks = singles = found = alarms = 0
    for kind in dict.fromkeys(data["kind"]):
        chosen = data["kind"] == kind
        flagged = best[chosen] >= threshold
        off = np.maximum(
            np.maximum(data["lo"][chosen] - where[chosen], where[chosen] - data["hi"][chosen]), 0
        )
        placed = int((flagged & (off <= 0.03)).sum())
        if kind.startswith("stack"):
            stacks, found = stacks + chosen.sum(), found + flagged.sum()
        else:
            singles, alarms = singles + chosen.sum(), alarms + flagged.sum()
        print(
            f"    {kind:28s} n={chosen.sum():3d} flagged={flagged.sum():3d} rate={flagged.mean():.2f} placed={placed}"
        )
    print(f"    recall {found / max(stacks, 1):.3f}; false alarms {alarms}/{singles}", flush=True)


def train(
    data: Arrays, weight: np.ndarray, base: Arrays, epochs: int, seed: int
) -> tuple[Net, np.ndarray, np.ndarray]:
    """Adam (one-cycle step size, gradients clipped) over seeded mini-batches: same data, same weights."""
    torch.manual_seed(seed)
    flat = data["x"].reshape(-1, data["x"].shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    feats = np.clip((data["x"] - mean) / std, -FEATURE_CLIP, FEATURE_CLIP).astype(np.float32)
    pos, far = masks(data["lo"], data["hi"])
    model = Net(data["x"].shape[-1], base)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    count = len(data["px"])
    steps = epochs * -(-count // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order, total = rng.permutation(count), 0.0
        for start in range(0, count, BATCH):
            chosen = np.sort(order[start : start + BATCH])
            z = model(
                net_input(data["px"][chosen]),
                torch.from_numpy(feats[chosen]),
                torch.from_numpy(data["x"][chosen]),
            )
            loss = mil_loss(z, torch.from_numpy(pos[chosen]), torch.from_numpy(far[chosen]),
                            torch.from_numpy(weight[chosen]))  # fmt: skip
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(chosen)
        print(
            f"  epoch {epoch}: loss {total / count:.4f} ({time.perf_counter() - started:.0f} s)", flush=True
        )
    return model, mean.astype(np.float32), std.astype(np.float32)


def export(model: Net, mean: np.ndarray, std: np.ndarray, threshold: float) -> Arrays:
    """The weights under split_net's names (numpy, float32)."""
    state = {key: value.detach().numpy().astype(np.float32) for key, value in model.state_dict().items()}
    out: Arrays = {}
    for index, (name, _) in enumerate(TRUNK):
        out[f"{name}_w"], out[f"{name}_b"] = state[f"convs.{index}.weight"], state[f"convs.{index}.bias"]
    for index, (name, _) in enumerate(HEIGHT):
        out[f"{name}_w"], out[f"{name}_b"] = state[f"heights.{index}.weight"], state[f"heights.{index}.bias"]
    out.update(
        interp=state["interp"], mean=mean, std=std, w1=state["fc1.weight"].T.copy(), b1=state["fc1.bias"],
        w2=state["fc2.weight"][0].copy(), b2=state["fc2.bias"][0].copy(),
    )  # fmt: skip
    out.update({f"base_{key}": state[f"base_{key}"] for key in ("mean", "std", "w1", "b1", "w2")})
    out["base_b2"] = state["base_b2"].reshape(())
    assert set(out) == set(WEIGHT_NAMES)
    return {**out, "threshold": np.array(threshold, np.float32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", type=Path, default=BASE, help="the row scorer to correct")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--cache", type=Path, help="folder to cache pictures and row features in")
    parser.add_argument("--out", type=Path, default=MODEL)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    cache = args.cache
    with np.load(args.base) as stored:
        base = {key: stored[key] for key in ("mean", "std", "w1", "b1", "w2", "b2")}
    pools = [items(cache, f"pool{k}", plan(1000 + k, halves=("tune",))) for k in POOLS]
    sweep = studio(cache, "studio_sweep", SIZES, (5000, 6000), 0)
    shapes = studio(cache, "studio_shapes", STUDIO_SHAPES, (5000, 6000), len(SIZES))
    held_out_studio = _join(
        [
            studio(cache, "studio_val", STUDIO_SHAPES, (8000,), 0, step=(89, 11)),
            studio(cache, "studio_val_small", SIZES, (8000,), 0, step=(89, 11)),
        ]
    )
    tune = items(cache, "tune", [item for item in load_manifest() if item.half == "tune"])
    fresh = items(cache, f"pool{VALIDATION_POOL}", plan(1000 + VALIDATION_POOL, halves=("tune",)))
    variants = photo_variants(cache, PHOTO_VARIANTS, seed=1)
    data = _join([*pools, sweep, shapes, variants])
    studio_like = np.isin(data["kind"], ["single-studio", "studio-backdrop"])
    weight = np.where(studio_like, STUDIO_WEIGHT, 1.0).astype(np.float32)
    print(f"training on {len(data['px'])} pictures ({int(studio_like.sum())} studio backdrops)", flush=True)
    model, mean, std = train(data, weight, base, args.epochs, seed=0)
    z_tune = logits(model, tune, mean, std)
    singles = ~np.char.startswith(tune["kind"].astype(str), "stack")
    candidates = {
        "tune singles' 99th percentile": float(np.quantile(z_tune.max(1)[singles], 0.99)),
        "tune studio + margin": float(z_tune.max(1)[tune["kind"] == "single-studio"].max()) + MARGIN,
        "held-out studio sweep + margin": float(logits(model, held_out_studio, mean, std).max()) + MARGIN,
    }
    threshold = max(candidates.values())
    print("threshold " + ", ".join(f"{k} {v:.3f}" for k, v in candidates.items()) + f" -> {threshold:.3f}")
    evaluate("frozen tune half (fixes the threshold)", tune, z_tune, threshold)
    evaluate(
        f"fresh pool {VALIDATION_POOL} (never trained on)", fresh, logits(model, fresh, mean, std), threshold
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **export(model, mean, std, threshold))  # type: ignore[arg-type]
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
