"""The agent's rules path end to end: a real stdio MCP server, a real worker, the real thread store.

One warm agent runtime for the module (as `productshot chat` keeps one), one worker process. Requests in
English and Korean put the product where they say (a tiny diffusers pipeline through the worker, and the
studio backdrops); a three-turn conversation moves and then grows the product, reusing one cutout and one
background; bad input fails with named errors before any tool runs; a server killed mid-run gives a clear
error and the conversation goes on with a new server; turns of two threads run at once on one runtime.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from PIL import Image

from productshot.agent.errors import ToolServerError
from productshot.agent.replies import replies
from productshot.agent.runtime import AgentRuntime, TurnResult
from productshot.agent.toolbox import ProgressEvent
from productshot.errors import BadImageError, BadRequestError
from productshot.settings import Settings
from productshot.store import AssetStore
from tests.support.agent_harness import (
    PRODUCT_RGB,
    AgentHarness,
    centre,
    kill_on_first_progress,
    mcp_children,
    placement_problems,
    small_context,
    write_cutout,
    write_photo,
)
from tests.support.tiny_pipelines import tiny_model_dir
from tests.support.worker_proc import WorkerProcess, running_worker, worker_settings

pytestmark = pytest.mark.slow


@dataclass
class Studio:
    agent: AgentHarness
    worker: WorkerProcess
    settings: Settings
    photo: Path
    cutout: Path

    def count(self, kind: str) -> int:
        with AssetStore(self.settings.home) as store:
            return len(store.list(kind=kind, limit=1000))


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    home = tmp_path_factory.mktemp("agent-rules-home")
    settings = worker_settings(home)
    photo = write_photo(home / "bag-photo.png")
    cutout = write_cutout(home / "bag-cutout.png")
    with (
        running_worker(settings) as worker,
        AgentHarness.open(AgentRuntime(settings, context=small_context())) as agent,
    ):
        yield Studio(agent, worker, settings, photo, cutout)


def _product_colour_at_centre(path: Path, bbox: tuple[int, int, int, int]) -> tuple[float, float, float]:
    x, y = (int(v) for v in centre(bbox))
    with Image.open(path) as image:
        patch = np.asarray(image.convert("RGB"))[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3)
    r, g, b = patch.mean(axis=0)
    return float(r), float(g), float(b)


def test_english_request_on_a_tiny_diffusers_pipeline_through_the_worker(studio: Studio) -> None:
    # The tiny pipeline is the model; a transparent product skips the cutout (the Korean case cuts one out).
    model = str(tiny_model_dir("sd"))
    result = studio.agent.run(
        "put this bag on a simple beach scene, bottom-left",
        thread="en-tiny",
        image=str(studio.cutout),
        context=small_context(model=model, width=128, height=96),
    )
    assert result.bbox is not None and result.path is not None and result.path.is_file()
    assert placement_problems(result.bbox, "bottom-left", (128, 96)) == []
    backends = {step["name"]: step["backend"] for step in result.steps}
    assert backends["plan"] == "rules" and backends["generate"] == "tiny-sd"
    with Image.open(result.path) as shot:
        assert shot.size == (128, 96)
    assert result.language == "en" and "bottom left" in result.reply and str(result.path) in result.reply


def test_korean_request_cuts_the_photo_out_and_places_it_top_right(studio: Studio) -> None:
    result = studio.agent.run(
        "이 가방을 흰 대리석 위 오른쪽 위에 놓아줘", thread="ko-studio", image=str(studio.photo)
    )
    assert result.bbox is not None and result.path is not None
    assert placement_problems(result.bbox, "top-right", (512, 384)) == []
    backends = {step["name"]: step["backend"] for step in result.steps}
    assert backends["cutout"] == "u2netp" and backends["generate"] == "studio"
    # The product's own colour stands at the centre of its box: the cutout, not the photo's backdrop.
    r, g, b = _product_colour_at_centre(result.path, result.bbox)
    assert r > g + 40 and r > b + 40, (r, g, b, PRODUCT_RGB)
    assert result.language == "ko" and "오른쪽 위" in result.reply and "저장 위치" in result.reply
    assert result.outcome is not None and "marble" in str(result.outcome["scene"])


def test_three_turns_move_right_then_grow_reusing_one_cutout_and_one_background(studio: Studio) -> None:
    before = {kind: studio.count(kind) for kind in ("cutout", "background", "result")}
    first = studio.agent.run(
        "put this bag on a simple beach scene, bottom-left", thread="three", image=str(studio.photo)
    )
    moved = studio.agent.run("move it a little to the right", thread="three")
    bigger = studio.agent.run("bigger", thread="three")
    assert first.bbox and moved.bbox and bigger.bbox
    (fx, fy), (mx, my) = centre(first.bbox), centre(moved.bbox)
    assert mx > fx and abs(my - fy) <= 1
    assert moved.bbox[2] - moved.bbox[0] == first.bbox[2] - first.bbox[0]  # a move keeps the size
    assert bigger.bbox[2] - bigger.bbox[0] > moved.bbox[2] - moved.bbox[0]
    assert bigger.bbox[3] - bigger.bbox[1] > moved.bbox[3] - moved.bbox[1]
    outcomes = [r.outcome for r in (first, moved, bigger)]
    assert all(o is not None for o in outcomes)
    assert len({o["cutout_id"] for o in outcomes if o}) == 1
    assert len({o["background_id"] for o in outcomes if o}) == 1
    assert [o["reused"] for o in outcomes if o] == [[], ["cutout", "background"], ["cutout", "background"]]
    after = {kind: studio.count(kind) for kind in ("cutout", "background", "result")}
    assert {k: after[k] - before[k] for k in after} == {"cutout": 1, "background": 1, "result": 3}
    view = studio.agent.thread("three")
    assert view.results == (first.asset_id, moved.asset_id, bigger.asset_id)
    assert view.last_result == bigger.asset_id


def test_korean_follow_up_and_undo_in_the_same_thread(studio: Studio) -> None:
    first = studio.agent.run(
        "이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘", thread="ko-follow", image=str(studio.cutout)
    )
    larger = studio.agent.run("조금 더 크게", thread="ko-follow")
    back = studio.agent.run("되돌려줘", thread="ko-follow")
    assert first.outcome and larger.outcome and back.outcome
    assert float(larger.outcome["scale"]) > float(first.outcome["scale"])
    assert back.asset_id == first.asset_id and "되돌렸어요" in back.reply
    assert studio.agent.thread("ko-follow").results == (first.asset_id,)


def test_new_background_follow_ups_keep_the_cutout_and_the_place(studio: Studio) -> None:
    first = studio.agent.run("on white marble, bottom-right", thread="new-bg", image=str(studio.cutout))
    another = studio.agent.run("try another background", thread="new-bg")
    sunset = studio.agent.run("same, but at sunset", thread="new-bg")
    outcomes = [r.outcome for r in (first, another, sunset)]
    assert all(o is not None for o in outcomes)
    first_o, another_o, sunset_o = (o for o in outcomes if o)
    assert len({o["background_id"] for o in (first_o, another_o, sunset_o)}) == 3
    assert another_o["reused"] == sunset_o["reused"] == ["cutout"]
    assert first_o["position"] == another_o["position"] == sunset_o["position"] == "bottom-right"
    # "another background" is a different family, said in the reply; "same, but at sunset" keeps it.
    assert first_o["scene"] == "marble" and another_o["scene"] not in ("marble", "studio")
    assert first.to_dict()["scene"] == "marble" and first.to_dict()["scene_requested"] == "white marble"
    changed = [n for n in another_o["notes"] if n["code"] == "scene_changed"]
    assert changed and changed[0]["text"] in another.reply
    assert sunset_o["scene"] == another_o["scene"] and "sunset" in sunset_o["plan"]["style"]
    assert "sunset" in sunset.reply


def test_another_one_rerolls_the_same_family_and_different_background_changes_it_in_korean(
    studio: Studio,
) -> None:
    first = studio.agent.run("해변 배경 오른쪽 아래에 놓아줘", thread="ko-bg", image=str(studio.cutout))
    again = studio.agent.run("하나 더", thread="ko-bg")
    other = studio.agent.run("다른 배경", thread="ko-bg")
    assert first.outcome and again.outcome and other.outcome
    assert first.outcome["scene"] == again.outcome["scene"] == "beach"
    assert again.outcome["seed"] != first.outcome["seed"]
    assert again.outcome["background_id"] != first.outcome["background_id"]
    assert other.outcome["scene"] != "beach"
    assert "해변 대신" in other.reply and re.search(r"[\uac00-\ud7a3]", other.reply)


def test_no_image_is_a_named_error_before_any_tool_runs(studio: Studio) -> None:
    results = studio.count("result")
    with pytest.raises(BadImageError, match="no product photo attached"):
        studio.agent.run("put this bag on a simple beach scene", thread="no-image")
    assert studio.count("result") == results


def test_unreadable_image_is_a_named_error_and_the_file_is_left_alone(studio: Studio, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    original = broken.read_bytes()
    with pytest.raises(BadImageError, match=r"broken\.png"):
        studio.agent.run("on white marble", thread="broken", image=str(broken))
    with pytest.raises(BadImageError, match="does not exist"):
        studio.agent.run("on white marble", thread="broken", image=str(tmp_path / "missing.jpg"))
    assert broken.read_bytes() == original


@pytest.mark.parametrize("request_text", ["", "   ", "\u200b\t"])
def test_empty_request_is_a_named_error(studio: Studio, request_text: str) -> None:
    with pytest.raises(BadRequestError, match="request: empty"):
        studio.agent.run(request_text, thread="empty", image=str(studio.cutout))


def test_request_without_a_scene_gets_the_default_backdrop_and_says_so(studio: Studio) -> None:
    result = studio.agent.run("put it at the bottom right", thread="no-scene", image=str(studio.cutout))
    assert result.outcome is not None and result.bbox is not None
    assert result.outcome["scene"] == "studio"
    assert "No scene was named" in result.reply and "studio" in result.reply
    assert placement_problems(result.bbox, "bottom-right", (512, 384)) == []


def test_undo_of_the_first_shot_keeps_it_and_says_there_is_nothing_earlier(studio: Studio) -> None:
    first = studio.agent.run("on white marble, center", thread="undo-first", image=str(studio.cutout))
    kept = studio.agent.run("undo", thread="undo-first")
    assert kept.asset_id == first.asset_id and "nothing earlier" in kept.reply


def test_a_server_killed_mid_run_is_a_clear_error_and_the_thread_goes_on(studio: Studio) -> None:
    first = studio.agent.run("on white marble, bottom-left", thread="crash", image=str(studio.cutout))
    connections = studio.agent.runtime.connections
    killed: list[int] = []
    with pytest.raises(ToolServerError, match="stopped answering during place_product") as caught:
        studio.agent.run(
            "move it a little to the right", thread="crash", on_progress=kill_on_first_progress(killed)
        )
    assert killed, "the MCP server was not found to kill"
    assert "send the request again" in str(caught.value)
    assert studio.agent.thread("crash").last_result == first.asset_id  # nothing half-done was kept
    moved = studio.agent.run("move it a little to the right", thread="crash")
    assert studio.agent.runtime.connections == connections + 1
    assert killed[0] not in mcp_children()
    assert moved.outcome is not None and moved.outcome["reused"] == ["cutout", "background"]
    assert first.bbox and moved.bbox and centre(moved.bbox)[0] > centre(first.bbox)[0]


def test_two_threads_run_at_once_and_each_hears_only_its_own_progress(studio: Studio) -> None:
    # One runtime (one MCP session) serves both turns, as the Slack bot's pool shares it. The photo's turn
    # cuts the product out and denoises on the tiny pipeline; the cut-out product's turn does neither.
    heard: dict[str, list[ProgressEvent]] = {"photo": [], "cutout": []}
    order: list[tuple[str, str]] = []

    def listener(name: str) -> Callable[[ProgressEvent], None]:
        def hear(event: ProgressEvent) -> None:
            heard[name].append(event)
            order.append((name, event.kind))

        return hear

    async def both() -> tuple[TurnResult, TurnResult]:
        runtime = studio.agent.runtime
        results: dict[str, TurnResult] = {}

        async def turn(name: str, **options: Any) -> None:
            results[name] = await runtime.run(
                thread=f"together-{name}", on_progress=listener(name), **options
            )

        async with anyio.create_task_group() as group:
            tiny = small_context(model=str(tiny_model_dir("sd")), width=128, height=96)
            group.start_soon(
                functools.partial(
                    turn,
                    "photo",
                    request="on a simple beach, bottom-left",
                    image=str(studio.photo),
                    context=tiny,
                )
            )
            group.start_soon(
                functools.partial(
                    turn, "cutout", request="on white marble, top-right", image=str(studio.cutout)
                )
            )
        return results["photo"], results["cutout"]

    photo, cutout = studio.agent.portal.call(both)
    assert photo.bbox is not None and placement_problems(photo.bbox, "bottom-left", (128, 96)) == []
    assert cutout.bbox is not None and placement_problems(cutout.bbox, "top-right", (512, 384)) == []
    starts = [order.index((name, "start")) for name in ("photo", "cutout")]
    ends = [order.index((name, "end")) for name in ("photo", "cutout")]
    assert max(starts) < min(ends), f"the second turn waited for the first: {order}"
    photo_said = [event.message for event in heard["photo"] if event.kind == "progress"]
    cutout_said = [event.message for event in heard["cutout"] if event.kind == "progress"]
    assert any(m.startswith("cutout:") for m in photo_said), photo_said
    assert not any(m.startswith("cutout:") for m in cutout_said), cutout_said
    # Each heard the denoising of its own generator: the tiny pipeline's several steps, the studio's one.
    photo_totals, cutout_totals = _step_totals(photo_said), _step_totals(cutout_said)
    assert cutout_totals == {1} and photo_totals and 1 not in photo_totals, (photo_said, cutout_said)


def _step_totals(messages: list[str]) -> set[int]:
    """The n of every `generate: step i/n` progress message."""
    return {int(m.rsplit("/", 1)[1]) for m in messages if m.startswith("generate: step ")}


def test_two_turns_of_one_thread_sent_at_once_run_in_order(studio: Studio) -> None:
    # The follow-up is sent while the first shot is still being made: it waits, then moves that shot.
    async def both() -> list[TurnResult]:
        runtime = studio.agent.runtime
        done: list[TurnResult] = []
        first_started = anyio.Event()

        def started(event: ProgressEvent) -> None:
            if event.kind == "start":
                first_started.set()

        async def first() -> None:
            done.append(
                await runtime.run(
                    "on white marble, bottom-left",
                    thread="in-order",
                    image=str(studio.cutout),
                    on_progress=started,
                )
            )

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await first_started.wait()
            done.append(await runtime.run("move it a little to the right", thread="in-order"))
        return done

    shot, moved = studio.agent.portal.call(both)
    assert shot.bbox and moved.bbox and centre(moved.bbox)[0] > centre(shot.bbox)[0]
    assert moved.outcome is not None and moved.outcome["reused"] == ["cutout", "background"]
    assert studio.agent.thread("in-order").results[-2:] == (shot.asset_id, moved.asset_id)


@pytest.mark.parametrize(("question", "language"), [("what can you do?", "en"), ("뭐 할 수 있어?", "ko")])
def test_a_question_gets_the_help_answer_without_a_photo(
    studio: Studio, question: str, language: str
) -> None:
    answer = studio.agent.run(question, thread=f"help-{language}")
    assert answer.outcome is None and answer.asset_id is None
    assert answer.reply == replies(language).text("help")
    assert "error" not in answer.reply.lower() and answer.reply.count("\n- ") >= 3
