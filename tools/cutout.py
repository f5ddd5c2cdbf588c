"""Product cutout: a rembg session predicts the mask, then we clean it, refine it to the photo's edges
(`cutout_refine`), score how far to trust it (`cutout_confidence`), optionally alpha-matte it, and
decontaminate the edge colours so no halo of the old background shows on a new one. Fully opaque pixels keep
the photo's colour exactly; see docs/cutout.md.

A `Cutter` owns one rembg session, created on its first cut and reused after that; the caller (the worker)
keeps the Cutter alive. rembg, onnxruntime, pymatting and scipy are imported only inside the functions
that need them, so reading the model registry or any pixel-only command never pays for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
from PIL import Image

from productshot.errors import BadImageError, BadRequestError, ModelError
from productshot.tools.notes import Note, note

if TYPE_CHECKING:
    from rembg.sessions.base import BaseSession

logger = logging.getLogger(__name__)

DEFAULT_CUTOUT_MODEL: Final = "u2netp"
INPUT_ALPHA_BACKEND: Final = "input-alpha"
_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"


@dataclass(frozen=True)
class CutoutModel:
    """One selectable cutout model: rembg's session name, its weights file and its licence."""

    name: str
    file_name: str
    licence: str
    description: str
    commercial_ok: bool
    url: str

    def weight_candidates(self, u2net_home: Path) -> tuple[Path, ...]:
        """Where rembg keeps this file: the flat legacy layout first, then ``models/<name>/``."""
        return (u2net_home / self.file_name, u2net_home / "models" / self.name / self.file_name)

    def weights_path(self, u2net_home: Path) -> Path | None:
        return next((path for path in self.weight_candidates(u2net_home) if path.is_file()), None)


def _rows(*models: CutoutModel) -> MappingProxyType[str, CutoutModel]:
    return MappingProxyType({model.name: model for model in models})


CUTOUT_MODELS: Final = _rows(
    CutoutModel(
        "u2netp",
        "u2netp.onnx",
        "Apache-2.0",
        "U²-Net small (4.7 MB): fast on a CPU, good on products against plain backdrops; the default",
        True,
        f"{_RELEASES}/u2netp.onnx",
    ),
    CutoutModel(
        "u2net",
        "u2net.onnx",
        "Apache-2.0",
        "U²-Net full (176 MB): slower, somewhat finer edges than u2netp",
        True,
        f"{_RELEASES}/u2net.onnx",
    ),
    CutoutModel(
        "silueta",
        "silueta.onnx",
        "MIT",
        "U²-Net pruned by rembg's author (43 MB): u2net quality in a smaller file",
        True,
        f"{_RELEASES}/silueta.onnx",
    ),
    CutoutModel(
        "isnet-general-use",
        "isnet-general-use.onnx",
        "Apache-2.0",
        "IS-Net / DIS (176 MB): sharp, detailed edges on general objects",
        True,
        f"{_RELEASES}/isnet-general-use.onnx",
    ),
    CutoutModel(
        "birefnet-general",
        "birefnet-general.onnx",
        "MIT",
        "BiRefNet general (973 MB): the most accurate here, slow without a GPU",
        True,
        f"{_RELEASES}/BiRefNet-general-epoch_244.onnx",
    ),
    CutoutModel(
        "bria-rmbg",
        "bria-rmbg.onnx",
        "CC-BY-NC-4.0 (non-commercial)",
        "BRIA RMBG 2.0: strong quality, but its licence forbids commercial use without a BRIA agreement",
        False,
        f"{_RELEASES}/bria-rmbg-2.0.onnx",
    ),
)
"""The cutout model registry: one row per model; add a row to offer another rembg session."""

# Alpha matting: rembg's trimap thresholds; the erosion grows with the image so the unknown band fits
# the edge.
MATTING_FOREGROUND_THRESHOLD: Final = 240
MATTING_BACKGROUND_THRESHOLD: Final = 10
# Closed-form matting grows fast with the pixel count; larger images are matted downscaled.
MATTING_MAX_SIDE: Final = 1024

DECONTAMINATE_MAX_DE99: Final = 2.9  # the most a pixel with alpha ≥ 0.5 may move (ΔE99 < 3, rounding kept)

_OPAQUE: Final = 0.98  # alpha at or above this counts as solid product
_TRANSPARENT: Final = 0.02  # alpha at or below this counts as background


@dataclass(frozen=True)
class CutoutResult:
    """An RGBA cutout the size of the input, the product's bbox (from alpha) and how it was made."""

    image: Image.Image
    bbox: tuple[int, int, int, int]
    backend: str
    seconds: float
    alpha_matting: bool
    decontaminated: bool
    confidence: float = 1.0  # 0..1: how far to trust the cutout (below 0.5 `notes` says why)
    notes: tuple[Note, ...] = ()

    def quality_params(self) -> dict[str, Any]:
        """Confidence and notes, as a cutout asset's params keep them."""
        return {"confidence": self.confidence, "notes": [n.to_dict() for n in self.notes]}


class Cutter:
    """One cutout model and its rembg session (created lazily on the first cut, then reused)."""

    def __init__(
        self,
        model: str = DEFAULT_CUTOUT_MODEL,
        *,
        u2net_home: Path | None = None,
        providers: Sequence[str] | None = None,
        models: Mapping[str, CutoutModel] = CUTOUT_MODELS,  # a registry's table adds plugins' models
    ) -> None:
        if model not in models:
            valid = ", ".join(models)
            raise ModelError(f"unknown cutout model {model!r}; valid models: {valid}")
        self._row = models[model]
        self._home = (u2net_home if u2net_home is not None else Path.home() / ".u2net").expanduser()
        self._weights = self._row.weights_path(self._home)
        if self._weights is None:
            raise ModelError(_missing_weights_message(self._row, self._home))
        self._requested_providers = tuple(providers) if providers is not None else None
        self._session: BaseSession | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._row.name

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def weights(self) -> Path:
        """The weights file this Cutter loads."""
        assert self._weights is not None  # checked in __init__
        return self._weights

    @property
    def session(self) -> BaseSession | None:
        """The rembg session once loaded (None before the first cut or `load`)."""
        return self._session

    @property
    def providers(self) -> tuple[str, ...]:
        """The onnxruntime providers the loaded session runs on (empty before loading)."""
        if self._session is None:
            return ()
        return tuple(self._session.inner_session.get_providers())

    def load(self) -> None:
        """Create the rembg session now (a worker's ``--preload``); later calls are no-ops."""
        with self._lock:
            if self._session is None:
                self._session = _create_session(self._row, self.weights, self._requested_providers)

    def cut(
        self, image: Image.Image, *, alpha_matting: bool = False, decontaminate: bool = True
    ) -> CutoutResult:
        """Cut the product out of ``image``; an input that already is a cutout is returned as is."""
        started = time.perf_counter()
        _check_image(image)
        if is_cutout(image):
            rgba = image.convert("RGBA") if image.mode != "RGBA" else image.copy()
            return CutoutResult(
                image=rgba,
                bbox=alpha_bbox(rgba),
                backend=INPUT_ALPHA_BACKEND,
                seconds=time.perf_counter() - started,
                alpha_matting=False,
                decontaminated=False,
                confidence=1.0,
                notes=(note("cutout_given"),),
            )
        rgb = _flatten(image)
        extrema = cast("tuple[tuple[int, int], ...]", rgb.getextrema())
        if all(high - low <= 2 for low, high in extrema):
            raise BadImageError(
                f"image is one flat colour ({rgb.width}×{rgb.height}); there is no product to cut out"
            )
        self.load()
        assert self._session is not None
        try:
            masks = self._session.predict(rgb)
        except Exception as exc:  # onnxruntime raises its own exception types; report which model failed
            raise ModelError(
                f"cutout model {self.model!r} failed on a {rgb.width}×{rgb.height} image: {exc}"
            ) from exc
        from productshot.tools.cutout_confidence import assess_cutout
        from productshot.tools.cutout_refine import refine_alpha, working_size

        # The mask is cleaned at the size the refinement reads it (at most 512 px across), not the photo's.
        work = working_size(rgb.width, rgb.height)
        coarse = clean_mask(np.asarray(masks[0].convert("L").resize(work, Image.Resampling.BILINEAR)))
        refinement = refine_alpha(np.asarray(rgb), coarse)
        alpha = refinement.alpha
        trust = assess_cutout(refinement)
        matted = False
        if alpha_matting:
            refined = matte_alpha(rgb, alpha)
            if refined is not None:
                alpha, matted = clean_mask(refined), True
        rgba = _with_alpha(rgb, alpha)
        if decontaminate:
            rgba = decontaminate_edges(rgba)
        return CutoutResult(
            image=rgba,
            bbox=alpha_bbox(alpha),
            backend=self.model,
            seconds=time.perf_counter() - started,
            alpha_matting=matted,
            decontaminated=decontaminate,
            confidence=trust.confidence,
            notes=trust.notes,
        )


def available_cutout_models(
    u2net_home: Path, models: Mapping[str, CutoutModel] = CUTOUT_MODELS
) -> list[dict[str, Any]]:
    """Every registry row as a dict, with ``available`` telling whether its weights are in ``u2net_home``."""
    home = u2net_home.expanduser()
    return [{**asdict(row), "available": row.weights_path(home) is not None} for row in models.values()]


def is_cutout(image: Image.Image) -> bool:
    """True for an image with real transparency around the product (a transparent border region).

    Such an image already is a cutout and is used as is. An alpha channel that is opaque, or transparent
    only in a few corner pixels, does not count.
    """
    if "A" not in image.getbands() and "transparency" not in image.info:
        return False
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    border = np.concatenate([alpha[0, :], alpha[-1, :], alpha[:, 0], alpha[:, -1]])
    transparent_border = float(np.mean(border < 16))
    transparent = float(np.mean(alpha < 16))
    solid = float(np.mean(alpha >= 128))
    return transparent_border >= 0.3 and transparent >= 0.05 and solid >= 0.01


def alpha_bbox(alpha: np.ndarray | Image.Image, threshold: int = 16) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), x1/y1 exclusive, of the pixels whose alpha is at least ``threshold``."""
    values = _alpha_array(alpha)
    if not 0 < threshold <= 255:
        raise BadRequestError(f"threshold must be between 1 and 255, got {threshold}")
    solid = values >= threshold
    rows = np.flatnonzero(solid.any(axis=1))
    cols = np.flatnonzero(solid.any(axis=0))
    if rows.size == 0:
        raise BadImageError(
            f"no product found: no pixel has alpha ≥ {threshold} (the cutout is empty; try another model or photo)"
        )
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def clean_mask(alpha: np.ndarray) -> np.ndarray:
    """Drop tiny disconnected specks and fill pinholes inside the product, keeping soft edges.

    A speck is a connected blob whose solid core is under 1 % of the largest blob's or under 0.01 % of the
    image's area (a second part of similar size, like the other earring, stays); a pinhole is an enclosed
    transparent hole under 0.15 % of the product's area. Bigger holes (a mug's handle) are real and stay.
    """
    from scipy import ndimage

    values = _alpha_array(alpha).copy()
    core = values >= 128
    support = values > 8
    labels, count = ndimage.label(support)
    if count > 1:
        core_area = np.asarray(ndimage.sum(core, labels, index=np.arange(1, count + 1)))
        floor = max(0.01 * float(core_area.max()), 0.0001 * values.size)
        keep = np.concatenate([[False], core_area >= max(floor, 1.0)])
        values[~keep[labels]] = 0
        core &= keep[labels]
    product_area = int(core.sum())
    if product_area == 0:
        return values
    filled = ndimage.binary_fill_holes(core)
    holes = filled & ~core
    hole_labels, hole_count = ndimage.label(holes)
    if hole_count:
        sizes = np.asarray(ndimage.sum(holes, hole_labels, index=np.arange(1, hole_count + 1)))
        small = np.concatenate([[False], sizes <= max(16.0, 0.0015 * product_area)])
        # Grown by 2 px so the pinhole's own soft rim becomes solid too.
        pinholes = ndimage.binary_dilation(small[hole_labels], iterations=2) & filled
        values[pinholes] = 255
    return values


def matte_alpha(rgb: Image.Image, alpha: np.ndarray) -> np.ndarray | None:
    """Refine a predicted alpha with closed-form alpha matting (pymatting, the matting rembg uses).

    The trimap is rembg's: solid above `MATTING_FOREGROUND_THRESHOLD`, background below
    `MATTING_BACKGROUND_THRESHOLD`, both eroded by a size that grows with the image; the band between is
    solved. We call pymatting directly with scipy's incomplete-LU preconditioner: as fast and accurate as
    pymatting's default incomplete Cholesky, which prints to stdout whenever it has to retry (stdout may be
    an MCP stdio channel). Images with a side over `MATTING_MAX_SIDE` are matted at that size and the
    refined alpha is scaled back. None when no trimap can be built or the solver fails.
    """
    from pymatting.alpha.estimate_alpha_cf import estimate_alpha_cf
    from scipy import ndimage

    values = _alpha_array(alpha)
    work_rgb, work_alpha = rgb.convert("RGB"), values
    scale = MATTING_MAX_SIDE / max(rgb.size)
    if scale < 1:
        work_size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        work_rgb = work_rgb.resize(work_size, Image.Resampling.LANCZOS)
        work_alpha = np.asarray(
            Image.fromarray(values, mode="L").resize(work_size, Image.Resampling.BILINEAR)
        )
    erode = np.ones((max(3, round(min(work_rgb.size) / 50)),) * 2, dtype=bool)
    solid = ndimage.binary_erosion(work_alpha > MATTING_FOREGROUND_THRESHOLD, structure=erode)
    clear = ndimage.binary_erosion(work_alpha < MATTING_BACKGROUND_THRESHOLD, structure=erode, border_value=1)
    if not solid.any() or not clear.any():
        logger.warning("alpha matting skipped: the predicted mask has no clear foreground and background")
        return None
    trimap = np.full(work_alpha.shape, 0.5)
    trimap[solid], trimap[clear] = 1.0, 0.0
    image = np.asarray(work_rgb, dtype=np.float64) / 255.0
    try:
        refined = estimate_alpha_cf(image, trimap, preconditioner=_ilu_preconditioner)
    except RuntimeError as exc:  # SuperLU: the factor is singular for this trimap
        logger.warning("alpha matting skipped, the predicted mask is used as is: %s", exc)
        return None
    matted = Image.fromarray(np.clip(np.rint(refined * 255.0), 0, 255).astype(np.uint8), mode="L")
    if matted.size != rgb.size:
        matted = matted.resize(rgb.size, Image.Resampling.BILINEAR)
    return np.asarray(matted)


def _ilu_preconditioner(matrix: Any) -> Any:
    """pymatting's preconditioner hook: an incomplete LU factorisation's solve."""
    from scipy.sparse.linalg import spilu

    return spilu(matrix.tocsc(), drop_tol=1e-4, fill_factor=10).solve


def decontaminate_edges(rgba: Image.Image, *, background: tuple[int, int, int] | None = None) -> Image.Image:
    """Remove the old background's colour from the product's edge pixels (no light fringe on a dark scene).

    1. Un-mix the background from semi-transparent pixels: F = (C - (1 - a)·B) / a, clipped, with B the
       local old background (estimated from nearby transparent pixels unless ``background`` is given);
       below alpha 0.5, where un-mixing is ill-conditioned, F leans on the nearby interior colour.
    2. In a thin edge band, remove what is still background-coloured: each pixel's component along the
       line from the nearby interior colour to B is taken out, which pulls it toward the product's colour
       while keeping detail across that line.
    Transparent pixels next to the product get its colour, so later resampling cannot bleed the old
    background; the rest are cleared to transparent black.
    When the transparent pixels carry no colour (a cutout saved by another tool), B is solved from the
    half-transparent edge pixels themselves; with too few of those, edges blend toward the interior colour.
    """
    if background is not None and (len(background) != 3 or not all(0 <= int(v) <= 255 for v in background)):
        raise BadRequestError(f"background must be an (r, g, b) tuple of 0..255, got {background!r}")
    source = rgba.convert("RGBA") if rgba.mode != "RGBA" else rgba
    pixels = np.asarray(source)
    alpha8 = pixels[..., 3]
    opaque_all = alpha8 >= round(_OPAQUE * 255)
    if not opaque_all.any() or opaque_all.all():
        return source.copy()
    radius = max(2, round(0.004 * min(alpha8.shape)))
    # Everything happens near the product: work in its bbox plus the reach of the widest estimate.
    x0, y0, x1, y1 = alpha_bbox(alpha8, threshold=round(_TRANSPARENT * 255) + 1)
    pad = 10 * radius
    y0, x0 = max(0, y0 - pad), max(0, x0 - pad)
    y1, x1 = min(alpha8.shape[0], y1 + pad), min(alpha8.shape[1], x1 + pad)
    crop = pixels[y0:y1, x0:x1]
    out = np.zeros_like(pixels)
    out[..., 3] = alpha8
    out[y0:y1, x0:x1] = _decontaminate_crop(crop, radius, background)
    return Image.fromarray(out, mode="RGBA")


def _decontaminate_crop(
    pixels: np.ndarray, radius: int, background: tuple[int, int, int] | None
) -> np.ndarray:
    """`decontaminate_edges` on an RGBA array that holds the whole product with room around it."""
    from scipy import ndimage

    alpha8 = pixels[..., 3]
    a = alpha8.astype(np.float32) / 255.0
    opaque = a >= _OPAQUE
    clear = a <= _TRANSPARENT
    near_edge = ndimage.maximum_filter(~opaque, size=2 * radius + 1)
    interior = opaque & ~near_edge
    if not interior.any():
        interior = opaque
    # Only pixels the product does not fully cover change: every fully opaque pixel keeps the photo's colour.
    band = ~clear & (alpha8 < 255)
    # Colour fields are smooth, so they are estimated on a coarser grid and read back per pixel.
    step = max(1, radius)
    rgb = pixels[..., :3]
    fg_field = _ColourField(rgb, interior, sigma=1.5 * radius, step=step)
    bg_field = _background_field(rgb, clear, background, sigma=3.0 * radius, step=step)

    ys, xs = np.nonzero(band)
    photo = rgb[ys, xs].astype(np.float32)
    colour = photo.copy()
    alpha = a[ys, xs][:, None]
    fg = fg_field.at(ys, xs)
    if bg_field is None:
        bg_field = _background_from_edges(colour, alpha, fg)
    if bg_field is not None:
        bg = bg_field.at(ys, xs)
        safe_a = np.maximum(alpha, 0.05)
        unmixed = np.clip((colour - (1.0 - safe_a) * bg) / safe_a, 0.0, 255.0)
        doubtful = _unreliable_unmixing(photo, fg, bg)[:, None]
        trust = np.where(doubtful, 0.0, np.clip(alpha / 0.5, 0.0, 1.0))
        colour = trust * unmixed + (1.0 - trust) * fg
        away = bg - fg
        length2 = np.sum(away * away, axis=1, keepdims=True)
        usable = length2 > 20.0**2  # background and product colours differ enough to tell apart
        along = np.sum((colour - fg) * away, axis=1, keepdims=True) / np.maximum(length2, 1e-6)
        colour = colour - np.clip(along, 0.0, 1.0) * usable * away
        # Mostly-product pixels keep their hue family: where un-mixing is doubtful they keep the photo's
        # colour, elsewhere they move toward the un-mixed colour only until ΔE99 reaches the cap.
        mostly = alpha[:, 0] >= 0.5
        colour[mostly] = np.where(doubtful[mostly], photo[mostly], colour[mostly])
        colour[mostly] = _toward_within(photo[mostly], colour[mostly], DECONTAMINATE_MAX_DE99)
    else:
        colour = colour * alpha + fg * (1.0 - alpha)

    out = pixels.copy()
    out[ys, xs, :3] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    # Transparent pixels next to the product take its colour (no bleed when a tool resamples without
    # premultiplying); farther ones are cleared, so the old background is not kept hidden in the file.
    out[..., :3] *= ~clear[..., None]
    margin = ndimage.maximum_filter(~clear, size=8 * radius + 1) & clear
    my, mx = np.nonzero(margin)
    out[my, mx, :3] = np.clip(np.rint(fg_field.at(my, mx)), 0, 255).astype(np.uint8)
    return out


def _unreliable_unmixing(photo: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Pixels where the un-mixed colour cannot be trusted: dark, saturated or specular next to a backdrop
    of another colour. Un-mixing divides by alpha, so there small errors in alpha or B become new hues."""
    from productshot.tools.colordiff import srgb_to_lab

    lab, fg_lab, bg_lab = srgb_to_lab(photo.astype(np.uint8)), srgb_to_lab(fg), srgb_to_lab(bg)
    other_backdrop = np.linalg.norm(lab - bg_lab, axis=1) > 10.0
    dark = lab[:, 0] < 22.0
    saturated = np.hypot(lab[:, 1], lab[:, 2]) > 55.0
    specular = (lab[:, 0] > 80.0) & (lab[:, 0] > fg_lab[:, 0] + 15.0)
    return other_backdrop & (dark | saturated | specular)


def _toward_within(photo: np.ndarray, target: np.ndarray, limit: float) -> np.ndarray:
    """Move each photo colour toward its target, as far as possible while ΔE99 to the photo stays ≤ limit."""
    from productshot.tools.colordiff import delta_e99_to, srgb_to_din99o

    if photo.size == 0:
        return target
    reference = srgb_to_din99o(photo.astype(np.uint8))  # the photo's own colours, converted once
    rounded = np.clip(np.rint(target), 0, 255)
    ok = delta_e99_to(rounded.astype(np.uint8), reference) <= limit
    low, high = np.zeros(len(photo)), np.where(ok, 1.0, 0.0)
    step = np.where(ok, 0.0, 1.0)
    moving = np.flatnonzero(~ok)  # only the colours that overshoot are bisected
    for _ in range(8):  # bisection on the share of the move; ΔE99 grows along the straight move
        step = step / 2
        trial = low[moving] + step[moving]
        moved = np.clip(np.rint(photo[moving] + trial[:, None] * (target[moving] - photo[moving])), 0, 255)
        fits = delta_e99_to(moved.astype(np.uint8), reference[moving]) <= limit
        low[moving] = np.where(fits, trial, low[moving])
    share = np.where(ok, high, low)
    return np.clip(np.rint(photo + share[:, None] * (target - photo)), 0, 255)


# ---- helpers ---------------------------------------------------------------------------------------------


def _missing_weights_message(row: CutoutModel, home: Path) -> str:
    expected = row.weight_candidates(home)[0]
    if row.name == DEFAULT_CUTOUT_MODEL:
        fix = f"run: productshot setup weights --dest {home}"
    else:
        fix = f"download {row.url} and save it as {expected}"
    return f"cutout model {row.name!r} needs its weights at {expected}, which is missing; {fix}"


def _resolve_providers(requested: tuple[str, ...] | None) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested is None:
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]
    unknown = [name for name in requested if name not in available]
    if unknown or not requested:
        raise ModelError(
            f"onnxruntime providers {list(requested)!r} are not available here; available: {', '.join(available)}"
        )
    return list(requested)


def _create_session(row: CutoutModel, weights: Path, requested: tuple[str, ...] | None) -> BaseSession:
    """Build rembg's session class for ``row`` on exactly ``weights``.

    rembg finds weights through the U2NET_HOME environment variable and downloads from GitHub when they are
    missing. Instead of touching the environment, we subclass its session and answer its
    ``download_models`` hook (rembg's own extension point) with the file we already checked, so loading is
    offline by construction.
    """
    import onnxruntime as ort
    from rembg.sessions import sessions

    base = sessions.get(row.name)
    if base is None:
        raise ModelError(f"the installed rembg has no session named {row.name!r}; upgrade rembg")
    providers = _resolve_providers(requested)
    pinned = type(f"Pinned{base.__name__}", (base,), {"download_models": classmethod(_pinned_path(weights))})
    options = ort.SessionOptions()
    # onnxruntime's idle threads spin by default; in a process that also runs torch (the worker) they
    # steal the cores and made diffusion 10-40x slower after a cutout on 2 cores. Sleep instead of spin.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        session: BaseSession = pinned(row.name, options, providers=providers)
        return session
    except Exception as exc:  # onnxruntime raises its own types for corrupt or incompatible files
        raise ModelError(f"cutout model {row.name!r} could not load {weights}: {exc}") from exc


def _pinned_path(weights: Path) -> Any:
    """rembg's ``download_models`` hook (called with the session's extra arguments: none here), answering
    with a fixed local file."""

    def download_models(cls: type) -> str:
        return str(weights)

    return download_models


def _check_image(image: Image.Image) -> None:
    if not isinstance(image, Image.Image):
        raise BadImageError(f"image must be a PIL image, got {type(image).__name__}")
    if image.width < 1 or image.height < 1:
        raise BadImageError(f"image is {image.width}×{image.height} pixels; nothing to cut out")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for the model; partial transparency (not a cutout) is shown over white, not over hidden pixels."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def _alpha_array(alpha: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(alpha, Image.Image):
        if "A" in alpha.getbands():
            return np.asarray(alpha.getchannel("A"))
        if alpha.mode == "L":
            return np.asarray(alpha)
        raise BadImageError(f"alpha must be an L image or have an alpha channel, got mode {alpha.mode}")
    values = np.asarray(alpha)
    if values.ndim != 2:
        raise BadImageError(f"alpha must be a 2-D array, got shape {values.shape}")
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    if values.dtype != np.uint8:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return values


def _with_alpha(rgb: Image.Image, alpha: np.ndarray) -> Image.Image:
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha, mode="L"))
    return rgba


class _ColourField:
    """The Gaussian-weighted mean colour of the ``where`` pixels around any point (the nearest one when far).

    Computed on a grid about ``step`` times coarser than the image (box-filtered, then a normalised
    Gaussian) and read back with bilinear interpolation only where needed: edge colours vary slowly.
    """

    def __init__(self, rgb: np.ndarray, where: np.ndarray, *, sigma: float, step: int) -> None:
        from scipy import ndimage

        from productshot.tools.cutout_refine import block_sums

        height, width = where.shape
        self._step = step
        grid_h, grid_w = -(-height // step), -(-width // step)
        # Planes w, w·r, w·g, w·b in step × step block means. The last row and column of cells reach past
        # the image and average the pixels they hold (weights and weighted colours shrink alike).
        planes = np.zeros((4, grid_h * step, grid_w * step), dtype=np.float32)
        weight = planes[0, :height, :width]
        weight[...] = where
        np.multiply(np.moveaxis(rgb, -1, 0), weight, out=planes[1:4, :height, :width])
        if step > 1:
            planes = block_sums(planes, step) / float(step * step)
        smooth = ndimage.gaussian_filter(planes, (0.0, sigma / step, sigma / step))
        total = smooth[0]
        mean = smooth[1:4] / np.maximum(total, 1e-6)
        valid = total > 1e-3
        if not valid.all():
            nearest = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
            mean = mean[:, nearest[0], nearest[1]]
        self._planes = np.ascontiguousarray(mean, dtype=np.float32)

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Colours (N×3, float) at full-resolution pixel coordinates."""
        from productshot.tools.cutout_refine import sample_grid

        if self._step == 1:
            return self._planes[:, ys, xs].T
        # Grid cell i covers [i·step, (i+1)·step) in pixels, so its centre is at (i + 0.5)·step - 0.5.
        step = float(self._step)
        return sample_grid(self._planes, (ys + 0.5) / step - 0.5, (xs + 0.5) / step - 0.5).T


def _background_field(
    rgb: np.ndarray,
    clear: np.ndarray,
    background: tuple[int, int, int] | None,
    *,
    sigma: float,
    step: int,
) -> _ColourField | _FlatColour | None:
    """The old background colour around each pixel: given, or from nearby transparent pixels that carry it."""
    if background is not None:
        return _FlatColour(background)
    # A cutout saved by another tool usually zeroes its transparent pixels: those tell us nothing, and
    # when they are most of the transparent area, the few coloured ones left are fringe, not background.
    zeroed = clear & ~rgb.any(axis=-1)
    clear_count = int(clear.sum())
    if clear_count == 0 or int(zeroed.sum()) > clear_count // 2:
        return None
    return _ColourField(rgb, clear & ~zeroed, sigma=sigma, step=step)


def _background_from_edges(colour: np.ndarray, alpha: np.ndarray, fg: np.ndarray) -> _FlatColour | None:
    """Guess the old background from the edge itself: solve C = a·F + (1 - a)·B for B, take the median.

    For cutouts that kept no background colour; needs enough half-transparent pixels to be meaningful.
    """
    mixed = (alpha[:, 0] >= 0.1) & (alpha[:, 0] <= 0.7)
    if int(mixed.sum()) < 20:
        return None
    a = alpha[mixed]
    estimates = (colour[mixed] - a * fg[mixed]) / (1.0 - a)
    guess = np.clip(np.median(estimates, axis=0), 0.0, 255.0)
    return _FlatColour((round(float(guess[0])), round(float(guess[1])), round(float(guess[2]))))


@dataclass(frozen=True)
class _FlatColour:
    colour: tuple[int, int, int]

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.colour, dtype=np.float32), (len(ys), 3))


__all__ = [
    "CUTOUT_MODELS",
    "DEFAULT_CUTOUT_MODEL",
    "INPUT_ALPHA_BACKEND",
    "CutoutModel",
    "CutoutResult",
    "Cutter",
    "alpha_bbox",
    "available_cutout_models",
    "clean_mask",
    "decontaminate_edges",
    "is_cutout",
    "matte_alpha",
]
