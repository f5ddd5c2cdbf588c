"""The MCP server's pixel processes: a composite made there is the one the server's own thread makes, byte
for byte; named errors come back as themselves; a process that dies costs no call; and over real HTTP the
composite tool is served by them once they are up."""

from __future__ import annotations

import hashlib
import io
import os
import signal
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

import anyio
import numpy as np
import psutil
import pytest
from PIL import Image, ImageDraw

from productshot.errors import BadRequestError
from productshot.server.mcp.outputs import PREVIEW_BUDGET_BYTES
from productshot.server.mcp.pixel_pool import PixelPool
from productshot.server.mcp.pixel_work import CompositeJob, Decoded, StoredFile, run_composite
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.studio import render_backdrop
from tests.support.mcp_client import ok
from tests.support.mcp_proc import (
    cpu_seconds,
    http_server,
    http_session,
    pixel_processes,
    server_env,
    wait_for_pixel_processes,
)
from tests.support.worker_proc import worker_settings

MAX_PIXELS = 40_000_000


def _bottle() -> Image.Image:
    """A glossy green bottle cutout (RGBA, soft edge) with a label: a product with colour and a shape."""
    image = Image.new("RGBA", (160, 420), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((20, 140, 140, 410), radius=30, fill=(30, 110, 60, 255))
    draw.rectangle((60, 20, 100, 150), fill=(30, 110, 60, 255))
    draw.rectangle((22, 220, 138, 320), fill=(236, 228, 205, 255))
    draw.ellipse((40, 170, 60, 260), fill=(120, 200, 150, 255))  # a highlight
    return image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A beach backdrop and a bottle cutout, as PNG files."""
    folder = tmp_path_factory.mktemp("pixels")
    background = folder / "beach.png"
    render_backdrop("sandy beach", 768, 512, seed=4).image.convert("RGB").save(background)
    product = folder / "bottle.png"
    _bottle().save(product)
    return background, product


def _stored(path: Path) -> StoredFile:
    return StoredFile(path, hashlib.sha256(path.read_bytes()).hexdigest(), MAX_PIXELS)


def _job(inputs: tuple[Path, Path], **changes: object) -> CompositeJob:
    background, product = inputs
    job = CompositeJob(
        background=_stored(background),
        product=_stored(product),
        position="bottom-left",
        scale=None,
        margin=None,
        shadow=True,
        light=None,
        harmonize=True,
        floating=False,
        preview_bytes=PREVIEW_BUDGET_BYTES,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def _decoded(job: CompositeJob, inputs: tuple[Path, Path]) -> CompositeJob:
    background, product = inputs
    return replace(
        job,
        background=Decoded(Image.open(background).convert("RGB")),
        product=Decoded(Image.open(product).convert("RGBA")),
    )


@pytest.fixture(scope="module")
def pool() -> Iterator[PixelPool]:
    started = PixelPool(1)
    try:
        assert started.wait_ready(120), "the pixel process did not start"
        yield started
    finally:
        started.close()


def test_a_pixel_process_makes_the_composite_the_server_thread_makes(
    pool: PixelPool, inputs: tuple[Path, Path]
) -> None:
    job = _job(inputs)
    assert job.portable and not _decoded(job, inputs).portable
    far = anyio.run(pool.composite, job)
    here = run_composite(_decoded(job, inputs))
    assert far.png == here.png  # the very same stored file
    assert far.preview == here.preview
    assert (far.bbox, far.position, far.scale, far.shadow, far.grounded) == (
        here.bbox,
        here.position,
        here.scale,
        here.shadow,
        here.grounded,
    )
    assert far.notes == here.notes and far.light == here.light
    stored = np.asarray(Image.open(io.BytesIO(far.png)))
    assert stored.shape == (512, 768, 3)
    left, _, _, bottom = far.bbox
    assert left < 768 // 2 and bottom > 512 // 2  # bottom-left


def test_a_named_error_comes_back_from_a_pixel_process_as_itself(
    pool: PixelPool, inputs: tuple[Path, Path]
) -> None:
    off_canvas = _job(inputs, position="x=5000px,y=100px")
    with pytest.raises(BadRequestError) as here:
        run_composite(_decoded(off_canvas, inputs))
    with pytest.raises(BadRequestError) as far:
        anyio.run(pool.composite, off_canvas)
    assert str(far.value) == str(here.value) and "5000" in str(far.value)
    assert not pool.broken
    assert anyio.run(pool.composite, _job(inputs)).png  # and the process goes on serving


def test_a_pixel_process_that_dies_breaks_its_pool_and_says_so(inputs: tuple[Path, Path]) -> None:
    doomed = PixelPool(1)
    try:
        assert doomed.wait_ready(120)
        children = [
            c for c in psutil.Process(os.getpid()).children() if "spawn_main" in " ".join(c.cmdline())
        ]
        assert children
        for child in children:
            child.kill()
        with pytest.raises(BrokenProcessPool):
            for _ in range(3):  # the pool may learn of the death only at the next job
                anyio.run(doomed.composite, _job(inputs))
        assert doomed.broken and not doomed.ready
    finally:
        doomed.close()


def _store_inputs(settings: Settings, inputs: tuple[Path, Path]) -> tuple[str, str]:
    background, product = inputs
    with AssetStore.open(settings) as store:
        back = store.put_file(background, kind="background", backend="studio")
        item = store.put_file(product, kind="cutout", backend="test")
    return back.id, item.id


def _composite_sha(result: dict[str, object], settings: Settings) -> str:
    with AssetStore.open(settings) as store:
        return store.get(str(result["asset_id"])).sha256


def test_over_http_composites_are_made_in_the_pixel_processes_and_a_dead_one_costs_no_call(
    tmp_path: Path, inputs: tuple[Path, Path]
) -> None:
    threads = worker_settings(tmp_path / "threads")  # the test default: no pixel processes
    processes = worker_settings(tmp_path / "processes").with_overrides(pixel_processes=2)
    for settings in (threads, processes):
        settings.ensure_home()
    shas: dict[str, set[str]] = {"threads": set(), "processes": set()}

    with http_server(server_env(threads.child_env()), tmp_path / "threads.log") as server:
        back, item = _store_inputs(threads, inputs)
        args = {"background": back, "product": item, "position": "bottom-left"}

        async def on_threads() -> None:
            async with http_session(server.url) as client:
                shas["threads"].add(_composite_sha(ok(await client.call_tool("composite", args)), threads))

        anyio.run(on_threads)
        assert pixel_processes(server.process.pid) == []  # none asked for, none started

    with http_server(server_env(processes.child_env()), tmp_path / "processes.log") as server:
        back, item = _store_inputs(processes, inputs)
        args = {"background": back, "product": item, "position": "bottom-left"}

        async def on_processes() -> None:
            async with http_session(server.url) as client:
                # The first call starts the processes (and is served by a thread meanwhile).
                shas["processes"].add(
                    _composite_sha(ok(await client.call_tool("composite", args)), processes)
                )
                pixels = await anyio.to_thread.run_sync(wait_for_pixel_processes, server.process.pid, 2)
                used = sum(cpu_seconds(child) for child in pixels)
                for _ in range(4):
                    shas["processes"].add(
                        _composite_sha(ok(await client.call_tool("composite", args)), processes)
                    )
                assert sum(cpu_seconds(child) for child in pixels) - used > 0.05  # they did the work
                for child in pixels:
                    child.kill()
                # A dead pixel process: the call still answers (made here), the next pool takes over.
                shas["processes"].add(
                    _composite_sha(ok(await client.call_tool("composite", args)), processes)
                )
                fresh = await anyio.to_thread.run_sync(wait_for_pixel_processes, server.process.pid, 2)
                assert {p.pid for p in fresh}.isdisjoint({p.pid for p in pixels})
                shas["processes"].add(
                    _composite_sha(ok(await client.call_tool("composite", args)), processes)
                )

        anyio.run(on_processes)
        # The server killed outright: its pixel processes notice and end too (no orphans left computing).
        survivors = pixel_processes(server.process.pid)
        assert len(survivors) == 2
        os.kill(server.process.pid, signal.SIGKILL)
        _gone, alive = psutil.wait_procs(survivors, timeout=10)
        assert alive == []

    # Every composite, wherever it was made, is the same file.
    assert shas["threads"] == shas["processes"] and len(shas["threads"]) == 1
