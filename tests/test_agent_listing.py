"""Listing requests in chat: the rules planner reads them, the agent calls the MCP listing tools.

A real stdio MCP server and the real thread store: "쿠팡 대표이미지로 만들어줘" makes a Coupang image from the
attached photo, "check this for Naver" checks that image, "make Amazon-ready versions" makes an Amazon one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from productshot.agent.runtime import AgentRuntime
from productshot.tools.listing_check import check_listing_bytes
from productshot.tools.listing_presets import get_preset
from productshot.tools.listing_words import find_listing
from productshot.tools.plan import Plan, RulesPlanner
from tests.support.agent_harness import AgentHarness, agent_settings, small_context, write_cutout, write_photo


@pytest.mark.parametrize(
    ("request_text", "action", "preset"),
    [
        ("make Amazon-ready versions", "listing", "amazon"),
        ("쿠팡 대표이미지로 만들어줘", "listing", "coupang"),
        ("check this for Naver", "check_listing", "naver"),
        ("이거 11번가 규격에 맞는지 확인해줘", "check_listing", "11st"),
        ("G마켓 상품 이미지로 만들어 줘", "listing", "gmarket"),
    ],
)
def test_the_rules_planner_reads_listing_requests(request_text: str, action: str, preset: str) -> None:
    plan = RulesPlanner().plan(request_text)
    assert (plan.action, plan.preset) == (action, preset)
    assert Plan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    "request_text",
    ["put this bag in the amazon rainforest", "put this cup on a simple beach", "쿠팡에서 산 컵을 해변에"],
)
def test_scene_requests_stay_scene_requests(request_text: str) -> None:
    assert find_listing(request_text) is None
    assert RulesPlanner().plan(request_text).action == "place"


@pytest.mark.slow
def test_listing_turns_in_a_conversation(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path)
    cutout = write_cutout(tmp_path / "bottle.png")
    photo = write_photo(tmp_path / "bottle-photo.png")
    with AgentHarness.open(AgentRuntime(settings, context=small_context())) as agent:
        made = agent.run("쿠팡 대표이미지로 만들어줘", thread="t1", image=str(cutout))
        assert made.outcome is not None and made.outcome["preset"] == "coupang" and made.outcome["ok"]
        assert made.path is not None and "coupang" in made.reply and "통과" in made.reply
        with Image.open(made.path) as image:
            assert image.format == "JPEG" and image.size == (1000, 1000)
        assert check_listing_bytes(made.path.read_bytes(), get_preset("coupang")).ok

        checked = agent.run("check this for Naver", thread="t1")
        assert checked.outcome is not None and checked.outcome["preset"] == "naver"
        assert checked.outcome["checked"] == made.asset_id and checked.outcome["ok"] is True
        assert checked.reply.startswith("Checked for naver") and checked.asset_id is None

        amazon = agent.run("make Amazon-ready versions", thread="t2", image=str(photo))
        assert amazon.outcome is not None and amazon.outcome["ok"] is True
        with Image.open(amazon.path) as image:
            assert image.size == (2000, 2000)


@pytest.mark.slow
def test_the_llm_path_keeps_listing_tool_results(tmp_path: Path) -> None:
    """A tool-calling model (scripted, over real HTTP) calls the listing tools; the turn keeps their results."""
    from tests.support.agent_llm import ScriptedChat
    from tests.support.openai_stub import OpenAIStub, Reply

    settings = agent_settings(tmp_path)
    cutout = write_cutout(tmp_path / "bottle.png")
    with OpenAIStub() as stub:
        chat = ScriptedChat(stub)
        runtime = AgentRuntime(settings, chat_model=chat.model(), context=small_context())
        with AgentHarness.open(runtime) as agent:
            chat.say(
                Reply.tool_call(
                    "make_listing_image", {"image": str(cutout), "preset": "coupang"}, call_id="l1"
                ),
                Reply.text("Here is your Coupang image."),
            )
            made = agent.run("쿠팡 대표이미지로 만들어줘", thread="llm", image=str(cutout))
            assert made.outcome is not None and made.outcome["preset"] == "coupang" and made.outcome["ok"]
            assert made.path is not None and made.path.suffix == ".jpg" and made.path.is_file()
            assert made.reply.startswith("Here is your Coupang image.")
            chat.say(
                Reply.tool_call("check_listing", {"image": made.asset_id, "preset": "amazon"}, call_id="c1"),
                Reply.text("It meets Amazon's measurable rules too."),
            )
            checked = agent.run("check this for Amazon", thread="llm")
            assert checked.outcome is not None and checked.outcome["checked"] == made.asset_id
            # 1000 px is exactly Amazon's zoom minimum, and the image is white and 90% filled.
            assert checked.outcome["ok"] is True and checked.outcome["failed"] == []
            assert checked.asset_id is None and checked.reply.startswith("It meets Amazon's")
