"""Model commands: `productshot models [--json]`, `productshot models pull NAME`, `productshot bench models`.

Only argument declarations run at import; the registry, huggingface_hub, torch and diffusers are imported
inside the handlers, so `productshot --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from productshot.cli.common import output_path
from productshot.cli.exits import ExitCode
from productshot.cli.output import add_json_flag, emit
from productshot.cli.progress import wanted

if TYPE_CHECKING:
    from productshot.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "models",
        help="list generator and cutout models: licence, gated, available here, native size, memory",
        description="List the models; `models pull NAME` downloads one into the Hugging Face cache.",
    )
    add_json_flag(p)
    p.set_defaults(handler=run_models)
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")
    pull = actions.add_parser("pull", help="download a model's weights (uses HF_TOKEN for gated models)")
    pull.add_argument(
        "name", help="a preset name (sdxl-turbo, flux.1-schnell, ...) or a Hugging Face id org/name"
    )
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(pull)
    pull.set_defaults(handler=run_pull)

    bench = sub.add_parser("bench", help="benchmarks")
    kinds = bench.add_subparsers(dest="bench_kind", metavar="KIND")
    kinds.required = True
    models = kinds.add_parser(
        "models",
        help="compare models: load time, first and warm generation time, peak memory, and a contact sheet",
    )
    models.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="presets, Hugging Face ids or pipeline folders (default: every model available here)",
    )
    models.add_argument("--prompt", action="append", default=None, help="a prompt (repeat for more columns)")
    models.add_argument("--seed", action="append", type=int, default=None, help="a seed (repeat for more)")
    models.add_argument("--steps", type=int, default=None, help="denoising steps (default: each model's own)")
    models.add_argument("--device", default=None, help="auto, cuda, cuda:N, mps or cpu (default: auto)")
    models.add_argument("--cell", type=int, default=192, help="contact-sheet cell size in pixels")
    models.add_argument(
        "-o", "--output", default="model-comparison.png", metavar="SHEET.png", help="where to write the sheet"
    )
    add_json_flag(models)
    models.set_defaults(handler=run_bench_models)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def run_models(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.models.registry import Registry, list_presets, resolve_auto
    from productshot.tools.cutout import available_cutout_models

    started = time.perf_counter()
    registry = Registry.default(settings)
    rows = list_presets(settings, registry=registry)
    auto, reason = resolve_auto(settings, registry=registry)
    cutouts = available_cutout_models(settings.u2net_home)
    payload: dict[str, Any] = {
        "models": rows,
        "cutout_models": cutouts,
        "auto": {"model": auto.name, "reason": reason},
        "backend": "registry",
        "seconds": round(time.perf_counter() - started, 4),
    }
    lines = [
        f"{'model':<15} {'kind':<9} {'native':<10} {'steps':>5} {'mem GB':>6}  gated  here  commercial  licence"
    ]
    for row in rows:
        w, h = row["native_size"]
        native = "any" if row["sizing"] == "any" else f"{w}x{h}"
        mark = "*" if row["default"] else " "
        lines.append(
            f"{row['name'] + mark:<15} {row['kind']:<9} {native:<10} {row['default_steps']:>5} "
            f"{row['memory_gb']:>6.1f}  {_yes(row['gated']):<5}  {_yes(row['available']):<4}  "
            f"{_yes(row['commercial_ok']):<10}  {row['licence']}"
        )
    lines.append(
        f"* the configured diffusion default (PRODUCTSHOT_DIFFUSION_DEFAULT). auto -> {auto.name}: {reason}"
    )
    lines.append(
        "cutout models: "
        + ", ".join(f"{c['name']} ({'here' if c['available'] else 'not here'})" for c in cutouts)
    )
    missing = [row for row in rows if not row["available"]]
    if missing:
        lines.append("get a generator's weights with `productshot models pull NAME`")
    if any(not c["available"] for c in cutouts):
        lines.append(
            f"cutout models other than u2netp: put their .onnx file in {settings.u2net_home} (rembg's home)"
        )
    emit(args, payload, "\n".join(lines))
    return 0


def run_pull(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.models import weights
    from productshot.models.registry import get_preset

    started = time.perf_counter()
    preset = get_preset(args.name, settings)
    if not args.json and not args.quiet:
        sys.stderr.write(f"pulling {preset.name} ({preset.hub_id}) into {weights.hf_cache_dir(settings)}\n")
    # huggingface_hub draws its own download bars; same rule as the CLI's bar: a terminal, no --json/--quiet.
    folder = weights.pull(preset, settings, progress=wanted(args) and sys.stderr.isatty())
    size = weights.folder_size(folder)
    payload = {
        "model": preset.name,
        "hub_id": preset.hub_id,
        "path": str(folder),
        "bytes": size,
        "licence": preset.licence,
        "backend": "huggingface_hub",
        "seconds": round(time.perf_counter() - started, 3),
    }
    emit(args, payload, f"{preset.name}: {size / 2**30:.2f} GiB in {folder} (licence: {preset.licence})")
    return 0


def run_bench_models(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.models.compare import (
        DEFAULT_PROMPTS,
        DEFAULT_SEEDS,
        compare_models,
        contact_sheet,
    )
    from productshot.models.registry import Registry, list_presets
    from productshot.tools.imageio import save_image_atomic

    started = time.perf_counter()
    out = output_path(args.output)
    if out.suffix.lower() != ".png":
        from productshot.errors import BadRequestError

        raise BadRequestError(f"output {args.output!r}: the contact sheet is written as PNG; use a .png name")
    registry = Registry.default(settings)
    models = args.models or [
        row["name"] for row in list_presets(settings, registry=registry) if row["available"]
    ]

    def announce(name: str) -> None:
        if not args.json:
            sys.stderr.write(f"benchmarking {name} ...\n")

    comparison = compare_models(
        models,
        settings,
        prompts=args.prompt or DEFAULT_PROMPTS,
        seeds=args.seed or DEFAULT_SEEDS,
        steps=args.steps,
        device=args.device,
        on_model=announce,
        registry=registry,
    )
    sheet = contact_sheet(comparison, cell=args.cell)
    save_image_atomic(sheet.image, out)
    runs = [run.to_dict() for run in comparison.runs]
    payload = {
        "models": runs,
        "sheet": str(Path(out).absolute()),
        "rows": len(sheet.rows),
        "columns": len(sheet.columns),
        "prompts": list(comparison.prompts),
        "seeds": list(comparison.seeds),
        "backend": "bench",
        "seconds": round(time.perf_counter() - started, 3),
    }
    lines = [
        f"{'model':<28} {'device':<8} {'native':<9} {'steps':>5} {'load s':>7} {'first s':>8} {'warm s':>7} {'peak MiB':>9}"
    ]
    for run in comparison.runs:
        if run.error:
            lines.append(f"{run.model:<28} failed: {run.error}")
            continue
        native = f"{run.native_size[0]}x{run.native_size[1]}"
        lines.append(
            f"{run.backend[:28]:<28} {run.device:<8} {native:<9} {run.steps:>5} {run.load_seconds:>7.2f} "
            f"{run.first_seconds:>8.2f} {run.warm_seconds:>7.2f} {run.peak_bytes / 2**20:>9.0f}"
        )
    source = next((run.peak_source for run in comparison.runs if not run.error), "")
    lines.append(
        f"peak = {source}; contact sheet ({len(sheet.rows)} rows x {len(sheet.columns)} columns): {out}"
    )
    emit(args, payload, "\n".join(lines))
    return ExitCode.DONE if all(run.error is None for run in comparison.runs) else ExitCode.NOT_OK
