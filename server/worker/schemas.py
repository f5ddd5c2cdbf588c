"""The worker's HTTP contract: request and response models (the OpenAPI schema is generated from these).

Requests are strict (a number sent as a string is a 422 naming the field, unknown fields are refused), so
a client's typo fails loudly instead of silently falling back to a default. The same models are what the
typed client (`client.py`) parses answers into.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The contract's limits are the model library's own, so a request the schema admits is one a spec accepts.
from productshot.models.fitting import MAX_SIDE, MIN_SIDE
from productshot.models.generators import MAX_GUIDANCE, MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS

MAX_TIMEOUT_S = 24 * 3600.0
TERMINAL_STATES = frozenset({"done", "failed", "cancelled"})


class JobState(StrEnum):
    """Where a job is: waiting in the queue, on the device, or finished one of three ways."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self.value in TERMINAL_STATES


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class GenerateJobRequest(_Request):
    """Generate one background image from a prompt."""

    type: Literal["generate"] = Field(description="job type")
    model: str = Field(
        "auto",
        min_length=1,
        max_length=1024,
        description="model preset name (see GET /models), a hub id or a local folder; `auto` picks one",
        examples=["auto", "sdxl-turbo", "studio"],
    )
    prompt: str = Field(
        min_length=1, max_length=MAX_PROMPT_CHARS, description="what the image shows, in English"
    )
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="what the image must not show")
    scene: str | None = Field(
        None,
        max_length=MAX_PROMPT_CHARS,
        description="plain scene words for the embedded studio generator (e.g. 'simple beach'); "
        "diffusion models ignore it and read the prompt",
    )
    width: int | None = Field(
        None, ge=MIN_SIDE, le=MAX_SIDE, description="output width in px (default: the model's native width)"
    )
    height: int | None = Field(
        None, ge=MIN_SIDE, le=MAX_SIDE, description="output height in px (default: the model's native height)"
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="random seed; omitted: one is drawn and reported"
    )
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="denoising steps (default: the model's)")
    guidance: float | None = Field(
        None, ge=0.0, le=MAX_GUIDANCE, description="classifier-free guidance scale (default: the model's)"
    )
    timeout_s: float | None = Field(
        None, gt=0, le=MAX_TIMEOUT_S, description="most seconds the job may run on the device (default 600)"
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain some text, not only spaces")
        return value


class CutoutJobRequest(_Request):
    """Cut the product out of a photo (transparent PNG); the image travels as base64."""

    type: Literal["cutout"] = Field(description="job type")
    image_b64: str = Field(min_length=1, description="the photo's file bytes (PNG, JPEG, WebP, …), base64")
    model: str = Field("u2netp", min_length=1, max_length=200, description="cutout model (see GET /models)")
    alpha_matting: bool = Field(False, description="refine edges with alpha matting (slower)")
    decontaminate: bool = Field(True, description="remove the old background's colour from edge pixels")
    timeout_s: float | None = Field(
        None, gt=0, le=MAX_TIMEOUT_S, description="most seconds the job may run (default 600)"
    )


JobRequest = Annotated[GenerateJobRequest | CutoutJobRequest, Field(discriminator="type")]


class ErrorBody(BaseModel):
    """Every error answer and every failed job carries this: a stable code and a message a person can act on."""

    error: str = Field(description="stable error code, e.g. bad_request, model_unavailable, out_of_memory")
    message: str = Field(description="what was wrong and how to fix it")


class QueueFullBody(ErrorBody):
    """The 429 answer: the queue is full; retry after `retry_after` seconds (also in the Retry-After header)."""

    retry_after: int
    queue_size: int


class JobAccepted(BaseModel):
    """The 202 answer to a submitted job."""

    job_id: str
    status: JobState
    queue_position: int = Field(description="jobs ahead of this one (0: next to run)")


class Progress(BaseModel):
    """Denoising progress: step i of n (cutout jobs go from 0/1 to 1/1)."""

    step: int
    steps: int


class JobTimings(BaseModel):
    """Wall-clock times (Unix seconds) and durations of a job."""

    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    queue_seconds: float | None = Field(None, description="time spent waiting in the queue")
    run_seconds: float | None = Field(None, description="time on the device, model loading excluded")


class JobInfo(BaseModel):
    """A job's state, progress and, once done, what served it."""

    job_id: str
    type: Literal["generate", "cutout"]
    status: JobState
    model: str = Field(description="the model that runs the job (`auto` resolved)")
    model_note: str | None = Field(None, description="why `auto` chose this model")
    progress: Progress
    error: ErrorBody | None = None
    backend: str | None = Field(None, description="what served the job, once it is done")
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    bbox: tuple[int, int, int, int] | None = Field(
        None, description="cutout: the product's box (x0, y0, x1, y1)"
    )
    confidence: float | None = Field(
        None, ge=0.0, le=1.0, description="cutout: how far to trust it (0..1); below 0.5 `notes` says why"
    )
    notes: list[dict[str, Any]] = Field(
        default_factory=list, description="cutout: notes for the user, each {code, params, text}"
    )
    batch_size: int | None = Field(None, description="how many jobs shared the device call")
    replica: str | None = Field(None, description="the Ray Serve replica that served it (Ray engine only)")
    seconds: float | None = Field(None, description="run time of the device call that produced the result")
    timings: JobTimings
    result_available: bool = False

    @property
    def terminal(self) -> bool:
        return self.status.terminal


class JobResultBody(BaseModel):
    """The JSON variant of a result (GET /jobs/{id}/result?format=json): the PNG as base64 plus metadata."""

    job_id: str
    media_type: str = "image/png"
    image_b64: str
    backend: str
    seconds: float
    model: str
    seed: int | None = None
    width: int
    height: int
    bbox: tuple[int, int, int, int] | None = None
    job: JobInfo = Field(description="the job's full record")


class LoadedModel(BaseModel):
    """A model held in memory by the worker."""

    name: str
    kind: Literal["generator", "cutout"]
    device: str
    memory_bytes: int
    load_seconds: float
    loaded_at: float
    last_used: float
    uses: int


class CutoutModelInfo(BaseModel):
    """A cutout (rembg) model the worker can serve."""

    name: str
    available: bool = Field(description="its weights are on this machine")
    loaded: bool


class ModelsInfo(BaseModel):
    """Known generators (presets with licence and availability), cutout models, and what is loaded now."""

    device: str
    memory_budget_bytes: int
    memory_used_bytes: int
    known: list[dict[str, Any]] = Field(description="model presets, as the registry lists them")
    cutout: list[CutoutModelInfo]
    loaded: list[LoadedModel]


class ReplicaInfo(BaseModel):
    """One model replica of a Ray-engine worker: its id, what it serves, and the models it holds now."""

    replica: str
    kind: Literal["generator", "cutout"]
    device: str
    node: str
    pid: int
    loaded_models: list[str]


class HealthInfo(BaseModel):
    """GET /health: whether the worker serves, where, and how busy it is.

    `engine` is "local" (one process) or "ray" (Ray Serve replicas, listed in `replicas`); a Ray worker says
    "starting" until at least one generator and one cutout replica are up.
    """

    status: Literal["ok", "starting", "stopping"]
    version: str
    device: str
    pid: int
    home: str
    queue_depth: int
    queue_size: int
    running: int
    loaded_models: list[str]
    uptime: float
    autostarted: bool
    engine: Literal["local", "ray"] = "local"
    replicas: list[ReplicaInfo] = Field(default_factory=list)


__all__ = [
    "CutoutJobRequest",
    "CutoutModelInfo",
    "ErrorBody",
    "GenerateJobRequest",
    "HealthInfo",
    "JobAccepted",
    "JobInfo",
    "JobRequest",
    "JobResultBody",
    "JobState",
    "JobTimings",
    "LoadedModel",
    "ModelsInfo",
    "Progress",
    "QueueFullBody",
    "ReplicaInfo",
]
