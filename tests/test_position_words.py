"""Position words: anchors from phrases (English, Korean), places and moves inside sentences, applying moves."""

from __future__ import annotations

import pytest

from productshot.errors import PositionError
from productshot.tools.anchors import Position
from productshot.tools.position_words import (
    MOVE_STEPS,
    Move,
    anchor_from_words,
    apply_move,
    find_move,
    find_position,
)
from productshot.tools.positions import parse_position


@pytest.mark.parametrize(
    ("phrase", "anchor"),
    [
        ("lower left", "bottom-left"),
        ("bottom left corner", "bottom-left"),
        ("the bottom-left corner", "bottom-left"),
        ("left bottom", "bottom-left"),
        ("upper right", "top-right"),
        ("top right corner", "top-right"),
        ("right-hand top", "top-right"),
        ("middle", "center"),
        ("centre", "center"),
        ("dead center", "center"),
        ("bottom center", "bottom"),
        ("top middle", "top"),
        ("middle left", "left"),
        ("left side", "left"),
        ("right-hand side", "right"),
        ("at the far right", "right"),
        ("왼쪽 아래", "bottom-left"),
        ("왼쪽 하단", "bottom-left"),
        ("좌측 하단", "bottom-left"),
        ("좌하단", "bottom-left"),
        ("오른쪽 위", "top-right"),
        ("우측 상단", "top-right"),
        ("하단 오른쪽", "bottom-right"),
        ("가운데", "center"),
        ("중앙", "center"),
        ("정중앙", "center"),
        ("아래쪽", "bottom"),
        ("중앙 하단", "bottom"),
        ("위쪽 가운데", "top"),
        ("왼쪽 가운데", "left"),
        ("오른쪽", "right"),
        ("왼쪽 아래에", "bottom-left"),
        ("오른쪽 위 모서리", "top-right"),
    ],
)
def test_anchor_from_words_knows_english_and_korean_synonyms(phrase: str, anchor: str) -> None:
    assert anchor_from_words(phrase) == anchor
    assert parse_position(phrase) == Position(anchor=anchor)


@pytest.mark.parametrize(
    "phrase", ["bottom left on marble", "a little to the right", "", "   ", "banana", "위에"]
)
def test_anchor_from_words_rejects_phrases_that_are_not_only_a_place(phrase: str) -> None:
    assert anchor_from_words(phrase) is None


def test_parse_position_error_names_the_text() -> None:
    with pytest.raises(PositionError, match="bottom left on marble"):
        parse_position("bottom left on marble")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("put this bag on a simple beach scene, bottom-left", "bottom-left"),
        ("bottom left corner on white marble", "bottom-left"),
        ("Place the sunglasses on the sand at the beach at sunset, left", "left"),
        ("a coffee mug on a kitchen counter, right side", "right"),
        ("put it on top of the table", None),
        ("put it right now on marble", None),
        ("desert background, product at x=0.3,y=0.8", "x=0.30,y=0.80"),
        ("put it at x=300px, y=620px please", "x=300px,y=620px"),
        ("x=30% and y=80% on concrete", "x=0.30,y=0.80"),
        ("이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘", "bottom-left"),
        ("흰 대리석 위에 향수를 가운데에 놓아줘", "center"),  # 위에 = "on", not a place
        ("나무 테이블 위에 컵을 놓아줘", None),
        ("이 제품을 x=0.7,y=0.9 위치에 놓아줘", "x=0.70,y=0.90"),  # 위치 = "position"
        ("검은 벨벳 위에 반지를 위쪽 가운데", "top"),
        ("신발은 아래쪽", "bottom"),
        ("가방을 왼쪽에 놓아줘", "left"),
        ("put it in the top left, no, bottom right", "bottom-right"),  # the last said wins
        ("move it a little to the right", None),  # a move, not a place
        ("조금 오른쪽으로 옮겨줘", None),
        ("오른쪽 위로 옮겨줘", "top-right"),
        ("가운데로 옮겨줘", "center"),
    ],
)
def test_find_position_reads_whole_sentences(sentence: str, expected: str | None) -> None:
    found = find_position(sentence)
    assert (found.canonical() if found else None) == expected


def test_find_position_off_canvas_fraction_is_an_error_naming_it() -> None:
    with pytest.raises(PositionError, match="off the canvas"):
        find_position("put it at x=1.4,y=0.5")


@pytest.mark.parametrize(
    ("sentence", "dx", "dy"),
    [
        ("move it a little to the right", MOVE_STEPS["small"], 0.0),
        ("move it to the right", MOVE_STEPS["medium"], 0.0),
        ("move it far left", -MOVE_STEPS["large"], 0.0),
        ("nudge it up a bit", 0.0, -MOVE_STEPS["small"]),
        ("a bit lower", 0.0, MOVE_STEPS["small"]),
        ("slightly larger and a bit lower", 0.0, MOVE_STEPS["small"]),
        ("move it down and to the left a lot", -MOVE_STEPS["large"], MOVE_STEPS["large"]),
        ("put it a bit to the left", -MOVE_STEPS["small"], 0.0),
        ("higher", 0.0, -MOVE_STEPS["medium"]),
        ("조금 오른쪽", MOVE_STEPS["small"], 0.0),
        ("조금 오른쪽으로 옮겨줘", MOVE_STEPS["small"], 0.0),
        ("왼쪽으로 많이", -MOVE_STEPS["large"], 0.0),
        ("왼쪽으로 옮겨줘", -MOVE_STEPS["medium"], 0.0),
        ("위로 조금", 0.0, -MOVE_STEPS["small"]),
        ("아래로 살짝", 0.0, MOVE_STEPS["small"]),
        ("조금 내려줘", 0.0, MOVE_STEPS["small"]),
    ],
)
def test_find_move_sizes_and_directions(sentence: str, dx: float, dy: float) -> None:
    assert find_move(sentence) == Move(dx=dx, dy=dy)


@pytest.mark.parametrize(
    "sentence",
    [
        "put it in the bottom left corner",
        "Place the sunglasses on the beach, left",
        "가방을 왼쪽에 놓아줘",
        "흰 대리석 위에 놓아줘",
        "테이블에 올려줘",  # 올려 = "put on", not "move up"
        "make it bigger",
        "close up shot on marble",
        "오른쪽 위로 옮겨줘",
    ],
)
def test_find_move_ignores_places_and_other_words(sentence: str) -> None:
    assert find_move(sentence) is None


def test_move_rejects_more_than_the_canvas() -> None:
    with pytest.raises(PositionError, match="dx"):
        Move(dx=1.5, dy=0.0)
    with pytest.raises(PositionError, match="dy"):
        Move(dx=0.0, dy=float("nan"))


def test_apply_move_from_an_anchor_starts_at_the_bbox_bottom_centre() -> None:
    # Product box 200x300 standing at the bottom-left of a 1000x800 canvas.
    new = apply_move(Position(anchor="bottom-left"), Move(dx=0.05, dy=0.0), (1000, 800), (20, 480, 220, 780))
    assert new == Position(x=0.17, y=0.975, unit="fraction")  # (120 + 50) / 1000, 780 / 800


def test_apply_move_from_an_exact_point_does_not_drift() -> None:
    start = Position(x=0.5, y=0.9, unit="fraction")
    bbox = (450, 420, 550, 720)  # what the composite drew (rounded pixels)
    once = apply_move(start, Move(dx=0.1, dy=-0.1), (1000, 800), bbox)
    assert once == Position(x=0.6, y=0.8, unit="fraction")
    back = apply_move(once, Move(dx=-0.1, dy=0.1), (1000, 800), (550, 340, 650, 640))
    assert back == start


def test_apply_move_accepts_pixel_positions() -> None:
    new = apply_move(
        Position(x=300, y=620, unit="px"), Move(dx=0.0, dy=-0.25), (1000, 800), (250, 420, 350, 620)
    )
    assert new == Position(x=0.3, y=0.525, unit="fraction")


def test_apply_move_keeps_the_whole_product_on_the_canvas() -> None:
    bbox = (20, 480, 220, 780)  # 200 wide, 300 tall
    far_left = apply_move(Position(anchor="bottom-left"), Move(dx=-0.25, dy=0.25), (1000, 800), bbox)
    assert far_left == Position(
        x=0.1, y=1.0, unit="fraction"
    )  # half the box width from the edge, on the floor
    up = apply_move(Position(anchor="bottom-left"), Move(dx=0.0, dy=-1.0), (1000, 800), bbox)
    assert up.y == pytest.approx(300 / 800)  # the box's top touches the canvas top


@pytest.mark.parametrize(
    ("canvas", "bbox", "message"),
    [
        ((0, 800), (0, 0, 10, 10), "canvas"),
        ((100, 100), (50, 10, 40, 20), "bbox"),
        ((100, 100), (5, 9, 9, 9), "bbox"),
    ],
)
def test_apply_move_rejects_bad_canvas_or_bbox(
    canvas: tuple[int, int], bbox: tuple[int, int, int, int], message: str
) -> None:
    with pytest.raises(PositionError, match=message):
        apply_move(Position(anchor="center"), Move(dx=0.1, dy=0.0), canvas, bbox)
