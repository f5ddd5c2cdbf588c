"""make_listing: one product photo in, one marketplace-ready JPEG out, checked against its preset.

A white preset cuts the product out (through the caller's cutout function, so a batch or a server keeps one
session for every photo), lays it out on exact white and encodes it under the preset's cap. The
`lifestyle` preset makes a scene shot from the request through the one place_product pipeline instead.
Either way the JPEG is checked with the same rules `check-listing` applies, and what needs a person's eye
(a doubtful cutout, a product enlarged a lot) is listed in `review`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from productshot.errors import BadRequestError
from productshot.tools.listing import UPSCALE_REVIEW, encode_listing, lay_out, megabytes
from productshot.tools.listing_check import ImageFacts, ListingCheck, check_facts
from productshot.tools.listing_presets import ListingPreset
from productshot.tools.notes import Note, note

DOUBTFUL_CONFIDENCE = 0.5  # a cutout less confident than this goes to review


class CutoutLike(Protocol):
    """What a cutout function returns: the RGBA cutout, who made it and how long it took."""

    image: Image.Image
    backend: str
    seconds: float


CutFn = Callable[[Image.Image], CutoutLike]


@dataclass(frozen=True)
class SceneShot:
    """A finished scene shot (lifestyle preset): the RGB image and the product's bbox in it."""

    image: Image.Image
    bbox: tuple[int, int, int, int]
    backend: str
    seconds: float
    notes: tuple[Any, ...] = ()
    asset_id: str | None = None


SceneFn = Callable[[Image.Image, str, ListingPreset], SceneShot]


@dataclass(frozen=True)
class ListingOutcome:
    """The JPEG, its check, and what a person should look at before uploading it."""

    data: bytes
    image: Image.Image
    preset: ListingPreset
    check: ListingCheck
    notes: tuple[Any, ...]  # Note objects (and any plain-text note the scene pipeline still returns)
    review: tuple[str, ...]  # "doubtful_cutout", "upscaled", "check_failed"
    alpha_bbox: tuple[int, int, int, int]
    upscale: float | None
    confidence: float | None
    quality: int
    steps: tuple[tuple[str, str, float], ...]
    seconds: float

    @property
    def backend(self) -> str:
        return " + ".join(dict.fromkeys(backend for _, backend, _ in self.steps))

    def notes_json(self, language: str = "en") -> list[Any]:
        return [n.to_dict(language) if isinstance(n, Note) else n for n in self.notes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset.name,
            "ok": self.check.ok,
            "rules": [r.to_dict() for r in self.check.rules],
            "measured_on": self.check.measures.basis,
            "width": self.image.width,
            "height": self.image.height,
            "bytes": len(self.data),
            "quality": self.quality,
            "alpha_bbox": list(self.alpha_bbox),
            "upscale": round(self.upscale, 3) if self.upscale is not None else None,
            "confidence": self.confidence,
            "needs_review": list(self.review),
            "notes": self.notes_json(),
            "steps": [{"name": n, "backend": b, "seconds": round(s, 3)} for n, b, s in self.steps],
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
        }


def make_listing(
    photo: Image.Image,
    preset: ListingPreset,
    *,
    cut: CutFn | None = None,
    scene: SceneFn | None = None,
    request: str | None = None,
    shadow: bool | None = None,
) -> ListingOutcome:
    """Make `preset`'s image of the product in `photo` (a cutout function for white presets, a scene
    function and a request for a scene preset)."""
    started = time.perf_counter()
    steps: list[tuple[str, str, float]] = []
    notes: list[Any] = []
    review: list[str] = []
    upscale: float | None = None
    confidence: float | None = None
    if preset.needs_request:
        if not request or not request.strip():
            raise BadRequestError(
                f"preset {preset.name!r} makes a scene shot and needs a request, e.g. 'on a wooden table'"
            )
        if scene is None:
            raise BadRequestError(
                f"preset {preset.name!r} needs the scene pipeline, which is not available here"
            )
        shot = scene(photo, request.strip(), preset)
        steps.append(("scene", shot.backend, shot.seconds))
        notes.extend(shot.notes)
        canvas = shot.image.convert("RGB")
        if canvas.size != (preset.width, preset.height):
            canvas = canvas.resize((preset.width, preset.height), Image.Resampling.LANCZOS)
        alpha_bbox = shot.bbox
    else:
        if cut is None:
            raise BadRequestError(f"preset {preset.name!r} needs a cutout model, which is not available here")
        cutout = cut(photo)
        steps.append(("cutout", cutout.backend, cutout.seconds))
        confidence = _confidence(cutout)
        if confidence is not None and confidence < DOUBTFUL_CONFIDENCE:
            notes.append(note("listing_doubtful_cutout", confidence=round(confidence, 2)))
            review.append("doubtful_cutout")
        layout = lay_out(cutout.image, preset, shadow=shadow)
        steps.append(("layout", "listing", layout.seconds))
        canvas, alpha_bbox, upscale = layout.image, layout.alpha_bbox, layout.upscale
        if upscale > UPSCALE_REVIEW:
            notes.append(note("listing_upscaled", factor=round(upscale, 1)))
            review.append("upscaled")
    t0 = time.perf_counter()
    encoded = encode_listing(canvas, preset, alpha_bbox=alpha_bbox, need_white=preset.white)
    facts = ImageFacts(
        format="JPEG",
        width=canvas.width,
        height=canvas.height,
        size_bytes=len(encoded.data),
        colour="sRGB",
        pixels=encoded.pixels,
        provenance=encoded.provenance,
    )
    check = check_facts(facts, preset)
    steps.append(("encode+check", "listing", time.perf_counter() - t0))
    cap = preset.max_bytes
    if cap is not None and not encoded.fits:
        notes.append(note("listing_over_cap", size_mb=megabytes(len(encoded.data)), limit_mb=megabytes(cap)))
    elif cap is not None and encoded.quality < 90:
        notes.append(note("listing_quality_lowered", quality=encoded.quality, limit_mb=megabytes(cap)))
    for rule in check.failed:
        notes.append(
            note(
                "listing_rule_failed",
                preset=preset.name,
                rule=rule.name,
                measured=str(rule.measured),
                required=str(rule.required),
            )
        )
    if not check.ok:
        review.append("check_failed")
    return ListingOutcome(
        data=encoded.data,
        image=canvas,
        preset=preset,
        check=check,
        notes=tuple(notes),
        review=tuple(review),
        alpha_bbox=alpha_bbox,
        upscale=upscale,
        confidence=confidence,
        quality=encoded.quality,
        steps=tuple(steps),
        seconds=time.perf_counter() - started,
    )


def _confidence(cutout: object) -> float | None:
    """The cutout's confidence (0..1) when its model reports one; older cutout results have none."""
    value = getattr(cutout, "confidence", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def pipeline_scene(pipeline: Any, options_factory: Callable[[ListingPreset], Any]) -> SceneFn:
    """A scene function over a place_product `Pipeline` (the lifestyle preset's way to make its shot)."""
    from productshot.tools.imageio import LoadedImage

    def scene(photo: Image.Image, request: str, preset: ListingPreset) -> SceneShot:
        loaded = LoadedImage(image=photo, source="listing", format="PNG", has_alpha=False, notes=())
        result = pipeline.place_product(request, image=loaded, options=options_factory(preset))
        return SceneShot(
            image=result.image,
            bbox=tuple(result.bbox),
            backend=result.backend,
            seconds=result.seconds,
            notes=tuple(result.notes),
            asset_id=result.asset.id,
        )

    return scene


def scene_options(preset: ListingPreset) -> Any:
    """place_product options for a scene preset: its size, its fill as the product's scale, its shadow."""
    from productshot.server.pipeline import PlaceOptions

    return PlaceOptions(width=preset.width, height=preset.height, scale=preset.fill, shadow=preset.shadow)


__all__ = [
    "DOUBTFUL_CONFIDENCE",
    "CutFn",
    "ListingOutcome",
    "SceneFn",
    "SceneShot",
    "make_listing",
    "pipeline_scene",
    "scene_options",
]
