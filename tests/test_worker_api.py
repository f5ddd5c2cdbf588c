"""The worker's HTTP API in-process: the real app (lifespan, executor thread, studio and the faulty test
plugin) behind httpx's ASGITransport, driven by raw requests and by the WorkerClient (from a thread).

Validation, error bodies, auth, the OpenAPI schema, metrics, results, cutouts, a full queue and shutdown.
Process-level behaviour (concurrency, crashes, auto-start) is in test_worker_service.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from productshot.errors import WorkerUnavailableError
from productshot.server.worker.app import create_app
from productshot.server.worker.client import WorkerClient
from productshot.server.worker.config import WorkerConfig
from productshot.server.worker.schemas import JobState
from productshot.settings import Settings
from tests.support.asgi_bridge import InThread, LoopTransport
from tests.support.imagegen import make_product, mask_iou, on_background
from tests.support.prometheus import value

BASE = "http://127.0.0.1"  # a local Host: the worker refuses any other (DNS-rebinding guard)


@dataclass
class Served:
    app: FastAPI
    client: Any  # InThread(WorkerClient): `await client.generate(...)` runs the blocking client in a thread
    raw: httpx.AsyncClient


@pytest.fixture
def plugin_settings(settings: Settings) -> Settings:
    return settings.with_overrides(plugins=("tests.support.faulty_plugin",))


@asynccontextmanager
async def serve(settings: Settings, config: WorkerConfig | None = None) -> AsyncIterator[Served]:
    config = config or WorkerConfig()
    app = create_app(settings, config=config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        bridge = LoopTransport(transport, asyncio.get_running_loop())
        with WorkerClient(BASE, token=config.token, transport=bridge, queue_wait_s=20) as client:
            async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as raw:
                yield Served(app, InThread(client), raw)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=120))


async def until_running(raw: httpx.AsyncClient, job_id: str) -> None:
    for _ in range(400):
        if (await raw.get(f"/jobs/{job_id}")).json()["status"] == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never started")


GOOD = {"type": "generate", "model": "studio", "prompt": "simple beach", "width": 128, "height": 96}

BAD_GENERATE: list[tuple[dict[str, Any], int, str]] = [
    ({"width": 0}, 422, "width"),
    ({"width": -5}, 422, "width"),
    ({"width": 5000}, 422, "width"),
    ({"height": 4097}, 422, "height"),
    ({"steps": 0}, 422, "steps"),
    ({"steps": 10_000}, 422, "steps"),
    ({"prompt": "sand " * 20_000}, 422, "prompt: String should have at most 2000 characters (got a 100,000"),
    ({"prompt": "   "}, 422, "prompt"),
    ({"prompt": None}, 422, "prompt"),
    ({"width": "big"}, 422, "width: Input should be a valid integer"),
    ({"width": "512"}, 422, "width"),
    ({"height": 512.5}, 422, "height"),
    ({"seed": -1}, 422, "seed"),
    ({"guidance": -1}, 422, "guidance"),
    ({"timeout_s": 0}, 422, "timeout_s"),
    ({"colour": "red"}, 422, "colour: unknown field"),
    ({"model": "no-such-model"}, 404, "unknown model 'no-such-model': choose one of"),
    ({"type": "paint"}, 422, "type: 'paint' is not a job type"),
]


def test_bad_requests_are_4xx_naming_the_field_and_the_worker_stays_healthy(
    plugin_settings: Settings,
) -> None:
    async def scenario() -> None:
        async with serve(plugin_settings) as served:
            for change, status, needle in BAD_GENERATE:
                body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
                answer = await served.raw.post("/jobs", json=body)
                assert answer.status_code == status, (change, answer.text)
                payload = answer.json()
                assert set(payload) == {"error", "message"}, payload
                assert needle in payload["message"], (change, payload["message"])
            missing_type = await served.raw.post("/jobs", json={"prompt": "x"})
            assert missing_type.status_code == 422 and "type: missing" in missing_type.json()["message"]
            not_json = await served.raw.post(
                "/jobs", content=b"{nope", headers={"content-type": "application/json"}
            )
            assert not_json.status_code == 422 and not_json.json()["error"] == "bad_request"
            for cutout, code, needle in [
                ({"image_b64": "!!!not base64"}, "bad_image", "image_b64 is not valid base64"),
                ({"image_b64": base64.b64encode(b"just text").decode()}, "bad_image", "not an image"),
                ({"image_b64": "aGk=", "model": "nope"}, "model_unavailable", "u2netp"),
            ]:
                answer = await served.raw.post("/jobs", json={"type": "cutout", **cutout})
                assert answer.status_code in (404, 422) and answer.json()["error"] == code, answer.text
                assert needle in answer.json()["message"]
            unknown = await served.raw.get("/jobs/feedfacefeedface")
            assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
            nowhere = await served.raw.get("/no/such/route")
            assert nowhere.status_code == 404 and set(nowhere.json()) == {"error", "message"}
            health = await served.client.health()
            assert health.status == "ok" and health.queue_depth == 0
            assert health.engine == "local" and health.replicas == []
            assert (
                await served.client.generate("white studio", model="studio", width=64, height=64)
            ).width == 64

    run(scenario)


def test_generate_returns_seeded_pixels_headers_and_a_json_variant(plugin_settings: Settings) -> None:
    async def scenario() -> None:
        async with serve(plugin_settings) as served:
            steps: list[tuple[str, int]] = []
            first = await served.client.generate(
                "simple beach",
                model="studio",
                width=320,
                height=240,
                seed=7,
                on_progress=lambda info: steps.append((info.status.value, info.progress.step)),
            )
            again = await served.client.generate(
                "simple beach", model="studio", width=320, height=240, seed=7
            )
            other = await served.client.generate(
                "simple beach", model="studio", width=320, height=240, seed=8
            )
            assert (first.backend, first.seed, first.model, first.image.size) == (
                "studio",
                7,
                "studio",
                (320, 240),
            )
            assert steps[-1] == ("done", 1)
            pixels = np.asarray(first.image)
            assert np.array_equal(pixels, np.asarray(again.image))
            assert not np.array_equal(pixels, np.asarray(other.image))

            answer = await served.raw.get(f"/jobs/{first.job_id}/result")
            assert answer.headers["content-type"] == "image/png"
            assert answer.headers["x-productshot-seed"] == "7"
            assert answer.headers["x-productshot-backend"] == "studio"
            assert float(answer.headers["x-productshot-seconds"]) == pytest.approx(first.seconds)
            as_json = (await served.raw.get(f"/jobs/{first.job_id}/result", params={"format": "json"})).json()
            assert base64.b64decode(as_json["image_b64"]) == answer.content == first.png
            assert (as_json["width"], as_json["height"], as_json["seed"]) == (320, 240, 7)

            auto = await served.client.generate("white marble", width=64, height=64)
            assert auto.model == "studio" and "studio" in (auto.info.model_note or "")

    run(scenario)


def test_a_full_queue_answers_429_and_the_client_waits_its_turn(plugin_settings: Settings) -> None:
    async def scenario() -> None:
        async with serve(plugin_settings, WorkerConfig(queue_size=1)) as served:
            slow = {"type": "generate", "model": "faulty-slow", "prompt": "p", "width": 64, "height": 64}
            running = (await served.raw.post("/jobs", json={**slow, "steps": 150})).json()["job_id"]
            await until_running(served.raw, running)
            queued = await served.raw.post("/jobs", json={**slow, "steps": 1})
            assert queued.status_code == 202 and queued.json()["queue_position"] == 0
            refused = await served.raw.post("/jobs", json={**slow, "steps": 1})
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            body = refused.json()
            assert body["error"] == "queue_full" and body["queue_size"] == 1
            assert "queue is full" in body["message"]
            waiting = asyncio.create_task(
                served.client.generate("simple beach", model="studio", width=64, height=64)
            )
            while (
                served.app.state.runtime.metrics.counter("jobs_rejected_total", (("reason", "queue_full"),))
                < 2
            ):
                await asyncio.sleep(0.01)  # until the client's own first try has met the full queue
            await served.client.cancel(running)  # room again: the client's retry gets through
            result = await waiting
            assert result.backend == "studio" and result.image.size == (64, 64)
            metrics = (await served.raw.get("/metrics")).text
            assert (value(metrics, "productshot_worker_jobs_rejected_total", reason="queue_full") or 0) >= 2

    run(scenario)


def test_a_queue_that_stays_full_ends_the_wait_after_queue_wait_s(plugin_settings: Settings) -> None:
    """The client resends only after each Retry-After (no busy loop) and gives up, naming the wait."""

    async def scenario() -> None:
        async with serve(plugin_settings, WorkerConfig(queue_size=1)) as served:
            slow = {"type": "generate", "model": "faulty-slow", "prompt": "p", "width": 64, "height": 64}
            running = (await served.raw.post("/jobs", json={**slow, "steps": 150})).json()["job_id"]
            await until_running(served.raw, running)
            assert (await served.raw.post("/jobs", json={**slow, "steps": 150})).status_code == 202
            refused = await served.raw.post("/jobs", json=slow)
            retry_after = int(refused.headers["retry-after"])
            bridge = LoopTransport(httpx.ASGITransport(app=served.app), asyncio.get_running_loop())
            with WorkerClient(BASE, transport=bridge, queue_wait_s=2.5) as impatient:
                started = asyncio.get_running_loop().time()
                with pytest.raises(WorkerUnavailableError, match=r"kept its queue full for [23] s"):
                    await InThread(impatient).generate("simple beach", model="studio", width=64, height=64)
                waited = asyncio.get_running_loop().time() - started
            rejected = served.app.state.runtime.metrics.counter(
                "jobs_rejected_total", (("reason", "queue_full"),)
            )
            tries = rejected - 1  # the raw refusal above was the first
            assert 2.5 <= waited < 2.5 + retry_after + 2
            assert 2 <= tries <= 2 + int(2.5 / retry_after), f"{tries} tries in {waited:.1f} s"
            await served.client.cancel(running)

    run(scenario)


def test_shutdown_fails_queued_jobs_at_once_and_running_ones_after_the_grace(
    plugin_settings: Settings,
) -> None:
    runtime_holder: list[Any] = []
    ids: list[str] = []

    async def scenario() -> None:
        async with serve(plugin_settings, WorkerConfig(grace_s=0.3)) as served:
            runtime_holder.append(served.app.state.runtime)
            slow = {"type": "generate", "model": "faulty-slow", "prompt": "p", "width": 64, "height": 64}
            ids.append((await served.raw.post("/jobs", json={**slow, "steps": 150})).json()["job_id"])
            await until_running(served.raw, ids[0])
            ids.append((await served.raw.post("/jobs", json=slow)).json()["job_id"])

    run(scenario)
    table = runtime_holder[0].table
    running, queued = (table.info(job_id) for job_id in ids)
    assert running.status is JobState.FAILED and running.error.error == "worker_unavailable"
    assert "shut down before the job finished" in running.error.message
    assert queued.status is JobState.FAILED and "not started" in queued.error.message
    assert running.progress.step < 150


def test_cutout_jobs_return_an_rgba_cutout_and_its_bbox(plugin_settings: Settings) -> None:
    product = make_product((120, 160), "bottle")
    photo, truth = on_background(product, (255, 255, 255), canvas=(240, 240))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=95)

    async def scenario() -> None:
        async with serve(plugin_settings) as served:
            uploaded = await served.client.cutout(buffer.getvalue())
            as_base64 = await served.raw.post(
                "/jobs", json={"type": "cutout", "image_b64": base64.b64encode(buffer.getvalue()).decode()}
            )
            assert as_base64.status_code == 202
            info = await served.client.wait(as_base64.json()["job_id"])
            assert info.bbox == uploaded.bbox
            assert info.confidence is not None and info.confidence >= 0.5 and info.notes == []
            assert uploaded.confidence == info.confidence and uploaded.notes == ()
            image = Image.open(io.BytesIO(uploaded.png))
            assert image.mode == "RGBA" and image.size == (240, 240) and uploaded.backend == "u2netp"
            assert mask_iou(np.asarray(image.getchannel("A")), truth) > 0.9
            rows, cols = np.nonzero(truth > 128)
            expected = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            assert all(abs(got - want) <= 4 for got, want in zip(uploaded.bbox, expected, strict=True))
            answer = await served.raw.get(f"/jobs/{uploaded.job_id}/result")
            assert answer.headers["x-productshot-bbox"] == ",".join(map(str, uploaded.bbox))
            loaded = {model.name: model.kind for model in (await served.client.models()).loaded}
            assert loaded == {"u2netp": "cutout"}

    run(scenario)


def test_a_token_guards_every_route(plugin_settings: Settings) -> None:
    config = WorkerConfig(host="0.0.0.0", token="tok-123")

    async def scenario() -> None:
        async with serve(plugin_settings, config) as served:
            transport = httpx.ASGITransport(app=served.app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous:
                for path in ("/health", "/openapi.json", "/metrics"):
                    answer = await anonymous.get(path)
                    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
                wrong = await anonymous.get("/health", headers={"Authorization": "Bearer nope"})
                assert wrong.status_code == 401 and "wrong bearer token" in wrong.json()["message"]
            assert (await served.client.health()).status == "ok"
            bridge = LoopTransport(transport, asyncio.get_running_loop())
            with (
                WorkerClient(BASE, token="nope", transport=bridge) as stranger,
                pytest.raises(WorkerUnavailableError, match="PRODUCTSHOT_WORKER_TOKEN"),
            ):
                await InThread(stranger).health()

    run(scenario)


def test_openapi_models_and_metrics_describe_the_worker(plugin_settings: Settings) -> None:
    async def scenario() -> None:
        async with serve(plugin_settings) as served:
            schema = (await served.raw.get("/openapi.json")).json()
            for path in (
                "/health",
                "/models",
                "/jobs",
                "/jobs/{job_id}",
                "/jobs/{job_id}/events",
                "/metrics",
            ):
                assert path in schema["paths"], path
            width = schema["components"]["schemas"]["GenerateJobRequest"]["properties"]["width"]
            bounds = next(option for option in width["anyOf"] if option.get("type") == "integer")
            assert (bounds["minimum"], bounds["maximum"]) == (64, 4096)
            assert "429" in schema["paths"]["/jobs"]["post"]["responses"]

            await served.client.generate("wooden table", model="studio", width=64, height=64)
            models = await served.client.models()
            known = {row["name"]: row for row in models.known}
            assert known["studio"]["available"] is True and known["studio"]["licence"]
            assert "faulty-slow" in known and "sdxl-turbo" in known
            assert [m.name for m in models.loaded] == ["studio"] and models.memory_budget_bytes > 0
            assert any(row.name == "u2netp" and row.available for row in models.cutout)

            metrics = await served.raw.get("/metrics")
            assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
            text = metrics.text
            assert value(text, "productshot_worker_jobs_finished_total", type="generate", status="done") == 1
            assert value(text, "productshot_worker_job_run_seconds_count", type="generate") == 1
            assert (
                value(text, "productshot_worker_model_load_seconds_count", kind="generator", model="studio")
                == 1
            )
            assert value(text, "productshot_worker_queue_depth") == 0
            assert value(text, "productshot_worker_loaded_models") == 1
            assert (value(text, "productshot_worker_device_memory_bytes", device="cpu", kind="rss") or 0) > 0

    run(scenario)


def test_studio_reads_scene_words_when_given(settings) -> None:
    """The embedded generator renders the scene words the caller sends, not the long diffusion prompt."""
    from productshot.models.generators import GenerateSpec, load_backend
    from productshot.models.registry import get_preset
    from productshot.tools.studio import render_backdrop

    backend = load_backend(get_preset("studio", settings), settings)
    spec = GenerateSpec(
        prompt="a calm open sea, one single continuous scene",
        negative_prompt="",
        width=320,
        height=240,
        seed=3,
        scene="white marble",
    )
    [image] = backend.generate([spec])
    expected = render_backdrop("white marble", 320, 240, seed=3).image
    assert image.tobytes() == expected.convert("RGB").tobytes()
