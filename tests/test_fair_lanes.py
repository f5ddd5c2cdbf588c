"""Quick calls have their own lane: with every model slot of the MCP server busy, a composite still
answers at once instead of queueing behind model work (the load figures are in bench/fair.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
from mcp.shared.memory import create_connected_server_and_client_session
from PIL import Image, ImageDraw

from productshot.server.mcp.app import create_server
from productshot.server.mcp.runtime import Studio
from productshot.settings import Settings
from tests.support.mcp_client import ok


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
