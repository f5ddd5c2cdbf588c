"""Image commands: cutout, backdrop, composite, check-split.

Each writes its result atomically to `-o`, records inputs and outputs in the asset store with their
lineage, and reports `backend` and `seconds` (JSON with --json, one summary line otherwise).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from productshot.cli.common import add_output, load_input, output_path, store_input
from productshot.cli.exits import ExitCode
from productshot.cli.output import add_json_flag, emit, note_lines

if TYPE_CHECKING:
    from productshot.settings import Settings
    from productshot.tools.notes import Note


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cutout", help="cut the product out of a photo (transparent PNG)")
    p.add_argument("image", help="photo path or bundled sample (sample:coffee)")
    add_output(p)
    p.add_argument("--model", default=None, help="cutout model (default: u2netp; see `productshot models`)")
    p.add_argument("--alpha-matting", action="store_true", help="refine edges with alpha matting (slower)")
    p.add_argument(
        "--no-decontaminate", action="store_true", help="keep edge colours as they are (default: remove halo)"
    )
    add_json_flag(p)
    p.set_defaults(handler=run_cutout)

    p = sub.add_parser("backdrop", help="render a procedural studio backdrop from scene words")
    p.add_argument("scene", help='scene words, e.g. "simple beach" or "white marble" or "해변"')
    p.add_argument("-W", "--width", type=int, default=1024, help="width in px (default 1024)")
    p.add_argument("-H", "--height", type=int, default=768, help="height in px (default 768)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed; the same seed draws the same backdrop (default: drawn and reported)",
    )
    add_output(p)
    add_json_flag(p)
    p.set_defaults(handler=run_backdrop)

    p = sub.add_parser("composite", help="place a product on a background")
    p.add_argument("background", help="background image path or sample")
    p.add_argument("product", help="cutout (RGBA PNG) or a plain photo (it is cut out first)")
    p.add_argument(
        "--position",
        default="bottom",
        help="anchor (bottom-left, center, 왼쪽 아래, ...), fractions x=0.3,y=0.8 or pixels x=300px,y=620px",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="product's longest side / canvas short side (0..4; default: fit the product's shape to the frame)",
    )
    p.add_argument("--margin", type=float, default=None, help="margin as a fraction of the canvas short side")
    p.add_argument(
        "--shadow", dest="shadow", action="store_true", default=True, help="contact shadow (default)"
    )
    p.add_argument("--no-shadow", dest="shadow", action="store_false", help="no shadow")
    p.add_argument(
        "--light",
        default=None,
        help="cast a shadow away from this light: left, right, top-left, back, ... (default: the light read "
        "from the background, when it shows one)",
    )
    p.add_argument(
        "--floating",
        action="store_true",
        help="the product floats or hangs on purpose: no surface under it needed, no shadow",
    )
    p.add_argument(
        "--no-harmonize",
        dest="harmonize",
        action="store_false",
        default=True,
        help="keep the product's own light and colour (default: match them gently to the background's)",
    )
    add_output(p)
    add_json_flag(p)
    p.set_defaults(handler=run_composite)

    p = sub.add_parser("check-split", help="detect a background made of two stacked scenes")
    p.add_argument("image", help="background image path or sample")
    add_json_flag(p)
    p.set_defaults(handler=run_check_split)


def _open_store(settings: Settings) -> Any:
    from productshot.store import AssetStore

    return AssetStore.open(settings)


def run_cutout(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.tools.cutout import Cutter
    from productshot.tools.imageio import save_image_atomic

    started = time.perf_counter()
    out = output_path(args.output, args.image)
    loaded = load_input(args.image, settings)
    cutter = Cutter(args.model or settings.cutout_model, u2net_home=settings.u2net_home)
    result = cutter.cut(
        loaded.image, alpha_matting=args.alpha_matting, decontaminate=not args.no_decontaminate
    )
    store = _open_store(settings)
    with store.batch():  # rows are kept only when the output is written too
        source = store_input(store, args.image, loaded)
        asset = store.put_image(
            result.image,
            kind="cutout",
            parents=[source.id],
            params={
                "model": result.backend,
                "alpha_matting": result.alpha_matting,
                **result.quality_params(),
            },
            backend=result.backend,
        )
        save_image_atomic(result.image, out)
    payload = {
        "path": str(out.resolve()),
        "bbox": list(result.bbox),
        "backend": result.backend,
        "seconds": round(time.perf_counter() - started, 3),
        "asset_id": asset.id,
        "input_asset_id": source.id,
        "confidence": result.confidence,
        "notes": [*loaded.notes, *result.notes],
    }
    x0, y0, x1, y1 = result.bbox
    text = (
        f"cutout: {out} (product {x1 - x0}x{y1 - y0} px at {x0},{y0}; {result.backend}; "
        f"confidence {result.confidence:.2f})"
    )
    emit(args, payload, "\n".join([text, *(f"note: {n.text()}" for n in result.notes)]))
    return 0


def run_backdrop(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.tools.imageio import save_image_atomic
    from productshot.tools.studio import render_backdrop

    started = time.perf_counter()
    out = output_path(args.output)
    backdrop = render_backdrop(args.scene, args.width, args.height, seed=args.seed)
    store = _open_store(settings)
    with store.batch():  # the row is kept only when the output is written too
        asset = store.put_image(
            backdrop.image,
            kind="background",
            params={
                "scene": args.scene,
                "family": backdrop.scene,
                "seed": backdrop.seed,
                "unmatched": list(backdrop.unmatched),
            },
            backend=backdrop.backend,
        )
        save_image_atomic(backdrop.image, out)
    payload = {
        "path": str(out.resolve()),
        "seed": backdrop.seed,
        "scene": backdrop.scene,
        "scene_requested": args.scene,
        "width": backdrop.image.width,
        "height": backdrop.image.height,
        "backend": backdrop.backend,
        "seconds": round(time.perf_counter() - started, 3),
        "asset_id": asset.id,
        "notes": list(backdrop.notes),
    }
    lines = [f"backdrop: {out} ({backdrop.scene}, seed {backdrop.seed}; studio)", *note_lines(backdrop.notes)]
    emit(args, payload, "\n".join(lines))
    return 0


def run_composite(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.pipeline import composite_params
    from productshot.tools.composite import composite
    from productshot.tools.imageio import save_image_atomic
    from productshot.tools.positions import parse_position

    started = time.perf_counter()
    out = output_path(args.output, args.background, args.product)
    position = parse_position(args.position)  # fail on a bad position before any heavy work
    background = load_input(args.background, settings)
    product = load_input(args.product, settings)
    steps: list[dict[str, Any]] = []
    store = _open_store(settings)
    with store.batch():  # a call that fails at any step (cutout, composite, writing -o) stores nothing
        bg_asset = store_input(store, args.background, background)
        product_asset = input_asset = store_input(store, args.product, product)
        cut_image = product.image
        cut_notes: list[Note] = []
        from productshot.tools.cutout import Cutter, is_cutout

        if not is_cutout(product.image):
            cut = Cutter(settings.cutout_model, u2net_home=settings.u2net_home).cut(product.image)
            cut_image = cut.image
            product_asset = store.put_image(
                cut.image,
                kind="cutout",
                parents=[product_asset.id],
                params={"model": cut.backend, **cut.quality_params()},
                backend=cut.backend,
            )
            steps.append(
                {
                    "name": "cutout",
                    "backend": cut.backend,
                    "seconds": round(cut.seconds, 3),
                    "confidence": cut.confidence,
                }
            )
            cut_notes = list(cut.notes)
        from productshot.tools.ground import estimate_ground

        back_rgb = background.image.convert("RGB")
        result = composite(
            back_rgb,
            cut_image,
            position=position,
            scale=args.scale,
            margin=args.margin,
            shadow=args.shadow,
            light=args.light,
            ground=estimate_ground(back_rgb),
            harmonize=args.harmonize,
            floating=args.floating,
        )
        steps.append({"name": "composite", "backend": result.backend, "seconds": round(result.seconds, 3)})
        asset = store.put_image(
            result.image,
            kind="result",
            parents=[bg_asset.id, product_asset.id],
            # The same params a place_product result has, so `productshot run --previous` can follow up.
            params=composite_params(
                result,
                bg_asset,
                product_asset,
                shadow=result.shadow,
                margin=args.margin,
                input_id=input_asset.id,
                extra={"light": args.light, "harmonize": args.harmonize, "floating": args.floating},
            ),
            backend=result.backend,
        )
        save_image_atomic(result.image, out)
    payload = {
        "path": str(out.resolve()),
        "bbox": list(result.bbox),
        "position": result.position,
        "scale": round(result.scale, 4),
        "backend": result.backend,
        "seconds": round(time.perf_counter() - started, 3),
        "steps": steps,
        "asset_id": asset.id,
        "parents": [bg_asset.id, product_asset.id],
        "notes": [*cut_notes, *result.notes],
        "grounded": result.grounded,
        "shadow": result.shadow,
        "light": result.light.to_dict() if result.light is not None else None,
    }
    served = ", ".join(f"{s['name']}: {s['backend']}" for s in steps)
    summary = f"composite: {out} at {result.position}, scale {result.scale:.2f} ({served})"
    emit(args, payload, "\n".join([summary, *note_lines(payload["notes"])]))
    return 0


def run_check_split(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.tools.split import check_split

    started = time.perf_counter()
    loaded = load_input(args.image, settings)
    result = check_split(loaded.image.convert("RGB"))
    payload = {
        "split": result.split,
        "score": round(result.score, 4),
        "seam_y": result.seam_y,
        "backend": result.backend,
        "seconds": round(time.perf_counter() - started, 3),
    }
    verdict = f"two stacked scenes, seam at y={result.seam_y}" if result.split else "one continuous scene"
    emit(args, payload, f"check-split: {verdict} (score {result.score:.2f})")
    return ExitCode.NOT_OK if result.split else ExitCode.DONE  # a check that found a problem
