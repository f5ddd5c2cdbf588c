"""The worker's HTTP API (FastAPI): jobs in, progress and image bytes out; OpenAPI at /openapi.json.

Every error answer has the same body, `{"error": code, "message": ...}`: ProductshotErrors keep their code
and status, request validation becomes a 422 whose message names each bad field, a full queue a 429 with
`Retry-After`. Every request passes the shared `HttpGuard` first: local Host/Origin only, no cross-site
posts (state-changing routes need a JSON body or `X-Productshot-Client`), and on a non-local address
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException as StarletteHTTPException

from productshot import __version__
from productshot.errors import ProductshotError
from productshot.http_guard import GuardPolicy, HttpGuard, bind_policy
from productshot.server.worker.config import WorkerConfig
from productshot.server.worker.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from productshot.server.worker.runtime import WorkerRuntime
from productshot.server.worker.scheduler import QueueFullError
from productshot.server.worker.schemas import (
    MAX_TIMEOUT_S,
    ErrorBody,
    HealthInfo,
    JobAccepted,
    JobInfo,
    JobRequest,
    JobResultBody,
    ModelsInfo,
    QueueFullBody,
)
from productshot.settings import Settings

log = logging.getLogger(__name__)

SSE_KEEPALIVE_S = 5.0
MAX_RESULT_WAIT_S = 60.0
RESULT_HEADER_PREFIX = "X-Productshot-"
_UNWATCHED_PATHS = ("/health", "/metrics")  # monitoring does not keep an idle worker alive

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---- progress notifications from the executor thread to SSE streams ---------------------------------------
class JobEvents:
    """Wakes the event loop's SSE streams when the executor thread changes a job they watch."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def notify(self, info: JobInfo) -> None:
        """Job-table listener; runs on any thread."""
        if info.job_id in self._waiters and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, info.job_id)

    def _wake(self, job_id: str) -> None:
        for event in self._waiters.get(job_id, ()):
            event.set()

    def listen(self, job_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        return event

    def unlisten(self, job_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(job_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[job_id]


# ---- middleware -----------------------------------------------------------------------------------------
class _GuardMiddleware:
    """Request-size limit and idle-clock reset, before any route runs (behind the shared HttpGuard)."""

    def __init__(self, app: ASGIApp, *, runtime: WorkerRuntime, max_body: int) -> None:
        self._app = app
        self._runtime = runtime
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self._max_body:
            body = ErrorBody(
                error="bad_request",
                message=f"request body is {int(length) / 1024**2:.1f} MB, more than the "
                f"{self._max_body / 1024**2:.0f} MB this worker accepts (PRODUCTSHOT_MAX_UPLOAD_BYTES)",
            )
            await _send_json(send, 413, body.model_dump())
            return
        if not str(scope.get("path", "")).startswith(_UNWATCHED_PATHS):
            self._runtime.touch()
        await self._app(scope, receive, send)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


# ---- error answers --------------------------------------------------------------------------------------
def _describe_input(value: object) -> str:
    if isinstance(value, str) and len(value) > 40:
        return f"a {len(value):,}-character text"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One readable line per bad field: `width: Input should be ... (got 0)`."""
    parts: list[str] = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        if loc and loc[0] in ("generate", "cutout"):  # the discriminated union's tag
            loc = loc[1:]
        kind = err.get("type", "")
        if kind == "union_tag_not_found":
            parts.append("type: missing; give the job type, 'generate' or 'cutout'")
            continue
        if kind == "union_tag_invalid":
            parts.append(
                f"type: {_describe_input(err.get('ctx', {}).get('tag'))} is not a job type; give 'generate' or 'cutout'"
            )
            continue
        if kind == "json_invalid":
            reason = err.get("ctx", {}).get("error", "cannot be parsed")
            parts.append(f"body: not valid JSON at character {'.'.join(loc) or 0} ({reason})")
            continue
        field = ".".join(loc) or "body"
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if kind == "missing":
            parts.append(f"{field}: required but missing")
        elif kind == "extra_forbidden":
            parts.append(f"{field}: unknown field (check its spelling)")
        elif "input" in err:
            parts.append(f"{field}: {message} (got {_describe_input(err['input'])})")
        else:
            parts.append(f"{field}: {message}")
    return "; ".join(parts) or "the request is invalid"


def _install_error_handlers(app: FastAPI) -> None:
    async def productshot_error(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, QueueFullError):
            body = QueueFullBody(
                error=exc.code, message=str(exc), retry_after=exc.retry_after, queue_size=exc.queue_size
            )
            return JSONResponse(
                body.model_dump(), status_code=429, headers={"Retry-After": str(exc.retry_after)}
            )
        assert isinstance(exc, ProductshotError)
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message = validation_message(list(exc.errors()))
        return JSONResponse(ErrorBody(error="bad_request", message=message).model_dump(), status_code=422)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        body = ErrorBody(error=codes.get(exc.status_code, "http_error"), message=str(exc.detail))
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error answering a request", exc_info=exc)
        body = ErrorBody(error="worker_error", message=f"the worker failed: {type(exc).__name__}: {exc}")
        return JSONResponse(body.model_dump(), status_code=500)

    app.add_exception_handler(ProductshotError, productshot_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


# ---- routes ---------------------------------------------------------------------------------------------
def _runtime(request: Request) -> WorkerRuntime:
    runtime: WorkerRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[WorkerRuntime, Depends(_runtime)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown job or model"},
    422: {"model": ErrorBody, "description": "a bad field, named in the message"},
}


def health(runtime: Runtime) -> HealthInfo:
    """Whether the worker serves, its device, queue depth and loaded models (a thread: the Ray engine's
    health asks the cluster about its replicas)."""
    return runtime.health()


def models(runtime: Runtime) -> ModelsInfo:
    """Known model presets (licence, availability), cutout models, and the models loaded now."""
    return runtime.models()


async def submit_job(body: JobRequest, request: Request, runtime: Runtime) -> JSONResponse:
    """Queue a generate or cutout job; 202 with the job id, 429 with Retry-After when the queue is full."""
    if body.type == "generate":
        accepted = runtime.submit_generate(body)  # quick: no thread hop on the common path
    else:
        accepted = await run_in_threadpool(runtime.submit_cutout, body)  # decodes the photo
    return _accepted(accepted, request)


def submit_cutout_upload(
    request: Request,
    runtime: Runtime,
    image: Annotated[UploadFile, File(description="the photo (PNG, JPEG, WebP, …)")],
    model: Annotated[str, Form(min_length=1, max_length=200)] = "u2netp",
    alpha_matting: Annotated[bool, Form()] = False,
    decontaminate: Annotated[bool, Form()] = True,
    timeout_s: Annotated[float | None, Form(gt=0, le=MAX_TIMEOUT_S)] = None,
) -> JSONResponse:
    """Queue a cutout of an uploaded photo (multipart/form-data) instead of base64 JSON."""
    data = image.file.read(runtime.settings.max_upload_bytes + 1)
    accepted = runtime.submit_cutout_bytes(
        data, model=model, alpha_matting=alpha_matting, decontaminate=decontaminate, timeout_s=timeout_s
    )
    return _accepted(accepted, request)


def _accepted(accepted: JobAccepted, request: Request) -> JSONResponse:
    location = str(request.url_for("job_status", job_id=accepted.job_id).path)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers={"Location": location})


async def job_status(job_id: str, runtime: Runtime) -> JobInfo:
    """A job's state, progress (step i of n), error, timings, backend and seed."""
    return runtime.table.info(job_id)


async def cancel_job(job_id: str, runtime: Runtime) -> JobInfo:
    """Cancel a job: a queued one leaves the queue, a running one stops at the next denoising step."""
    return runtime.scheduler.cancel(job_id)


async def job_events(job_id: str, request: Request, runtime: Runtime) -> EventSourceResponse:
    """Server-sent events: one `data:` line of JobInfo JSON per change, until the job finishes.

    sse-starlette frames the events, pings every `SSE_KEEPALIVE_S` (so the client can tell a quiet job
    from a dead worker), and ends the stream when the client goes away or the server shuts down."""
    runtime.table.info(job_id)  # 404 before the stream starts
    events: JobEvents = request.app.state.events

    async def stream() -> AsyncIterator[ServerSentEvent]:
        wake = events.listen(job_id)
        try:
            last: JobInfo | None = None
            while True:
                wake.clear()
                info = runtime.table.info(job_id)
                if info != last:
                    yield ServerSentEvent(data=info.model_dump_json(), event=info.status.value)
                    last = info
                if info.terminal:
                    return
                await wake.wait()
        finally:
            events.unlisten(job_id, wake)

    return EventSourceResponse(stream(), ping=SSE_KEEPALIVE_S)


async def job_result(
    job_id: str,
    request: Request,
    runtime: Runtime,
    format: Annotated[
        Literal["png", "json"] | None, Query(description="png (default) or json (base64)")
    ] = None,
    wait: Annotated[
        float | None, Query(ge=0, le=MAX_RESULT_WAIT_S, description="seconds to wait for an unfinished job")
    ] = None,
) -> Response:
    """The finished image as PNG bytes with metadata headers, or as JSON with base64 (`?format=json`).

    An unfinished job is a 409 `not_ready` (after waiting up to `wait` seconds for it: a long poll); a job
    that failed or was cancelled is a 409 with the job's own error code and message.
    """
    if wait:
        await _until_finished(request, runtime, job_id, wait)
    info, _, encoding = runtime.table.result(job_id)
    png = await asyncio.wrap_future(encoding)
    wants_json = format == "json" or (
        format is None
        and "application/json" in request.headers.get("accept", "")
        and "image/" not in request.headers.get("accept", "")
    )
    if wants_json:
        body = JobResultBody(
            job_id=info.job_id,
            image_b64=base64.b64encode(png).decode("ascii"),
            backend=info.backend or "",
            seconds=info.seconds or 0.0,
            model=info.model,
            seed=info.seed,
            width=info.width or 0,
            height=info.height or 0,
            bbox=info.bbox,
            job=info,
        )
        return JSONResponse(body.model_dump(mode="json"))
    return Response(png, media_type="image/png", headers=result_headers(info))


async def _until_finished(request: Request, runtime: WorkerRuntime, job_id: str, wait: float) -> None:
    """Return once the job is finished or `wait` seconds have passed."""
    events: JobEvents = request.app.state.events
    wake = events.listen(job_id)
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    try:
        while True:
            wake.clear()
            if runtime.table.info(job_id).terminal or loop.time() >= end:
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=end - loop.time())
            except TimeoutError:
                return
    finally:
        events.unlisten(job_id, wake)


def result_headers(info: JobInfo) -> dict[str, str]:
    """Metadata headers of a PNG result (backend, seed, seconds, size, bbox for cutouts)."""
    values: dict[str, object] = {
        "Job-Id": info.job_id,
        "Model": info.model,
        "Backend": info.backend,
        "Seed": info.seed,
        "Seconds": info.seconds,
        "Width": info.width,
        "Height": info.height,
        "Bbox": ",".join(str(v) for v in info.bbox) if info.bbox else None,
        # The whole JobInfo, so one request gives a client everything (ASCII JSON: header-safe).
        "Job": json.dumps(info.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":")),
    }
    return {RESULT_HEADER_PREFIX + key: str(value) for key, value in values.items() if value is not None}


def metrics(runtime: Runtime) -> Response:
    """Prometheus text format: jobs by type/status, queue depth, durations, model loads, memory."""
    return Response(runtime.metrics_text(), media_type=METRICS_CONTENT_TYPE)


def _add_routes(app: FastAPI) -> None:
    app.add_api_route("/health", health, methods=["GET"], response_model=HealthInfo, tags=["worker"])
    app.add_api_route("/models", models, methods=["GET"], response_model=ModelsInfo, tags=["worker"])
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["worker"],
        response_class=Response,
        responses={200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
    )
    job_errors: dict[int | str, dict[str, Any]] = {
        **_ERRORS,
        429: {"model": QueueFullBody, "description": "queue full; retry after Retry-After seconds"},
        503: {"model": ErrorBody, "description": "the worker is shutting down"},
    }
    app.add_api_route(
        "/jobs",
        submit_job,
        methods=["POST"],
        status_code=202,
        response_model=JobAccepted,
        responses=job_errors,
        tags=["jobs"],
    )
    app.add_api_route(
        "/jobs/cutout",
        submit_cutout_upload,
        methods=["POST"],
        status_code=202,
        response_model=JobAccepted,
        responses=job_errors,
        tags=["jobs"],
    )
    app.add_api_route(
        "/jobs/{job_id}",
        job_status,
        methods=["GET"],
        response_model=JobInfo,
        responses=_ERRORS,
        tags=["jobs"],
    )
    app.add_api_route(
        "/jobs/{job_id}",
        cancel_job,
        methods=["DELETE"],
        response_model=JobInfo,
        responses=_ERRORS,
        tags=["jobs"],
        name="delete_job",
    )
    app.add_api_route(
        "/jobs/{job_id}/cancel",
        cancel_job,
        methods=["POST"],
        response_model=JobInfo,
        responses=_ERRORS,
        tags=["jobs"],
    )
    app.add_api_route(
        "/jobs/{job_id}/events",
        job_events,
        methods=["GET"],
        response_class=EventSourceResponse,
        responses={
            **_ERRORS,
            200: {"content": {"text/event-stream": {}}, "description": "JobInfo per change"},
        },
        tags=["jobs"],
    )
    app.add_api_route(
        "/jobs/{job_id}/result",
        job_result,
        methods=["GET"],
        response_class=Response,
        responses={
            **_ERRORS,
            200: {
                "content": {
                    "image/png": {},
                    "application/json": {"schema": JobResultBody.model_json_schema()},
                },
                "description": "the image, with X-Productshot-* metadata headers",
            },
        },
        tags=["jobs"],
    )


# ---- the factory ----------------------------------------------------------------------------------------
def create_app(settings: Settings, *, config: WorkerConfig, runtime: WorkerRuntime | None = None) -> FastAPI:
    """The worker's ASGI app. Its lifespan starts the executor; the runtime is at `app.state.runtime`.

    `runtime` is the in-process one by default; the Ray engine passes one whose runners call replicas.
    """
    runtime = runtime if runtime is not None else WorkerRuntime(settings, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events = JobEvents(asyncio.get_running_loop())
        app.state.events = events
        unsubscribe = runtime.table.subscribe(events.notify)
        runtime.start()
        log.info("worker serving on %s (device %s, pid home %s)", config.url, runtime.device, settings.home)
        try:
            yield
        finally:
            unsubscribe()
            await anyio.to_thread.run_sync(runtime.stop)
            log.info("worker stopped")

    app = FastAPI(
        title="productshot worker",
        version=__version__,
        description="Resident model worker: generate backgrounds and cut out products, with a job queue.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    _install_error_handlers(app)
    _add_routes(app)
    max_body = settings.max_upload_bytes * 4 // 3 + 1024 * 1024  # base64 grows data by a third
    app.add_middleware(_GuardMiddleware, runtime=runtime, max_body=max_body)
    app.add_middleware(HttpGuard, policy=worker_policy(config))  # added last: runs first
    return app


def worker_policy(config: WorkerConfig) -> GuardPolicy:
    """The worker's door: local Host/Origin only on a local bind; off it, the token (required there) and
    the bound address; a wildcard bind with a token accepts any Host, since the token keeps pages out."""
    return bind_policy(config.host, config.token, token_hint="the worker's PRODUCTSHOT_WORKER_TOKEN")


__all__ = ["JobEvents", "create_app", "result_headers", "validation_message", "worker_policy"]
