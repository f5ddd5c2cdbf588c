"""What each MCP tool returns as structured content; each model is also the tool's `outputSchema`.

Every result carries `backend` (what served it) and `seconds`; every image result carries the stored
asset's id, its file path, its `productshot://assets/{id}` resource and its size, plus `saved_to` when the
caller asked for a copy in one of the allowed folders.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RESOURCE_PREFIX = "productshot://assets/"


def resource_uri(asset_id: str) -> str:
    """The MCP resource that serves an asset at full resolution."""
    return f"{RESOURCE_PREFIX}{asset_id}"


class NoteOut(BaseModel):
    """One thing worth knowing about a result: a stable code, its parameters, and its text."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable note code, e.g. scene_fallback, split_regenerated, cutout_doubtful")
    params: dict[str, str | int | float | bool] = Field(description="the values the text names")
    text: str = Field(description="the note in the request's language (English when it has none)")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(description="what served this result, e.g. studio, u2netp, composite, template")
    seconds: float = Field(description="wall-clock seconds the tool took")
    notes: list[NoteOut] = Field(default_factory=list, description="anything worth knowing about the result")


class ProductFacts(BaseModel):
    """What is known about the product; every field optional, extra keys are kept and passed on."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, description="what the product is, e.g. 'ceramic coffee mug'")
    category: str | None = Field(None, description="e.g. 'kitchenware', 'bag', 'cosmetics'")
    colours: list[str] | None = Field(None, description="main colours, e.g. ['white', 'navy']")
    material: str | None = Field(None, description="e.g. 'leather', 'glass', 'matte ceramic'")

    def to_facts(self) -> dict[str, Any]:
        """The facts as a plain dict, without the fields left empty."""
        return self.model_dump(exclude_none=True)


class ImageOut(_Out):
    """Fields shared by every tool that returns an image."""

    asset_id: str = Field(description="id of the stored image; pass it as `image`, `background` or `product`")
    path: str = Field(description="absolute path of the stored full-resolution file (in the data home)")
    resource_uri: str = Field(description="productshot://assets/{id}: read it for the full-resolution file")
    width: int = Field(description="full-resolution width in px")
    height: int = Field(description="full-resolution height in px")
    saved_to: str | None = Field(None, description="where the copy asked for with `save_to` was written")


class WritePromptOut(_Out):
    prompt: str = Field(description="English diffusion prompt for the background")
    negative_prompt: str = Field(description="what the background must not show")
    template_version: str = Field(description="which prompt template (or LLM instruction) wrote it")


class GenerateBackgroundOut(ImageOut):
    seed: int = Field(description="the seed used; pass it again to get the same background")
    model: str = Field(description="the generator asked for (`auto` or a name)")
    prompt: str
    negative_prompt: str
    scene: str = Field(
        description="what the background shows: the studio's scene family (see list_scenes), or the prompt "
        "itself for a diffusion model"
    )


class RemoveBackgroundOut(ImageOut):
    bbox: list[int] = Field(
        description="the product's box in the cutout, [x0, y0, x1, y1] in px (x1, y1 exclusive)"
    )
    model: str = Field(description="the cutout model asked for")
    input_id: str = Field(description="asset id of the photo that was cut out")
    confidence: float = Field(
        ge=0.0, le=1.0, description="how far to trust the cutout, 0..1; below 0.5 `notes` says why"
    )


class CompositeOut(ImageOut):
    bbox: list[int] = Field(
        description="the product's box in the result, [x0, y0, x1, y1] in px (x1, y1 exclusive)"
    )
    position: str = Field(
        description="the position used (canonical form), after any shift to stay on the canvas"
    )
    scale: float = Field(description="the scale used: product's longest side / canvas short side")
    shadow: bool
    grounded: bool | None = Field(
        default=None, description="whether the product's base stands on the surface the background shows"
    )
    light: dict[str, float] | None = Field(
        default=None,
        description="the light the cast shadow was thrown from: azimuth and elevation in degrees",
    )
    background_id: str = Field(description="asset id of the background")
    product_id: str = Field(description="asset id of the product image")
    parents: list[str] = Field(description="asset ids this result was made from")


class CheckSplitOut(_Out):
    split: bool = Field(description="true when the image looks like two scenes stacked top and bottom")
    score: float = Field(
        description="0..1, higher means a stronger seam; `split` is true above the threshold"
    )
    seam_y: int | None = Field(description="row (px from the top) of the seam, or null when there is none")
    image_id: str | None = Field(description="asset id of the checked image, when it came from the store")


class StepOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="plan, cutout, prompt, generate, check_split, composite, undo")
    backend: str
    seconds: float
    detail: str = ""


class PlaceProductOut(ImageOut):
    bbox: list[int] = Field(
        description="the product's box in the result, [x0, y0, x1, y1] in px (x1, y1 exclusive)"
    )
    position: str = Field(description="the position used (canonical form)")
    scale: float = Field(description="the scale used: product's longest side / canvas short side")
    scene: str = Field(
        description="the scene rendered: the studio's family (see list_scenes), or the words a diffusion "
        "model was given"
    )
    scene_requested: str = Field(description="the scene words the request asked for")
    seed: int
    prompt: str
    negative_prompt: str
    steps: list[StepOut] = Field(description="each pipeline step with its backend and seconds, in order")
    reused: list[str] = Field(description="what a follow-up kept from `previous` (cutout, background)")
    input_id: str
    cutout_id: str
    background_id: str
    plan: dict[str, Any] = Field(description="how the request was understood")
    view: str = Field(default="eye-level", description="the camera view of the scene: eye-level or flat-lay")
    light: dict[str, float] | None = Field(
        default=None, description="the scene's key light: azimuth (0 front, 90 right, 180 back) and elevation"
    )
    cutout_confidence: float = Field(
        1.0, ge=0.0, le=1.0, description="how far to trust the cutout, 0..1; below 0.5 `notes` says why"
    )


class GeneratorOut(BaseModel):
    """One background generator preset (the registry's row, passed through)."""

    model_config = ConfigDict(extra="allow")

    name: str


class CutoutModelOut(BaseModel):
    """One cutout model."""

    model_config = ConfigDict(extra="allow")

    name: str
    available: bool = Field(description="its weights are on this machine")


class WorkerOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    running: bool = Field(description="the resident worker answered its health check")
    device: str | None = None
    loaded_models: list[str] = Field(default_factory=list, description="models the worker holds in memory")
    detail: str = ""


class ListModelsOut(_Out):
    generators: list[GeneratorOut] = Field(description="background generators: availability, licence, notes")
    cutout_models: list[CutoutModelOut]
    auto_generator: str = Field(description="what `model: auto` resolves to on this machine")
    auto_reason: str = Field(description="why auto picks it")
    worker: WorkerOut


class ListingRuleOut(BaseModel):
    """One marketplace rule as measured: ok is null when it cannot be measured (never counted as passed)."""

    name: str = Field(description="the rule, e.g. white_background, fill, centred, max_bytes, no_text")
    level: str = Field(description="required (decides ok) or recommended (reported only)")
    ok: bool | None = Field(description="whether it holds; null when it could not be measured")
    measured: Any = Field(
        description="what was measured (a fraction, px, bytes, a format); null if not measured"
    )
    required: Any = Field(description="the limit the rule sets")
    kind: str = Field(description="how it is measured (the same way for every preset)")
    basis: str = Field(description="where the rule comes from: official, secondary, unverified or house")
    note: str | None = Field(None, description="why a rule could not be measured")


class MakeListingOut(ImageOut):
    preset: str = Field(description="the marketplace preset used")
    ok: bool = Field(description="true when every measured required rule of the preset holds")
    rules: list[ListingRuleOut] = Field(description="every rule of the preset, as check_listing reports it")
    measured_on: str | None = Field(description="pixels, alpha (the cutout we made) or null (not measurable)")
    needs_review: list[str] = Field(
        description="what a person should look at: doubtful_cutout, upscaled, ..."
    )
    bytes: int = Field(description="the JPEG's file size")
    quality: int = Field(description="the JPEG quality it was written at (stepped down to fit the cap)")
    alpha_bbox: list[int] = Field(description="the product's box in the image, [x0, y0, x1, y1] in px")
    upscale: float | None = Field(
        description="how much the product's own pixels were enlarged (white presets)"
    )
    confidence: float | None = Field(description="the cutout model's confidence, when it reports one")
    input_id: str = Field(description="asset id of the product photo")


class CheckListingOut(_Out):
    ok: bool = Field(description="true when every measured required rule holds")
    preset: str
    rules: list[ListingRuleOut]
    measured_on: str | None = Field(description="pixels, alpha (our own listing image) or null")
    image_id: str | None = Field(
        None, description="asset id of the checked image, when it came from the store"
    )


class SceneFamilyOut(BaseModel):
    """A scene (a studio family, or a scene not painted yet) and the words that ask for it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str = Field(description="how replies name it in English")
    label_ko: str = Field(description="how replies name it in Korean")
    en: list[str] = Field(description="English words that pick it")
    ko: list[str] = Field(description="Korean words that pick it (particles may follow)")


class StyleOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(description="light (replaces the lighting) or mood")
    studio: str | None = Field(description="the studio modifier that shows it; null: diffusion prompts only")
    label: str
    label_ko: str
    en: list[str]
    ko: list[str]


class ColourOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    label: str
    en: list[str]
    ko: list[str]


class ListScenesOut(_Out):
    families: list[SceneFamilyOut] = Field(description="the scene families the studio paints")
    unpainted_scenes: list[SceneFamilyOut] = Field(
        description="scenes a diffusion model paints as asked; the studio falls back (note scene_fallback)"
    )
    styles: list[StyleOut] = Field(description="mood and light words")
    colours: list[ColourOut] = Field(description="colour words; a colour colours any family")


__all__ = [
    "RESOURCE_PREFIX",
    "CheckListingOut",
    "CheckSplitOut",
    "CompositeOut",
    "CutoutModelOut",
    "GenerateBackgroundOut",
    "GeneratorOut",
    "ImageOut",
    "ListModelsOut",
    "ListScenesOut",
    "ListingRuleOut",
    "MakeListingOut",
    "NoteOut",
    "PlaceProductOut",
    "ProductFacts",
    "RemoveBackgroundOut",
    "StepOut",
    "WorkerOut",
    "WritePromptOut",
    "resource_uri",
]
