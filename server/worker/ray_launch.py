"""Running `productshot worker --engine ray`: join or start Ray, answer "starting" meanwhile, deploy the
Serve application, watch that its replicas get placed, and on SIGTERM/SIGINT remove everything it started.

Holds the data home's worker lock and record like the local worker, so `worker status` and `worker stop`
work unchanged. Only the Ray engine imports this module.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray import serve

from productshot.errors import WorkerUnavailableError
from productshot.server.worker.config import WorkerConfig
from productshot.server.worker.ray_engine import (
    ClusterTooSmallError,
    RayOptions,
    board_actor,
    build_application,
    check_capacity,
)
from productshot.server.worker.schemas import HealthInfo
from productshot.settings import Settings

log = logging.getLogger(__name__)

PLACEMENT_DEADLINE_S = 30.0


def serve_ray(settings: Settings, config: WorkerConfig, options: RayOptions) -> int:
    """Run the worker on Ray Serve until SIGTERM/SIGINT; holds the data home's lock and record like the
    local worker, so `worker status` and `worker stop` work. Everything it started in Ray goes on exit."""
    import signal
    import threading

    from productshot.server.worker import lifecycle

    stop = threading.Event()

    def on_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with lifecycle.holding_home(settings, config) as (config, _):
            # Joining Ray and starting Serve's controller and proxy take tens of seconds on a busy machine;
            # meanwhile this process answers /health with "starting" itself (and 503 to everything else).
            deployed: list[bool] = []
            try:
                with starting_answerer(settings, config):
                    _init_ray(settings, options)
                # ray.init installs a C++ SIGTERM handler that aborts the process; take the signals back so
                # a stop removes what this worker deployed first.
                for sig in previous:
                    signal.signal(sig, on_stop)
                if stop.is_set():
                    return 0
                return _serve_until_stopped(settings, config, options, deployed, stop)
            finally:
                _shutdown_ray(options, deployed=bool(deployed))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def starting_answerer(settings: Settings, config: WorkerConfig) -> Iterator[None]:
    """Serve the starting-phase API on the worker's port for the `with` block, then free the port."""
    import threading

    import uvicorn

    app = starting_app(settings, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=config.host, port=config.port, log_config=None, access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, name="productshot-starting", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def starting_app(settings: Settings, config: WorkerConfig) -> Any:
    """The API while Ray starts: /health says "starting" (engine ray), any other route a 503; the same
    HTTP guard (Host, Origin, token) as the running worker."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from productshot import __version__
    from productshot.http_guard import HttpGuard
    from productshot.server.worker.app import worker_policy
    from productshot.server.worker.schemas import ErrorBody

    started = time.monotonic()
    app = FastAPI(title="productshot worker (starting)", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> HealthInfo:
        return HealthInfo(
            status="starting",
            version=__version__,
            device="ray",
            pid=os.getpid(),
            home=str(settings.home),
            queue_depth=0,
            queue_size=config.queue_size,
            running=0,
            loaded_models=[],
            uptime=round(time.monotonic() - started, 3),
            autostarted=config.autostarted,
            engine="ray",
        )

    @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE", "PUT"])
    def elsewhere(path: str) -> JSONResponse:
        body = ErrorBody(
            error="worker_unavailable", message="the worker is starting on Ray; retry in a few seconds"
        )
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})

    app.add_middleware(HttpGuard, policy=worker_policy(config))
    return app


def _init_ray(settings: Settings, options: RayOptions) -> None:
    env_vars = {
        k: v for k, v in settings.extra_env if k in ("PYTHONPATH", "OMP_NUM_THREADS", "HF_HUB_OFFLINE")
    }
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "namespace": f"productshot-{options.app_name}",
        "runtime_env": {"env_vars": env_vars} if env_vars else None,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
    }
    if options.address:
        ray.init(address=options.address, **kwargs)
    else:
        # "local" never joins a cluster named by RAY_ADDRESS: local mode means a Ray of our own.
        ray.init(address="local", num_cpus=options.local_cpus, _temp_dir=options.temp_dir, **kwargs)


def _shutdown_ray(options: RayOptions, *, deployed: bool) -> None:
    """Leave nothing behind: a local Ray goes entirely; on a shared cluster only our application goes (and
    Serve itself once no other application uses it), then this process disconnects."""
    try:
        if not ray.is_initialized():
            return
        try:
            if options.address is None:
                serve.shutdown()
            elif deployed:
                serve.delete(options.app_name)
                if not serve.status().applications:
                    serve.shutdown()
                log.info("removed the Serve application %r from the cluster", options.app_name)
        finally:
            ray.shutdown()
    except Exception:  # the cluster may be gone already; report it, the process exits anyway
        log.exception("shutting down Ray Serve failed")


def _serve_until_stopped(
    settings: Settings, config: WorkerConfig, options: RayOptions, deployed: list[bool], stop: Any
) -> int:
    from ray.serve.config import HTTPOptions, ProxyLocation
    from ray.serve.schema import ApplicationStatus

    check_capacity(options, ray.available_resources())
    serve.start(
        http_options=HTTPOptions(host=config.host, port=config.port),
        proxy_location=ProxyLocation.HeadOnly,
    )
    deployed.append(True)
    board = board_actor()
    app = build_application(settings, config, options, board)
    serve.run_many(
        [serve.RunTarget(target=app, name=options.app_name, route_prefix="/")],
        wait_for_ingress_deployment_creation=True,
        wait_for_applications_running=False,
    )
    log.info("Ray Serve worker answering on %s (replicas starting)", config.url)
    deadline = time.monotonic() + PLACEMENT_DEADLINE_S
    running = False
    while not stop.wait(0.5):
        status = serve.status().applications.get(options.app_name)
        if status is None:
            raise WorkerUnavailableError(f"the Serve application {options.app_name!r} disappeared")
        if status.status == ApplicationStatus.DEPLOY_FAILED:
            raise WorkerUnavailableError(f"the replicas failed to start: {status.message}")
        if status.status == ApplicationStatus.RUNNING and not running:
            running = True
            log.info("all replicas are up")
        if not running and time.monotonic() > deadline:
            unplaced = [
                f"{name}: {deployment.message}"
                for name, deployment in status.deployments.items()
                if "scheduled" in deployment.message or "resources" in deployment.message.lower()
            ]
            if unplaced:
                raise ClusterTooSmallError(
                    "the Ray cluster has not placed the replicas within "
                    f"{PLACEMENT_DEADLINE_S:.0f} s: " + "; ".join(unplaced)
                )
    log.info("stopping the Ray Serve worker")
    return 0


__all__ = ["PLACEMENT_DEADLINE_S", "serve_ray", "starting_answerer", "starting_app"]
