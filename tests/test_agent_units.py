"""The agent's parts on their own: replies and their templates, thread bookkeeping, image references, the
configuration's checks, and an MCP server that cannot start (real processes, real files, no mocks)."""

from __future__ import annotations

import re
import string
import sys
from pathlib import Path

import anyio
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from productshot.agent.connection import McpEndpoint, open_toolbox
from productshot.agent.context import AgentContext, check_step_limit
from productshot.agent.errors import ToolServerError
from productshot.agent.images import INBOX, image_reference
from productshot.agent.nodes import close_dangling_calls, recent_turns, remember
from productshot.agent.replies import LANGUAGES, describe_result, position_words, replies
from productshot.agent.runtime import TurnResult
from productshot.agent.threads import check_thread_id, new_thread_id
from productshot.errors import BadImageError, BadRequestError, PathNotAllowedError
from productshot.prompts import load_template
from productshot.settings import Settings
from productshot.tools.notes import note, note_codes
from tests.support.agent_harness import agent_settings, write_cutout
from tests.support.worker_proc import free_port


# ---- replies ---------------------------------------------------------------------------------------------
def _placeholders(text: str) -> set[str]:
    return {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)} - {None}


def test_every_language_has_the_same_reply_parts_and_placeholders() -> None:
    english = replies("en")
    for language in LANGUAGES:
        other = replies(language)
        assert other.ref == f"agent/replies_{language}@2"
        assert set(other.parts) == set(english.parts), language
        for part, text in english.parts.items():
            assert _placeholders(other.text(part)) == _placeholders(text), (language, part)
    assert _placeholders(load_template("agent/system").text("system")) == {"language_name"}


def test_korean_reply_speaks_korean_and_names_the_anchor_in_korean() -> None:
    outcome = {
        "position": "bottom-left",
        "scale": 0.55,
        "scene": "beach",
        "path": "/tmp/shot.png",
        "plan": {
            "action": "place",
            "style": ["sunset"],
            "notes": [note("scene_default", scene="studio").to_dict()],
        },
        "notes": [note("split_regenerated", count=1).to_dict()],
    }
    text = describe_result(outcome, "ko", action="place")
    assert text.splitlines()[0] == "완성했어요: 제품을 노을 해변 배경의 왼쪽 아래에 놓았어요 (크기 0.55)."
    assert "1번 다시 생성" in text and "기본" in text and text.endswith("저장 위치: /tmp/shot.png")
    assert re.search(r"[\uac00-\ud7a3]", text)
    english = describe_result(outcome, "en", action="place")
    assert "sunset beach" in english and "the bottom left" in english and "1 regenerated" in english
    assert position_words("x=0.30,y=0.80", "ko") == "x=0.30,y=0.80"
    assert describe_result(outcome, "fr", action="move").startswith("Moved it to the bottom left")  # fallback


def test_every_note_reaches_the_reply_in_the_user_s_language() -> None:
    notes = [note(code, **_params(code)) for code in note_codes()]
    outcome = {"position": "bottom", "scale": 0.5, "scene": "studio", "path": "/tmp/a.png"}
    outcome["notes"] = [n.to_dict() for n in notes]
    for language in ("en", "ko"):
        text = describe_result(outcome, language, action="place")
        for made in notes:
            assert made.text(language) in text, (language, made.code)


def _params(code: str) -> dict[str, str]:
    english = load_template("notes_en").text(code)
    return {name: f"v{i}" for i, name in enumerate(sorted(set(re.findall(r"\$\{(\w+)\}", english))))}


def test_the_model_s_own_words_lead_the_reply() -> None:
    outcome = {"position": "center", "scale": 0.5, "path": "/tmp/a.png"}
    assert describe_result(outcome, "en", action=None, model_text="  Here it is. ").splitlines() == [
        "Here it is.",
        "Saved to /tmp/a.png",
    ]


# ---- thread bookkeeping -------------------------------------------------------------------------------------
def test_results_remember_new_shots_and_undo_pops_the_last() -> None:
    assert remember([], "a1") == ["a1"]
    assert remember(["a1"], "a2") == ["a1", "a2"]
    assert remember(["a1", "a2"], "a1") == ["a1"]  # undo: back to the one before
    assert remember(["a1", "a2"], "a2") == ["a1", "a2"]  # the same shot again


def test_dangling_tool_calls_are_closed_and_history_is_cut_at_user_turns() -> None:
    messages = [
        HumanMessage("one", id="h1"),
        AIMessage("", tool_calls=[{"name": "list_models", "args": {}, "id": "c1"}], id="a1"),
        ToolMessage("ok", tool_call_id="c1", id="t1"),
        HumanMessage("two", id="h2"),
        AIMessage("", tool_calls=[{"name": "list_models", "args": {}, "id": "c2"}], id="a2"),
    ]
    [closed] = close_dangling_calls(messages)
    assert closed.tool_call_id == "c2" and closed.status == "error" and "stopped" in str(closed.content)
    assert [m.id for m in recent_turns(messages, 1)] == ["h2", "a2"]
    assert recent_turns(messages, 5) == messages


def test_thread_ids() -> None:
    assert re.fullmatch(r"t-[0-9a-f]{12}", new_thread_id())
    assert check_thread_id("cli-1.a_b") == "cli-1.a_b"
    for bad in ("", "-x", "a b", "x" * 65, "../etc"):
        with pytest.raises(BadRequestError, match="thread"):
            check_thread_id(bad)


def test_context_and_step_limit_checks() -> None:
    assert AgentContext(width=512, height=384, seed=3).canvas_args() == {
        "model": "auto",
        "width": 512,
        "height": 384,
        "seed": 3,
    }
    with pytest.raises(BadRequestError, match="width must be between 64 and 4096"):
        AgentContext(width=10)
    with pytest.raises(BadRequestError, match="model: empty"):
        AgentContext(model=" ")
    with pytest.raises(BadRequestError, match="step limit"):
        check_step_limit(2)


def test_turn_result_json_has_the_cli_keys() -> None:
    outcome = {
        "asset_id": "a1",
        "path": "/tmp/a.png",
        "bbox": [1, 2, 3, 4],
        "position": "left",
        "scale": 0.5,
        "steps": [{"name": "plan", "backend": "rules", "seconds": 0.01}],
        "backend": "studio + composite",
    }
    data = TurnResult(
        thread="t-1", reply="done", language="en", mode="rules", outcome=outcome, seconds=1.23456
    ).to_dict()
    assert {
        "path",
        "bbox",
        "steps",
        "thread",
        "backend",
        "seconds",
        "asset_id",
        "position",
        "scale",
    } <= data.keys()
    assert (
        data["backend"] == "rules + studio + composite"
        and data["seconds"] == 1.235
        and data["bbox"] == [1, 2, 3, 4]
    )


# ---- image references ----------------------------------------------------------------------------------------
@pytest.fixture
def narrow(tmp_path: Path) -> Settings:
    """Settings whose only allowed folders are `allowed/` and the data home."""
    (tmp_path / "allowed").mkdir()
    return agent_settings(tmp_path / "home", allowed=tmp_path / "allowed")


def test_images_inside_the_allowed_folders_pass_by_path(narrow: Settings, tmp_path: Path) -> None:
    inside = write_cutout(tmp_path / "allowed" / "bag.png")
    assert image_reference(str(inside), narrow) == str(inside.resolve())
    assert image_reference("  SAMPLE:Coffee ", narrow) == "sample:coffee"
    assert image_reference("a01jd5k2m8q3xyz7f", narrow) == "a01jd5k2m8q3xyz7f"


def test_a_photo_outside_the_allowed_folders_is_staged_in_the_data_home(
    narrow: Settings, tmp_path: Path
) -> None:
    (tmp_path / "desk").mkdir()
    outside = write_cutout(tmp_path / "desk" / "bag.png")
    before = outside.read_bytes()
    staged = Path(image_reference(str(outside), narrow))
    assert staged.parent == narrow.home / INBOX and staged.read_bytes() == before
    assert Path(image_reference(str(outside), narrow)) == staged  # once per content
    assert outside.read_bytes() == before and len(list(staged.parent.iterdir())) == 1


def test_bad_image_references_are_named_errors(narrow: Settings, tmp_path: Path) -> None:
    text = tmp_path / "allowed" / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(BadImageError, match=r"notes\.png' cannot be used"):
        image_reference(str(text), narrow)
    with pytest.raises(BadImageError, match="unknown sample"):
        image_reference("sample:nothing", narrow)
    with pytest.raises(BadImageError, match="is not a file"):
        image_reference(str(tmp_path), narrow)
    with pytest.raises(BadImageError, match="empty"):
        image_reference("  ", narrow)
    no_home = narrow.with_overrides(allowed_dirs=(tmp_path / "allowed",))
    with pytest.raises(PathNotAllowedError, match="PRODUCTSHOT_ALLOWED_DIRS"):
        image_reference(str(write_cutout(tmp_path / "bag.png")), no_home)


# ---- an MCP server that cannot start -------------------------------------------------------------------------
def test_a_server_that_exits_at_once_is_a_clear_error_quoting_its_log(tmp_path: Path) -> None:
    endpoint = McpEndpoint(
        command=(
            sys.executable,
            "-c",
            "import sys; sys.stderr.write('boom: no studio here\\n'); sys.exit(3)",
        ),
        log_path=tmp_path / "logs" / "agent-mcp.log",
    )

    async def scenario() -> None:
        async with open_toolbox(endpoint):
            pytest.fail("a session opened with a server that exited")

    with pytest.raises(ToolServerError, match="could not start a session") as caught:
        anyio.run(scenario)
    assert "boom: no studio here" in str(caught.value)


def test_nothing_listening_at_the_url_is_a_clear_error(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path / "home")
    endpoint = McpEndpoint.from_settings(settings, url=f"http://127.0.0.1:{free_port()}/mcp")

    async def scenario() -> None:
        async with open_toolbox(endpoint):
            pytest.fail("a session opened with nothing listening")

    with pytest.raises(ToolServerError, match="could not start a session"):
        anyio.run(scenario)
    with pytest.raises(BadRequestError, match="must start with http"):
        McpEndpoint.from_settings(settings, url="ftp://example")
