"""The agent's LLM path: a scripted tool-calling model (real ChatOpenAI over real HTTP to a stub server)
composes the MCP tools of a real stdio server, and the graph keeps its guarantees whatever the model does.

- the model's tool calls run for real (assets appear in the store);
- a background that is two stacked scenes is caught by the guard before composite and regenerated;
- a tool called with bad arguments answers with its error, and the model's next call fixes it;
- a model that never stops calling tools is cut off at the step limit, and the thread still works after;
- nothing the thread keeps holds image bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from productshot.agent.errors import StepLimitError
from productshot.agent.runtime import AgentRuntime
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.split import check_split
from productshot.tools.studio import render_backdrop
from tests.support.agent_harness import (
    AgentHarness,
    agent_settings,
    placement_problems,
    small_context,
    write_cutout,
    write_photo,
)
from tests.support.agent_llm import ScriptedChat, first_asset_id, last_tool_text, tool_calls_sent
from tests.support.openai_stub import OpenAIStub, Reply

pytestmark = pytest.mark.slow

STEP_LIMIT = 12
W, H = 512, 384


@dataclass
class LLMStudio:
    agent: AgentHarness
    chat: ScriptedChat
    stub: OpenAIStub
    settings: Settings
    photo: Path
    cutout: Path

    def store(self) -> AssetStore:
        return AssetStore(self.settings.home)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMStudio]:
    home = tmp_path_factory.mktemp("agent-llm-home")
    settings = agent_settings(home)  # the MCP server gets no LLM key: only the agent's model is scripted
    with OpenAIStub() as stub:
        chat = ScriptedChat(stub)
        runtime = AgentRuntime(
            settings, chat_model=chat.model(), context=small_context(), step_limit=STEP_LIMIT
        )
        with AgentHarness.open(runtime) as agent:
            yield LLMStudio(
                agent,
                chat,
                stub,
                settings,
                write_photo(home / "photo.png"),
                write_cutout(home / "cutout.png"),
            )


@pytest.fixture
def chat(studio: LLMStudio) -> Iterator[ScriptedChat]:
    studio.chat.clear()
    yield studio.chat
    studio.chat.clear()


def _store_background(studio: LLMStudio, *, stacked: bool) -> str:
    """A background asset made here: one studio scene, or two backdrops stacked top and bottom."""
    if stacked:
        top = render_backdrop("simple beach", W, H // 2, seed=3).image
        bottom = render_backdrop("simple beach", W, H // 2, seed=4).image
        image = top.copy().resize((W, H))
        image.paste(top, (0, 0))
        image.paste(bottom, (0, H // 2))
    else:
        image = render_backdrop("white marble", W, H, seed=5).image
    assert check_split(image).split is stacked
    with studio.store() as store:
        return store.put_image(image, kind="background", params={"made_by": "test"}, backend="test").id


def test_split_background_is_caught_and_regenerated_before_composite(
    studio: LLMStudio, chat: ScriptedChat
) -> None:
    stacked = _store_background(studio, stacked=True)
    with studio.store() as store:
        backgrounds_before = len(store.list(kind="background", limit=1000))
    chat.say(
        Reply.tool_call("remove_background", {"image": str(studio.photo)}, call_id="cut-1"),
        lambda body: Reply.tool_call(
            "composite",
            {
                "background": stacked,
                "product": first_asset_id(last_tool_text(body)),
                "position": "bottom-left",
            },
            call_id="comp-1",
        ),
        Reply.text("Done: the bag stands at the bottom left of a calm beach."),
    )
    result = studio.agent.run(
        "put this bag on a simple beach scene, bottom-left", thread="llm-split", image=str(studio.photo)
    )
    assert chat.pending == 0
    assert result.outcome is not None and result.bbox is not None and result.path is not None
    # The guard checked the stacked background, found the seam, made a new one and composited on it.
    [entry] = result.guard
    assert entry["asked"] == stacked and entry["split"] and entry["regenerated"] >= 1
    assert result.outcome["background_id"] == entry["background"] != stacked
    with studio.store() as store:
        used = store.get(entry["background"])
        assert used.kind == "background" and (used.width, used.height) == (W, H)
        assert len(store.list(kind="background", limit=1000)) == backgrounds_before + entry["regenerated"]
        assert store.list(kind="cutout", limit=10), "remove_background did not run"
        with Image.open(used.path) as picture:
            assert not check_split(picture.convert("RGB")).split
    assert placement_problems(result.bbox, "bottom-left", (W, H)) == []
    # The model saw what happened: its composite call now names the new background, and the tool said why.
    final = studio.stub.chat_requests[-1]
    composite_calls = [c for c in tool_calls_sent(final) if c["function"]["name"] == "composite"]
    assert json.loads(composite_calls[-1]["function"]["arguments"])["background"] == entry["background"]
    assert "two stacked scenes" in last_tool_text(final)
    assert result.reply.startswith("Done: the bag stands") and str(result.path) in result.reply
    assert "stacked scenes" in result.reply  # the note in the user's language


def test_bad_arguments_get_the_tool_error_and_the_next_call_fixes_them(
    studio: LLMStudio, chat: ScriptedChat
) -> None:
    background = _store_background(studio, stacked=False)
    product = str(studio.cutout)

    def fixed(body: dict[str, Any]) -> Reply:
        error = last_tool_text(body)
        assert "scale" in error and "less than or equal to 4" in error, error
        return Reply.tool_call(
            "composite",
            {"background": background, "product": product, "position": "bottom-right", "scale": 0.5},
        )

    chat.say(
        Reply.tool_call(
            "composite",
            {"background": background, "product": product, "position": "bottom-right", "scale": 5},
        ),
        fixed,
        Reply.text("오른쪽 아래에 놓았어요."),
    )
    result = studio.agent.run("이 가방을 대리석 위 오른쪽 아래에 놓아줘", thread="llm-fix", image=product)
    assert chat.pending == 0
    assert result.outcome is not None and result.bbox is not None
    assert result.outcome["scale"] == 0.5 and result.outcome["background_id"] == background
    assert placement_problems(result.bbox, "bottom-right", (W, H)) == []
    assert [step["ok"] for step in result.steps if step["name"] == "composite"] == [False, True]
    # The guard checked the background once (one scene); the second call found it already passed.
    assert [(entry["asked"], entry["split"]) for entry in result.guard] == [(background, False)]
    first = studio.stub.chat_requests[-3]
    assert "Korean (한국어)" in first["messages"][0]["content"]  # the model is told the user's language
    assert (
        result.language == "ko" and "저장 위치" in result.reply and result.reply.startswith("오른쪽 아래에")
    )


def test_a_model_that_never_stops_is_cut_off_at_the_step_limit(studio: LLMStudio, chat: ScriptedChat) -> None:
    calls = iter(range(1000))

    def again(body: dict[str, Any]) -> Reply:
        return Reply.tool_call("list_models", {}, call_id=f"loop-{next(calls)}")

    chat.say(*([again] * 50))
    with pytest.raises(StepLimitError, match=f"stopped after {STEP_LIMIT} steps") as caught:
        studio.agent.run("show me what you can do", thread="llm-loop", image=str(studio.cutout))
    assert "kept calling tools" in str(caught.value)
    used = 50 - chat.pending
    assert 2 <= used <= STEP_LIMIT // 3 + 1
    # The thread is still usable: the next turn's history closes the calls the stopped turn never ran.
    chat.clear()
    chat.say(Reply.text("Sorry about that. Send me a request for a shot."))
    answer = studio.agent.run("hello?", thread="llm-loop")
    assert answer.reply == "Sorry about that. Send me a request for a shot." and answer.outcome is None
    body = studio.stub.chat_requests[-1]
    asked = {c["id"] for c in tool_calls_sent(body)}
    answered = {m["tool_call_id"] for m in body["messages"] if m.get("role") == "tool"}
    assert asked and asked <= answered


def test_the_thread_store_keeps_ids_and_text_never_image_bytes(studio: LLMStudio) -> None:
    data = (studio.settings.home / "threads.sqlite3").read_bytes()
    wal = studio.settings.home / "threads.sqlite3-wal"
    if wal.exists():
        data += wal.read_bytes()
    assert b"llm-split" in data  # the threads are there
    for marker in (b"iVBORw0KGgo", b"\x89PNG\r\n", b"/9j/", b'"base64"'):
        assert marker not in data, marker
