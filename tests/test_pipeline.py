"""place_product end to end in-process: placement, follow-ups reusing assets, the split-retry loop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from productshot.errors import BadRequestError
from productshot.server.pipeline import Pipeline, PlaceOptions
from productshot.server.services import GenerateAsk, GenerateOutcome, LocalServices
from productshot.settings import Settings
from productshot.store import AssetStore
from productshot.tools.imageio import load_image
from productshot.tools.plan import RulesPlanner
from productshot.tools.split import check_split
from productshot.tools.studio import render_backdrop
from tests.support.imagegen import make_product

W, H = 640, 480


def opened_rgb(path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


@pytest.fixture
def pipeline(settings: Settings) -> Pipeline:
    return Pipeline(AssetStore.open(settings), LocalServices(settings), RulesPlanner())


@pytest.fixture
def cutout_png(tmp_path) -> str:
    path = tmp_path / "bottle.png"
    make_product((200, 320), kind="bottle").save(path)
    return str(path)


def _opts(**kw: object) -> PlaceOptions:
    return PlaceOptions(width=W, height=H, seed=5, **kw)  # type: ignore[arg-type]


def _centre(bbox: list[int] | tuple[int, ...]) -> tuple[float, float]:
    return (bbox[0] + bbox[2]) / 2 / W, (bbox[1] + bbox[3]) / 2 / H


@pytest.mark.parametrize(
    ("request_text", "expect"),
    [
        ("put this bottle on a simple beach scene, bottom-left", ("left", "bottom")),
        ("이 병을 단순한 해변 배경 왼쪽 아래에 놓아줘", ("left", "bottom")),
        ("white marble, top right corner", ("right", "top")),
        ("나무 테이블 위 오른쪽 아래에 놓아줘", ("right", "bottom")),
    ],
)
def test_fresh_request_places_product_where_asked(
    pipeline: Pipeline, cutout_png: str, request_text, expect
) -> None:
    result = pipeline.place_product(request_text, image=load_image(cutout_png), options=_opts())
    cx, cy = _centre(result.bbox)
    horizontal, vertical = expect
    assert (cx < 0.4) if horizontal == "left" else (cx > 0.6)
    assert (cy > 0.55) if vertical == "bottom" else (cy < 0.45)
    assert result.asset.path.is_file() and result.asset.kind == "result"
    names = [s.name for s in result.steps]
    assert names[:2] == ["plan", "cutout"] and "generate" in names and "check_split" in names
    assert result.steps[1].backend == "input-alpha"  # an RGBA cutout is used as is
    assert all(s.backend for s in result.steps)
    assert not check_split(opened_rgb(pipeline.store.get(result.background_id).path)).split


def test_photo_is_cut_out_with_u2netp(pipeline: Pipeline) -> None:
    result = pipeline.place_product(
        "put this cup on a simple beach scene, bottom-left",
        image=load_image("sample:coffee"),
        options=_opts(),
    )
    cut = next(s for s in result.steps if s.name == "cutout")
    assert cut.backend == "u2netp"
    assert pipeline.store.get(result.cutout_id).kind == "cutout"
    assert result.bbox[0] < W * 0.1 and result.bbox[3] > H * 0.85


def test_follow_ups_reuse_cutout_and_background(
    pipeline: Pipeline, cutout_png: str, settings: Settings
) -> None:
    store = pipeline.store
    first = pipeline.place_product("simple beach, bottom-left", image=load_image(cutout_png), options=_opts())
    moved = pipeline.place_product("move it a little to the right", previous=first.asset.id)
    bigger = pipeline.place_product("bigger", previous=moved.asset.id)
    korean = pipeline.place_product("조금 더 크게", previous=bigger.asset.id)

    assert moved.bbox[0] > first.bbox[0]
    assert (moved.bbox[3] - moved.bbox[1]) == pytest.approx(first.bbox[3] - first.bbox[1], abs=2)
    assert bigger.bbox[3] - bigger.bbox[1] > moved.bbox[3] - moved.bbox[1]
    assert korean.bbox[3] - korean.bbox[1] > bigger.bbox[3] - bigger.bbox[1]
    for follow in (moved, bigger, korean):
        assert set(follow.reused) == {"cutout", "background"}
        assert follow.cutout_id == first.cutout_id and follow.background_id == first.background_id
        assert "generate" not in [s.name for s in follow.steps]
    assert len(store.list(kind="background")) == 1
    assert len(store.list(kind="result")) == 4


def test_new_scene_keeps_cutout_and_position(pipeline: Pipeline, cutout_png: str) -> None:
    first = pipeline.place_product(
        "simple beach, bottom-right", image=load_image(cutout_png), options=_opts()
    )
    sunset = pipeline.place_product("same, but at sunset", previous=first.asset.id)
    assert sunset.cutout_id == first.cutout_id
    assert sunset.background_id != first.background_id
    assert sunset.position == first.position
    assert "sunset" in sunset.prompt


def test_undo_returns_the_earlier_result(pipeline: Pipeline, cutout_png: str) -> None:
    first = pipeline.place_product("white marble, center", image=load_image(cutout_png), options=_opts())
    moved = pipeline.place_product("move it far to the left", previous=first.asset.id)
    undone = pipeline.place_product("undo", previous=moved.asset.id)
    assert undone.asset.id == first.asset.id
    assert undone.bbox == first.bbox
    with pytest.raises(BadRequestError, match="undo"):
        pipeline.place_product("undo", previous=first.asset.id)


def test_follow_up_without_previous_or_image_is_a_clear_error(pipeline: Pipeline) -> None:
    with pytest.raises(BadRequestError, match="earlier result"):
        pipeline.place_product("move it a little to the right")


def test_request_without_scene_uses_default_and_says_so(pipeline: Pipeline, cutout_png: str) -> None:
    result = pipeline.place_product(
        "put it in the bottom right", image=load_image(cutout_png), options=_opts()
    )
    assert any(n.code == "scene_default" for n in result.notes)
    assert result.position == "bottom-right"


class StackedFirst(LocalServices):
    """Generates like the studio backend, but the first `bad` backgrounds come back as two stacked scenes."""

    def __init__(self, settings: Settings, bad: int) -> None:
        super().__init__(settings)
        self.bad = bad
        self.asks: list[GenerateAsk] = []

    def generate(self, ask: GenerateAsk, *, on_progress=None) -> GenerateOutcome:  # type: ignore[override]
        self.asks.append(ask)
        outcome = super().generate(ask, on_progress=on_progress)
        if len(self.asks) > self.bad:
            return outcome
        half = render_backdrop(ask.scene, ask.width, ask.height // 2, seed=ask.seed + 1).image
        stacked = np.vstack(
            [np.asarray(half), np.asarray(half.resize((ask.width, ask.height - ask.height // 2)))]
        )
        return GenerateOutcome(Image.fromarray(stacked), "stacked-test", ask.seed, outcome.seconds)


def test_split_background_is_regenerated_with_new_seed(settings: Settings, cutout_png: str) -> None:
    services = StackedFirst(settings, bad=2)
    pipe = Pipeline(AssetStore.open(settings), services, RulesPlanner())
    result = pipe.place_product("simple beach, bottom-left", image=load_image(cutout_png), options=_opts())
    checks = [s for s in result.steps if s.name == "check_split"]
    assert len(checks) == 3 and "split" in checks[0].detail and checks[-1].detail.startswith("ok")
    assert len({a.seed for a in services.asks}) == 3  # a new seed each time
    background = opened_rgb(pipe.store.get(result.background_id).path)
    assert not check_split(background).split


def test_prompt_is_reinforced_after_three_new_seeds(settings: Settings, cutout_png: str) -> None:
    services = StackedFirst(settings, bad=4)
    pipe = Pipeline(AssetStore.open(settings), services, RulesPlanner())
    result = pipe.place_product("simple beach, bottom-left", image=load_image(cutout_png), options=_opts())
    assert len(services.asks) == 5
    assert services.asks[-1].prompt.startswith("one single continuous scene")
    assert not services.asks[0].prompt.startswith("one single continuous scene")
    assert any(n.code == "prompt_reinforced" for n in result.notes)
    assert result.prompt.startswith("one single continuous scene")


def test_always_split_keeps_least_split_and_says_so(settings: Settings, cutout_png: str) -> None:
    services = StackedFirst(settings, bad=99)
    pipe = Pipeline(AssetStore.open(settings), services, RulesPlanner())
    result = pipe.place_product("simple beach, bottom-left", image=load_image(cutout_png), options=_opts())
    assert len(services.asks) == 5
    assert any(n.code == "split_kept" for n in result.notes)


def test_worker_path_matches_local_and_is_chosen_when_a_worker_answers(tmp_path, cutout_png: str) -> None:
    """With a worker running, `auto` sends model work there; the shot equals the in-process one."""
    from productshot.server.services import WorkerServices, choose_services
    from tests.support.worker_proc import start_worker, worker_settings

    settings = worker_settings(tmp_path / "home")
    worker = start_worker(settings)
    try:
        services = choose_services(settings, "auto", "auto")
        assert isinstance(services, WorkerServices)
        store = AssetStore.open(settings)
        remote = Pipeline(store, services, RulesPlanner()).place_product(
            "simple beach, bottom-left", image=load_image("sample:coffee"), options=_opts()
        )
        local = Pipeline(store, LocalServices(settings), RulesPlanner()).place_product(
            "simple beach, bottom-left", image=load_image("sample:coffee"), options=_opts()
        )
        backends = {s.name: s.backend for s in remote.steps}
        assert backends["cutout"] == "u2netp" and backends["generate"] == "studio"
        assert remote.bbox == local.bbox
        assert np.abs(np.asarray(remote.image, np.int16) - np.asarray(local.image, np.int16)).max() <= 2
        services.close()
    finally:
        worker.stop()


def test_local_services_load_a_diffusion_pipeline_once(settings: Settings, monkeypatch) -> None:
    """In-process generation keeps the loaded pipeline: a second call (or a split retry) does not reload."""
    from productshot.models import runner
    from tests.support.tiny_pipelines import tiny_model_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = str(tiny_model_dir("sd"))
    loads: list[str] = []
    real_load = runner.load_backend

    def counting_load(preset, settings_, **kw):  # type: ignore[no-untyped-def]
        loads.append(preset.name)
        return real_load(preset, settings_, **kw)

    monkeypatch.setattr(runner, "load_backend", counting_load)
    services = LocalServices(settings)
    steps: list[tuple[int, int]] = []
    ask = GenerateAsk(
        prompt="a calm beach",
        negative_prompt="",
        scene="beach",
        width=96,
        height=64,
        seed=1,
        model=folder,
        steps=2,
    )
    # Three first calls at once (MCP tool calls run on threads): one load, shared by all three.
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda _: services.generate(ask), range(3)))
    first = services.generate(ask, on_progress=lambda i, n: steps.append((i, n)))
    second = services.generate(ask)
    services.close()
    assert len(loads) == 1, loads
    assert first.image.size == (96, 64) and first.image.tobytes() == second.image.tobytes()
    assert all(outcome.image.tobytes() == first.image.tobytes() for outcome in together)
    assert steps[-1] == (2, 2)
