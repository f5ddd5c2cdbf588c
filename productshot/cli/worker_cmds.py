"""`productshot worker [status|stop]` and `productshot generate`: the resident worker from the terminal.

`generate` sends the job to the worker at PRODUCTSHOT_WORKER_URL (starting one, detached, when none
answers and auto-start is on), or runs the model in this process with `--local`. The progress bar goes to
stderr, so with `--json` stdout holds nothing but the JSON object.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from productshot.cli.common import add_output, output_path
from productshot.cli.exits import ExitCode
from productshot.cli.output import add_json_flag, emit
from productshot.cli.progress import terminal_progress, wanted
from productshot.server.worker.config import (
    DEFAULT_GRACE_S,
    DEFAULT_JOB_TIMEOUT_S,
    DEFAULT_MAX_BATCH,
    DEFAULT_QUEUE_SIZE,
)

if TYPE_CHECKING:
    from PIL import Image

    from productshot.server.worker.config import WorkerConfig
    from productshot.server.worker.schemas import JobInfo
    from productshot.settings import Settings

StepUpdate = Callable[[str, int, int], None]


@dataclass(frozen=True)
class _Background:
    """A generated background and what served it, from the worker or from this process."""

    image: Image.Image
    backend: str
    seed: int
    model: str
    generate_seconds: float
    reason: str | None  # why "auto" chose the model
    job_id: str | None  # the worker's job; None in this process


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker",
        help="run the resident model worker (HTTP API on 127.0.0.1); `worker status|stop` to manage it",
        description="Run the worker in the foreground (logs to the data home's logs/worker.log and stderr). "
        "A non-local --host needs PRODUCTSHOT_WORKER_TOKEN.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: PRODUCTSHOT_WORKER_URL's, 8765)")
    p.add_argument("--preload", nargs="+", default=[], metavar="MODEL", help="models to load at start")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="S", help="exit after S idle seconds")
    p.add_argument("--queue-size", type=int, default=DEFAULT_QUEUE_SIZE, help="jobs waiting before 429 (64)")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="jobs per device call (4)")
    p.add_argument(
        "--memory-budget-gb",
        type=float,
        default=None,
        help="loaded models' memory limit (default: from device)",
    )
    p.add_argument(
        "--job-timeout",
        type=float,
        default=DEFAULT_JOB_TIMEOUT_S,
        metavar="S",
        help="default per-job timeout",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_S,
        metavar="S",
        help="seconds running jobs get on shutdown",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: one process (default); ray: Ray Serve replicas (needs productshot[ray])",
    )
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--replicas", type=int, default=1, help="--engine ray: generator/cutout replicas (1)")
    scale.add_argument("--autoscale", default=None, metavar="MIN:MAX", help="--engine ray: replica range")
    p.add_argument(
        "--address", default=None, help="--engine ray: join this Ray cluster (default: start a local Ray)"
    )
    p.add_argument(
        "--nice",
        type=int,
        default=None,
        metavar="N",
        help="CPU priority of model work, 0 (unchanged) to 19 (default: PRODUCTSHOT_MODEL_NICE, 10)",
    )
    p.add_argument("--autostarted", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run_worker)
    actions = p.add_subparsers(dest="worker_action", metavar="ACTION")
    status = actions.add_parser("status", help="is this data home's worker running? (exit 1 when not)")
    add_json_flag(status)
    status.set_defaults(handler=run_status)
    stop = actions.add_parser("stop", help="stop this data home's worker gracefully")
    stop.add_argument("--timeout", type=float, default=30.0, metavar="S", help="kill it after S seconds (30)")
    add_json_flag(stop)
    stop.set_defaults(handler=run_stop)

    g = sub.add_parser("generate", help="generate a background image from a prompt (through the worker)")
    g.add_argument("prompt", help='what the background shows, e.g. "a simple beach scene, soft light"')
    g.add_argument("--model", default=None, help="model preset, hub id or folder (default: auto)")
    g.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and reported)")
    g.add_argument(
        "-W", "--width", type=int, default=1024, help="output width in px (64..4096, default 1024)"
    )
    g.add_argument(
        "-H", "--height", type=int, default=768, help="output height in px (64..4096, default 768)"
    )
    g.add_argument("--negative", default="", help="negative prompt")
    g.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    g.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    g.add_argument("--timeout", type=float, default=None, metavar="S", help="most seconds the job may run")
    g.add_argument("--local", action="store_true", help="run the model in this process instead of the worker")
    add_output(g)
    add_json_flag(g)
    g.set_defaults(handler=run_generate)


# ---- worker -------------------------------------------------------------------------------------------------
def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.worker.config import WorkerConfig
    from productshot.server.worker.lifecycle import serve, url_address

    port = args.port if args.port is not None else url_address(settings.worker_url)[1]
    config = WorkerConfig(
        host=args.host,
        port=port,
        token=settings.worker_token,
        queue_size=args.queue_size,
        max_batch=args.max_batch,
        memory_budget_gb=args.memory_budget_gb,
        preload=tuple(args.preload),
        idle_timeout_s=args.idle_timeout,
        default_timeout_s=args.job_timeout,
        grace_s=args.grace,
        autostarted=args.autostarted,
        nice=settings.model_nice if args.nice is None else args.nice,
    )
    if args.engine == "ray":
        return _run_ray_worker(args, settings, config)
    if args.replicas != 1 or args.autoscale or args.address:
        from productshot.errors import BadRequestError

        raise BadRequestError("--replicas, --autoscale and --address need --engine ray")
    return serve(settings, config)


def _run_ray_worker(args: argparse.Namespace, settings: Settings, config: WorkerConfig) -> int:
    """`worker --engine ray`: the same API on Ray Serve; a clear error when Ray is not installed."""
    import importlib.util

    from productshot.errors import BadRequestError
    from productshot.server.worker.ray_launch import serve_ray
    from productshot.server.worker.ray_options import RayOptions, parse_autoscale

    if importlib.util.find_spec("ray") is None:  # finding it does not import it (seconds); serve_ray does
        raise BadRequestError("--engine ray needs Ray Serve; install it with: pip install 'productshot[ray]'")
    options = RayOptions(
        replicas=args.replicas,
        autoscale=parse_autoscale(args.autoscale) if args.autoscale else None,
        address=args.address,
        replica_cpus=settings.ray_replica_cpus,
        replica_gpus=settings.ray_replica_gpus,
        models_per_replica=settings.ray_models_per_replica,
        upscale_delay_s=settings.ray_upscale_delay_s,
        downscale_delay_s=settings.ray_downscale_delay_s,
        autoscale_window_s=settings.ray_autoscale_window_s,
    )
    return serve_ray(settings, config, options)


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.worker.lifecycle import worker_status

    started = time.perf_counter()
    status = worker_status(settings)
    payload: dict[str, Any] = {
        **status.to_dict(),
        "backend": "worker",
        "seconds": round(time.perf_counter() - started, 4),
    }
    if status.running and status.health is not None:
        health = status.health
        models = ", ".join(health.loaded_models) or "none"
        summary = (
            f"worker {'running' if health.status == 'ok' else health.status} at {status.url} "
            f"(engine {health.engine}, pid {health.pid}, device {health.device}, up {health.uptime:.0f} s, "
            f"{health.queue_depth} queued, {health.running} running, loaded: {models})\n"
            f"home {status.home}; log {status.log_file}"
        )
    elif status.running:
        summary = (
            f"worker pid {status.pid} holds {status.home} but does not answer at {status.url} yet (starting?)"
        )
    else:
        summary = (
            f"no worker is running for {status.home} (nothing answers at {status.url}); log {status.log_file}"
        )
    emit(args, payload, summary)
    return ExitCode.DONE if status.running else ExitCode.NOT_OK


def run_stop(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.server.worker.lifecycle import stop_worker

    outcome = stop_worker(settings, timeout_s=args.timeout)
    payload = {
        "stopped": outcome.was_running,
        "pid": outcome.pid,
        "forced": outcome.forced,
        "backend": "worker",
        "seconds": round(outcome.seconds, 4),
    }
    if not outcome.was_running:
        summary = f"no worker was running for {settings.home}"
    elif outcome.forced:
        summary = f"killed the worker (pid {outcome.pid}): it did not stop within {args.timeout:g} s"
    else:
        summary = f"stopped the worker (pid {outcome.pid}) in {outcome.seconds:.1f} s"
    emit(args, payload, summary)
    return 0


# ---- generate -----------------------------------------------------------------------------------------------
def run_generate(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.tools.imageio import save_image_atomic

    started = time.perf_counter()
    out = output_path(args.output)
    model = args.model or settings.generator
    with terminal_progress(wanted(args)) as bar:
        if args.local:
            made = _generate_local(args, settings, model, bar.step)
        else:
            made = _generate_remote(args, settings, model, bar.step)
    from productshot.store import AssetStore

    image = made.image
    asset = AssetStore.open(settings).put_image(
        image,
        kind="background",
        params={"prompt": args.prompt, "seed": made.seed, "model": made.model},
        backend=made.backend,
    )
    path = save_image_atomic(image, out)
    payload: dict[str, Any] = {
        "path": str(path),
        "asset_id": asset.id,
        "backend": made.backend,
        "seed": made.seed,
        "seconds": round(time.perf_counter() - started, 4),
        "width": image.width,
        "height": image.height,
        "model": made.model,
        "job_id": made.job_id,
        "generate_seconds": made.generate_seconds,
    }
    if made.reason:
        payload["model_reason"] = made.reason
    summary = (
        f"wrote {path} ({image.width}×{image.height}) with {payload['backend']}, seed {payload['seed']}, "
        f"in {payload['seconds']:.2f} s"
    )
    if made.reason:
        summary += f"\n{made.reason}"
    emit(args, payload, summary)
    return 0


def _generate_remote(
    args: argparse.Namespace, settings: Settings, model: str, update: StepUpdate
) -> _Background:
    from productshot.server.worker.client import WorkerClient
    from productshot.server.worker.lifecycle import ensure_worker, log_path, probe

    if probe(settings.worker_url, settings) is None and settings.worker_autostart:
        update(f"starting a worker (log: {log_path(settings)})", 0, 0)
    url = ensure_worker(settings)

    def on_progress(info: JobInfo) -> None:
        update(info.status.value, info.progress.step, info.progress.steps)

    with WorkerClient(url, token=settings.worker_token) as client:
        result = client.generate(
            args.prompt,
            model=model,
            negative_prompt=args.negative,
            width=args.width,
            height=args.height,
            seed=args.seed,
            steps=args.steps,
            guidance=args.guidance,
            timeout_s=args.timeout,
            on_progress=on_progress,
        )
    return _Background(
        result.image,
        result.backend,
        result.seed,
        result.model,
        result.seconds,
        result.info.model_note,
        result.job_id,
    )


def _generate_local(
    args: argparse.Namespace, settings: Settings, model: str, update: StepUpdate
) -> _Background:
    """Load the model in this process, make one image, unload (`generate --local`)."""
    from productshot.models.runner import ModelRunner, spec_for

    runner = ModelRunner(settings)
    try:
        preset, reason = runner.resolve(model)
        spec = spec_for(
            preset,
            args.prompt,
            negative_prompt=args.negative,
            width=args.width,
            height=args.height,
            seed=args.seed,
            steps=args.steps,
            guidance=args.guidance,
        )
        update("loading the model", 0, 0)
        made = runner.generate(preset, spec, on_step=lambda step, steps: update("running", step, steps))
    finally:
        runner.close()
    return _Background(made.image, made.backend, made.seed, made.model, round(made.seconds, 4), reason, None)


__all__ = ["register", "run_generate", "run_status", "run_stop", "run_worker"]
