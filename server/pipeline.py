"""place_product: one request sentence in, a finished product shot out.

Plan the request, cut the product out, write the prompt, generate a background, check it for two stacked
scenes (regenerate with a new seed up to 3 times, then with a reinforced prompt), composite, store.
A follow-up (`previous` = an earlier result's asset id) reuses what did not change: a move or a resize
needs no new cutout or background; a new scene keeps the cutout. This is the only implementation of the
split-retry loop; the MCP tool and the agent's rules path both call it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from productshot.errors import BadRequestError
from productshot.prompts.lexicon import style_words
from productshot.server.services import GenerateAsk, ModelServices
from productshot.store import Asset, AssetStore, require_file
from productshot.store.validate import clean_text
from productshot.tools.anchors import Position
from productshot.tools.ground import Footprint, Ground
from productshot.tools.imageio import LoadedImage, load_image
from productshot.tools.notes import Note, note, notes_to_dicts

DEFAULT_SIZE = (1024, 768)
DEFAULT_POSITION = "bottom"
DEFAULT_SCENE = "clean white studio"
MAX_SPLIT_RETRIES = 3
StepFn = Callable[[str, str], None]  # (step name, state "start"/"done"), for live progress


@dataclass(frozen=True)
class PlaceOptions:
    """Caller's explicit choices; anything left None comes from the plan or the previous result."""

    width: int | None = None
    height: int | None = None
    seed: int | None = None
    model: str = "auto"
    cutout_model: str | None = None
    position: str | None = None
    scale: float | None = None
    shadow: bool = True
    product_facts: Mapping[str, Any] | None = None
    max_split_retries: int = MAX_SPLIT_RETRIES
    floating: bool = False  # the product floats or hangs: no surface needed under it, no contact shadow
    harmonize: bool = True  # match the product's light and colour to the scene's
    view: str | None = None  # "eye-level" | "flat-lay"; None: from the plan, the photo or the scene


@dataclass(frozen=True)
class Step:
    name: str
    backend: str
    seconds: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "backend": self.backend, "seconds": round(self.seconds, 3)}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class PlaceResult:
    image: Image.Image
    asset: Asset
    bbox: tuple[int, int, int, int]
    position: str
    scale: float
    scene: str  # the scene rendered: the studio's family, or the words a diffusion model was given
    seed: int
    prompt: str
    negative_prompt: str
    plan: dict[str, Any]
    steps: tuple[Step, ...]
    reused: tuple[str, ...]
    input_id: str
    cutout_id: str
    background_id: str
    seconds: float
    notes: tuple[Note, ...] = ()
    scene_requested: str = ""  # the scene words asked for (the plan's)
    view: str = "eye-level"
    light: dict[str, float] | None = None
    cutout_confidence: float = 1.0  # how far to trust the cutout (0..1); below 0.5 a note says why

    @property
    def backend(self) -> str:
        """What served the shot, step by step, e.g. `u2netp + studio + composite`."""
        names = [s.backend for s in self.steps if s.name in {"cutout", "generate", "composite"}]
        return " + ".join(dict.fromkeys(names)) or "store"

    def summary(self) -> str:
        return "; ".join(f"{s.name}: {s.backend} {s.seconds:.2f}s" for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset.id,
            "path": str(self.asset.path),
            "bbox": list(self.bbox),
            "position": self.position,
            "scale": round(self.scale, 4),
            "scene": self.scene,
            "scene_requested": self.scene_requested,
            "seed": self.seed,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "plan": self.plan,
            "steps": [s.to_dict() for s in self.steps],
            "reused": list(self.reused),
            "input_id": self.input_id,
            "cutout_id": self.cutout_id,
            "background_id": self.background_id,
            "width": self.image.width,
            "height": self.image.height,
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
            "notes": notes_to_dicts(self.notes, self.language),
            "view": self.view,
            "light": self.light,
            "cutout_confidence": self.cutout_confidence,
        }

    @property
    def language(self) -> str:
        """The request's language (the plan's), which the notes' texts are rendered in."""
        return str(self.plan.get("language") or "en")


@dataclass
class _Run:
    """Mutable bookkeeping of one pipeline run (steps and notes as they happen)."""

    on_step: StepFn | None
    steps: list[Step] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    cutout_confidence: float = 1.0

    def record(self, name: str, backend: str, seconds: float, detail: str = "") -> None:
        self.steps.append(Step(name, backend, seconds, detail))
        if self.on_step:
            self.on_step(name, "done")

    def start(self, name: str) -> None:
        if self.on_step:
            self.on_step(name, "start")


class Pipeline:
    """The place_product pipeline over a store, model services and a planner (all owned by the caller)."""

    def __init__(
        self, store: AssetStore, services: ModelServices, planner: Any, *, chat_model: Any = None
    ) -> None:
        self.store = store
        self.services = services
        self.planner = planner
        self.chat_model = chat_model

    # ---- entry point ------------------------------------------------------------------------------
    def place_product(
        self,
        request: str,
        *,
        image: LoadedImage | None = None,
        image_asset: Asset | None = None,
        previous: str | None = None,
        options: PlaceOptions | None = None,
        on_step: StepFn | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> PlaceResult:
        """Run one request: fresh (an image given) or a follow-up on `previous` (a result asset id).

        `image_asset` is the stored photo; with it, `image` may carry that photo already decoded (the MCP
        tools decode while checking the argument), which saves decoding it again. Everything the run stores
        is one store batch: a run that fails at any step leaves no row behind.
        """
        with self.store.batch():
            return self._place(
                clean_text(request),
                image=image,
                image_asset=image_asset,
                previous=previous,
                options=options,
                on_step=on_step,
                on_progress=on_progress,
            )

    def _place(
        self,
        request: str,
        *,
        image: LoadedImage | None,
        image_asset: Asset | None,
        previous: str | None,
        options: PlaceOptions | None,
        on_step: StepFn | None,
        on_progress: Callable[[int, int], None] | None,
    ) -> PlaceResult:
        started = time.perf_counter()
        opts = options or PlaceOptions()
        run = _Run(on_step=on_step)
        prev_asset = self.store.get(previous) if previous else None
        if prev_asset is not None and prev_asset.kind != "result":
            raise BadRequestError(
                f"previous: asset {previous} is a {prev_asset.kind}, not a product shot result"
            )
        if prev_asset is not None and "cutout_id" not in prev_asset.params:
            raise BadRequestError(
                f"previous: asset {previous} is not a product shot made here (a listing image or an imported "
                "file has no cutout and background to change); give the product photo instead"
            )
        prev = dict(prev_asset.params) if prev_asset else None
        history = [_plan_from_params(prev)] if prev else []
        history = [h for h in history if h is not None]

        run.start("plan")
        t0 = time.perf_counter()
        plan = self.planner.plan(request, history)
        run.record("plan", plan.backend, time.perf_counter() - t0)
        run.notes.extend(plan.notes)

        if plan.action == "help":
            raise BadRequestError(
                "request: this asks what the studio can do, not for a shot; say what to make, e.g. "
                "'put this bag on white marble, bottom-left' or '이 가방을 해변 배경 왼쪽 아래에 놓아줘' "
                "(list_scenes lists the scenes)"
            )
        if plan.action == "undo":
            return self._undo(prev_asset, plan, run, started)
        if prev is None and plan.action != "place" and image is None and image_asset is None:
            raise BadRequestError(
                f"request {request!r} is a follow-up ({plan.action}) but there is no earlier result to change; "
                "give a product image first"
            )
        width, height = self._canvas(opts, prev)

        # ---- cutout: reuse unless a new product image was given ----------------------------------
        if image is not None or image_asset is not None:
            input_asset, cutout_asset, cut_image = self._cut(image, image_asset, opts, run)
        elif prev is not None:
            input_asset = self.store.get(prev["input_id"])
            cutout_asset = self.store.get(prev["cutout_id"])
            cut_image = _open_rgba(cutout_asset)
            run.reused.append("cutout")
            run.cutout_confidence = float(cutout_asset.params.get("confidence", 1.0))
        else:
            raise BadRequestError("image: no product image given; attach a product photo")

        # ---- scene, position, scale ------------------------------------------------------------
        scene = self._scene(plan, prev, run)
        position = self._position(plan, opts, prev, width, height)
        scale = self._scale(plan, opts, prev)

        # ---- placement first: the studio draws its surface under the product's footprint ---------
        from productshot.tools.composite import alpha_bbox, plan_placement

        placement = plan_placement((width, height), alpha_bbox(cut_image), position, scale=scale)
        footprint = placement.footprint
        studio_words = " ".join([scene, *plan.style]).strip()
        view = self._view(plan, opts, prev, cut_image, run)
        floating = opts.floating or bool(getattr(plan, "floating", False))
        if prev is not None and image is None and image_asset is None:
            floating = floating or bool(prev.get("floating", False))  # a follow-up keeps the product afloat
        carry = None if floating else footprint  # a floating product needs nothing drawn under it

        # ---- background: reuse for move/resize, new for a new scene or regenerate ------------------
        needs_background = prev is None or plan.action in {"place", "new_scene", "regenerate"}
        if prev is not None and plan.action == "place" and image is None and image_asset is None:
            needs_background = _plan_changes_scene(plan, prev)
        if needs_background:
            background_asset, bg_image, seed, prompt, negative, rendered, ground = self._background(
                request, plan, scene, width, height, opts, prev, position, run, on_progress, carry, view
            )
        else:
            assert prev is not None
            seed = int(prev["seed"])
            prompt, negative = str(prev.get("prompt", "")), str(prev.get("negative_prompt", ""))
            rendered = str(prev.get("scene", scene))
            background_asset, bg_image, ground = self._reuse_background(
                prev, width, height, footprint, opts, run, floating
            )

        # ---- the grounding rule (the one place it lives): the base stands on the scene's surface ----
        grounded_at, ground_notes = _ground_position(placement, ground, position, width, height, floating)
        run.notes.extend(ground_notes)
        if grounded_at != position:  # moved onto the ground: same size, only the spot changes
            position, scale = grounded_at, placement.scale

        # ---- composite and store -----------------------------------------------------------------
        from productshot.tools.composite import composite

        run.start("composite")
        result = composite(
            bg_image,
            cut_image,
            position=position,
            scale=scale,
            shadow=opts.shadow and not floating,
            ground=None if floating else ground,
            harmonize=opts.harmonize,
        )
        run.record(
            "composite", result.backend, result.seconds, f"{result.position}, scale {result.scale:.2f}"
        )
        run.notes.extend(result.notes)
        light = ground.light.to_dict() if ground is not None else None
        plan_dict = plan.to_dict()
        params = {
            "request": request,
            "plan": plan_dict,
            "position": result.position,
            "scale": result.scale,
            "bbox": list(result.bbox),
            "scene": rendered,
            "scene_requested": scene,
            "seed": seed,
            "prompt": prompt,
            "negative_prompt": negative,
            "width": width,
            "height": height,
            "shadow": opts.shadow,
            "footprint": Footprint.from_box(result.bbox).to_list(),
            "studio_words": studio_words,
            "ground": ground.source if ground is not None else None,
            "view": ground.view if ground is not None else "eye-level",
            "light": light,
            "floating": floating,
            "harmonize": opts.harmonize,
            "input_id": input_asset.id,
            "cutout_id": cutout_asset.id,
            "background_id": background_asset.id,
            "previous": prev_asset.id if prev_asset else None,
            "steps": [s.to_dict() for s in run.steps],
        }
        asset = self.store.put_image(
            result.image,
            kind="result",
            parents=[background_asset.id, cutout_asset.id] + ([prev_asset.id] if prev_asset else []),
            params=params,
            backend=result.backend,
        )
        return PlaceResult(
            image=result.image,
            asset=asset,
            bbox=result.bbox,
            position=result.position,
            scale=result.scale,
            scene=rendered,
            scene_requested=scene,
            seed=seed,
            prompt=prompt,
            negative_prompt=negative,
            plan=plan_dict,
            steps=tuple(run.steps),
            reused=tuple(run.reused),
            input_id=input_asset.id,
            cutout_id=cutout_asset.id,
            background_id=background_asset.id,
            seconds=time.perf_counter() - started,
            notes=tuple(dict.fromkeys(run.notes)),
            view=ground.view if ground is not None else "eye-level",
            light=light,
            cutout_confidence=run.cutout_confidence,
        )

    # ---- steps ------------------------------------------------------------------------------------
    def _cut(
        self, image: LoadedImage | None, image_asset: Asset | None, opts: PlaceOptions, run: _Run
    ) -> tuple[Asset, Asset, Image.Image]:
        if image_asset is not None:
            input_asset = image_asset
            loaded = image if image is not None else load_image(require_file(image_asset))
        else:
            assert image is not None
            loaded = image
            input_asset = self.store.put_image(
                loaded.image, kind="input", params={"source": loaded.source}, backend="input"
            )
        from productshot.tools.cutout import is_cutout

        if is_cutout(loaded.image):
            run.record("cutout", "input-alpha", 0.0, "the image already is a cutout")
            # The notes list still holds text here; once it holds Notes, extend it with the Note itself.
            run.notes.append(note("cutout_given"))
            return input_asset, input_asset, loaded.image.convert("RGBA")
        model = opts.cutout_model or "u2netp"
        run.start("cutout")
        cut = self.services.cutout(loaded.image.convert("RGB"), model=model)
        run.record("cutout", cut.backend, cut.seconds, f"confidence {cut.confidence:.2f}")
        run.cutout_confidence = cut.confidence
        run.notes.extend(cut.notes)
        cutout_asset = self.store.put_image(
            cut.image,
            kind="cutout",
            parents=[input_asset.id],
            params={"model": model, **cut.quality_params()},
            backend=cut.backend,
        )
        self.store.link_job(cut.job_id, cutout_asset.id)
        return input_asset, cutout_asset, cut.image

    def _background(
        self,
        request: str,
        plan: Any,
        scene: str,
        width: int,
        height: int,
        opts: PlaceOptions,
        prev: dict[str, Any] | None,
        position: str,
        run: _Run,
        on_progress: Callable[[int, int], None] | None,
        footprint: Footprint | None,
        view: str,
    ) -> tuple[Asset, Image.Image, int, str, str, str, Ground]:
        """Write the prompt, generate until one background is not split; returns the scene rendered (the
        studio's family, with a scene_fallback note when the words name none; else the words) and the ground
        the background offers the product."""
        from productshot.tools.prompt import reinforce_single_scene, write_prompt
        from productshot.tools.split import check_split

        facts: dict[str, Any] = dict(opts.product_facts or {})
        if plan.product and "name" not in facts:
            facts["name"] = plan.product
        prompt_request = " ".join([scene, *style_words(plan.style)]).strip()
        run.start("prompt")
        t0 = time.perf_counter()
        spec = write_prompt(prompt_request, facts, position, chat_model=self.chat_model, view=view)
        run.record("prompt", spec.backend, time.perf_counter() - t0, spec.template_version)
        run.notes.extend(spec.notes)

        rng = random.Random()
        if opts.seed is not None:
            seed = opts.seed
        elif prev is not None and plan.action == "regenerate":
            seed = (int(prev["seed"]) + 1 + rng.randrange(1 << 30)) % (1 << 31)
        else:
            seed = rng.randrange(1 << 31)
        studio_words = " ".join([scene, *style_words(plan.style)]).strip()
        best: tuple[float, Any, Any] | None = None
        attempts = opts.max_split_retries + 2  # first try, new seeds, then one reinforced prompt
        for attempt in range(attempts):
            if attempt == attempts - 1:
                spec = reinforce_single_scene(spec)
                run.notes.append(note("prompt_reinforced"))
            ask = GenerateAsk(
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                scene=studio_words,
                width=width,
                height=height,
                seed=seed,
                model=opts.model,
                footprint=(footprint.left, footprint.right, footprint.base) if footprint else None,
                view=view,
            )
            run.start("generate")
            generated = self.services.generate(ask, on_progress=on_progress)
            run.record("generate", generated.backend, generated.seconds, f"seed {generated.seed}")
            split = check_split(generated.image)
            run.record(
                "check_split",
                split.backend,
                split.seconds,
                f"split at y={split.seam_y} (score {split.score:.2f})"
                if split.split
                else f"ok (score {split.score:.2f})",
            )
            if best is None or split.score < best[0]:
                best = (split.score, generated, split)
            if not split.split:
                break
            seed = (generated.seed + 7919 * (attempt + 1)) % (1 << 31)
        else:
            run.notes.append(note("split_kept", score=round(best[0], 2)))  # type: ignore[index]  # the loop ran at least once, so best is set
        assert best is not None
        generated = best[1]
        regenerated = sum(1 for s in run.steps if s.name == "check_split" and s.detail.startswith("split"))
        if regenerated and not best[2].split:
            run.notes.append(note("split_regenerated", count=regenerated))
        rendered = self._rendered_scene(generated.backend, studio_words, scene, plan, run)
        image, ground = self._ground_of(generated, studio_words, width, height, footprint, view)
        background_asset = self.store.put_image(
            image,
            kind="background",
            params={
                "prompt": spec.prompt,
                "negative_prompt": spec.negative_prompt,
                "scene": rendered,
                "scene_requested": scene,
                "seed": generated.seed,
                "model": opts.model,
                "template_version": spec.template_version,
                "split_score": best[0],
                "footprint": footprint.to_list() if footprint else None,
                "view": view,
            },
            backend=generated.backend,
        )
        self.store.link_job(generated.job_id, background_asset.id)
        return (background_asset, image, generated.seed, spec.prompt, spec.negative_prompt, rendered, ground)

    def _ground_of(
        self,
        generated: Any,
        studio_words: str,
        width: int,
        height: int,
        footprint: Footprint | None,
        view: str,
    ) -> tuple[Image.Image, Ground]:
        """The background and what it offers a product. The studio's own report when the studio drew it
        (re-drawn here for the footprint when it ran on the worker, whose wire format does not carry one:
        it is cheap); otherwise the ground estimated from the pixels."""
        from productshot.tools.ground import estimate_ground
        from productshot.tools.studio import render_backdrop, studio_ground

        image = generated.image.convert("RGB")
        if generated.backend != "studio":
            return image, estimate_ground(image)
        if getattr(self.services, "where", "") == "local":
            return image, studio_ground(
                studio_words, width, height, seed=generated.seed, footprint=footprint, view=view
            )
        backdrop = render_backdrop(
            studio_words, width, height, seed=generated.seed, footprint=footprint, view=view
        )
        return backdrop.image, backdrop.ground

    def _reuse_background(
        self,
        prev: dict[str, Any],
        width: int,
        height: int,
        footprint: Footprint,
        opts: PlaceOptions,
        run: _Run,
        floating: bool = False,
    ) -> tuple[Asset, Image.Image, Ground]:
        """A move or resize keeps the background when its surface still carries the product; a studio
        backdrop whose surface does not is re-drawn with the same family and seed, the surface moved."""
        from productshot.tools.ground import estimate_ground
        from productshot.tools.studio import render_backdrop, studio_ground

        asset = self.store.get(prev["background_id"])
        image = _open_rgb(asset)
        if asset.backend != "studio" or not prev.get("studio_words"):  # not drawn by this pipeline's studio
            run.reused.append("background")
            return asset, image, estimate_ground(image)
        words = str(prev["studio_words"])
        seed = int(prev["seed"])
        old = prev.get("footprint") or asset.params.get("footprint")
        old_fp = Footprint(*map(float, old)) if old else None
        view = str(prev.get("view") or "eye-level")
        ground = studio_ground(words, width, height, seed=seed, footprint=old_fp, view=view)
        from productshot.tools.studio import BASE_GAP

        # Drawn surfaces keep the base BASE_GAP inside their far edge; a move that leaves less redraws.
        if floating or ground.carries(footprint, gap=0.6 * BASE_GAP * height):
            run.reused.append("background")
            return asset, image, ground
        run.start("generate")
        backdrop = render_backdrop(words, width, height, seed=seed, footprint=footprint, view=view)
        run.record("generate", backdrop.backend, backdrop.seconds, f"seed {seed}, surface moved")
        new_asset = self.store.put_image(
            backdrop.image,
            kind="background",
            parents=[asset.id],
            params={**asset.params, "footprint": footprint.to_list()},
            backend=backdrop.backend,
        )
        return new_asset, backdrop.image, backdrop.ground

    @staticmethod
    def _rendered_scene(backend: str, words: str, scene: str, plan: Any, run: _Run) -> str:
        """The studio's family for these words (noting a fallback), or the words a diffusion model painted."""
        from productshot.tools.studio import BACKEND as STUDIO
        from productshot.tools.studio_scenes import fallback_note, find_scene

        if backend != STUDIO:
            return scene
        match = find_scene(words)
        fallback = fallback_note(match, str(getattr(plan, "language", "") or "en"))
        if fallback is not None:
            run.notes.append(fallback)
        return match.family

    def _undo(self, prev_asset: Asset | None, plan: Any, run: _Run, started: float) -> PlaceResult:
        if prev_asset is None or not prev_asset.params.get("previous"):
            raise BadRequestError("undo: there is no earlier result to go back to")
        target = self.store.get(str(prev_asset.params["previous"]))
        p = target.params
        image = _open_rgb(target)
        run.record("undo", "store", 0.0, f"back to {target.id}")
        return PlaceResult(
            image=image,
            asset=target,
            bbox=tuple(p["bbox"]),
            position=str(p["position"]),
            scale=float(p["scale"]),
            scene=str(p["scene"]),
            scene_requested=str(p.get("scene_requested", p["scene"])),
            seed=int(p["seed"]),
            prompt=str(p.get("prompt", "")),
            negative_prompt=str(p.get("negative_prompt", "")),
            plan=plan.to_dict(),
            steps=tuple(run.steps),
            reused=("cutout", "background"),
            input_id=str(p["input_id"]),
            cutout_id=str(p["cutout_id"]),
            background_id=str(p["background_id"]),
            seconds=time.perf_counter() - started,
            notes=tuple(run.notes),
        )

    # ---- decisions --------------------------------------------------------------------------------
    @staticmethod
    def _canvas(opts: PlaceOptions, prev: dict[str, Any] | None) -> tuple[int, int]:
        if prev is not None and opts.width is None and opts.height is None:
            return int(prev["width"]), int(prev["height"])
        width = opts.width or DEFAULT_SIZE[0]
        height = opts.height or DEFAULT_SIZE[1]
        for name, value in (("width", width), ("height", height)):
            if not 64 <= value <= 4096:
                raise BadRequestError(f"{name} must be between 64 and 4096 pixels, got {value}")
        return width, height

    @staticmethod
    def _view(
        plan: Any, opts: PlaceOptions, prev: dict[str, Any] | None, cutout: Image.Image, run: _Run
    ) -> str:
        """The camera view: asked (option, then the request's words), else the previous shot's when the
        scene stays, else flat-lay when the photo looks taken from straight above and the scene has a
        flat-lay variant (a named scene without one wins: its eye-level set is used)."""
        from productshot.tools.studio import flat_lay_families, match_scene
        from productshot.tools.view import guess_view

        if opts.view is not None:
            return opts.view
        if getattr(plan, "view", None):
            return str(plan.view)
        if prev is not None and not _plan_changes_scene(plan, prev):
            return str(prev.get("view") or "eye-level")
        family, _ = match_scene(str(plan.scene or DEFAULT_SCENE))
        if family in flat_lay_families() and guess_view(cutout).top_down:
            run.notes.append(note("composition_flat_lay_guess", scene=family))
            return "flat-lay"
        return "eye-level"

    @staticmethod
    def _scene(plan: Any, prev: dict[str, Any] | None, run: _Run) -> str:
        if plan.scene:
            return str(plan.scene)
        if prev is not None:
            return str(prev.get("scene_requested", prev["scene"]))
        run.notes.append(note("scene_default", scene=DEFAULT_SCENE))
        return DEFAULT_SCENE

    @staticmethod
    def _position(plan: Any, opts: PlaceOptions, prev: dict[str, Any] | None, width: int, height: int) -> str:
        from productshot.tools.position_words import apply_move
        from productshot.tools.positions import parse_position

        if opts.position:
            return parse_position(opts.position).canonical()
        if plan.action == "move" and plan.move is not None and prev is not None:
            moved = apply_move(
                parse_position(prev["position"]), plan.move, (width, height), tuple(prev["bbox"])
            )
            return moved.canonical()
        if plan.position:
            return parse_position(plan.position).canonical()
        if prev is not None:
            return str(prev["position"])
        return DEFAULT_POSITION

    @staticmethod
    def _scale(plan: Any, opts: PlaceOptions, prev: dict[str, Any] | None) -> float | None:
        from productshot.tools.composite import MAX_SCALE

        if opts.scale is not None:
            return opts.scale
        if plan.scale is not None:
            return float(plan.scale)
        if prev is not None:
            base = float(prev["scale"])
            if plan.scale_factor:  # the compositor stops it at the frame's margins and says so
                return max(0.05, min(MAX_SCALE, base * float(plan.scale_factor)))
            return base
        return None


def composite_params(
    result: Any,
    back: Asset,
    item: Asset,
    *,
    shadow: bool,
    margin: float | None,
    input_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The params a place_product result records, for a result made by the composite tool or command, so
    place_product(previous=...) can follow up on it. `item` is the product as placed (the cutout);
    `input_id` the photo it was cut from, when that is a different asset; `size` the result's size when
    `result` carries no image (a composite made in a pixel process)."""
    seed = back.params.get("seed") if isinstance(back.params.get("seed"), int) else 0
    width, height = size if size is not None else result.image.size
    return {
        "request": "",
        "position": result.position,
        "scale": result.scale,
        "bbox": list(result.bbox),
        "scene": str(back.params.get("scene", "")),
        "seed": seed,
        "prompt": str(back.params.get("prompt", "")),
        "negative_prompt": str(back.params.get("negative_prompt", "")),
        "width": width,
        "height": height,
        "shadow": shadow,
        "margin": margin,
        "input_id": input_id or item.id,
        "cutout_id": item.id,
        "background_id": back.id,
        "previous": None,
        "steps": [{"name": "composite", "backend": result.backend, "seconds": round(result.seconds, 3)}],
        **dict(extra or {}),
    }


def _ground_position(
    placement: Any, ground: Ground | None, position: str, width: int, height: int, floating: bool
) -> tuple[str, list[Note]]:
    """The grounding rule: a product stands on the scene's surface unless it floats. Where the surface
    does not carry the asked position, the product moves straight up or down to the nearest spot that
    does (an exact position then names it) and a note says so."""

    if floating:
        return position, [note("composition_floating")]
    if ground is None or ground.carries(placement.footprint):
        if ground is not None and ground.source == "studio" and _on_pedestal(ground, placement.footprint):
            return position, [note("composition_pedestal")]
        return position, []
    gap = 0.02 * height
    base = ground.nearest_base(placement.footprint, gap=gap)
    if base is None:
        return position, [note("composition_no_surface")]
    x = (placement.box[0] + placement.box[2]) / 2 / width
    moved = Position(x=x, y=min(1.0, base / height), unit="fraction").canonical()
    return moved, [note("composition_moved_to_ground", asked=position, used=moved)]


def _on_pedestal(ground: Ground, footprint: Footprint) -> bool:
    """Whether the surface under the product ends right below it (a pedestal's top, not the floor)."""
    rows = ground.surface.shape[0]
    below = min(rows - 1, round(footprint.base) + round(0.12 * rows))
    x0, x1 = max(0, round(footprint.left)), max(1, round(footprint.right))
    return float(ground.surface[below, x0:x1].mean()) < 0.5


def _plan_changes_scene(plan: Any, prev: Mapping[str, Any]) -> bool:
    asked_before = prev.get("scene_requested", prev.get("scene"))
    return (bool(plan.scene) and plan.scene != asked_before) or bool(plan.style)


def _plan_from_params(params: Mapping[str, Any] | None) -> Any:
    from productshot.tools.plan import Plan

    if not params or "plan" not in params:
        return None
    return Plan.from_dict(params["plan"])


def _open_rgba(asset: Asset) -> Image.Image:
    with Image.open(require_file(asset)) as im:
        return im.convert("RGBA")


def _open_rgb(asset: Asset) -> Image.Image:
    with Image.open(require_file(asset)) as im:
        return im.convert("RGB")
