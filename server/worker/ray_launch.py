"""Running `productshot worker --engine ray`: hold the public port, join or start Ray, deploy the Serve
application, hand the port over to Serve's proxy once the ingress answers, watch that the replicas get
placed, and on SIGTERM/SIGINT remove everything it started.

The public port is bound at launch and kept until exit (see PublicPort): it answers "starting" from this
process, then relays to Serve's proxy on an internal port, so clients never meet a refused connection or
Serve's 404 during start-up. Holds the data home's worker lock and record like the local worker, so
`worker status` and `worker stop` work unchanged. Only the Ray engine imports this module.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from productshot.errors import BadRequestError, WorkerUnavailableError
from productshot.server.worker.config import WorkerConfig
from productshot.server.worker.ray_options import RayOptions
from productshot.server.worker.schemas import HealthInfo
from productshot.settings import Settings

log = logging.getLogger(__name__)

PLACEMENT_DEADLINE_S = 30.0
HANDOVER_DEADLINE_S = 120.0  # after deploying, how long the ingress gets to answer through Serve's proxy
PROBE_TIMEOUT_S = 2.0


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
        with lifecycle.holding_home(settings, config, bind=True) as (config, listener):
            # The public port is bound now and kept until exit: "starting" from this process first, then
            # (once the ingress answers through it) Serve's proxy, with no refused connection in between.
            assert listener is not None
            public = PublicPort(settings, config, listener)
            deployed: list[bool] = []
            try:
                _init_ray(settings, options)  # Ray itself is imported only now, with the port already held
                # ray.init installs a C++ SIGTERM handler that aborts the process; take the signals back so
                # a stop removes what this worker deployed first.
                for sig in previous:
                    signal.signal(sig, on_stop)
                if stop.is_set():
                    return 0
                return _serve_until_stopped(settings, config, options, deployed, stop, public)
            finally:
                public.close()
                _shutdown_ray(options, deployed=bool(deployed))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class PublicPort:
    """The worker's public port for the process's whole life: a relay that first pipes connections to this
    process's "starting" answerer (on a loopback port of its own), then, after `hand_over`, to Serve's proxy.

    Serve's proxy cannot take over a port without a gap (it binds only once Serve starts, then answers 404
    until the application's route reaches it), so it listens on an internal port and never faces clients
    directly.
    """

    def __init__(self, settings: Settings, config: WorkerConfig, listener: socket.socket) -> None:
        import threading

        import uvicorn

        from productshot.server.worker.port_relay import PortRelay

        inner = socket.create_server(("127.0.0.1", 0))  # listening already: nothing relayed is refused
        self._starting = uvicorn.Server(
            uvicorn.Config(
                _closing(starting_app(settings, config)),
                log_config=None,
                access_log=False,
                lifespan="off",
            )
        )
        self._thread = threading.Thread(
            target=self._starting.run, kwargs={"sockets": [inner]}, name="productshot-starting", daemon=True
        )
        self._thread.start()
        host, port = inner.getsockname()[:2]
        self._relay = PortRelay(listener, (str(host), int(port)))
        self._relay.start()
        self.handed_over = False

    def hand_over(self, proxy: tuple[str, int]) -> None:
        """Send new connections to Serve's proxy, then stop the starting answerer (its answers close their
        connections, so no client keeps talking to it)."""
        self._relay.switch(proxy)
        self.handed_over = True
        # A connection accepted just before the switch may still be opening its way to the answerer; let it
        # arrive (and the answerer accept it) before the answerer stops listening.
        settle = time.monotonic() + 5.0
        while self._relay.connecting and time.monotonic() < settle:
            time.sleep(0.01)
        time.sleep(0.5)
        self._stop_starting()

    def close(self) -> None:
        self._relay.close()
        self._stop_starting()

    def _stop_starting(self) -> None:
        self._starting.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def _closing(app: Any) -> Any:
    """An ASGI app whose every response says `Connection: close` (uvicorn then closes the connection)."""

    async def closing_app(scope: Any, receive: Any, send: Any) -> None:
        async def send_closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await app(scope, receive, send_closing)

    return closing_app


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
    try:
        import ray
        from ray import serve  # noqa: F401  (Serve's extra must be there too)
    except ImportError as exc:
        raise BadRequestError(
            f"--engine ray needs Ray Serve ({exc}); install it with: pip install 'productshot[ray]'"
        ) from exc
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
    import sys

    ray = sys.modules.get("ray")
    if ray is None:  # Ray never got imported: nothing was started
        return
    from ray import serve

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
    settings: Settings,
    config: WorkerConfig,
    options: RayOptions,
    deployed: list[bool],
    stop: Any,
    public: PublicPort,
) -> int:
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions, ProxyLocation
    from ray.serve.schema import ApplicationStatus

    from productshot.server.worker.ray_engine import (
        ClusterTooSmallError,
        board_actor,
        build_application,
        check_capacity,
    )

    check_capacity(options, ray.available_resources())
    proxy = _proxy_address(settings, options)
    from ray.exceptions import RayError

    deployed.append(True)  # from here on, stopping removes what Serve may have started, even half-way
    try:
        serve.start(
            http_options=HTTPOptions(host=proxy[0], port=proxy[1]), proxy_location=ProxyLocation.HeadOnly
        )
        board = board_actor()
        app = build_application(settings, config, options, board)
        serve.run_many(
            [serve.RunTarget(target=app, name=options.app_name, route_prefix="/")],
            wait_for_ingress_deployment_creation=True,
            wait_for_applications_running=False,
        )
    except RayError as exc:  # e.g. Serve's controller gave up on a proxy that started too slowly
        raise WorkerUnavailableError(f"Ray Serve did not start: {type(exc).__name__}: {exc}") from exc
    log.info("Ray Serve application deployed; its proxy listens on %s:%d (replicas starting)", *proxy)
    deployed_at = time.monotonic()
    running = False
    last_probe = "no answer yet"
    while not stop.wait(0.5):
        status = serve.status().applications.get(options.app_name)
        if status is None:
            raise WorkerUnavailableError(f"the Serve application {options.app_name!r} disappeared")
        if status.status == ApplicationStatus.DEPLOY_FAILED:
            raise WorkerUnavailableError(f"the replicas failed to start: {status.message}")
        if not public.handed_over:
            last_probe = _probe_ingress(proxy, config)
            if last_probe == "ok":
                public.hand_over(proxy)
                log.info("Ray Serve worker answering on %s through Serve's proxy", config.url)
            elif time.monotonic() - deployed_at > HANDOVER_DEADLINE_S:
                raise WorkerUnavailableError(
                    f"the ingress did not answer through Serve's proxy at {proxy[0]}:{proxy[1]} within "
                    f"{HANDOVER_DEADLINE_S:.0f} s (last answer: {last_probe}); is another Serve instance "
                    "with other HTTP options running on this cluster?"
                )
        if status.status == ApplicationStatus.RUNNING and not running:
            running = True
            log.info("all replicas are up")
        if not running and time.monotonic() - deployed_at > PLACEMENT_DEADLINE_S:
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


def _proxy_address(settings: Settings, options: RayOptions) -> tuple[str, int]:
    """Where Serve's HTTP proxy listens: loopback for a local Ray, else the head node's address (the proxy
    runs on the head node only); the port from PRODUCTSHOT_RAY_PROXY_PORT, or a free one."""
    host = "127.0.0.1" if options.address is None else _head_node_address()
    port = settings.ray_proxy_port
    if port:
        return host, port
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return host, int(sock.getsockname()[1])
    except OSError as exc:
        raise BadRequestError(
            f"the Ray head node ({host}) is not this machine, so no free port for Serve's proxy can be picked "
            "here: set PRODUCTSHOT_RAY_PROXY_PORT to a port free on the head node"
        ) from exc


def _head_node_address() -> str:
    import ray

    for node in ray.nodes():
        if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
            return str(node["NodeManagerAddress"])
    raise WorkerUnavailableError("the Ray cluster lists no live head node, where Serve's proxy would run")


def _probe_ingress(proxy: tuple[str, int], config: WorkerConfig) -> str:
    """ "ok" when the worker's own /health answers through Serve's proxy; otherwise what came back instead
    (Serve's 404 before the route exists, a timeout while the ingress replica starts, a refused port)."""
    import http.client
    import json

    headers = {"Host": f"localhost:{config.port}"}  # a name the worker's guard accepts on any bind
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    connection = http.client.HTTPConnection(proxy[0], proxy[1], timeout=PROBE_TIMEOUT_S)
    try:
        connection.request("GET", "/health", headers=headers)
        answer = connection.getresponse()
        body = answer.read()
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out: not there yet
        return f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    try:
        engine = json.loads(body).get("engine") if answer.status == 200 else None
    except (ValueError, AttributeError):
        engine = None
    return "ok" if engine == "ray" else f"HTTP {answer.status}: {body[:120]!r}"


__all__ = ["HANDOVER_DEADLINE_S", "PLACEMENT_DEADLINE_S", "PublicPort", "serve_ray", "starting_app"]
