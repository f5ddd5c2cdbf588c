"""The split detector against its two frozen labelled sets, plus its contract.

The first set (tests/data/split_set/manifest.json: same-kind stacks, 40-60% seams) and the wide set
(tests/data/split_set/wide.json: any two stacked pictures, 30-70% seams, halves disjoint by source) are
rebuilt from their recipes and checked against the stored fingerprints, so neither can drift silently. The
detector's networks were trained on fresh draws of the wide set's TUNE sources only; its figures are measured
on the wide set's report half (photos, studio families and generator seeds it never saw). Every studio
family is checked at run time. See docs/split-detector.md. Run with `-s` to see the tables.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, ModelError
from productshot.tools import split, split_net
from productshot.tools.split import BACKEND, DEFAULT_THRESHOLD, SplitResult, check_split
from productshot.tools.split_features import row_features
from productshot.tools.studio import match_scene, render_backdrop, scene_families
from tests.support import split_wide
from tests.support.landscapes import landscape
from tests.support.split_set import (
    INFO_TYPES,
    NEGATIVE_TYPES,
    POSITIVE_TYPES,
    THUMB_TOLERANCE,
    Item,
    build,
    fingerprint,
    load_manifest,
    plan,
    thumb_distance,
)

MIN_RECALL = 0.90
MAX_FALSE_ALARMS = 0.05
SEAM_TOLERANCE = 0.03  # of the image height


@pytest.fixture(scope="module")
def manifest() -> list[Item]:
    return load_manifest()


@pytest.fixture(scope="module")
def images(manifest: list[Item]) -> dict[str, Image.Image]:
    return {item.id: build(item) for item in manifest}


def test_set_is_large_stratified_and_matches_its_builder(manifest: list[Item]) -> None:
    assert len(manifest) >= 120
    assert len({item.id for item in manifest}) == len(manifest)
    planned = plan()
    assert [dataclasses.replace(item, sha256="", thumb="") for item in manifest] == planned, (
        "the manifest and tests/support/split_set.py disagree; rebuild deliberately with --write --force"
    )
    by_type: dict[str, list[str]] = defaultdict(list)
    for item in manifest:
        by_type[item.type].append(item.half)
    assert set(by_type) == set(POSITIVE_TYPES + NEGATIVE_TYPES + INFO_TYPES)
    for kind, halves in by_type.items():
        assert abs(halves.count("tune") - halves.count("report")) <= 1, kind
    for item in manifest:
        if item.label == "split":
            assert item.seam_y is not None and 0.40 * item.height <= item.seam_y <= 0.60 * item.height
        assert min(item.width, item.height) >= 64 and max(item.width, item.height) <= 512


def test_frozen_images_have_not_drifted(manifest: list[Item], images: dict[str, Image.Image]) -> None:
    inexact = []
    for item in manifest:
        sha, thumb = fingerprint(images[item.id])
        assert images[item.id].size == (item.width, item.height)
        if sha != item.sha256:
            # Last-bit float differences between CPUs may change a pixel or two; anything visible may not.
            distance = thumb_distance(thumb, item.thumb)
            assert distance <= THUMB_TOLERANCE, f"{item.id} changed (thumbnail moved by {distance} levels)"
            inexact.append(item.id)
    assert len(inexact) <= len(manifest) // 10, f"many images differ in the last bits: {inexact[:10]}"


def _truth_band(item: Item) -> tuple[float, float]:
    """The seam as rows: one row for a hard or blurred seam, the blended rows for a cross-fade."""
    assert item.seam_y is not None
    half = item.recipe["band"] / 2 if item.seam == "fade" else 0.0
    return item.seam_y - half, item.seam_y + half


def test_report_half_meets_the_targets(manifest: list[Item], images: dict[str, Image.Image], report) -> None:
    rows: dict[str, list[tuple[Item, SplitResult]]] = defaultdict(list)
    for item in manifest:
        if item.half == "report":
            rows[item.type].append((item, check_split(images[item.id])))

    report("\nsplit detector on the report half")
    report(f"{'type':20s} {'n':>3s} {'flagged':>8s} {'rate':>6s} {'seam<=3%':>9s} {'centre err':>10s}")
    located, seam_misses = 0, []
    for kind in POSITIVE_TYPES + NEGATIVE_TYPES + INFO_TYPES:
        results = rows[kind]
        flagged = [(item, result) for item, result in results if result.split]
        within, centre = 0, []
        for item, result in flagged:
            if item.seam_y is None:
                continue
            assert result.seam_y is not None
            low, high = _truth_band(item)
            off = max(low - result.seam_y, result.seam_y - high, 0.0) / item.height
            centre.append(abs(result.seam_y - item.seam_y) / item.height)
            if off <= SEAM_TOLERANCE:
                within += 1
            elif item.label == "split":
                seam_misses.append((item.id, round(off, 3)))
        located += within if kind in POSITIVE_TYPES else 0
        rate = len(flagged) / len(results)
        centre_text = f"{max(centre):.3f}" if centre else "-"
        seam_text = f"{within}/{len(flagged)}" if centre else "-"
        report(
            f"{kind:20s} {len(results):3d} {len(flagged):8d} {rate:6.2f} {seam_text:>9s} {centre_text:>10s}"
        )

    positives = [result for kind in POSITIVE_TYPES for _, result in rows[kind]]
    negatives = [result for kind in NEGATIVE_TYPES for _, result in rows[kind]]
    recall = sum(result.split for result in positives) / len(positives)
    false_alarms = sum(result.split for result in negatives) / len(negatives)
    report(f"same-kind stacks: recall {recall:.3f}; single scenes: false alarms {false_alarms:.3f}")
    assert recall >= MIN_RECALL
    assert false_alarms <= MAX_FALSE_ALARMS
    assert not any(result.split for _, result in rows["single-studio"])
    assert not seam_misses, f"seam rows off by more than 3% of the height: {seam_misses}"


def _stack(top: Image.Image, bottom: Image.Image, width: int, height: int, seam: int) -> Image.Image:
    canvas = Image.new("RGB", (width, height))
    canvas.paste(top.resize((width, seam)), (0, 0))
    canvas.paste(bottom.resize((width, height - seam)), (0, seam))
    return canvas


def _scene(height: int, width: int = 256) -> Image.Image:
    """A simple sky-over-ground scene: a blue gradient above, a textured green field below."""
    rng = np.random.default_rng(3)
    ys = np.linspace(0.0, 1.0, height)[:, None, None]
    sky = np.array([70, 120, 200]) + (np.array([200, 220, 240]) - np.array([70, 120, 200])) * ys / 0.5
    field = np.array([60, 130, 50]) * (1.0 + 0.3 * (ys - 0.5)) + rng.normal(0, 8, (height, width, 1))
    pixels = np.where(ys < 0.5, sky, field) * np.ones((1, width, 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def test_contract_on_a_clear_stack_and_a_single_scene() -> None:
    stacked = _stack(_scene(200), _scene(200), 320, 400, 190)
    result = check_split(stacked)
    assert result.split and result.backend == BACKEND == "split-detector"
    assert 0.5 <= result.score <= 1.0 and result.seconds >= 0.0
    assert result.seam_y is not None and abs(result.seam_y - 190) <= 0.03 * 400
    assert result.candidate_y == result.seam_y
    single = check_split(_scene(400, 320))
    assert not single.split and single.seam_y is None and 0.0 <= single.score < DEFAULT_THRESHOLD
    assert 0 <= single.candidate_y < 400


def test_threshold_moves_the_decision() -> None:
    stacked = _stack(_scene(200), _scene(200), 320, 400, 200)
    score = check_split(stacked).score
    assert check_split(stacked, threshold=max(0.001, score - 0.01)).split is True
    if score < 0.99:
        assert check_split(stacked, threshold=min(0.999, score + 0.01)).split is False
    single = _scene(400, 320)
    low = check_split(single).score
    assert check_split(single, threshold=min(0.999, low + 0.01)).split is False
    if low > 0.002:
        assert check_split(single, threshold=low - 0.001).split is True


def test_a_reflection_is_not_a_split() -> None:
    scene = np.asarray(_scene(200, 320), dtype=np.float32)
    mirrored = np.concatenate([scene, scene[::-1] * 0.8], axis=0)
    assert not check_split(Image.fromarray(mirrored.astype(np.uint8), "RGB")).split


def test_a_scene_over_another_render_of_its_kind_is_caught() -> None:
    """Same-kind repeats (the first detector's strength): a day sea with a second day sea pasted under it
    (it had slipped to 0.46 after the 40-family retrain), a field under a sea, two studio beaches."""
    top = landscape("sea", 512, 384, seed=1).crop((0, 0, 512, 192))
    for kind, seed in (("sea", 2), ("sea", 3), ("sunset", 2), ("field", 4)):
        stacked = Image.new("RGB", (512, 384))
        stacked.paste(top, (0, 0))
        stacked.paste(landscape(kind, 512, 384, seed=seed), (0, 192))
        result = check_split(stacked)
        assert result.split and result.seam_y is not None, (kind, seed, result.score)
        assert abs(result.seam_y - 192) <= SEAM_TOLERANCE * 384, (kind, seed, result.seam_y)
    beach = _stack(
        render_backdrop("simple beach", 512, 192, seed=3).image,
        render_backdrop("simple beach", 512, 192, seed=4).image,
        512,
        384,
        192,
    )
    assert check_split(beach).split


def test_sizes_modes_and_the_input_left_alone() -> None:
    stacked = _stack(_scene(256), _scene(256), 1024, 1024, 500)
    before = stacked.tobytes()
    assert check_split(stacked).split
    assert stacked.tobytes() == before
    for mode in ("L", "RGBA", "P"):
        assert check_split(stacked.convert(mode)).split, mode
    wide = _stack(_scene(256, 2048), _scene(256, 2048), 4096, 512, 250)
    assert check_split(wide).split
    tall = check_split(_scene(4096, 512))
    assert not tall.split
    assert check_split(Image.new("RGB", (64, 64), "white")).score == 0.0


def test_the_check_runs_in_numpy_without_heavy_imports() -> None:
    """The whole-picture network runs in numpy: a check in a fresh process imports no torch or onnxruntime."""
    heavy = ("torch", "onnxruntime", "scipy", "skimage")
    code = (
        "import sys; from PIL import Image; from productshot.tools.split import check_split; "
        "check_split(Image.linear_gradient('L').convert('RGB')); "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


def test_the_network_adds_a_correction_to_the_row_scorer_and_members_average() -> None:
    """tools/split_net.py: with a zero output layer the network's row logits are exactly the row scorer's,
    one per candidate row, for any working copy; an ensemble's logits are its members' mean."""
    rng = np.random.default_rng(0)
    weights: dict[str, Any] = {"interp": split_net.row_interpolation(40)}
    channels = 6
    for (name, _), out in zip(split_net.TRUNK, (16, 32, 48, 64), strict=True):
        weights[f"{name}_w"] = rng.normal(0, 0.1, (out, channels, 3, 3)).astype(np.float32)
        weights[f"{name}_b"] = np.zeros(out, np.float32)
        channels = out
    width = 4 * channels
    for (name, _), out in zip(split_net.HEIGHT, (64, 64, 32), strict=True):
        weights[f"{name}_w"] = rng.normal(0, 0.05, (out, width, 5)).astype(np.float32)
        weights[f"{name}_b"] = np.zeros(out, np.float32)
        width = out
    for prefix in ("", "base_"):
        weights[f"{prefix}mean"], weights[f"{prefix}std"] = np.zeros(70, np.float32), np.ones(70, np.float32)
        weights[f"{prefix}b1"] = np.zeros(16, np.float32)
    weights["b2"], weights["base_b2"] = np.float32(0.0), np.float32(0.3)
    weights["w1"] = rng.normal(0, 0.1, (70 + 32, 16)).astype(np.float32)
    weights["base_w1"] = rng.normal(0, 0.1, (70, 16)).astype(np.float32)
    weights["w2"], weights["base_w2"] = np.zeros(16, np.float32), rng.normal(0, 1, 16).astype(np.float32)
    assert set(weights) == set(split_net.WEIGHT_NAMES)
    pixels = np.asarray(_stack(_scene(200), _scene(200), 320, 400, 190).resize((96, 160)), np.float32) / 255
    features = row_features(pixels)
    logits = split_net.row_logits(weights, pixels, features)
    assert logits.shape == (len(features),)
    np.testing.assert_allclose(logits, split_net.base_logits(weights, features), atol=1e-5)
    # An ensemble averages its members: a second member whose correction is a constant 1 adds a half.
    shifted = {**weights, "b2": np.float32(1.0)}
    stored = {
        split_net.member_key(k, name): net[name] for k, net in enumerate((weights, shifted)) for name in net
    }
    nets = split_net.members({**stored, "members": np.int64(2)})
    assert [set(net) for net in nets] == [set(split_net.WEIGHT_NAMES)] * 2
    np.testing.assert_allclose(split_net.ensemble_logits(nets, pixels, features), logits + 0.5, atol=1e-5)


def test_bad_input_gets_named_errors() -> None:
    not_an_image: Any = "not an image"
    thresholds: list[Any] = [0.0, 1.0, -0.2, "0.5", True]
    with pytest.raises(BadImageError, match="image"):
        check_split(not_an_image)
    with pytest.raises(BadImageError, match="at least"):
        check_split(Image.new("RGB", (4, 100)))
    for threshold in thresholds:
        with pytest.raises(BadRequestError, match="threshold"):
            check_split(Image.new("RGB", (64, 64)), threshold=threshold)


def test_the_shipped_weights_are_small_and_unreadable_weights_get_a_named_error(tmp_path: Any) -> None:
    """Issue 14: the weights ship in the repository (≤ 2 MB); a missing, truncated or incomplete weights
    file is a ModelError naming the file, never a crash inside numpy."""
    assert split.MODEL_PATH.stat().st_size <= 2 * 1024 * 1024
    with np.load(split.MODEL_PATH) as shipped:
        assert len(split_net.members(shipped)) == int(shipped["members"]) >= 1
        assert "threshold" in shipped.files
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(split.MODEL_PATH.read_bytes()[:1000])
    incomplete = tmp_path / "incomplete.npz"
    np.savez(incomplete, threshold=np.float32(0.0))
    empty = tmp_path / "empty.npz"
    np.savez(empty, threshold=np.float32(0.0), members=np.int64(0))
    for path in (tmp_path / "missing.npz", truncated, incomplete, empty):
        with pytest.raises(ModelError, match=path.name):
            split._detector(path)


def test_check_time_at_1024_square_is_reasonable() -> None:
    image = _stack(_scene(512, 1024), _scene(512, 1024), 1024, 1024, 500)
    check_split(image)
    cpu = []
    for _ in range(5):
        started = time.process_time()
        check_split(image)
        cpu.append(time.process_time() - started)
    # The target is 30 ms on an idle machine; the test only guards against a large regression.
    assert sorted(cpu)[2] < 0.25, cpu


# ------------------------------------------------------------------------------------ the wide labelled set

# Issue 14's targets on the report half, printed as met / NOT MET with the measured figures.
WIDE_TARGET_RECALL, WIDE_TARGET_KIND_RECALL, WIDE_TARGET_SEAMS = 0.95, 0.85, 1.0
# What the test guards (regression floors a little under what this detector measured; see
# docs/split-detector.md: the recall targets are not met yet). False alarms and studio are the targets.
# The fifth pass (two whole-picture networks averaged over the row scorer, member 1 trained on softened photos)
# measured 0.935 overall, worst kind 0.708 (photo over itself), 196/202 seams within 3% (the fourth pass:
# 0.917, 0.667, 193/198; the second pass: 0.727, 0.458, 149/157); the seventh pass's recomputed bar the
# same, with 3/240 false alarms (1.3%).
WIDE_MIN_RECALL = 0.92
WIDE_MIN_KIND_RECALL = 0.66
WIDE_MIN_SEAMS_PLACED = 0.95
WIDE_MAX_FALSE_ALARMS = 0.02


@pytest.fixture(scope="module")
def wide_manifest() -> list[Item]:
    return split_wide.load_manifest()


@pytest.fixture(scope="module")
def wide_report(wide_manifest: list[Item]) -> dict[str, Image.Image]:
    return {item.id: split_wide.build(item) for item in wide_manifest if item.half == "report"}


def _sources(recipe: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every (source kind, source) an item is made of: photo names, studio families, generator seeds."""
    if recipe["source"] == "stack":
        return _sources(recipe["top"]) + _sources(recipe["bottom"])
    if recipe["source"] == "photo":
        return [("photo", recipe["name"])]
    if recipe["source"] == "studio":
        return [("studio", match_scene(recipe["words"])[0])]
    return [("seed-parity", recipe["seed"] % 2)]


def test_wide_set_is_stratified_disjoint_by_source_and_matches_its_builder(wide_manifest: list[Item]) -> None:
    assert [dataclasses.replace(item, sha256="", thumb="") for item in wide_manifest] == split_wide.plan(), (
        "the wide manifest and tests/support/split_wide.py disagree; rebuild deliberately with --write --force"
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    sources: dict[str, set[tuple[str, Any]]] = defaultdict(set)
    seams, aspects, formats = [], set(), set()
    for item in wide_manifest:
        counts[(item.type, item.half)] += 1
        sources[item.half].update(_sources(item.recipe))
        aspects.add(round(item.width / item.height, 2))
        formats.add(item.recipe["format"])
        assert max(item.width, item.height) <= 256
        if item.label == "split":
            assert item.seam_y is not None
            seams.append((item.seam, item.seam_y / item.height))
    assert not sources["tune"] & sources["report"], "the halves share a source"
    for kind in split_wide.POSITIVE_TYPES + split_wide.NEGATIVE_TYPES:
        assert counts[(kind, "tune")] >= 20 and counts[(kind, "report")] >= 20, kind
    softened = sum(kind in ("blur", "fade") for kind, _ in seams)
    assert softened >= len(seams) / 3
    positions = np.array([where for _, where in seams])
    assert positions.min() >= 0.295 and positions.max() <= 0.705  # 30-70%, to the whole row
    assert np.histogram(positions, bins=4, range=(0.3, 0.7))[0].min() >= len(seams) / 8
    assert aspects == {1.0, 1.33, 1.78, 0.75} and formats == {"png", "jpeg"}


def test_wide_frozen_images_have_not_drifted(
    wide_manifest: list[Item], wide_report: dict[str, Image.Image]
) -> None:
    checked = [item for item in wide_manifest if item.half == "report"] + [
        item for item in wide_manifest if item.half == "tune"
    ][::6]
    inexact = []
    for item in checked:
        image = wide_report.get(item.id) or split_wide.build(item)
        sha, thumb = fingerprint(image)
        assert image.size == (item.width, item.height)
        if sha != item.sha256:
            # Last-bit float or JPEG-codec differences between machines may move a pixel; nothing visible.
            distance = thumb_distance(thumb, item.thumb)
            assert distance <= THUMB_TOLERANCE, f"{item.id} changed (thumbnail moved by {distance} levels)"
            inexact.append(item.id)
    assert len(inexact) <= len(checked) // 4, f"many images differ in the last bits: {inexact[:10]}"


def test_wide_report_half_meets_the_targets(
    wide_manifest: list[Item], wide_report: dict[str, Image.Image], report
) -> None:
    rows: dict[str, list[tuple[Item, SplitResult]]] = defaultdict(list)
    for item in wide_manifest:
        if item.half == "report":
            rows[item.type].append((item, check_split(wide_report[item.id])))
    report("\nsplit detector on the wide set's report half (sources disjoint from training)")
    report(f"{'type':28s} {'n':>3s} {'flagged':>8s} {'rate':>6s} {'seam<=3%':>9s}")
    seam_misses = []
    kind_recall = {}
    for kind in split_wide.POSITIVE_TYPES + split_wide.NEGATIVE_TYPES:
        results = rows[kind]
        flagged = [(item, result) for item, result in results if result.split]
        within = 0
        for item, result in flagged:
            if item.label != "split":
                continue
            assert result.seam_y is not None
            low, high = _truth_band(item)
            off = max(low - result.seam_y, result.seam_y - high, 0.0) / item.height
            if off <= SEAM_TOLERANCE:
                within += 1
            else:
                seam_misses.append((item.id, round(off, 3)))
        rate = len(flagged) / len(results)
        if kind in split_wide.POSITIVE_TYPES:
            kind_recall[kind] = rate
        seam_text = f"{within}/{len(flagged)}" if kind in split_wide.POSITIVE_TYPES else "-"
        report(f"{kind:28s} {len(results):3d} {len(flagged):8d} {rate:6.2f} {seam_text:>9s}")
    positives = [result for kind in split_wide.POSITIVE_TYPES for _, result in rows[kind]]
    negatives = [result for kind in split_wide.NEGATIVE_TYPES for _, result in rows[kind]]
    recall = sum(result.split for result in positives) / len(positives)
    false_alarms = sum(result.split for result in negatives) / len(negatives)
    report(
        f"stacks: recall {recall:.3f} ({sum(r.split for r in positives)}/{len(positives)}); single scenes: "
        f"false alarms {false_alarms:.3f} ({sum(r.split for r in negatives)}/{len(negatives)})"
    )
    flagged_stacks = sum(result.split for result in positives)
    placed = 1.0 - len(seam_misses) / max(flagged_stacks, 1)
    for name, value, target in (
        ("recall over all stacks", recall, WIDE_TARGET_RECALL),
        ("worst stack kind", min(kind_recall.values()), WIDE_TARGET_KIND_RECALL),
        ("flagged seams within 3%", placed, WIDE_TARGET_SEAMS),
    ):
        report(
            f"issue 14 target {name} >= {target:.2f}: {value:.3f} {'met' if value >= target else 'NOT MET'}"
        )
    report(f"seams off by more than 3% of the height: {seam_misses}")
    assert recall >= WIDE_MIN_RECALL
    assert min(kind_recall.values()) >= WIDE_MIN_KIND_RECALL, kind_recall
    assert placed >= WIDE_MIN_SEAMS_PLACED, seam_misses
    assert false_alarms <= WIDE_MAX_FALSE_ALARMS
    assert not any(result.split for _, result in rows["single-studio"])


STUDIO_SHAPES = ((384, 384), (448, 256), (256, 448))


def test_no_studio_family_is_ever_flagged(report) -> None:
    """Every family the studio paints today (read at run time), several seeds, modifiers and shapes."""
    families = scene_families()
    assert families
    worst = (0.0, "")
    for index, family in enumerate(families):
        for seed, extra in ((11, ""), (12, " sunset"), (13, " night")):
            for width, height in STUDIO_SHAPES:
                image = render_backdrop(family + extra, width, height, seed=seed + 7 * index).image
                result = check_split(image)
                assert not result.split, f"studio {family + extra!r} seed {seed} {width}x{height}: {result}"
                worst = max(worst, (result.score, f"{family + extra} {width}x{height}"))
    report(
        f"\nstudio backdrops: {len(families)} families x 3 seeds/modifiers x 3 shapes, none flagged; "
        f"highest score {worst[0]:.3f} ({worst[1]})"
    )
