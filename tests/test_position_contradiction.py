"""A position naming two opposite places is refused with a PositionError, in English and Korean; a
position that names one place (however many words it takes) still parses."""

from __future__ import annotations

import pytest

from productshot.errors import PositionError
from productshot.tools.positions import parse_position


@pytest.mark.parametrize(
    "text",
    [
        "top-left bottom-right",
        "top left, bottom right",
        "upper left lower right",
        "top bottom",
        "left right",
        "bottom-left top",
        "왼쪽 위 오른쪽 아래",
        "오른쪽 왼쪽",
        "좌상단 우하단",
    ],
)
def test_contradictory_positions_are_refused(text: str) -> None:
    with pytest.raises(PositionError, match="contradicts itself"):
        parse_position(text)


@pytest.mark.parametrize(
    ("text", "anchor"),
    [
        ("top-left", "top-left"),
        ("bottom left corner", "bottom-left"),
        ("lower right hand corner", "bottom-right"),
        ("left-hand top", "top-left"),
        ("bottom bottom-left", "bottom-left"),
        ("왼쪽 아래", "bottom-left"),
        ("오른쪽 아래 구석", "bottom-right"),
        ("좌측 하단", "bottom-left"),
        ("centre", "center"),
    ],
)
def test_one_place_in_many_words_still_parses(text: str, anchor: str) -> None:
    assert parse_position(text).anchor == anchor


@pytest.mark.parametrize(
    "request_text", ["put it top-left bottom-right", "top-left, lower right", "왼쪽 위 오른쪽 아래에 놓아줘"]
)
def test_a_request_naming_two_opposite_places_is_refused_by_the_planner(request_text: str) -> None:
    """The sentence path (`productshot run`, chat, Slack, the page) refuses it too, instead of placing it."""
    from productshot.tools.plan import RulesPlanner

    with pytest.raises(PositionError, match="contradicts itself"):
        RulesPlanner().plan(request_text)


@pytest.mark.parametrize(
    "request_text",
    [
        "put this bag on a simple beach scene, bottom-left",
        "이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘",
        "put it on the left side of the table at the bottom",
        "move it a little to the right",
    ],
)
def test_a_request_naming_one_place_is_planned(request_text: str) -> None:
    from productshot.tools.plan import RulesPlanner

    assert RulesPlanner().plan(request_text).action in {"place", "move"}
