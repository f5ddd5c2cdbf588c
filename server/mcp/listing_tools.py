"""The marketplace listing tools: make_listing_image (product on exact white, or a lifestyle scene) and
check_listing (any image against a marketplace's rules). Same patterns as tools.py: typed arguments for a
model to read, work in a thread, results stored, preview + text + structured content."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Annotated, Any

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import CallToolResult
from pydantic import Field

from productshot.errors import BadRequestError
from productshot.server.mcp.descriptions import IMAGE_DOC, IMAGE_EXAMPLES, SAVE_TO_DOC
from productshot.server.mcp.inputs import ImageInput, store_input
from productshot.server.mcp.jobs import JobWatch
from productshot.server.mcp.outputs import image_result, text_result
from productshot.server.mcp.progress import ProgressRelay
from productshot.server.mcp.runtime import Studio
from productshot.server.mcp.saving import check_save_to
from productshot.server.mcp.schemas import CheckListingOut, ListingRuleOut, MakeListingOut, resource_uri
from productshot.server.mcp.tools import _CREATES, _READ_ONLY, _cancellable, _resolve, _saved_line, _studio

PRESET_DOC = (
    "Marketplace preset: amazon, coupang, naver, ebay, shopify, google, 11st, gmarket (product centred on "
    "exact white at the marketplace's size and fill), or lifestyle (a scene shot from `request`)."
)


def register_listing_tools(server: FastMCP[Studio]) -> None:
    """Add make_listing_image and check_listing to `server`."""
    for fn, hints in ((make_listing_image, _CREATES), (check_listing, _READ_ONLY)):
        description = inspect.cleandoc(fn.__doc__ or "")
        server.add_tool(fn, description=description, annotations=hints, structured_output=True)


async def make_listing_image(
    ctx: Context,
    image: Annotated[str, Field(description=IMAGE_DOC + " The product photo.", examples=IMAGE_EXAMPLES)],
    preset: Annotated[str, Field(description=PRESET_DOC, examples=["amazon", "coupang", "naver"])],
    request: Annotated[
        str | None,
        Field(
            description="Scene words for the lifestyle preset, e.g. 'on a wooden table' or '대리석 위에'; "
            "ignored by the white presets.",
            max_length=2000,
        ),
    ] = None,
    shadow: Annotated[
        bool,
        Field(
            description="Allow a soft contact shadow where the preset permits one (never on Amazon/Coupang)."
        ),
    ] = True,
    save_to: Annotated[
        str | None,
        Field(description=SAVE_TO_DOC + " Use a .jpg name.", examples=["~/Pictures/mug-amazon.jpg"]),
    ] = None,
) -> Annotated[CallToolResult, MakeListingOut]:
    """Make a marketplace-ready listing image: the product cut out and centred on exact white (RGB 255) at
    the preset's size and fill, as an sRGB JPEG under the marketplace's file-size cap, then checked with
    the same rules as check_listing. Lists what a person should review (doubtful cutout, enlarged product).
    """
    from productshot.server.listings import make_listing, pipeline_scene, scene_options
    from productshot.tools.imageio import save_bytes_atomic
    from productshot.tools.listing_presets import get_preset

    studio = _studio(ctx)
    started = time.perf_counter()
    chosen = get_preset(preset)
    if chosen.needs_request and not (request or "").strip():
        raise BadRequestError(
            f"request: preset {chosen.name!r} makes a scene shot; say where, e.g. 'on a wooden table'"
        )
    target = check_save_to(save_to, studio.settings) if save_to else None
    if target is not None and target.suffix.lower() not in {".jpg", ".jpeg"}:
        raise BadRequestError(f"save_to {save_to!r}: listing images are JPEG; use a .jpg name")
    relay = ProgressRelay(ctx)
    photo = await _resolve(studio, image, "image")
    watch = JobWatch()

    def work() -> Any:
        input_asset = store_input(photo, studio.store)
        if chosen.needs_request:
            scene = pipeline_scene(studio.pipeline("auto", watch, relay.say), scene_options)
            outcome = make_listing(photo.loaded.image, chosen, scene=scene, request=request)
        else:
            services = studio.services_for_call("auto", watch, relay.say)
            outcome = make_listing(
                photo.loaded.image,
                chosen,
                cut=_cut_with(services, studio.settings.cutout_model),
                shadow=shadow,
            )
        asset = studio.store.put_bytes(
            outcome.data,
            kind="result",
            parents=[input_asset.id],
            params={
                "preset": chosen.name,
                "alpha_bbox": list(outcome.alpha_bbox),
                "ok": outcome.check.ok,
                "quality": outcome.quality,
                "request": request or "",
            },
            backend="listing",
        )
        return input_asset, outcome, asset

    try:
        input_asset, outcome, asset = await _cancellable(studio, work, watch)
    finally:
        relay.finish()
    saved = await studio.finish(lambda: save_bytes_atomic(outcome.data, target)) if target else None
    data = outcome.to_dict()
    out = MakeListingOut(
        asset_id=asset.id,
        path=str(asset.path),
        resource_uri=resource_uri(asset.id),
        width=asset.width,
        height=asset.height,
        saved_to=str(saved) if saved else None,
        notes=data["notes"],
        preset=chosen.name,
        ok=outcome.check.ok,
        rules=[ListingRuleOut(**rule) for rule in data["rules"]],
        measured_on=data["measured_on"],
        needs_review=list(outcome.review),
        bytes=len(outcome.data),
        quality=outcome.quality,
        alpha_bbox=list(outcome.alpha_bbox),
        upscale=data["upscale"],
        confidence=outcome.confidence,
        input_id=input_asset.id,
        backend=outcome.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    failed = ", ".join(r.name for r in outcome.check.failed) or "none"
    summary = (
        f"{chosen.name} listing image {asset.id} ({asset.width}x{asset.height} JPEG, {len(outcome.data) / 1e6:.2f} MB, "
        f"quality {outcome.quality}): {'passes' if outcome.check.ok else 'DOES NOT pass'} check_listing "
        f"(failed required rules: {failed}); review: {', '.join(outcome.review) or 'nothing'}; stored at "
        f"{asset.path}{_saved_line(saved)}; full resolution: {resource_uri(asset.id)}"
    )
    return await studio.finish(lambda: image_result(outcome.image, out, summary=summary, links=[asset]))


def _cut_with(services: Any, model: str) -> Any:
    """The cutout function over the call's model services; a photo that already is a cutout is used as is."""
    from productshot.server.services import CutoutOutcome
    from productshot.tools.cutout import INPUT_ALPHA_BACKEND, alpha_bbox, is_cutout

    def cut(photo: Any) -> Any:
        if is_cutout(photo):
            rgba = photo.convert("RGBA")
            return CutoutOutcome(rgba, alpha_bbox(rgba), INPUT_ALPHA_BACKEND, 0.0)
        return services.cutout(photo.convert("RGB"), model=model)

    return cut


async def check_listing(
    ctx: Context,
    image: Annotated[str, Field(description=IMAGE_DOC + " The listing image to check, as its file.")],
    preset: Annotated[str, Field(description=PRESET_DOC, examples=["naver", "amazon"])],
) -> Annotated[CallToolResult, CheckListingOut]:
    """Check an image against a marketplace's rules: exact-white border, product fill and centring, size,
    file format, colour space and file size, each rule with its level (required/recommended) and what was
    measured. `ok` is true when every measured required rule holds; rules that need a person (no text, no
    logos) come back with measured null.
    """
    from productshot.tools.listing_check import check_listing_bytes
    from productshot.tools.listing_presets import get_preset

    studio = _studio(ctx)
    started = time.perf_counter()
    chosen = get_preset(preset)
    picture = await _resolve(studio, image, "image")
    data = await studio.run(lambda: _encoded_bytes(picture))
    check = await studio.run(
        lambda: check_listing_bytes(data, chosen, source="image", max_pixels=studio.settings.max_image_pixels)
    )
    body = check.to_dict()
    out = CheckListingOut(
        ok=check.ok,
        preset=chosen.name,
        rules=[ListingRuleOut(**rule) for rule in body["rules"]],
        measured_on=body["measured_on"],
        image_id=picture.asset.id if picture.asset else None,
        backend="listing-check",
        seconds=round(time.perf_counter() - started, 3),
    )
    failed = [r for r in check.rules if r.level == "required" and r.ok is False]
    lines = [f"{chosen.name}: {'passes' if check.ok else 'DOES NOT pass'}"]
    lines += [f"failed: {r.name} (measured {r.measured}, required {r.required})" for r in failed]
    unmeasured = [r.name for r in check.rules if r.ok is None]
    if unmeasured:
        lines.append(f"not measured (check by eye): {', '.join(unmeasured)}")
    return text_result(out, summary="; ".join(lines))


def _encoded_bytes(picture: ImageInput) -> bytes:
    """The image exactly as encoded (file size, format and comment count), not the decoded pixels."""
    if picture.data is not None:
        return picture.data
    if picture.path is not None:
        return Path(picture.path).read_bytes()
    if picture.asset is not None:
        return Path(picture.asset.path).read_bytes()
    if picture.kind == "sample":
        from productshot.tools.samples import sample_path

        return sample_path(picture.loaded.source.split(":", 1)[1]).read_bytes()
    raise BadRequestError("image: its encoded bytes are not available; pass a file path or an asset id")


__all__ = ["check_listing", "make_listing_image", "register_listing_tools"]
