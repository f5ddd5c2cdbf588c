"""MCP tools on a real resident worker: progress step by step, cancellation that reaches the worker job,
and a worker killed mid-call (a clear tool error; the server keeps serving)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import CancelledNotification, CancelledNotificationParams, ClientNotification

from tests.support.mcp_client import ProgressLog, error_text, image_of, memory_session, ok
from tests.support.tiny_pipelines import tiny_model_dir
from tests.support.waiting import wait_until
from tests.support.worker_proc import WorkerProcess, running_worker, worker_settings

pytestmark = pytest.mark.slow

SLOW = {"width": 512, "height": 512, "steps": 150}  # long enough to act on mid-run


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker for this module (starting one and loading diffusers costs seconds); the last test kills it."""
    home = tmp_path_factory.mktemp("worker-home")
    with running_worker(worker_settings(home)) as running:
        yield running


def _finished_jobs(worker: WorkerProcess, status: str, kind: str = "") -> int:
    """How many jobs of `kind` (any when empty) reached `status`, from the worker's /metrics."""
    text = httpx.get(f"{worker.url}/metrics", timeout=5).text
    total = 0
    for labels, value in re.findall(r"jobs_finished_total\{([^}]*)\} (\S+)", text):
        if f'status="{status}"' in labels and (not kind or f'type="{kind}"' in labels):
            total += int(float(value))
    return total


def _store_jobs(worker: WorkerProcess, status: str) -> list[dict[str, Any]]:
    """The store's job rows in `status` (recorded by the MCP side, in the shared data home)."""
    from productshot.store import AssetStore

    with AssetStore.open(worker.settings) as store:
        return store.list_jobs(status=status, limit=200)


async def _call_and_act(
    client: ClientSession, arguments: dict[str, Any], act: Any
) -> tuple[ProgressLog, Any]:
    """Call generate_background; when its first denoising progress arrives, run `act(request_id)`."""
    await client.list_tools()  # caches output schemas, so the call below is the next request id
    started = anyio.Event()
    log = ProgressLog()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        await log(progress, total, message)
        if message and message.startswith("generate: step"):
            started.set()

    outcome: list[Any] = []

    async def call() -> None:
        try:
            outcome.append(
                await client.call_tool("generate_background", arguments, progress_callback=on_progress)
            )
        except McpError as exc:
            outcome.append(exc)

    request_id = 2  # initialize = 0, tools/list = 1
    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        with anyio.fail_after(120):
            await started.wait()
        await act(request_id)
    return log, outcome[0]


def test_generation_on_the_worker_reports_each_step(worker: WorkerProcess) -> None:
    model = str(tiny_model_dir("sd"))

    async def scenario() -> None:
        async with memory_session(worker.settings) as client:
            progress = ProgressLog()
            result = await client.call_tool(
                "generate_background",
                {"prompt": "a calm beach", "model": model, "width": 128, "height": 96, "steps": 6, "seed": 1},
                progress_callback=progress,
            )
            made = ok(result)
            assert made["backend"] == "tiny-sd" and made["seed"] == 1
            assert image_of(result).size == (128, 96)
            steps = [
                (value, total) for value, total, m in progress.events if m and m.startswith("generate: step")
            ]
            assert [total for _, total in steps] == [6] * len(steps) and len(steps) >= 3
            assert [value for value, _ in steps] == sorted({value for value, _ in steps})

            shot = ok(
                await client.call_tool(
                    "place_product",
                    {
                        "image": "sample:coffee",
                        "request": "simple beach, bottom-left",
                        "model": "studio",
                        "width": 640,
                        "height": 480,
                    },
                )
            )
            backends = {step["name"]: step["backend"] for step in shot["steps"]}
            assert backends["cutout"] == "u2netp" and backends["generate"] == "studio"

    anyio.run(scenario)
    assert _finished_jobs(worker, "done", "cutout") == 1 and _finished_jobs(worker, "done", "generate") >= 2


def test_cancelling_the_request_cancels_the_worker_job(worker: WorkerProcess) -> None:
    model = str(tiny_model_dir("sd"))
    before = _finished_jobs(worker, "cancelled")

    async def scenario() -> None:
        async with memory_session(worker.settings) as client:

            async def cancel(request_id: int) -> None:
                params = CancelledNotificationParams(requestId=request_id, reason="seller changed their mind")
                await client.send_notification(ClientNotification(CancelledNotification(params=params)))

            _, outcome = await _call_and_act(client, {"prompt": "a beach", "model": model, **SLOW}, cancel)
            assert isinstance(outcome, McpError) and "cancel" in str(outcome).lower()
            # The server serves on.
            assert ok(await client.call_tool("check_split", {"image": "sample:coffee"}))["backend"]

    anyio.run(scenario)
    wait_until(lambda: _finished_jobs(worker, "cancelled") > before, what="the job cancelled", every=0.2)
    # The store's record of the call's model job says so too.
    wait_until(
        lambda: bool(_store_jobs(worker, "cancelled")), what="the job recorded as cancelled", every=0.2
    )
    assert _finished_jobs(worker, "cancelled") == before + 1
    health = httpx.get(f"{worker.url}/health", timeout=5).json()
    assert health["running"] == 0 and health["queue_depth"] == 0


def test_worker_killed_mid_call_is_a_clear_tool_error(worker: WorkerProcess) -> None:
    model = str(tiny_model_dir("sd"))

    async def scenario() -> None:
        async with memory_session(worker.settings) as client:

            async def kill(_: int) -> None:
                worker.kill()

            _, outcome = await _call_and_act(client, {"prompt": "a beach", "model": model, **SLOW}, kill)
            message = error_text(outcome)
            assert "worker at" in message and "stopped answering" in message
            # Still serving: pixel work in-process, and model work says how to get a worker back.
            assert ok(await client.call_tool("check_split", {"image": "sample:coffee"}))["split"] in (
                True,
                False,
            )
            again = error_text(
                await client.call_tool("generate_background", {"prompt": "a beach", "model": model})
            )
            assert "productshot worker" in again

    anyio.run(scenario)
    # The job the worker died on is recorded as failed, with why.
    died = [job for job in _store_jobs(worker, "failed") if "stopped answering" in (job["error"] or "")]
    assert len(died) == 1 and died[0]["kind"] == "generate" and died[0]["finished"] is not None
