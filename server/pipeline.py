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
from productshot.server.services import GenerateAsk, ModelServices
from productshot.store import Asset, AssetStore
from productshot.tools.imageio import LoadedImage, load_image
from productshot.tools.notes import note

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
    scene: str
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
    notes: tuple[str, ...] = ()
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
            "notes": list(self.notes),
            "cutout_confidence": self.cutout_confidence,
        }


@dataclass
class _Run:
    """Mutable bookkeeping of one pipeline run (steps and notes as they happen)."""

    on_step: StepFn | None
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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
        tools decode while checking the argument), which saves decoding it again.
        """
        started = time.perf_counter()
        opts = options or PlaceOptions()
        run = _Run(on_step=on_step)
        prev_asset = self.store.get(previous) if previous else None
        if prev_asset is not None and prev_asset.kind != "result":
            raise BadRequestError(
                f"previous: asset {previous} is a {prev_asset.kind}, not a product shot result"
            )
        prev = dict(prev_asset.params) if prev_asset else None
        history = [_plan_from_params(prev)] if prev else []
        history = [h for h in history if h is not None]

        run.start("plan")
        t0 = time.perf_counter()
        plan = self.planner.plan(request, history)
        run.record("plan", plan.backend, time.perf_counter() - t0)
        run.notes.extend(plan.notes)

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

        # ---- background: reuse for move/resize, new for a new scene or regenerate ------------------
        needs_background = prev is None or plan.action in {"place", "new_scene", "regenerate"}
        if prev is not None and plan.action == "place" and image is None and image_asset is None:
            needs_background = _plan_changes_scene(plan, prev)
        if needs_background:
            background_asset, bg_image, seed, prompt, negative = self._background(
                request, plan, scene, width, height, opts, prev, position, run, on_progress
            )
        else:
            background_asset = self.store.get(prev["background_id"])  # type: ignore[index]
            bg_image = _open_rgb(background_asset)
            seed = int(prev["seed"])  # type: ignore[index]
            prompt, negative = str(prev.get("prompt", "")), str(prev.get("negative_prompt", ""))  # type: ignore[union-attr]
            run.reused.append("background")

        # ---- composite and store -----------------------------------------------------------------
        from productshot.tools.composite import composite

        run.start("composite")
        result = composite(bg_image, cut_image, position=position, scale=scale, shadow=opts.shadow)
        run.record(
            "composite", result.backend, result.seconds, f"{result.position}, scale {result.scale:.2f}"
        )
        run.notes.extend(result.notes)
        plan_dict = plan.to_dict()
        params = {
            "request": request,
            "plan": plan_dict,
            "position": result.position,
            "scale": result.scale,
            "bbox": list(result.bbox),
            "scene": scene,
            "seed": seed,
            "prompt": prompt,
            "negative_prompt": negative,
            "width": width,
            "height": height,
            "shadow": opts.shadow,
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
            scene=scene,
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
            cutout_confidence=run.cutout_confidence,
        )

    # ---- steps ------------------------------------------------------------------------------------
    def _cut(
        self, image: LoadedImage | None, image_asset: Asset | None, opts: PlaceOptions, run: _Run
    ) -> tuple[Asset, Asset, Image.Image]:
        if image_asset is not None:
            input_asset = image_asset
            loaded = image if image is not None else load_image(image_asset.path)
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
            run.notes.append(note("cutout_given").text())
            return input_asset, input_asset, loaded.image.convert("RGBA")
        model = opts.cutout_model or "u2netp"
        run.start("cutout")
        cut = self.services.cutout(loaded.image.convert("RGB"), model=model)
        run.record("cutout", cut.backend, cut.seconds, f"confidence {cut.confidence:.2f}")
        run.cutout_confidence = cut.confidence
        run.notes.extend(n.text() for n in cut.notes)  # the Notes themselves once notes are Notes
        cutout_asset = self.store.put_image(
            cut.image,
            kind="cutout",
            parents=[input_asset.id],
            params={"model": model, **cut.quality_params()},
            backend=cut.backend,
        )
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
    ) -> tuple[Asset, Image.Image, int, str, str]:
        from productshot.tools.prompt import reinforce_single_scene, write_prompt
        from productshot.tools.split import check_split

        facts: dict[str, Any] = dict(opts.product_facts or {})
        if plan.product and "name" not in facts:
            facts["name"] = plan.product
        prompt_request = " ".join([scene, *plan.style]).strip()
        run.start("prompt")
        t0 = time.perf_counter()
        spec = write_prompt(prompt_request, facts, position, chat_model=self.chat_model)
        run.record("prompt", spec.backend, time.perf_counter() - t0, spec.template_version)
        run.notes.extend(spec.notes)

        rng = random.Random()
        if opts.seed is not None:
            seed = opts.seed
        elif prev is not None and plan.action == "regenerate":
            seed = (int(prev["seed"]) + 1 + rng.randrange(1 << 30)) % (1 << 31)
        else:
            seed = rng.randrange(1 << 31)
        studio_words = " ".join([scene, *plan.style]).strip()
        best: tuple[float, Any, Any] | None = None
        attempts = opts.max_split_retries + 2  # first try, new seeds, then one reinforced prompt
        for attempt in range(attempts):
            if attempt == attempts - 1:
                spec = reinforce_single_scene(spec)
                run.notes.append(
                    "background kept splitting into two scenes: reinforced the single-scene prompt"
                )
            ask = GenerateAsk(
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                scene=studio_words,
                width=width,
                height=height,
                seed=seed,
                model=opts.model,
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
            run.notes.append(
                f"every background try showed two stacked scenes; kept the least split one (score {best[0]:.2f})"  # type: ignore[index]
            )
        assert best is not None
        generated = best[1]
        background_asset = self.store.put_image(
            generated.image,
            kind="background",
            params={
                "prompt": spec.prompt,
                "negative_prompt": spec.negative_prompt,
                "scene": scene,
                "seed": generated.seed,
                "model": opts.model,
                "template_version": spec.template_version,
                "split_score": best[0],
            },
            backend=generated.backend,
        )
        return (
            background_asset,
            generated.image.convert("RGB"),
            generated.seed,
            spec.prompt,
            spec.negative_prompt,
        )

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
            bbox=tuple(p["bbox"]),  # type: ignore[arg-type]
            position=str(p["position"]),
            scale=float(p["scale"]),
            scene=str(p["scene"]),
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
    def _scene(plan: Any, prev: dict[str, Any] | None, run: _Run) -> str:
        if plan.scene:
            return str(plan.scene)
        if prev is not None:
            return str(prev["scene"])
        run.notes.append(f"no scene given: using a {DEFAULT_SCENE} backdrop")
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
        if opts.scale is not None:
            return opts.scale
        if plan.scale is not None:
            return float(plan.scale)
        if prev is not None:
            base = float(prev["scale"])
            if plan.scale_factor:
                return max(0.05, min(1.0, base * float(plan.scale_factor)))
            return base
        return None


def _plan_changes_scene(plan: Any, prev: Mapping[str, Any]) -> bool:
    return (bool(plan.scene) and plan.scene != prev.get("scene")) or bool(plan.style)


def _plan_from_params(params: Mapping[str, Any] | None) -> Any:
    from productshot.tools.plan import Plan

    if not params or "plan" not in params:
        return None
    return Plan.from_dict(params["plan"])


def _open_rgba(asset: Asset) -> Image.Image:
    with Image.open(asset.path) as im:
        return im.convert("RGBA")


def _open_rgb(asset: Asset) -> Image.Image:
    with Image.open(asset.path) as im:
        return im.convert("RGB")
