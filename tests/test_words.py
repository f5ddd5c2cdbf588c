"""One lexicon, honest scenes: every scene word (English and Korean) through planner, studio and reply.

The tables come from prompts/words/scenes.toml itself, so adding a word or a family is a data change and
the row below it (WORD_ROWS: a request as a seller would write it, and the family it must render).
The fallback rule is checked as a rule: a `scene_fallback` note exactly when the words name no family,
whichever families exist when the test runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from productshot.agent.replies import describe_result
from productshot.errors import BadRequestError
from productshot.prompts.lexicon import display_word, find_words, load_lexicon
from productshot.server.pipeline import Pipeline, PlaceOptions
from productshot.server.services import LocalServices
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.imageio import load_image
from productshot.tools.notes import Note
from productshot.tools.plan import RulesPlanner
from productshot.tools.studio import render_backdrop, scene_families
from productshot.tools.studio_scenes import MODIFIERS, family_label, find_scene
from tests.support.imagegen import make_product

SCENES = load_lexicon("scenes")
PLANNER = RulesPlanner()


def _every_scene_word() -> list[tuple[str, str, str]]:
    """(entry key, word, language) for every word of every scene entry."""
    rows = []
    for entry in SCENES.entries:
        rows += [(entry.key, word, "en") for word in entry.en]
        rows += [(entry.key, word, "ko") for word in entry.ko]
    return rows


def _request(word: str, language: str) -> str:
    return f"{word} 배경에 이 가방을 놓아줘" if language == "ko" else f"put this bag on a {word} background"


def _outcome(scene: str, plan_dict: dict, notes: tuple[Note, ...]) -> dict:
    return {
        "position": "bottom",
        "scale": 0.5,
        "scene": scene,
        "path": "/tmp/shot.png",
        "plan": plan_dict,
        "notes": [n.to_dict(plan_dict["language"]) for n in notes],
    }


@pytest.mark.parametrize(("key", "word", "language"), _every_scene_word())
def test_every_scene_word_is_planned_rendered_and_named(key: str, word: str, language: str) -> None:
    """The planner maps the word to its entry, the studio renders the entry's family (or falls back and
    says so), and the reply names the family rendered, in the request's language."""
    plan = PLANNER.plan(_request(word, language))
    entry = SCENES.get(key)
    assert plan.language == language
    assert entry.fields["label"] in plan.scene, (word, plan.scene)

    backdrop = render_backdrop(" ".join([plan.scene, *plan.style]), 64, 64, seed=3)
    family = entry.fields.get("family")
    fallback = [n for n in backdrop.notes if n.code == "scene_fallback"]
    if family:
        assert backdrop.scene == family and not fallback, (word, backdrop.scene, backdrop.unmatched)
    else:
        assert backdrop.scene in scene_families() and fallback, (word, backdrop.scene)

    reply = describe_result(
        _outcome(backdrop.scene, plan.to_dict(), backdrop.notes), language, action="place"
    )
    assert family_label(backdrop.scene, language) in reply.splitlines()[0], reply
    for made in fallback:
        assert made.text(language) in reply
    if language == "ko":
        assert not re.search(r"[a-z]{3,}", reply.splitlines()[0].replace(".png", "")), reply


# A request as a seller writes it -> the family the studio must render (None: no family yet, so a fallback).
WORD_ROWS: list[tuple[str, str]] = [
    ("put this bag on a simple beach scene, bottom-left", "beach"),
    ("이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘", "beach"),
    ("on white marble", "marble"),
    ("흰 대리석 위에", "marble"),
    ("나무 테이블 위 오른쪽", "wood"),
    ("sand dunes at golden hour", "desert"),
    ("a sunny lawn in the park", "grass"),
    ("파스텔 미니멀", "pastel"),
    ("pastel minimal", "pastel"),
    ("at sunset", "beach"),
    ("카페 느낌으로", "cafe"),
    ("눈 덮인 들판", "snow"),
    ("주방 조리대 위에", "kitchen"),
    ("on colored paper", "pastel"),
    ("a bag against a concrete wall", "concrete"),
]


@pytest.mark.parametrize(("request_text", "family"), WORD_ROWS)
def test_requests_render_the_family_they_name(request_text: str, family: str) -> None:
    plan = PLANNER.plan(request_text)
    assert find_scene(" ".join([plan.scene, *plan.style])).family == family


def test_the_data_and_the_studio_agree() -> None:
    families = set(scene_families())
    named = {e.fields["family"] for e in SCENES.entries if e.fields.get("family")}
    assert named <= families, named - families
    for family in families:  # every family has its own entry: its display words
        assert SCENES.get(family).fields.get("family") == family
        assert family_label(family, "ko") != family_label(family, "en")
    styles = load_lexicon("styles")
    for entry in styles.entries:
        assert entry.fields.get("studio") in (None, *MODIFIERS), entry.key
        assert entry.fields.get("family") in (None, *families), entry.key
        assert display_word("styles", entry.key, "ko") != display_word("styles", entry.key, "en")
    words = [
        w.lower()
        for lexicon in ("scenes", "styles", "colours")
        for e in load_lexicon(lexicon).entries
        for w in e.en
    ]
    assert len(words) == len(set(words)), "an English word belongs to two entries"


@pytest.mark.parametrize(
    "words",
    ["underwater", "night city", "neon", "Christmas", "욕실 선반", "volcano", "outer space", "beach", "해변"],
)
def test_fallback_note_exactly_when_no_family_paints_the_words(words: str) -> None:
    """The rule, not a list: the note is there iff no scene word of the request has a family."""
    hits = [h for h in find_words(words, ("scenes",))]
    has_family = any(SCENES.get(h.key).fields.get("family") for h in hits)
    backdrop = render_backdrop(words, 64, 64, seed=1)
    notes = [n for n in backdrop.notes if n.code == "scene_fallback"]
    assert bool(notes) == (not has_family), (words, backdrop.scene, notes)
    if notes:
        assert notes[0].params["used"] == family_label(
            backdrop.scene, "ko" if re.search("[가-힣]", words) else "en"
        )
        for language in ("en", "ko"):
            assert notes[0].text(language)


def test_korean_reply_names_scene_and_style_in_korean() -> None:
    plan = PLANNER.plan("minimal beach 배경")
    backdrop = render_backdrop(" ".join([plan.scene, *plan.style]), 64, 64, seed=1)
    reply = describe_result(_outcome(backdrop.scene, plan.to_dict(), backdrop.notes), "ko", action="place")
    assert "미니멀 해변 배경" in reply.splitlines()[0]


@pytest.mark.parametrize(
    ("request_text", "position", "unread"),
    [
        ("put this bag at 30%, 80% on marble", "x=0.30,y=0.80", False),
        ("put it at (300, 500) on a beach", "x=300px,y=500px", False),
        ("place it at 300px, 500px", "x=300px,y=500px", False),
        ("put it at 130%, 20%", None, True),
        ("put it at 30% please", None, True),
        ("이 가방을 30%, 80% 위치에 놓아줘", "x=0.30,y=0.80", False),
    ],
)
def test_bare_coordinate_pairs(request_text: str, position: str | None, unread: bool) -> None:
    plan = PLANNER.plan(request_text)
    assert plan.position == position
    assert any(n.code == "position_unread" for n in plan.notes) == unread


@pytest.mark.parametrize("request_text", ["what can you do?", "뭐 할 수 있어?", "help", "사용법 알려줘"])
def test_questions_get_the_help_action(request_text: str) -> None:
    assert PLANNER.plan(request_text).action == "help"


def test_follow_ups_mean_what_people_mean() -> None:
    first = PLANNER.plan("on white marble at night, bottom-right")
    assert (first.scene, first.style) == ("white marble", ("night",))
    other = PLANNER.plan("different background", [first])
    assert other.action == "new_scene" and find_scene(other.scene).family != "marble"
    assert [n.code for n in other.notes] == ["scene_changed"]
    korean = PLANNER.plan("다른 배경", [first])
    assert find_scene(korean.scene).family != "marble" and "대리석" in korean.notes[0].text("ko")
    sunset = PLANNER.plan("same but at sunset", [first])
    assert sunset.scene == first.scene and sunset.style == ("sunset",)  # the light changes, the family stays
    for again in ("another one", "하나 더"):
        assert PLANNER.plan(again, [first]).action == "regenerate"


@pytest.fixture
def cutout_png(tmp_path) -> str:
    path = tmp_path / "bottle.png"
    make_product((120, 200), kind="bottle").save(path)
    return str(path)


@pytest.mark.parametrize(
    ("request_text", "family"),
    [
        ("on an ice scene", None),
        ("얼음 배경", None),
        ("on an underwater scene", "underwater"),
        ("on a beach", "beach"),
    ],
)
def test_pipeline_scene_is_the_family_rendered(
    settings: Settings, cutout_png: str, request_text: str, family: str | None
) -> None:
    pipeline = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    result = pipeline.place_product(
        request_text, image=load_image(cutout_png), options=PlaceOptions(width=256, height=192, seed=2)
    )
    data = result.to_dict()
    assert data["scene"] == result.scene and result.scene in scene_families()
    assert data["scene_requested"] == result.plan["scene"]
    codes = [n["code"] for n in data["notes"]]
    assert ("scene_fallback" in codes) == (family is None)
    if family:
        assert result.scene == family
    else:
        language = result.plan["language"]
        reply = describe_result(data, language, action="place")
        assert family_label(result.scene, language) in reply.splitlines()[0]
        assert next(n["text"] for n in data["notes"] if n["code"] == "scene_fallback") in reply


def test_place_product_refuses_a_help_question_with_examples(settings: Settings, cutout_png: str) -> None:
    pipeline = Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())
    with pytest.raises(BadRequestError, match="white marble"):
        pipeline.place_product("what can you do?", image=load_image(cutout_png))


def test_cli_backdrop_json_says_the_family_and_its_notes(cli_env: dict[str, str], tmp_path) -> None:
    def backdrop(words: str) -> dict:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "productshot",
                "backdrop",
                words,
                "--width",
                "96",
                "--height",
                "64",
                "-o",
                str(tmp_path / "b.png"),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout)

    under = backdrop("ice")
    assert under["scene"] == "studio" and under["scene_requested"] == "ice"
    assert [n["code"] for n in under["notes"]] == ["scene_fallback"]
    assert {"code", "params", "text"} == set(under["notes"][0])
    beach = backdrop("해변")
    assert beach["scene"] == "beach" and beach["notes"] == []
