"""The seven MCP tools: argument schemas written for a model to read, and what each one does.

Each tool resolves its image arguments (`inputs`), does its work in a thread (`Studio.run`), stores every
image it makes, and answers with a preview, text and structured content (`outputs`). Errors are raised as
productshot's named errors; the SDK turns them into tool errors with the message, and the server goes on.
"""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server.fastmcp import Context, FastMCP
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from productshot.errors import BadRequestError, ModelError, NotFoundError, ProductshotError
from productshot.server.mcp.descriptions import (
    COMPOSITE_FLOATING_DOC,
    FACTS_DOC,
    FLOATING_DOC,
    HARMONIZE_DOC,
    HEIGHT_DOC,
    IMAGE_DOC,
    IMAGE_EXAMPLES,
    LIGHT_DOC,
    MARGIN_DOC,
    MODEL_DOC,
    POSITION_DOC,
    POSITION_EXAMPLES,
    SAVE_TO_DOC,
    SCALE_DOC,
    SEED_DOC,
    SHADOW_DOC,
    VIEW_DOC,
    WIDTH_DOC,
)
from productshot.server.mcp.inputs import ImageInput, check_model_argument, resolve_image, store_input
from productshot.server.mcp.jobs import JobWatch
from productshot.server.mcp.outputs import PREVIEW_BUDGET_BYTES, image_result, preview_result, text_result
from productshot.server.mcp.progress import ProgressRelay
from productshot.server.mcp.runtime import Studio
from productshot.server.mcp.saving import check_save_to, save_copy
from productshot.server.mcp.schemas import (
    RESOURCE_PREFIX,
    CheckSplitOut,
    CompositeOut,
    CutoutModelOut,
    GenerateBackgroundOut,
    GeneratorOut,
    ListModelsOut,
    ListScenesOut,
    NoteOut,
    PlaceProductOut,
    ProductFacts,
    RemoveBackgroundOut,
    StepOut,
    WorkerOut,
    WritePromptOut,
    resource_uri,
)
from productshot.server.pipeline import composite_params
from productshot.server.services import GenerateAsk
from productshot.tools.imageio import load_image
from productshot.tools.notes import Note, notes_to_dicts

MAX_SEED = 2**32 - 1
_READ_ONLY = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
_CREATES = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
)


def register_tools(server: FastMCP[Studio]) -> None:
    """Add the eight productshot tools to `server` (descriptions from their docstrings)."""
    for fn, hints in (
        (write_prompt, _READ_ONLY),
        (generate_background, _CREATES),
        (remove_background, _CREATES),
        (composite, _CREATES),
        (check_split, _READ_ONLY),
        (place_product, _CREATES),
        (list_models, _READ_ONLY),
        (list_scenes, _READ_ONLY),
    ):
        description = inspect.cleandoc(fn.__doc__ or "")
        server.add_tool(fn, description=description, annotations=hints, structured_output=True)


def _studio(ctx: Context) -> Studio:
    studio = ctx.request_context.lifespan_context
    if not isinstance(studio, Studio):
        raise ProductshotError("the productshot MCP server was started without its studio (lifespan)")
    return studio


# ---- write_prompt ---------------------------------------------------------------------------------------
async def write_prompt(
    ctx: Context,
    request: Annotated[
        str,
        Field(
            description="What the seller wants, in any language, e.g. 'a simple beach scene at sunset' or "
            "'대리석 테이블 위, 밝은 스튜디오'.",
            min_length=1,
            max_length=2000,
        ),
    ],
    product_facts: Annotated[ProductFacts | None, Field(description=FACTS_DOC)] = None,
    position: Annotated[str, Field(description=POSITION_DOC, examples=POSITION_EXAMPLES)] = "bottom",
    view: Annotated[
        Literal["eye-level", "flat-lay"] | None, Field(description=VIEW_DOC, examples=["flat-lay"])
    ] = None,
) -> Annotated[CallToolResult, WritePromptOut]:
    """Write the English diffusion prompt and negative prompt for a product's background.

    Template-written, or LLM-written when an LLM is configured; the prompt keeps the background simple,
    one single scene, with room for the product where `position` puts it.
    """
    from productshot.tools.positions import parse_position
    from productshot.tools.prompt import write_prompt as make_prompt

    studio = _studio(ctx)
    started = time.perf_counter()
    canonical = parse_position(position).canonical()
    facts = product_facts.to_facts() if product_facts else {}
    spec = await studio.run(
        lambda: make_prompt(request, facts, canonical, chat_model=studio.chat_model, view=view)
    )
    out = WritePromptOut(
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        template_version=spec.template_version,
        notes=[NoteOut.model_validate(n) for n in notes_to_dicts(spec.notes)],
        backend=spec.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    return text_result(out, summary=f"prompt ({spec.backend}, {spec.template_version}): {spec.prompt}")


# ---- generate_background --------------------------------------------------------------------------------
async def generate_background(
    ctx: Context,
    prompt: Annotated[
        str,
        Field(
            description="English description of the background, e.g. 'a simple sandy beach at golden hour, "
            "one single scene, soft light' (write_prompt makes one).",
            min_length=1,
            max_length=2000,
        ),
    ],
    negative_prompt: Annotated[
        str, Field(description="What the background must not show.", max_length=2000)
    ] = "",
    width: Annotated[int, Field(description=WIDTH_DOC, ge=64, le=4096)] = 1024,
    height: Annotated[int, Field(description=HEIGHT_DOC, ge=64, le=4096)] = 768,
    seed: Annotated[int | None, Field(description=SEED_DOC, ge=0, le=MAX_SEED)] = None,
    model: Annotated[str, Field(description=MODEL_DOC, min_length=1)] = "auto",
    steps: Annotated[
        int | None,
        Field(
            description="Denoising steps (diffusion models only); omit for the model's default.", ge=1, le=150
        ),
    ] = None,
    guidance: Annotated[
        float | None,
        Field(
            description="Classifier-free guidance scale (diffusion models only); omit for the model's default.",
            ge=0,
            le=50,
        ),
    ] = None,
    save_to: Annotated[
        str | None, Field(description=SAVE_TO_DOC, examples=["~/Pictures/bag-on-beach.png"])
    ] = None,
) -> Annotated[CallToolResult, GenerateBackgroundOut]:
    """Generate a background image (no product) from a prompt; reports progress step by step.

    Returns the background's asset id to pass to `composite` as `background`.
    """
    studio = _studio(ctx)
    started = time.perf_counter()
    check_model_argument(model, studio.settings)
    target = check_save_to(save_to, studio.settings) if save_to else None
    relay = ProgressRelay(ctx, denoise_total=True)
    used_seed = seed if seed is not None else random.randrange(MAX_SEED)
    ask = GenerateAsk(
        prompt=prompt,
        negative_prompt=negative_prompt,
        scene=prompt,
        width=width,
        height=height,
        seed=used_seed,
        model=model,
        steps=steps,
        guidance=guidance,
    )
    watch = JobWatch()

    def work() -> Any:
        return studio.services_for_call(model, watch, relay.say).generate(ask, on_progress=relay.denoise)

    try:
        generated = await _cancellable(studio, work, watch)
    finally:
        relay.finish()

    def store_background() -> Any:
        asset = studio.store.put_image(
            generated.image,
            kind="background",
            params={
                "prompt": prompt,
                "negative_prompt": negative_prompt,
                "scene": prompt,
                "seed": generated.seed,
                "model": model,
                "steps": steps,
                "guidance": guidance,
            },
            backend=generated.backend,
        )
        studio.store.link_job(generated.job_id, asset.id)
        return asset

    asset = await studio.finish(store_background)
    saved = await studio.finish(lambda: save_copy(generated.image, target)) if target else None
    scene, scene_notes = _scene_shown(generated.backend, prompt)
    out = GenerateBackgroundOut(
        **_image_fields(asset, saved, notes=notes_to_dicts(scene_notes)),
        scene=scene,
        seed=generated.seed,
        model=model,
        prompt=prompt,
        negative_prompt=negative_prompt,
        backend=generated.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    summary = (
        f"background {asset.id} ({asset.width}x{asset.height}, {generated.backend}, seed {generated.seed}) "
        f"stored at {asset.path}{_saved_line(saved)}; full resolution: {resource_uri(asset.id)}"
    )
    return await studio.finish(lambda: image_result(generated.image, out, summary=summary, links=[asset]))


# ---- remove_background ----------------------------------------------------------------------------------
async def remove_background(
    ctx: Context,
    image: Annotated[str, Field(description=IMAGE_DOC + " A product photo.", examples=IMAGE_EXAMPLES)],
    model: Annotated[
        str | None,
        Field(
            description="Cutout model: u2netp (default, small and fast), isnet-general-use or birefnet-general when their weights are present (see list_models)."
        ),
    ] = None,
    alpha_matting: Annotated[
        bool, Field(description="Refine hair-fine edges with alpha matting (slower). Default false.")
    ] = False,
    save_to: Annotated[
        str | None, Field(description=SAVE_TO_DOC + " Use .png or .webp to keep the transparency.")
    ] = None,
) -> Annotated[CallToolResult, RemoveBackgroundOut]:
    """Cut the product out of a photo: a transparent (RGBA) cutout and the product's bbox.

    Returns the cutout's asset id to pass to `composite` as `product`.
    """
    studio = _studio(ctx)
    started = time.perf_counter()
    target = check_save_to(save_to, studio.settings, has_alpha=True) if save_to else None
    cutout_model = (model or studio.settings.cutout_model).strip()
    relay = ProgressRelay(ctx)
    photo = await _resolve(studio, image, "image")
    watch = JobWatch()

    def work() -> Any:
        services = studio.services_for_call("auto", watch, relay.say)
        cut = services.cutout(
            photo.loaded.image.convert("RGB"), model=cutout_model, alpha_matting=alpha_matting
        )
        with studio.store.batch():  # the input and its cutout are stored together, or neither
            input_asset = store_input(photo, studio.store)
            asset = studio.store.put_image(
                cut.image,
                kind="cutout",
                parents=[input_asset.id],
                params={
                    "model": cutout_model,
                    "alpha_matting": alpha_matting,
                    "bbox": list(cut.bbox),
                    **cut.quality_params(),
                },
                backend=cut.backend,
            )
            studio.store.link_job(cut.job_id, asset.id)
        return input_asset, cut, asset

    try:
        input_asset, cut, asset = await _cancellable(studio, work, watch)
    finally:
        relay.finish()
    saved = await studio.finish(lambda: save_copy(cut.image, target)) if target else None
    out = RemoveBackgroundOut(
        **_image_fields(asset, saved, notes=notes_to_dicts(cut.notes)),
        bbox=list(cut.bbox),
        model=cutout_model,
        input_id=input_asset.id,
        confidence=cut.confidence,
        backend=cut.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    summary = (
        f"cutout {asset.id} ({asset.width}x{asset.height} RGBA, {cut.backend}), product bbox {list(cut.bbox)}, "
        f"confidence {cut.confidence:.2f}, "
        f"stored at {asset.path}{_saved_line(saved)}; full resolution: {resource_uri(asset.id)}"
    )
    return await studio.finish(lambda: image_result(cut.image, out, summary=summary, links=[asset]))


# ---- composite ------------------------------------------------------------------------------------------
async def composite(
    ctx: Context,
    background: Annotated[
        str, Field(description=IMAGE_DOC + " The background (e.g. from generate_background).")
    ],
    product: Annotated[
        str,
        Field(description=IMAGE_DOC + " The product, ideally a transparent cutout from remove_background."),
    ],
    position: Annotated[str, Field(description=POSITION_DOC, examples=POSITION_EXAMPLES)] = "bottom",
    scale: Annotated[float | None, Field(description=SCALE_DOC, gt=0, le=4)] = None,
    margin: Annotated[float | None, Field(description=MARGIN_DOC, ge=0, le=0.25)] = None,
    shadow: Annotated[bool, Field(description=SHADOW_DOC)] = True,
    light: Annotated[str | None, Field(description=LIGHT_DOC, examples=["left", "back-right"])] = None,
    harmonize: Annotated[bool, Field(description=HARMONIZE_DOC)] = True,
    floating: Annotated[bool, Field(description=COMPOSITE_FLOATING_DOC)] = False,
    save_to: Annotated[
        str | None, Field(description=SAVE_TO_DOC, examples=["~/Pictures/bag-on-beach.png"])
    ] = None,
) -> Annotated[CallToolResult, CompositeOut]:
    """Place a product cutout on a background exactly where asked: position, scale, margin, shadows from
    the background's light and a gentle light/colour match. Notes say when no surface is under the product.

    The result can be changed later with place_product(previous=<its asset_id>, request='move it right').
    """
    from productshot.server.mcp.pixel_work import CompositeJob, Decoded, ImageRef, StoredFile

    studio = _studio(ctx)
    started = time.perf_counter()
    target = check_save_to(save_to, studio.settings) if save_to else None
    back = await _resolve(studio, background, "background")
    item = await _resolve(studio, product, "product")

    if light is not None:
        from productshot.tools.shadow import parse_light

        parse_light(light)  # an unknown light fails before any work

    def stored(image: ImageInput) -> ImageRef:
        """A stored input by its file (a pixel process decodes it), anything else by its pixels."""
        if image.asset is None:
            return Decoded(image.loaded.image)
        return StoredFile(image.asset.path, image.asset.sha256, studio.settings.max_image_pixels)

    local = CompositeJob(
        background=Decoded(back.loaded.image),
        product=Decoded(item.loaded.image),
        position=position,
        scale=scale,
        margin=margin,
        shadow=shadow,
        light=light,
        harmonize=harmonize,
        floating=floating,
        preview_bytes=PREVIEW_BUDGET_BYTES,
        save_to=target,
    )
    done = await studio.composite(replace(local, background=stored(back), product=stored(item)), local)

    def record() -> Any:
        with studio.store.batch():  # both inputs and the result are stored together, or none
            back_asset = store_input(back, studio.store)
            item_asset = store_input(item, studio.store)
            params = composite_params(
                done,
                back_asset,
                item_asset,
                shadow=shadow,
                margin=margin,
                size=(done.width, done.height),
                extra={"floating": floating},
            )
            asset = studio.store.put_bytes(
                done.png,
                kind="result",
                parents=[back_asset.id, item_asset.id],
                params=params,
                backend=done.backend,
            )
        return back_asset, item_asset, asset

    back_asset, item_asset, asset = await studio.run(record)
    out = CompositeOut(
        **_image_fields(asset, done.saved, notes=notes_to_dicts(done.notes)),
        bbox=list(done.bbox),
        position=done.position,
        scale=round(done.scale, 4),
        shadow=done.shadow,
        grounded=done.grounded,
        light=done.light.to_dict() if done.light is not None else None,
        background_id=back_asset.id,
        product_id=item_asset.id,
        parents=[back_asset.id, item_asset.id],
        backend=done.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    summary = (
        f"composite {asset.id} ({asset.width}x{asset.height}): product at {done.position}, scale "
        f"{done.scale:.2f}, bbox {list(done.bbox)}; stored at {asset.path}{_saved_line(done.saved)}; "
        f"full resolution: {resource_uri(asset.id)}"
    )
    answer = preview_result(done.preview, out, summary=summary, links=[asset])
    if answer is not None:
        return answer
    # The text left less room than the preview took (never with today's results): preview the stored file.
    stored_image = await studio.finish(lambda: load_image(asset.path).image)
    return await studio.finish(lambda: image_result(stored_image, out, summary=summary, links=[asset]))


# ---- check_split ----------------------------------------------------------------------------------------
async def check_split(
    ctx: Context,
    image: Annotated[str, Field(description=IMAGE_DOC + " Usually a generated background.")],
) -> Annotated[CallToolResult, CheckSplitOut]:
    """Check whether a background is two scenes stacked top and bottom (a known diffusion failure).

    A single horizon (sea and sand, sky and field) is not a split. When `split` is true, generate again
    with a new seed.
    """
    from productshot.tools.split import check_split as find_split

    studio = _studio(ctx)
    started = time.perf_counter()
    picture = await _resolve(studio, image, "image")
    found = await studio.run(lambda: find_split(picture.loaded.image))
    out = CheckSplitOut(
        split=found.split,
        score=round(float(found.score), 4),
        seam_y=found.seam_y,
        image_id=picture.asset.id if picture.asset else None,
        backend=found.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    verdict = f"two scenes split at y={found.seam_y}" if found.split else "one single scene"
    return text_result(out, summary=f"{verdict} (score {found.score:.2f}, {found.backend})")


# ---- place_product --------------------------------------------------------------------------------------
async def place_product(
    ctx: Context,
    request: Annotated[
        str,
        Field(
            description="One sentence in English or Korean saying what to make or change, e.g. 'put this "
            "bag on a simple beach scene, bottom-left', '대리석 위에 가운데', or a follow-up with `previous`: "
            "'move it a little to the right', 'bigger', 'new background', '오른쪽으로 조금'.",
            min_length=1,
            max_length=2000,
        ),
    ],
    image: Annotated[
        str | None,
        Field(
            description=IMAGE_DOC + " The product photo; needed for a new shot, omit it for a follow-up.",
            examples=IMAGE_EXAMPLES,
        ),
    ] = None,
    previous: Annotated[
        str | None,
        Field(
            description="Asset id (or productshot://assets/{id}) of an earlier place_product or composite "
            "result to change; what the follow-up does not touch (cutout, background) is reused."
        ),
    ] = None,
    width: Annotated[
        int | None, Field(description=WIDTH_DOC + " Default 1024 (or the previous result's).", ge=64, le=4096)
    ] = None,
    height: Annotated[
        int | None, Field(description=HEIGHT_DOC + " Default 768 (or the previous result's).", ge=64, le=4096)
    ] = None,
    seed: Annotated[int | None, Field(description=SEED_DOC, ge=0, le=MAX_SEED)] = None,
    model: Annotated[str, Field(description=MODEL_DOC, min_length=1)] = "auto",
    position: Annotated[
        str | None, Field(description="Overrides the position the request names. " + POSITION_DOC)
    ] = None,
    scale: Annotated[
        float | None, Field(description="Overrides the scale the request implies. " + SCALE_DOC, gt=0, le=4)
    ] = None,
    shadow: Annotated[bool, Field(description=SHADOW_DOC)] = True,
    floating: Annotated[bool, Field(description=FLOATING_DOC)] = False,
    harmonize: Annotated[bool, Field(description=HARMONIZE_DOC)] = True,
    view: Annotated[
        Literal["eye-level", "flat-lay"] | None, Field(description=VIEW_DOC, examples=["flat-lay"])
    ] = None,
    product_facts: Annotated[ProductFacts | None, Field(description=FACTS_DOC)] = None,
    cutout_model: Annotated[
        str | None, Field(description="Cutout model (default u2netp); see list_models.")
    ] = None,
    save_to: Annotated[
        str | None, Field(description=SAVE_TO_DOC, examples=["~/Pictures/bag-on-beach.png"])
    ] = None,
) -> Annotated[CallToolResult, PlaceProductOut]:
    """Make a finished product shot from one request: plan, cut out, write the prompt, generate the
    background (regenerating when it splits into two scenes), composite. Lists every step with its
    backend and time. With `previous`, applies a follow-up to that earlier result instead.
    """
    from productshot.server.pipeline import PlaceOptions
    from productshot.tools.positions import parse_position

    studio = _studio(ctx)
    started = time.perf_counter()
    if image is None and previous is None:
        raise BadRequestError(
            "image: give the product photo, or `previous` (an earlier result) for a follow-up"
        )
    check_model_argument(model, studio.settings)
    target = check_save_to(save_to, studio.settings) if save_to else None
    if position is not None:
        parse_position(position)  # a bad position fails before any work
    previous_id = _asset_id(previous, "previous") if previous else None
    relay = ProgressRelay(ctx)
    photo = await _resolve(studio, image, "image") if image is not None else None
    options = PlaceOptions(
        width=width,
        height=height,
        seed=seed,
        model=model,
        cutout_model=cutout_model,
        position=position,
        scale=scale,
        shadow=shadow,
        product_facts=product_facts.to_facts() if product_facts else None,
        floating=floating,
        harmonize=harmonize,
        view=view,
    )
    watch = JobWatch()

    def work() -> Any:
        if previous_id is not None and not studio.store.exists(previous_id):
            raise NotFoundError(
                f"previous: no asset {previous_id!r} in the store; use an asset_id from an earlier result"
            )
        with studio.store.batch():  # the input is kept only when the whole shot is made
            image_asset = store_input(photo, studio.store) if photo is not None else None
            pipeline = studio.pipeline(model, watch, relay.say)
            return pipeline.place_product(
                request,
                image=photo.loaded if photo is not None else None,
                image_asset=image_asset,
                previous=previous_id,
                options=options,
                on_step=relay.step,
                on_progress=relay.denoise,
            )

    try:
        placed = await _cancellable(studio, work, watch)
    finally:
        relay.finish()
    saved = await studio.finish(lambda: save_copy(placed.image, target)) if target else None
    data = placed.to_dict()
    out = PlaceProductOut(
        **_image_fields(placed.asset, saved, notes=data["notes"]),
        bbox=list(placed.bbox),
        position=placed.position,
        scale=round(placed.scale, 4),
        scene=placed.scene,
        scene_requested=placed.scene_requested,
        seed=placed.seed,
        prompt=placed.prompt,
        negative_prompt=placed.negative_prompt,
        steps=[StepOut(**step) for step in data["steps"]],
        reused=list(placed.reused),
        input_id=placed.input_id,
        cutout_id=placed.cutout_id,
        background_id=placed.background_id,
        plan=placed.plan,
        view=placed.view,
        light=placed.light,
        cutout_confidence=placed.cutout_confidence,
        backend=placed.backend,
        seconds=round(time.perf_counter() - started, 3),
    )
    summary = (
        f"product shot {placed.asset.id} ({placed.image.width}x{placed.image.height}): {placed.scene}, product at "
        f"{placed.position}, scale {placed.scale:.2f}, bbox {list(placed.bbox)}; stored at {placed.asset.path}"
        f"{_saved_line(saved)}; full resolution: {resource_uri(placed.asset.id)}\n"
        f"steps: {placed.summary()}\n"
        f"follow up with previous={placed.asset.id}"
    )
    return await studio.finish(lambda: image_result(placed.image, out, summary=summary, links=[placed.asset]))


def _scene_shown(backend: str, words: str) -> tuple[str, tuple[Note, ...]]:
    """What a background shows: the studio's family for the words (and a note when it is a fallback),
    or the words themselves for a diffusion model."""
    from productshot.tools.studio import BACKEND as STUDIO
    from productshot.tools.studio_scenes import fallback_note, find_scene

    if backend != STUDIO:
        return words, ()
    match = find_scene(words)
    fallback = fallback_note(match)
    return match.family, (fallback,) if fallback is not None else ()


# ---- list_scenes ----------------------------------------------------------------------------------------
async def list_scenes(ctx: Context) -> Annotated[CallToolResult, ListScenesOut]:
    """List the scene families the studio paints with their English and Korean words, the scenes it does
    not paint yet (a diffusion model paints them as asked), mood and light words, and colour words."""
    from productshot.tools.studio_scenes import scene_catalogue

    studio = _studio(ctx)
    started = time.perf_counter()
    catalogue = await studio.run(scene_catalogue)
    out = ListScenesOut(**catalogue, backend="lexicon", seconds=round(time.perf_counter() - started, 3))
    families = ", ".join(f"{f.name} ({f.label_ko})" for f in out.families)
    return text_result(
        out,
        summary=f"{len(out.families)} studio families: {families}; "
        f"{len(out.unpainted_scenes)} more scenes for diffusion models only",
    )


# ---- list_models ----------------------------------------------------------------------------------------
async def list_models(ctx: Context) -> Annotated[CallToolResult, ListModelsOut]:
    """List the background generators and cutout models: available on this machine, loaded, licence,
    and what `model: auto` picks here. Also says whether the resident worker is running."""
    studio = _studio(ctx)
    started = time.perf_counter()
    out = await studio.run(lambda: _models(studio, started))
    names = ", ".join(g.name for g in out.generators)
    return text_result(
        out,
        summary=f"generators: {names}; auto -> {out.auto_generator} ({out.auto_reason}); "
        f"cutout: {', '.join(c.name for c in out.cutout_models)}; worker running: {out.worker.running}",
    )


def _models(studio: Studio, started: float) -> ListModelsOut:
    from productshot.models.registry import list_presets, resolve_auto
    from productshot.server.worker.client import WorkerClient
    from productshot.tools.cutout import available_cutout_models

    settings = studio.settings
    try:
        preset, reason = resolve_auto(settings)
        auto = preset.name
    except ModelError as exc:
        auto, reason = "unavailable", str(exc)
    generators = [GeneratorOut(**row) for row in list_presets(settings)]
    cutouts = [CutoutModelOut(**row) for row in available_cutout_models(settings.u2net_home)]
    worker = WorkerOut(url=settings.worker_url, running=False)
    try:
        health = WorkerClient(settings.worker_url, token=settings.worker_token).health()
    except ProductshotError as exc:
        worker = WorkerOut(url=settings.worker_url, running=False, detail=str(exc))
    else:
        worker = WorkerOut(
            url=settings.worker_url,
            running=True,
            device=health.device,
            loaded_models=list(health.loaded_models),
        )
    return ListModelsOut(
        generators=generators,
        cutout_models=cutouts,
        auto_generator=auto,
        auto_reason=reason,
        worker=worker,
        backend="registry",
        seconds=round(time.perf_counter() - started, 3),
    )


# ---- helpers --------------------------------------------------------------------------------------------
async def _resolve(studio: Studio, value: str, name: str) -> ImageInput:
    return await studio.run(
        lambda: resolve_image(
            value, name=name, store=studio.store, settings=studio.settings, decoded=studio.decoded
        )
    )


T = TypeVar("T")


async def _cancellable(studio: Studio, work: Callable[[], T], watch: JobWatch) -> T:
    """Run model work in a thread. A cancelled call stops waiting at once and cancels its worker job;
    a worker that failed is forgotten, so the next call finds (or starts) one again."""
    try:
        return await studio.run(work, abandon_on_cancel=True, lane="model")
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(watch.cancel)
        raise
    except ProductshotError as exc:
        studio.forget_services(exc)
        raise


def _asset_id(value: str, name: str) -> str:
    text = value.strip()
    text = text[len(RESOURCE_PREFIX) :] if text.startswith(RESOURCE_PREFIX) else text
    if not text:
        raise BadRequestError(f"{name}: empty; give the asset_id of an earlier result")
    return text


def _image_fields(asset: Any, saved: Any, *, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "asset_id": asset.id,
        "path": str(asset.path),
        "resource_uri": resource_uri(asset.id),
        "width": asset.width,
        "height": asset.height,
        "saved_to": str(saved) if saved else None,
        "notes": notes or [],
    }


def _saved_line(saved: Any) -> str:
    return f"; copy saved to {saved}" if saved else ""


__all__ = [
    "check_split",
    "composite",
    "generate_background",
    "list_models",
    "list_scenes",
    "place_product",
    "register_tools",
    "remove_background",
    "write_prompt",
]
