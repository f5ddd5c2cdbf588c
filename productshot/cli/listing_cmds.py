"""Marketplace listing commands: listing (one image), check-listing (any image), batch (a catalogue).

`listing` and `batch` exit 1 when an image does not pass its preset's required rules or a batch item
failed; `check-listing` exits 1 when the image does not pass. Bad arguments raise ProductshotError (exit 2).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from productshot.cli.common import load_input, output_path, store_input
from productshot.cli.output import add_json_flag, emit
from productshot.cli.progress import terminal_progress, wanted
from productshot.errors import BadRequestError

if TYPE_CHECKING:
    from productshot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    from productshot.tools.listing_presets import preset_names

    names = ", ".join(preset_names())
    p = sub.add_parser(
        "listing",
        help="make a marketplace listing image (product centred on exact white, sRGB JPEG)",
        description=f"Presets: {names}. Example: productshot listing shoe.jpg --preset amazon -o shoe-amazon.jpg",
    )
    p.add_argument("image", help="product photo path or bundled sample (sample:coffee)")
    p.add_argument("--preset", required=True, help=f"marketplace preset: {names}")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jpg", help="where to write the JPEG")
    p.add_argument(
        "--request", default=None, help="scene words for the lifestyle preset, e.g. 'on a wooden table'"
    )
    p.add_argument(
        "--no-shadow", action="store_true", help="no contact shadow even where the preset allows one"
    )
    p.add_argument("--model", default=None, help="cutout model (default: u2netp)")
    add_json_flag(p)
    p.set_defaults(handler=run_listing)

    p = sub.add_parser(
        "check-listing",
        help="check an image against a marketplace's rules (white, fill, centring, size, format, file size)",
    )
    p.add_argument("image", help="the image file to check")
    p.add_argument("--preset", required=True, help=f"marketplace preset: {names}")
    add_json_flag(p)
    p.set_defaults(handler=run_check_listing)

    p = sub.add_parser(
        "batch",
        help="make listing images for a folder of photos or a CSV (photo,request,preset); resumable",
        description="Outputs go to OUTDIR/PRESET/<input name>.jpg, with OUTDIR/report.json and OUTDIR/contact.jpg. "
        "A re-run skips outputs whose input, preset and settings are unchanged.",
    )
    p.add_argument("input", help="a folder of photos, or a CSV with columns photo,request,preset")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument(
        "--preset", default=None, help=f"preset for every photo (a CSV row's preset wins): {names}"
    )
    p.add_argument("--force", action="store_true", help="redo every output, changed or not")
    p.add_argument(
        "--no-shadow", action="store_true", help="no contact shadow even where the preset allows one"
    )
    p.add_argument("--model", default=None, help="cutout model (default: u2netp)")
    add_json_flag(p)
    p.set_defaults(handler=run_batch_cmd)


def _cutter(settings: Settings, model: str | None) -> Any:
    from productshot.tools.cutout import Cutter

    return Cutter(model or settings.cutout_model, u2net_home=settings.u2net_home)


def _scene_factory(settings: Settings) -> Any:
    """The lifestyle preset's scene function, over the place_product pipeline (built on first use)."""

    def build() -> Any:
        from productshot.server.listings import pipeline_scene, scene_options
        from productshot.server.pipeline import Pipeline
        from productshot.server.services import choose_services
        from productshot.store import AssetStore
        from productshot.tools.plan import make_planner

        pipeline = Pipeline(AssetStore.open(settings), choose_services(settings), make_planner(settings))
        return pipeline_scene(pipeline, scene_options)

    return build


def _shadow(args: argparse.Namespace) -> bool | None:
    return False if args.no_shadow else None


def run_listing(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.listings import make_listing
    from productshot.store import AssetStore
    from productshot.tools.imageio import save_bytes_atomic
    from productshot.tools.listing_presets import get_preset

    started = time.perf_counter()
    preset = get_preset(args.preset)
    out = output_path(args.output, args.image)
    if out.suffix.lower() not in {".jpg", ".jpeg"}:
        raise BadRequestError(f"output {args.output!r}: every listing preset writes JPEG; use a .jpg name")
    if preset.needs_request and not (args.request or "").strip():
        raise BadRequestError(
            f"preset {preset.name!r} makes a scene shot: give --request, e.g. 'on a wooden table'"
        )
    loaded = load_input(args.image, settings)
    if preset.needs_request:
        outcome = make_listing(
            loaded.image, preset, scene=_scene_factory(settings)(), request=args.request, shadow=_shadow(args)
        )
    else:
        outcome = make_listing(
            loaded.image, preset, cut=_cutter(settings, args.model).cut, shadow=_shadow(args)
        )
    store = AssetStore.open(settings)
    source = store_input(store, args.image, loaded)
    asset = store.put_bytes(
        outcome.data,
        kind="result",
        parents=[source.id],
        params={
            "preset": preset.name,
            "alpha_bbox": list(outcome.alpha_bbox),
            "ok": outcome.check.ok,
            "quality": outcome.quality,
            "request": args.request or "",
        },
        backend="listing",
    )
    save_bytes_atomic(outcome.data, out)
    payload = {
        "path": str(out.resolve()),
        **outcome.to_dict(),
        "asset_id": asset.id,
        "input_asset_id": source.id,
        "seconds": round(time.perf_counter() - started, 3),
    }
    verdict = "passes" if outcome.check.ok else "DOES NOT pass"
    lines = [
        f"listing: {out} ({preset.name}, {outcome.image.width}x{outcome.image.height}, "
        f"{len(outcome.data) / 1e6:.2f} MB, quality {outcome.quality}) {verdict} check-listing"
    ]
    lines += [f"  note: {n['text'] if isinstance(n, dict) else n}" for n in outcome.notes_json()]
    emit(args, payload, "\n".join(lines))
    return 0 if outcome.check.ok else 1


def run_check_listing(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.errors import NotFoundError
    from productshot.tools.listing_check import check_listing_bytes
    from productshot.tools.listing_presets import get_preset

    started = time.perf_counter()
    preset = get_preset(args.preset)
    path = Path(args.image).expanduser()
    if path.is_dir():
        raise BadRequestError(f"image {args.image!r} is a folder; check one image file")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(f"image {args.image!r} does not exist") from exc
    check = check_listing_bytes(data, preset, source=args.image, max_pixels=settings.max_image_pixels)
    payload = {
        **check.to_dict(),
        "path": str(path.resolve()),
        "backend": "listing-check",
        "seconds": round(time.perf_counter() - started, 3),
    }
    lines = [f"check-listing: {args.image} {'passes' if check.ok else 'DOES NOT pass'} {preset.name}"]
    for rule in check.rules:
        mark = {True: "ok  ", False: "FAIL", None: "  ? "}[rule.ok]
        lines.append(
            f"  {mark} {rule.name} ({rule.level}): measured {rule.measured}, required {rule.required}"
        )
    emit(args, payload, "\n".join(lines))
    return 0 if check.ok else 1


def run_batch_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.listing_batch import BatchOptions, run_batch

    options = BatchOptions(
        force=args.force,
        shadow=_shadow(args),
        cutout_model=args.model or settings.cutout_model,
        max_pixels=settings.max_image_pixels,
    )

    def cut() -> Any:
        """The cutout session for the whole batch: loaded once, when the first photo needs it."""
        cutter = _cutter(settings, args.model)
        cutter.load()
        return cutter.cut

    with terminal_progress(wanted(args)) as bar:
        report = run_batch(
            Path(args.input),
            Path(args.output),
            default_preset=args.preset,
            cut=cut,
            scene=_scene_factory(settings),
            options=options,
            on_progress=bar.item if bar.enabled else None,
        )
    summary = report.to_summary()
    lines = [
        f"batch: {report.done} done, {report.skipped} skipped (unchanged), {len(report.failed)} failed, "
        f"{len(report.needs_review)} to review; report {report.report_path}"
    ]
    lines += [f"  failed: {f['file']}: {f['error']}" for f in report.failed]
    lines += [f"  review: {r['file']}: {', '.join(r['reasons'])}" for r in report.needs_review]
    emit(args, summary, "\n".join(lines))
    return 0 if report.ok else 1
