"""Per-row features of "is there a seam between two stacked pictures here?" for the split detector.

The image is box-resized to a fixed 96×160 working copy (rows matter; the fixed size makes every input cost
the same and the features scale-free). For every candidate seam row between 26% and 74% of the height the
features ask what a person looks for: a step across the full width at several scales, a row-aligned edge,
vertical structure that stops continuing across the row, colour/lightness/texture statistics above and below
that are independent of each other (compared with how much adjacent bands differ inside each side), a
restart of the scene (the rows below look like the image's top, the rows above like its bottom, texture
drops from "near ground" to "sky"), whether the lower part replays the upper one rather than mirroring
it (also squashed to another height), texture that changes in every column at once, and whether the row
stands out from the picture's other rows. `split.py` scores each row with a small trained network; see
docs/split-detector.md.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

WORK_W, WORK_H = 96, 160
CANDIDATES = (0.26, 0.74)  # candidate seam rows as fractions of the height (seams are sought at 30-70%)
_COLUMN_BANDS = 8  # lightness bands of the row profile
_EDGE_BANDS = 16  # column blocks for the full-width test
_EPS = 1e-3
_DTW_SAMPLES = 24
_DTW_BAND = 6

Array = np.ndarray


def candidate_rows() -> Array:
    """The working-copy rows tested as seams (a seam at row r lies between rows r-1 and r)."""
    return np.arange(round(CANDIDATES[0] * WORK_H), round(CANDIDATES[1] * WORK_H) + 1)


def working_copy(image: Image.Image) -> Array:
    """The image as a float32 96×160×3 RGB array in 0..1 (any mode; alpha ignored)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if rgb.width >= 4 * WORK_W and rgb.height >= 4 * WORK_H:  # cheap pre-shrink of large inputs
        factor = min(rgb.width // (2 * WORK_W), rgb.height // (2 * WORK_H))
        if factor > 1:
            rgb = rgb.reduce(factor)
    small = rgb.resize((WORK_W, WORK_H), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _band(summed: Array, lo: Array, hi: Array) -> Array:
    """Mean of rows [lo, hi) per candidate from a row-cumsum (rows+1, ...); lo/hi are clipped."""
    lo = np.clip(lo, 0, summed.shape[0] - 2)
    hi = np.clip(hi, lo + 1, summed.shape[0] - 1)
    shape = (-1,) + (1,) * (summed.ndim - 1)
    return (summed[hi] - summed[lo]) / (hi - lo).reshape(shape).astype(np.float32)


def _cumsum(rows: Array) -> Array:
    return np.concatenate(
        [np.zeros((1, *rows.shape[1:]), np.float32), np.cumsum(rows, axis=0, dtype=np.float32)]
    )


def _dist(a: Array, b: Array) -> Array:
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def _relative(values: Array, reference: Array) -> Array:
    """log(value) against the log of the reference's median (the image's typical level)."""
    return np.log(values + _EPS) - np.log(float(np.median(reference)) + _EPS)


def row_features(pixels: Array) -> Array:
    """Features of each candidate row (candidates × features) from a working copy."""
    height = pixels.shape[0]
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    light = 0.299 * red + 0.587 * green + 0.114 * blue
    red_green = red - green
    yellow_blue = (red + green) * 0.5 - blue
    across = np.abs(np.diff(light, axis=1, append=light[:, -1:]))
    edges = np.abs(np.diff(light, axis=0))  # edges[r-1] lies between rows r-1 and r

    bands = light.reshape(height, _COLUMN_BANDS, -1).mean(axis=2)
    profile = np.concatenate(
        [bands, red_green.mean(1, keepdims=True) * 1.5, yellow_blue.mean(1, keepdims=True) * 1.5,
         across.mean(1, keepdims=True) * 4.0],
        axis=1,
    )  # fmt: skip
    summed = _cumsum(profile)
    rows = candidate_rows()
    every = np.arange(2, height - 1)
    out: list[Array] = [rows[:, None] / height]

    # Steps across the row at several scales, absolute and against the image's typical step at that scale.
    for k in (1, 3, 8, 20):
        step = _dist(_band(summed, rows - k, rows), _band(summed, rows, rows + k))
        typical = _dist(_band(summed, every - k, every), _band(summed, every, every + k))
        out += [np.log(step + _EPS)[:, None], _relative(step, typical)[:, None]]

    # Full width: the step in every column block, its weakest fifth and median against the image's.
    colour = np.stack([light, red_green, yellow_blue], axis=-1)
    blocks = colour.reshape(height, _EDGE_BANDS, -1, 3).mean(axis=2)
    block_sum = _cumsum(blocks)
    for k in (2, 6):
        block_step = np.sqrt(
            ((_band(block_sum, rows - k, rows) - _band(block_sum, rows, rows + k)) ** 2).sum(-1)
        )
        every_step = np.sqrt(
            ((_band(block_sum, every - k, every) - _band(block_sum, every, every + k)) ** 2).sum(-1)
        )
        low = np.quantile(block_step, 0.2, axis=1)
        out += [_relative(low, np.quantile(every_step, 0.2, axis=1))[:, None], np.log(low + _EPS)[:, None]]
        out.append((block_step > 0.5 * block_step.max(axis=1, keepdims=True)).mean(axis=1)[:, None])

    # A row-aligned edge: its strength against the rows nearby, and how many columns put their edge here.
    edge_row = edges.mean(axis=1)
    near = np.max(
        np.stack([edge_row[rows - 2], edge_row[rows - 1], edge_row[np.minimum(rows, height - 2)]]), 0
    )
    around = np.stack([edge_row[np.clip(rows + d, 0, height - 2)] for d in (-9, -7, -5, 3, 5, 7)]).mean(0)
    out.append((np.log(near + _EPS) - np.log(around + _EPS))[:, None])
    windows = sliding_window_view(edges, 9, axis=0)  # (height-9, W, 9): rows r-5 .. r+3 around edge r-1
    peak = windows.argmax(axis=-1)
    index = np.clip(rows - 5, 0, windows.shape[0] - 1)
    aligned = (np.abs(peak[index] - 4) <= 1) & (windows[index].max(-1) > 0.01)
    out.append(aligned.mean(axis=1)[:, None])
    # How far each column's edge at the row stands above its own edges just off the row (a cut is a ridge
    # one or two rows thin in every column, whatever the texture), per channel.
    for channel in (light, red_green, yellow_blue):
        ch_edges = np.abs(np.diff(channel, axis=0))
        at = np.maximum(ch_edges[rows - 1], ch_edges[np.minimum(rows, height - 2)])
        off = np.maximum(ch_edges[np.maximum(rows - 4, 0)], ch_edges[np.minimum(rows + 3, height - 2)])
        ridge = np.clip(at - off, 0, None).mean(axis=1)
        spread = ch_edges.mean() + 0.002
        out.append(np.log(ridge / spread + 0.01)[:, None])

    # Vertical structure: do column details above continue below (correlation across the row)?
    detail = light - _box_rows(light, 4)
    detail_sum = _cumsum(detail)
    for gap in (0, 3, 8):
        corr = _continuity(detail_sum, rows, gap)
        base = _continuity(detail_sum, np.arange(gap + 3, height - gap - 3), gap)
        out += [corr[:, None], (corr - np.median(base))[:, None]]
        above = _band(detail_sum, rows - gap - 3, rows - gap)
        below = _band(detail_sum, rows + gap, rows + gap + 3)
        energy = np.log((above**2).mean(1) + _EPS) - np.log((below**2).mean(1) + _EPS)
        out.append(energy[:, None])

    # Independent statistics: histograms above vs below, against adjacent bands on the same side.
    hist_sum = _cumsum(
        np.concatenate(
            [_row_histograms(light, red_green, yellow_blue, across), _orientation_histograms(light)], axis=1
        )
    )
    for gap_f, span_f in ((0.0, 0.08), (0.07, 0.12)):
        gap, span = round(gap_f * height), round(span_f * height)
        a1 = _band(hist_sum, rows - gap - span, rows - gap)
        b1 = _band(hist_sum, rows + gap, rows + gap + span)
        a2 = _band(hist_sum, rows - gap - 2 * span, rows - gap - span)
        b2 = _band(hist_sum, rows + gap + span, rows + gap + 2 * span)
        across_seam = _tv(a1, b1)
        inside = np.maximum(_tv(a1, a2), _tv(b1, b2))
        out += [across_seam[:, None], (np.log(across_seam + 0.02) - np.log(inside + 0.02))[:, None]]
        top_h = _band(hist_sum, np.array([0]), np.array([span]))
        bottom_h = _band(hist_sum, np.array([height - span]), np.array([height]))
        out.append((_tv(a1, top_h) - _tv(b1, top_h))[:, None])  # below starts like the image's top
        out.append((_tv(b1, bottom_h) - _tv(a1, bottom_h))[:, None])  # above ends like its bottom

        # The scene restarts: below looks like the image top, above like its bottom; texture falls.
        above_p = _band(summed, rows - gap - span, rows - gap)
        below_p = _band(summed, rows + gap, rows + gap + span)
        top_p = _band(summed, np.array([0]), np.array([span]))
        bottom_p = _band(summed, np.array([height - span]), np.array([height]))
        out.append((np.log(_dist(above_p, top_p) + 0.05) - np.log(_dist(below_p, top_p) + 0.05))[:, None])
        out.append(
            (np.log(_dist(below_p, bottom_p) + 0.05) - np.log(_dist(above_p, bottom_p) + 0.05))[:, None]
        )
        out.append((np.log(above_p[:, -1] + _EPS) - np.log(below_p[:, -1] + _EPS))[:, None])
        out.append((below_p[:, :_COLUMN_BANDS].mean(1) - above_p[:, :_COLUMN_BANDS].mean(1))[:, None])

    # The two sides as wholes: alike (a repeat) or unlike (another picture), against the image's own spread.
    whole_above = _band(hist_sum, np.zeros_like(rows), rows)
    whole_below = _band(hist_sum, rows, np.full_like(rows, height))
    out.append(_tv(whole_above, whole_below)[:, None])

    # Repeat, mirror and structure (the first detector's questions), as log ratios; and a replay of
    # content: does the strip just below the row recur above it (or the strip above recur below)?
    out.append(_repeat_features(profile, rows))
    out.append(_replay_features(light, rows))
    # The same picture twice, squashed to two heights: each side rescaled to 16 rows and compared whole.
    out.append(_rescaled_replay(pixels, light, rows))
    # Texture that changes in every column at once (a cut), not in one place (an object's edge).
    out.append(_texture_change(light, rows))
    base = np.concatenate(out, axis=1).astype(np.float32)
    # Does this row stand out from the rest of the picture (one seam), or do many rows look alike (shelves,
    # text lines, a tiled texture)?
    return np.concatenate([base, _standing_out(base)], axis=1).astype(np.float32)


_SIDE_ROWS = 16  # rows each side is rescaled to in the squashed-replay test
# Steps at 1 and 3 rows, the weakest column block's step, the row edge, aligned columns, the ridge, histograms.
_STANDOUT_COLUMNS = (2, 4, 9, 15, 16, 17, 30)
_STANDOUT_AWAY = 6  # rows


def _resample_rows(values: Array, starts: Array, ends: Array, count: int) -> Array:
    """`count` rows linearly sampled between starts and ends (per candidate) from a (rows, C) array."""
    t = (np.arange(count, dtype=np.float32) + 0.5) / count
    pos = np.clip(starts[:, None] + (ends - starts)[:, None] * t[None, :] - 0.5, 0, values.shape[0] - 1)
    low = np.floor(pos).astype(np.int32)
    high = np.minimum(low + 1, values.shape[0] - 1)
    weight = (pos - low)[..., None]
    return values[low] * (1 - weight) + values[high] * weight


def _correlation(a: Array, b: Array) -> Array:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(1) / (np.sqrt((a * a).sum(1) * (b * b).sum(1)) + 1e-4)


def _rescaled_replay(pixels: Array, light: Array, rows: Array) -> Array:
    """Correlation of the part above the row with the part below, both rescaled to 16 rows × 24 columns of
    lightness and two colours: whole, mirrored, with each row's mean removed (structure across the width)
    and with each column's mean removed (the order of things down the picture). Every other row, as the
    values change slowly."""
    height = light.shape[0]
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    grid = np.concatenate(
        [light.reshape(height, 24, 4).mean(2), (red - green).reshape(height, 24, 4).mean(2),
         ((red + green) * 0.5 - blue).reshape(height, 24, 4).mean(2)],
        axis=1,
    )  # fmt: skip
    all_rows = rows.astype(np.float32)
    sparse = all_rows[::2]
    if sparse[-1] != all_rows[-1]:
        sparse = np.append(sparse, all_rows[-1])
    upper = _resample_rows(grid, np.zeros_like(sparse), sparse, _SIDE_ROWS)
    lower = _resample_rows(grid, sparse, np.full_like(sparse, height), _SIDE_ROWS)
    count = len(sparse)

    def across(part: Array) -> Array:
        split = part.reshape(count, _SIDE_ROWS, 3, 24)
        return (split - split.mean(3, keepdims=True)).reshape(count, -1)

    def down(part: Array) -> Array:
        return (part - part.mean(1, keepdims=True)).reshape(count, -1)

    replay = _correlation(upper.reshape(count, -1), lower.reshape(count, -1))
    mirror = _correlation(upper.reshape(count, -1), lower[:, ::-1].reshape(count, -1))
    replay_down = _correlation(down(upper), down(lower))
    mirror_down = _correlation(down(upper), down(lower[:, ::-1]))
    values = (
        replay, mirror, replay - mirror, _correlation(across(upper), across(lower)), replay_down,
        replay_down - mirror_down,
    )  # fmt: skip
    return np.stack([np.interp(all_rows, sparse, v) for v in values], axis=1)


def _texture_change(light: Array, rows: Array) -> Array:
    """|log| ratio of vertical detail just above and just below the row in 16 column blocks (4 and 10
    rows): its lower quartile and median (a cut changes texture in every block)."""
    height = light.shape[0]
    detail = np.abs(np.diff(light, axis=0, prepend=light[:1]))
    summed = _cumsum(detail.reshape(height, 16, -1).mean(2))
    at = rows.astype(np.int64)
    out = []
    for k in (4, 10):
        above = _band(summed, at - k - 1, at - 1)
        below = _band(summed, at + 2, at + k + 2)
        ratio = np.abs(np.log(above + 0.003) - np.log(below + 0.003))
        out += [np.quantile(ratio, 0.25, axis=1), np.median(ratio, axis=1)]
    return np.stack(out, axis=1)


def _standing_out(features: Array) -> Array:
    """For a few key features, each row's value minus the best value of the rows at least 6 rows away."""
    index = np.arange(features.shape[0])
    away = np.abs(index[:, None] - index[None, :]) >= _STANDOUT_AWAY
    out = []
    for column in _STANDOUT_COLUMNS:
        values = features[:, column]
        out.append(values - np.where(away, values[None, :], -np.inf).max(axis=1))
    return np.stack(out, axis=1)


def _box_rows(values: Array, radius: int) -> Array:
    """A horizontal box blur of each row (keeps only coarse column structure)."""
    padded = np.pad(values, ((0, 0), (radius, radius)), mode="edge")
    summed = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return (summed[:, 2 * radius + 1 :] - summed[:, : -2 * radius - 1]) / (2 * radius + 1)


def _continuity(detail_sum: Array, rows: Array, gap: int) -> Array:
    above = _band(detail_sum, rows - gap - 3, rows - gap)
    below = _band(detail_sum, rows + gap, rows + gap + 3)
    num = (above * below).sum(1)
    den = np.sqrt((above**2).sum(1) * (below**2).sum(1)) + 1e-4
    return num / den


def _row_histograms(light: Array, red_green: Array, yellow_blue: Array, across: Array) -> Array:
    """Per-row histograms (each normalised to 1 per group) of lightness, two colours and texture."""
    width = light.shape[1]
    groups = (
        (np.clip(light * 8, 0, 7.999), 8),
        (np.clip((red_green + 0.5) * 6, 0, 5.999), 6),
        (np.clip((yellow_blue + 0.5) * 6, 0, 5.999), 6),
        (np.clip(np.sqrt(across) * 12, 0, 4.999), 5),
    )
    height = light.shape[0]
    parts = []
    row_offset = np.arange(height, dtype=np.int32)[:, None]
    for values, bins in groups:
        index = (values.astype(np.int32) + row_offset * bins).ravel()
        counts = np.bincount(index, minlength=height * bins).reshape(height, bins)
        parts.append(counts.astype(np.float32) / width)
    return np.concatenate(parts, axis=1) / len(groups)


def _tv(a: Array, b: Array) -> Array:
    return 0.5 * np.abs(a - b).sum(axis=1)


def _resample(profile: Array, starts: Array, ends: Array) -> Array:
    t = (np.arange(_DTW_SAMPLES, dtype=np.float32) + 0.5) / _DTW_SAMPLES
    pos = np.clip(starts[:, None] + (ends - starts)[:, None] * t[None, :] - 0.5, 0, profile.shape[0] - 1)
    low = np.floor(pos).astype(np.int32)
    high = np.minimum(low + 1, profile.shape[0] - 1)
    weight = (pos - low)[..., None]
    return profile[low] * (1.0 - weight) + profile[high] * weight


def _dtw(first: Array, second: Array) -> Array:
    """Banded dynamic-time-warping distance per candidate, averaged along the path."""
    cost = np.sqrt(((first[:, :, None, :] - second[:, None, :, :]) ** 2).sum(axis=-1))
    count, n = cost.shape[0], _DTW_SAMPLES
    acc = np.full((count, n + 1, n + 1), np.inf, dtype=np.float32)
    acc[:, 0, 0] = 0.0
    for diagonal in range(2 * n - 1):
        i = np.arange(max(0, diagonal - n + 1), min(n, diagonal + 1))
        j = diagonal - i
        inside = np.abs(i - j) <= _DTW_BAND
        i, j = i[inside], j[inside]
        step = cost[:, i, j]
        acc[:, i + 1, j + 1] = np.minimum(
            np.minimum(acc[:, i, j] + 2.0 * step, acc[:, i, j + 1] + step), acc[:, i + 1, j] + step
        )
    return acc[:, n, n] / (2.0 * n)


def _repeat_features(profile: Array, rows: Array) -> Array:
    """log(mirror/repeat), log(own spread/repeat) and log(repeat) of the segments above and below."""
    scaled = profile * 100.0
    every = rows[::2]  # every other row (the ratios change slowly), interpolated back to all rows
    seams = every.astype(np.float32)
    upper = _resample(scaled, np.zeros_like(seams), seams)
    lower = _resample(scaled, seams, np.full_like(seams, profile.shape[0]))
    repeat = _dtw(upper, lower)
    mirror = _dtw(upper, lower[:, ::-1])
    spread = np.minimum(_spread(upper), _spread(lower))
    sparse = [np.log((mirror + 1) / (repeat + 1)), np.log((spread + 1) / (repeat + 1)), np.log(repeat + 1)]
    return np.stack([np.interp(rows, every, values) for values in sparse], axis=1)


def _spread(segments: Array) -> Array:
    centred = segments - segments.mean(axis=1, keepdims=True)
    return np.sqrt((centred**2).sum(axis=-1)).mean(axis=1)


_STRIP = 8  # rows per strip in the replay test


def _replay_features(light: Array, rows: Array) -> Array:
    """Best normalised correlation of the strip below each row with any strip wholly above it (and of the
    strip above with any strip wholly below), and of those strips with the image's top and bottom strips."""
    height = light.shape[0]
    coarse = light.reshape(height, -1, 4).mean(axis=2)  # 24 columns are enough to recognise a strip
    strips = sliding_window_view(coarse, _STRIP, axis=0)  # (height - 7, 24, 8): the strip from each row
    flat = strips.reshape(strips.shape[0], -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    flat = flat / (np.sqrt((flat**2).sum(axis=1, keepdims=True)) + 0.05)
    below = np.minimum(rows, flat.shape[0] - 1)  # strip [r, r+8)
    above = np.maximum(rows - _STRIP, 0)  # strip [r-8, r)
    # einsum, not BLAS: a multi-threaded BLAS call this small costs more in thread wake-ups than it saves.
    gram_below = np.einsum("ik,jk->ij", flat[below], flat)
    gram_above = np.einsum("ik,jk->ij", flat[above], flat)
    starts = np.arange(flat.shape[0])
    before = starts[None, :] <= (rows - _STRIP)[:, None] - 2  # strips ending well before the row
    after = starts[None, :] >= rows[:, None] + 2  # strips starting well after it
    below_recurs = np.where(before, gram_below, -1.0).max(axis=1)
    above_recurs = np.where(after, gram_above, -1.0).max(axis=1)
    return np.stack([below_recurs, above_recurs, gram_below[:, 0], gram_above[:, -1]], axis=1)


def _orientation_histograms(light: Array) -> Array:
    """Per-row histograms of gradient orientation (4 bins, weighted by strength; a fifth bin for flat)."""
    gy, gx = np.gradient(light)
    strength = np.sqrt(gx**2 + gy**2)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    index = np.minimum((angle / np.pi * 4).astype(np.int32), 3)
    weight = np.minimum(strength / 0.05, 1.0)
    height = light.shape[0]
    rows = np.arange(height, dtype=np.int32)[:, None] * 5
    counts = np.bincount((index + rows).ravel(), weights=weight.ravel(), minlength=height * 5).reshape(
        height, 5
    )
    counts[:, 4] = (1.0 - weight).sum(axis=1)
    return (counts / light.shape[1] * 0.25).astype(np.float32)
