"""Quick calls have their own lane: with every model slot of the MCP server busy, a composite still
answers at once instead of queueing behind model work, in process and over real HTTP with a real worker
(the load figures are in bench/fair.py)."""

from __future__ import annotations

import contextvars
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp.shared.memory import create_connected_server_and_client_session
from PIL import Image, ImageDraw
from skimage import data

from productshot.server.mcp.app import create_server
from productshot.server.mcp.runtime import Studio, default_lane_size
from productshot.settings import Settings
from productshot.store import AssetStore
from tests.support.mcp_client import ok
from tests.support.mcp_proc import http_server, http_session, server_env
from tests.support.worker_proc import WorkerProcess, running_worker, worker_settings


def test_composite_answers_while_every_model_slot_is_busy(tmp_path: Path, settings: Settings) -> None:
    background = tmp_path / "back.png"
    Image.new("RGB", (320, 240), (200, 210, 220)).save(background)
    product = tmp_path / "cut.png"
    cut = Image.new("RGBA", (100, 120), (0, 0, 0, 0))
    ImageDraw.Draw(cut).ellipse((10, 10, 90, 110), fill=(150, 40, 30, 255))
    cut.save(product)
    studio = Studio(settings, warm_up=False, max_parallel=2)
    server = create_server(settings, studio=studio)
    release = threading.Event()
    busy = 0
    lock = threading.Lock()

    def model_work() -> None:
        nonlocal busy
        with lock:
            busy += 1
        release.wait(timeout=120)  # stands for a long cutout; released by the test below

    async def scenario() -> None:
        async with (
            create_connected_server_and_client_session(server) as client,
            anyio.create_task_group() as group,
        ):
            for _ in range(3):  # one more than the lane holds: a queue forms behind it
                group.start_soon(lambda: studio.run(model_work, lane="model"))
            with anyio.fail_after(60):
                while busy < 2:
                    await anyio.sleep(0.01)
                made = ok(
                    await client.call_tool(
                        "composite", {"background": str(background), "product": str(product)}
                    )
                )
            # The composite came back while the model lane was still full and its queue waiting.
            assert busy == 2 and not release.is_set()
            assert made["width"] == 320
            release.set()

    anyio.run(scenario)
    assert busy == 3


@pytest.mark.slow
def test_over_http_a_composite_answers_while_the_workers_cutouts_hold_every_model_slot(
    tmp_path: Path,
) -> None:
    """The real thing: `productshot mcp --transport http` and a real worker. The worker is paused
    (SIGSTOP) with a cutout job in every model slot of the server and one more call queued behind them;
    a composite from another client still answers, and nothing of the model work has finished."""
    settings = worker_settings(tmp_path / "home")
    settings.ensure_home()
    lane = default_lane_size()
    coffee = data.coffee()
    photos = []
    for i in range(lane + 2):  # distinct bytes per call, so no call can reuse another's cutout
        path = settings.home / f"cup-{i}.png"
        Image.fromarray(coffee[i : 300 + i, 100 + i : 500 + i]).save(path)
        photos.append(str(path))
    background, product = _stored_pair(settings)

    def place(photo: str) -> dict[str, Any]:
        return {"image": photo, "request": "on a plain studio backdrop", "model": "studio", "width": 320}

    def running_jobs() -> int:
        with AssetStore.open(settings) as store:
            return len(store.list_jobs(status="running", limit=200))

    async def scenario(url: str, worker: WorkerProcess) -> None:
        async with http_session(url) as first:  # warm: the worker loads u2netp, the server finds it
            ok(await first.call_tool("place_product", place(photos[0])))
        placed: list[dict[str, Any]] = []

        async def place_one(photo: str) -> None:
            async with http_session(url) as client:
                placed.append(ok(await client.call_tool("place_product", place(photo))))

        os.kill(worker.pid, signal.SIGSTOP)
        try:
            async with anyio.create_task_group() as group:
                for photo in photos[1:]:  # one more call than the model lane holds
                    group.start_soon(place_one, photo)
                with anyio.fail_after(120):
                    while await anyio.to_thread.run_sync(running_jobs) < lane:
                        await anyio.sleep(0.05)
                    async with http_session(url) as quick:
                        made = ok(
                            await quick.call_tool("composite", {"background": background, "product": product})
                        )
                assert made["width"] == 320 and made["parents"] == [background, product]
                # Every model slot still holds a cutout the paused worker cannot have answered.
                assert await anyio.to_thread.run_sync(running_jobs) == lane and placed == []
                os.kill(worker.pid, signal.SIGCONT)
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        assert len(placed) == lane + 1 and all(shot["width"] == 320 for shot in placed)

    with (
        running_worker(settings) as worker,
        http_server(server_env(settings.child_env()), tmp_path / "mcp.log") as server,
    ):
        anyio.run(scenario, server.url, worker)
    assert running_jobs() == 0


def _stored_pair(settings: Settings) -> tuple[str, str]:
    """A stored 320×240 background and an RGBA cutout, as earlier calls would have left them."""
    cut = Image.new("RGBA", (100, 120), (0, 0, 0, 0))
    ImageDraw.Draw(cut).ellipse((10, 10, 90, 110), fill=(150, 40, 30, 255))
    with AssetStore.open(settings) as store:
        back = store.put_image(Image.new("RGB", (320, 240), (200, 210, 220)), kind="background", backend="t")
        item = store.put_image(cut, kind="cutout", backend="t")
    return back.id, item.id


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_model_work_runs_on_low_priority_threads_and_quick_work_does_not(settings: Settings) -> None:
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    studio = Studio(settings.with_overrides(model_nice=max(mine, 9)), warm_up=False, max_parallel=2)
    call = contextvars.ContextVar("call", default="none")

    def where() -> tuple[int, str, str]:
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return nice, threading.current_thread().name, call.get()

    async def scenario() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        async with studio.hold():
            call.set("this call")
            return await studio.run(where, lane="model"), await studio.run(where)

    model, quick = anyio.run(scenario)
    assert model[0] == max(mine, 9) and model[1].startswith("productshot-model")
    assert quick[0] == mine and not quick[1].startswith("productshot-model")
    assert model[2] == quick[2] == "this call"  # the call's context (progress listener) goes with it
