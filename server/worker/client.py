"""The typed client of the resident worker: `WorkerClient` (blocking; MCP tools call it from their threads).

It speaks the HTTP API in `app.py` through httpx and returns the Pydantic models of `schemas.py` plus
image results. Errors arrive as productshot's own exceptions (the worker's error code picks the class):
a worker that does not answer, or dies mid-job, is a `WorkerUnavailableError` naming the URL and the fix.
A full queue (429) is retried after `Retry-After` until `queue_wait_s` runs out, so bursts queue up
(tenacity, one policy: `queue_full_retrying`).

`generate()`/`cutout()` submit the job, then either follow its server-sent events (when `on_progress` is
given) or long-poll its result (one request that returns the PNG and the job's record when it is done).
Giving up (a `deadline`, Ctrl+C, a cancelled task) cancels the job on the worker.

One `WorkerClient` may be shared by threads (httpx.Client is thread-safe). Testing seam: it takes an httpx
transport; tests run it against the real app in-process (tests/support/asgi_bridge.py) or against a real
worker on a port (tests/support/worker_proc.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse
from PIL import Image
from pydantic import BaseModel, ConfigDict
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay

from productshot import __version__, errors
from productshot.errors import (
    BadRequestError,
    JobTimeoutError,
    ProductshotError,
    WorkerUnavailableError,
)
from productshot.http_guard import CLIENT_HEADER
from productshot.server.worker.schemas import HealthInfo, JobAccepted, JobInfo, JobState, ModelsInfo
from productshot.settings import Settings
from productshot.tools.notes import Note, notes_from_dicts

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_QUEUE_WAIT_S = 300.0
STREAM_READ_TIMEOUT_S = 30.0  # the worker sends a keepalive every 5 s; six missed ones mean it is gone
_POLL_INTERVAL_S = 0.2

ProgressCallback = Callable[[JobInfo], None]
CutoutImage = bytes | Image.Image


class JobHandle(BaseModel):
    """A submitted job: its id and where it stood when the worker accepted it."""

    job_id: str
    status: JobState
    queue_position: int


class GenerateResult(BaseModel):
    """A generated image (decoded lazily from `png`), the seed used and what served it."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    image: Image.Image
    png: bytes
    seed: int
    backend: str
    seconds: float
    job_id: str
    model: str
    width: int
    height: int
    info: JobInfo


class CutoutJobResult(BaseModel):
    """An RGBA cutout (decoded lazily from `png`), the product's bbox and what served it."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    image: Image.Image
    png: bytes
    bbox: tuple[int, int, int, int]
    backend: str
    seconds: float
    job_id: str
    model: str
    info: JobInfo
    confidence: float = 1.0  # how far to trust the cutout (0..1); below 0.5 `notes` says why
    notes: tuple[Note, ...] = ()


# ---- shared, I/O-free pieces ------------------------------------------------------------------------------
def _error_classes() -> dict[str, type[ProductshotError]]:
    found: dict[str, type[ProductshotError]] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, ProductshotError) and cls is not ProductshotError:
            found.setdefault(cls.code, cls)
    return found


def error_from_body(status: int, body: object, base_url: str) -> ProductshotError:
    """The exception for an error answer (`{"error": code, "message": ...}`) from the worker."""
    code, message = "", ""
    if isinstance(body, dict):
        code, message = str(body.get("error", "")), str(body.get("message", ""))
    message = message or f"HTTP {status}"
    if code in ("unauthorized",) or status == 401:
        return WorkerUnavailableError(
            f"worker at {base_url} refused the request: {message} (set PRODUCTSHOT_WORKER_TOKEN to its token)"
        )
    cls = _error_classes().get(code)
    if cls is not None:
        return cls(message)
    if status >= 500:
        return WorkerUnavailableError(f"worker at {base_url} failed: {message}")
    return BadRequestError(message)


def _response_error(response: httpx.Response, base_url: str) -> ProductshotError:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {"message": response.text[:300]}
    return error_from_body(response.status_code, body, base_url)


def unavailable(base_url: str, exc: BaseException, *, job_id: str | None = None) -> WorkerUnavailableError:
    """The error for a worker that does not answer, or that stopped answering while `job_id` ran."""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if job_id is not None:
        return WorkerUnavailableError(
            f"worker at {base_url} stopped answering while job {job_id} was unfinished ({reason}); "
            "the job is lost: restart the worker (`productshot worker`) and submit it again"
        )
    return WorkerUnavailableError(
        f"worker at {base_url} is not answering ({reason}); start it with `productshot worker`, or point "
        "PRODUCTSHOT_WORKER_URL at a running one"
    )


def job_error(info: JobInfo) -> ProductshotError:
    """The exception a failed or cancelled job stands for (its error code picks the class)."""
    if info.status is JobState.CANCELLED:
        message = info.error.message if info.error else "cancelled"
        return errors.JobCancelledError(f"job {info.job_id} was cancelled: {message}")
    body = info.error.model_dump() if info.error else {"error": "worker_error", "message": "failed"}
    err = error_from_body(500, body, "")
    return type(err)(f"job {info.job_id} failed: {err}")


def retry_after_s(response: httpx.Response) -> float:
    """Seconds the worker asked us to wait (Retry-After), at least a tenth of a second."""
    raw = response.headers.get("Retry-After", "1")
    try:
        return max(0.1, float(raw))
    except ValueError:
        return 1.0


def _queue_full(base_url: str, waited: float, response: httpx.Response) -> WorkerUnavailableError:
    detail = _response_error(response, base_url)
    return WorkerUnavailableError(
        f"worker at {base_url} kept its queue full for {waited:.0f} s ({detail}); try again later or start "
        "the worker with a larger --queue-size"
    )


def queue_full_retrying(limit_s: float) -> Retrying:
    """The one retry policy for a full queue: resend a 429'd request after its Retry-After (never past
    `limit_s` seconds from the first try); any other answer, or a connection error, ends it at once.
    When the time is up the last 429 response is returned, not raised, so the caller names the wait."""

    def wait_retry_after(state: RetryCallState) -> float:
        if state.outcome is None:  # tenacity waits only after an attempt; this keeps the type honest
            return 0.0
        left = max(0.0, limit_s - (state.seconds_since_start or 0.0))
        return min(retry_after_s(state.outcome.result()), left)

    return Retrying(
        retry=retry_if_result(lambda response: response.status_code == 429),
        wait=wait_retry_after,
        stop=stop_after_delay(limit_s),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )


def generate_body(
    prompt: str,
    *,
    model: str,
    negative_prompt: str,
    width: int | None,
    height: int | None,
    seed: int | None,
    steps: int | None,
    guidance: float | None,
    timeout_s: float | None,
    scene: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a generate job (omitted optional fields take the worker's defaults)."""
    body: dict[str, Any] = {
        "type": "generate",
        "model": model,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "width": width,
        "height": height,
        "seed": seed,
        "steps": steps,
        "guidance": guidance,
        "timeout_s": timeout_s,
        "scene": scene,
    }
    return {key: value for key, value in body.items() if value is not None}


def _image_bytes(image: CutoutImage) -> bytes:
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise BadRequestError(f"image must be image file bytes or a PIL image, got {type(image).__name__}")


def cutout_form(
    *, model: str, alpha_matting: bool, decontaminate: bool, timeout_s: float | None
) -> dict[str, str]:
    form = {
        "model": model,
        "alpha_matting": str(alpha_matting).lower(),
        "decontaminate": str(decontaminate).lower(),
    }
    if timeout_s is not None:
        form["timeout_s"] = repr(float(timeout_s))
    return form


def _lazy_image(png: bytes) -> Image.Image:
    """Open without decoding: pixels are decoded on first use, so callers that only save the bytes pay nothing."""
    return Image.open(io.BytesIO(png))


def generate_result(info: JobInfo, png: bytes) -> GenerateResult:
    return GenerateResult(
        image=_lazy_image(png),
        png=png,
        seed=info.seed if info.seed is not None else 0,
        backend=info.backend or info.model,
        seconds=info.seconds or 0.0,
        job_id=info.job_id,
        model=info.model,
        width=info.width or 0,
        height=info.height or 0,
        info=info,
    )


def cutout_result(info: JobInfo, png: bytes) -> CutoutJobResult:
    image = _lazy_image(png)
    return CutoutJobResult(
        image=image,
        png=png,
        bbox=info.bbox or (0, 0, image.width, image.height),
        backend=info.backend or info.model,
        seconds=info.seconds or 0.0,
        job_id=info.job_id,
        model=info.model,
        info=info,
        confidence=info.confidence if info.confidence is not None else 1.0,
        notes=notes_from_dicts(info.notes),
    )


def _remaining(end: float | None) -> float | None:
    return None if end is None else end - time.monotonic()


def _stream_timeout(end: float | None) -> httpx.Timeout:
    remaining = _remaining(end)
    read = STREAM_READ_TIMEOUT_S if remaining is None else max(0.05, min(STREAM_READ_TIMEOUT_S, remaining))
    return httpx.Timeout(DEFAULT_TIMEOUT_S, connect=5.0, read=read)


def _deadline_error(job_id: str, deadline: float, info: JobInfo | None) -> JobTimeoutError:
    state = info.status.value if info else "unknown"
    return JobTimeoutError(
        f"job {job_id} did not finish within the {deadline:g} s deadline (it is {state} on the worker); "
        "wait longer, or cancel it"
    )


_PNG = {"Accept": "image/png"}
RESULT_POLL_S = 20.0  # one long poll waits at most this long (the worker allows up to 60 s)


def _poll_wait(job_id: str, end: float | None, deadline: float | None) -> float:
    """Seconds the next long poll may wait; JobTimeoutError once the caller's deadline has passed."""
    remaining = _remaining(end)
    if remaining is not None and remaining <= 0:
        raise _deadline_error(job_id, deadline or 0.0, None)
    return round(RESULT_POLL_S if remaining is None else max(0.01, min(RESULT_POLL_S, remaining)), 3)


def _poll_timeout(wait: float) -> httpx.Timeout:
    return httpx.Timeout(DEFAULT_TIMEOUT_S, connect=5.0, read=wait + DEFAULT_TIMEOUT_S)


def _result_outcome(response: httpx.Response, base_url: str) -> tuple[JobInfo, bytes] | None:
    """(info, PNG) for a result answer, None when the job is not finished yet, else its error raised."""
    if response.status_code == 200:
        return JobInfo.model_validate_json(response.headers["x-productshot-job"]), response.content
    if response.status_code == 409 and _error_code(response) == "not_ready":
        return None
    raise _response_error(response, base_url)


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _headers(token: str | None) -> dict[str, str]:
    """Every request names its client (the worker refuses state-changing requests without it or JSON)."""
    headers = {CLIENT_HEADER: f"productshot/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


_CONNECTION_ERRORS = (httpx.TransportError,)


# ---- the sync client ------------------------------------------------------------------------------------
class WorkerClient:
    """Blocking client of one worker (CLI, scripts, threads). Use as a context manager or call close()."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        queue_wait_s: float = DEFAULT_QUEUE_WAIT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.queue_wait_s = queue_wait_s
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=_headers(token),
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> WorkerClient:
        return cls(base_url or settings.worker_url, token=settings.worker_token, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WorkerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- plumbing --------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except _CONNECTION_ERRORS as exc:
            raise unavailable(self.base_url, exc) from exc

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise _response_error(response, self.base_url)
        return response.json()

    def _submit(self, path: str, **kwargs: Any) -> JobHandle:
        started = time.monotonic()
        response: httpx.Response = queue_full_retrying(self.queue_wait_s)(self._send, "POST", path, **kwargs)
        if response.status_code == 429:
            raise _queue_full(self.base_url, time.monotonic() - started, response)
        if response.status_code >= 400:
            raise _response_error(response, self.base_url)
        accepted = JobAccepted.model_validate(response.json())
        return JobHandle(**accepted.model_dump())

    # ---- API -------------------------------------------------------------------------------------------
    def health(self) -> HealthInfo:
        return HealthInfo.model_validate(self._json("GET", "/health"))

    def models(self) -> ModelsInfo:
        return ModelsInfo.model_validate(self._json("GET", "/models"))

    def job(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._json("GET", f"/jobs/{job_id}"))

    def cancel(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._json("POST", f"/jobs/{job_id}/cancel"))

    def submit_generate(
        self,
        prompt: str,
        *,
        model: str = "auto",
        negative_prompt: str = "",
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        timeout_s: float | None = None,
        scene: str | None = None,
    ) -> JobHandle:
        body = generate_body(
            prompt,
            model=model,
            negative_prompt=negative_prompt,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            guidance=guidance,
            timeout_s=timeout_s,
            scene=scene,
        )
        return self._submit("/jobs", json=body)

    def submit_cutout(
        self,
        image: CutoutImage,
        *,
        model: str = "u2netp",
        alpha_matting: bool = False,
        decontaminate: bool = True,
        timeout_s: float | None = None,
    ) -> JobHandle:
        form = cutout_form(
            model=model, alpha_matting=alpha_matting, decontaminate=decontaminate, timeout_s=timeout_s
        )
        data = _image_bytes(image)
        return self._submit(
            "/jobs/cutout", data=form, files={"image": ("image", data, "application/octet-stream")}
        )

    def events(self, job_id: str, *, end: float | None = None) -> Iterator[JobInfo]:
        """JobInfo per change (server-sent events) until the job finishes or the stream ends."""
        try:
            path = f"/jobs/{job_id}/events"
            with connect_sse(self._http, "GET", path, timeout=_stream_timeout(end)) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise _response_error(source.response, self.base_url)
                for event in source.iter_sse():  # httpx-sse parses the stream; pings are comments it skips
                    if not event.data:
                        continue
                    info = JobInfo.model_validate_json(event.data)
                    yield info
                    if info.terminal:
                        return
        except httpx.ReadTimeout as exc:
            if end is not None and time.monotonic() >= end:
                return
            raise unavailable(self.base_url, exc, job_id=job_id) from exc
        except _CONNECTION_ERRORS as exc:
            raise unavailable(self.base_url, exc, job_id=job_id) from exc

    def wait(
        self, job_id: str, *, on_progress: ProgressCallback | None = None, deadline: float | None = None
    ) -> JobInfo:
        """Follow a job until it finishes; its JobInfo when done, else the error it failed with.

        `deadline`: seconds to wait at most (None: as long as the job runs); past it, JobTimeoutError
        (the job itself keeps running on the worker).
        """
        end = None if deadline is None else time.monotonic() + deadline
        info: JobInfo | None = None
        while True:
            for info in self.events(job_id, end=end):
                if on_progress is not None:
                    on_progress(info)
            if info is None or not info.terminal:
                info = self.job(job_id)  # the stream ended early: ask directly
            if info.terminal:
                break
            remaining = _remaining(end)
            if remaining is not None and remaining <= 0:
                raise _deadline_error(job_id, deadline or 0.0, info)
            time.sleep(_POLL_INTERVAL_S if remaining is None else min(_POLL_INTERVAL_S, remaining))
        if info.status is not JobState.DONE:
            raise job_error(info)
        return info

    def result_png(self, job_id: str) -> bytes:
        """The PNG of a done job (409 errors name why there is none)."""
        response = self._send("GET", f"/jobs/{job_id}/result", headers=_PNG)
        if response.status_code >= 400:
            raise _response_error(response, self.base_url)
        return response.content

    def generate(
        self,
        prompt: str,
        *,
        model: str = "auto",
        negative_prompt: str = "",
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        timeout_s: float | None = None,
        scene: str | None = None,
        on_progress: ProgressCallback | None = None,
        deadline: float | None = None,
    ) -> GenerateResult:
        """Submit, wait and fetch one generated image; past `deadline` seconds the job is cancelled."""
        handle = self.submit_generate(
            prompt,
            model=model,
            negative_prompt=negative_prompt,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            guidance=guidance,
            timeout_s=timeout_s,
            scene=scene,
        )
        return generate_result(*self._outcome(handle.job_id, on_progress, deadline))

    def cutout(
        self,
        image: CutoutImage,
        *,
        model: str = "u2netp",
        alpha_matting: bool = False,
        decontaminate: bool = True,
        timeout_s: float | None = None,
        on_progress: ProgressCallback | None = None,
        deadline: float | None = None,
    ) -> CutoutJobResult:
        """Submit, wait and fetch one cutout (RGBA PNG and the product's bbox)."""
        handle = self.submit_cutout(
            image, model=model, alpha_matting=alpha_matting, decontaminate=decontaminate, timeout_s=timeout_s
        )
        return cutout_result(*self._outcome(handle.job_id, on_progress, deadline))

    def _outcome(
        self, job_id: str, on_progress: ProgressCallback | None, deadline: float | None
    ) -> tuple[JobInfo, bytes]:
        """The finished job and its PNG: followed by events when progress is wanted, else one long poll.
        Giving up (deadline, Ctrl+C) cancels the job on the worker."""
        end = None if deadline is None else time.monotonic() + deadline
        try:
            if on_progress is not None:
                self.wait(job_id, on_progress=on_progress, deadline=deadline)
            return self._poll_result(job_id, end, deadline)
        except (JobTimeoutError, KeyboardInterrupt):
            self._cancel_quietly(job_id)
            raise

    def _poll_result(self, job_id: str, end: float | None, deadline: float | None) -> tuple[JobInfo, bytes]:
        while True:
            wait = _poll_wait(job_id, end, deadline)
            try:
                response = self._http.get(
                    f"/jobs/{job_id}/result", params={"wait": wait}, headers=_PNG, timeout=_poll_timeout(wait)
                )
            except _CONNECTION_ERRORS as exc:
                raise unavailable(self.base_url, exc, job_id=job_id) from exc
            outcome = _result_outcome(response, self.base_url)
            if outcome is not None:
                return outcome

    def _cancel_quietly(self, job_id: str) -> None:
        """Best-effort cancel when we stop waiting; the original error is what the caller must see."""
        with contextlib.suppress(ProductshotError):
            self.cancel(job_id)


__all__ = [
    "CutoutJobResult",
    "GenerateResult",
    "JobHandle",
    "WorkerClient",
    "error_from_body",
    "job_error",
]
