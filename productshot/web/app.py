"""The studio's FastAPI app: the page, uploads into the asset store, turns through the shared agent runtime.

Everything the page does goes through ONE `AgentRuntime` (one MCP session, threads in the SQLite
checkpointer), the same the CLI and the Slack bot use, opened in the app's lifespan on the server's event
loop. Each browser tab is its own thread, so tabs never see each other's results, and a thread started here
goes on with `productshot run --thread ID`. Turns run as jobs the page long-polls (`jobs.py`); results are
served only to the thread that made them. Errors come back as `{"error": code, "message": ...}`; nothing
here ever sends a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal
from urllib.parse import unquote

import anyio
from anyio.abc import TaskGroup
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from productshot.agent.runtime import AgentRuntime
from productshot.agent.threads import check_thread_id, new_thread_id
from productshot.errors import BadRequestError, NotFoundError, ProductshotError
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.web.jobs import DEFAULT_CAPACITY, TurnJob, TurnJobs
from productshot.web.labels import page_labels, pick_language
from productshot.web.listing import listing_choices
from productshot.web.uploads import UploadTooLargeError, check_declared, store_upload, too_large_message

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
MAX_REQUEST_CHARS = 2_000
MAX_WAIT_S = 25.0  # a long poll answers at the latest after this, well inside proxies' idle timeouts
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_FORMATS = {"png": ("PNG", "image/png", "png"), "jpeg": ("JPEG", "image/jpeg", "jpg")}


@dataclass(frozen=True)
class StudioOptions:
    """How many turns run at once (`workers`) and how many may be unfinished (`capacity`)."""

    workers: int = DEFAULT_WORKERS
    capacity: int = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 16:
            raise BadRequestError(f"workers must be within 1..16, got {self.workers}")
        if not self.workers <= self.capacity <= 1000:
            raise BadRequestError(f"capacity must be within workers..1000, got {self.capacity}")


class TurnRequest(BaseModel):
    """One message of a tab's conversation: the words, and the uploaded photo's asset id for a new product."""

    thread: str = Field(description="the tab's thread id (from POST /api/threads)")
    request: str = Field(description="what the seller typed, in English or Korean")
    image: str | None = Field(default=None, description="asset id of an upload, for a new product")


@dataclass
class _Studio:
    """What the running app holds: the runtime, the store, the jobs and the task group turns run in."""

    settings: Settings
    runtime: AgentRuntime
    store: AssetStore
    jobs: TurnJobs
    group: TaskGroup
    slots: anyio.Semaphore


def create_app(
    settings: Settings,
    runtime: Callable[[], AbstractAsyncContextManager[AgentRuntime]],
    options: StudioOptions | None = None,
) -> FastAPI:
    """The studio app; `runtime()` makes the agent runtime the lifespan opens (and closes at shutdown)."""
    opts = options or StudioOptions()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_home()
        store = AssetStore.open(settings)
        try:
            async with runtime() as opened, anyio.create_task_group() as group:
                app.state.studio = _Studio(
                    settings,
                    opened,
                    store,
                    TurnJobs(capacity=opts.capacity),
                    group,
                    anyio.Semaphore(opts.workers),
                )
                yield
                group.cancel_scope.cancel()  # turns still running end with the server
        finally:
            store.close()

    app = FastAPI(
        title="productshot studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.mount("/static", StaticFiles(packages=[("productshot.web", "static")]), name="static")

    @app.exception_handler(ProductshotError)
    async def _named_error(request: Request, exc: ProductshotError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("the studio failed on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "error", "message": "unexpected failure; see the server log"}, 500)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("content-security-policy", _CSP)
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "no-referrer")
        return response

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        language = pick_language(request.headers.get("accept-language"))
        labels = page_labels(language, {"max_mb": f"{settings.max_upload_bytes / 1_048_576:.0f}"})
        presets = [dict(choice) for choice in listing_choices(language)]
        config = {"language": language, "labels": labels, "listing_presets": presets}
        # JSON inside <script type="application/json">: escape "<" so no text can close the element.
        blob = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
        html = _static_text("index.html")
        html = html.replace("{{LANG}}", language).replace("{{TITLE}}", labels["title"])
        return HTMLResponse(html.replace("{{CONFIG}}", blob), headers={"cache-control": "no-store"})

    @app.get("/healthz")
    async def health(request: Request) -> dict[str, Any]:
        studio = _studio(request)
        return {"ok": True, "running": studio.jobs.unfinished, "planner": studio.runtime.mode}

    @app.post("/api/threads")
    async def new_thread() -> dict[str, str]:
        return {"thread": new_thread_id()}

    @app.get("/api/threads/{thread}")
    async def thread_view(thread: str, request: Request) -> dict[str, Any]:
        studio = _studio(request)
        view = await studio.runtime.thread(check_thread_id(thread))
        return {
            "thread": view.thread,
            "turns": view.turns,
            "language": view.language,
            "last_result": view.last_result,
            "results": [{"asset_id": asset, "url": result_url(thread, asset)} for asset in view.results],
        }

    @app.post("/api/uploads")
    async def upload(request: Request) -> dict[str, object]:
        studio = _studio(request)
        limit = settings.max_upload_bytes
        length = request.headers.get("content-length")
        check_declared(
            request.headers.get("content-type"), int(length) if length and length.isdigit() else None, limit
        )
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > limit:
                raise UploadTooLargeError(too_large_message(None, limit))
        name = unquote(request.headers.get("x-filename", ""))  # the page sends it URI-encoded
        stored = await anyio.to_thread.run_sync(
            lambda: store_upload(bytes(data), settings, studio.store, filename=name)
        )
        return stored.to_dict()

    @app.post("/api/turns")
    async def start_turn(body: TurnRequest, request: Request) -> dict[str, Any]:
        studio = _studio(request)
        thread = check_thread_id(body.thread)
        text = body.request.strip()
        if not text:
            raise BadRequestError("request: empty; say what shot you want")
        if len(text) > MAX_REQUEST_CHARS:
            raise BadRequestError(f"request: {len(text)} characters; keep it under {MAX_REQUEST_CHARS}")
        if body.image is not None and not await anyio.to_thread.run_sync(studio.store.exists, body.image):
            raise NotFoundError("image: that upload is not in the store; drop the photo again")
        job = studio.jobs.create(thread)
        studio.group.start_soon(_run_turn, studio, job, text, body.image)
        return job.view()

    @app.get("/api/jobs/{job_id}")
    async def job_view(
        job_id: str, request: Request, after: int = 0, wait: float = Query(0.0, ge=0.0, le=MAX_WAIT_S)
    ) -> dict[str, Any]:
        job = _studio(request).jobs.get(job_id)
        await job.wait_after(after, wait)
        return job.view(after)

    @app.get("/api/threads/{thread}/results/{asset_id}")
    async def result_file(
        thread: str, asset_id: str, request: Request, format: Literal["png", "jpeg"] | None = None
    ) -> Response:
        studio = _studio(request)
        view = await studio.runtime.thread(check_thread_id(thread))
        known = {*view.results, view.last_result, view.last_listing}
        if asset_id not in known:
            raise NotFoundError(f"no result {asset_id!r} in this conversation")
        data = await studio.runtime.read_asset(asset_id)
        if format is None:
            return Response(data, media_type=_sniff(data), headers={"cache-control": "private, max-age=3600"})
        pil_format, media, suffix = _FORMATS[format]
        encoded = await anyio.to_thread.run_sync(lambda: _convert(data, pil_format, settings))
        disposition = f'attachment; filename="productshot-{asset_id}.{suffix}"'
        return Response(encoded, media_type=media, headers={"content-disposition": disposition})

    return app


async def _run_turn(studio: _Studio, job: TurnJob, text: str, image: str | None) -> None:
    """Run one turn in the background; the job records the result or a seller-readable error."""
    try:
        async with studio.slots:
            result = await studio.runtime.run(text, thread=job.thread, image=image, on_progress=job.listen)
        job.finish(result_payload(result.to_dict()))
    except ProductshotError as exc:
        job.fail(exc.code, str(exc))
    except anyio.get_cancelled_exc_class():
        job.fail("cancelled", "the studio stopped before the shot was finished")
        raise
    except Exception:
        logger.exception("turn %s of thread %s failed", job.id, job.thread)
        job.fail("error", "unexpected failure; see the server log")


def result_payload(result: dict[str, Any]) -> dict[str, Any]:
    """What the page gets of a turn: no server paths; URLs to the image within its own thread."""
    payload = {key: value for key, value in result.items() if key not in {"path", "guard"}}
    # The reply's "saved to <server path>" line means nothing in a browser (the page offers downloads).
    path = str(result.get("path") or "")
    if path:
        payload["reply"] = "\n".join(
            line for line in str(payload.get("reply", "")).splitlines() if path not in line
        )
    asset = payload.get("asset_id")
    payload["url"] = result_url(str(payload["thread"]), str(asset)) if asset else None
    payload["cutout_doubtful"] = any(_is_doubtful(note) for note in payload.get("notes") or ())
    return payload


def _is_doubtful(note: object) -> bool:
    """A structured note (tools.notes: `{code, params, text}`) saying the cutout may be wrong."""
    # The cutout says why it is doubtful in the code's tail: cutout_doubtful_cluttered, _thin, _dropped, ...
    return isinstance(note, dict) and str(note.get("code", "")).startswith("cutout_doubtful")


def result_url(thread: str, asset_id: str) -> str:
    return f"/api/threads/{thread}/results/{asset_id}"


def _studio(request: Request) -> _Studio:
    studio: _Studio = request.app.state.studio
    return studio


def _static_text(name: str) -> str:
    return resources.files("productshot.web").joinpath("static", name).read_text(encoding="utf-8")


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _convert(data: bytes, pil_format: str, settings: Settings) -> bytes:
    """A result in the format asked for; JPEG has no alpha, so a transparent result is laid on white."""
    from PIL import Image

    from productshot.tools.imageio import decode_image_bytes, encode_image

    image = decode_image_bytes(data, max_pixels=settings.max_image_pixels).image
    if pil_format == "JPEG" and image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    return encode_image(image, pil_format)


__all__ = ["StudioOptions", "TurnRequest", "create_app", "result_payload", "result_url"]
