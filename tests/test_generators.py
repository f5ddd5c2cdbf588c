"""Generator backends on tiny random-weight pipelines (SD 1.x-, SDXL- and SD3-shaped), loaded offline through
the registry's real path; fitting, devices, pulls against a local Hub stand-in, and the model commands."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from productshot.errors import BadRequestError, JobCancelledError, ModelError
from productshot.models import devices, weights
from productshot.models.fitting import bucket_sizes, check_size, fit_to_size, native_size_for
from productshot.models.generators import (
    DiffusersBackend,
    GenerateSpec,
    GeneratorBackend,
    batch_key,
    load_backend,
)
from productshot.models.registry import Registry, get_preset
from productshot.models.runner import Generated, ModelRunner, output_size, spec_for
from productshot.settings import Settings
from tests.conftest import REPO_ROOT
from tests.support.fake_hub import FakeHub, FakeRepo
from tests.support.tiny_pipelines import TINY_KINDS, copy_tiny_model, make_tiny_sd, tiny_model_dir

# torch 2.13's Tensor.__array__ has no `copy` keyword, and diffusers' Euler schedulers (the SDXL-turbo
# scheduler, used by the tiny SDXL pipeline) call np.array() on tensors: numpy 2 warns. Harmless, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

SIZES = [(64, 64), (4096, 4096), (4096, 64), (64, 4096), (1000, 333)]


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tiny pipelines' tensors are so small that handing work between threads costs more than the
    arithmetic (and on a busy 2-core runner it costs seconds): run this module's models on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """HF_HUB_OFFLINE=1 in the environment (huggingface_hub reads it) and settings built from it."""
    home = tmp_path_factory.mktemp("home")
    cache = tmp_path_factory.mktemp("hf-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_CACHE", str(cache))
        yield Settings.from_mapping({"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}, home=home)


@pytest.fixture(scope="module")
def backends(offline_env: Settings) -> Iterator[dict[str, GeneratorBackend]]:
    """One loaded backend per tiny pipeline kind (loading is what the worker does once)."""
    loaded = {
        kind: load_backend(get_preset(str(tiny_model_dir(kind)), offline_env), offline_env)
        for kind in TINY_KINDS
    }
    yield loaded
    for backend in loaded.values():
        backend.close()


# ---- specs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"width": 0}, "width"),
        ({"height": -5}, "height"),
        ({"width": 4097}, "width"),
        ({"width": "512"}, "width"),
        ({"height": 512.0}, "height"),
        ({"steps": 0}, "steps"),
        ({"steps": 10_000}, "steps"),
        ({"guidance": -1.0}, "guidance"),
        ({"guidance": "high"}, "guidance"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"prompt": "x" * 5000}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"negative_prompt": 3}, "negative_prompt"),
    ],
)
def test_bad_specs_name_the_field(changes: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "prompt": "a beach",
        "negative_prompt": "",
        "width": 512,
        "height": 512,
        "seed": 1,
    }
    with pytest.raises(BadRequestError, match=f"^{field} must"):
        GenerateSpec(**{**base, **changes})


# ---- diffusers backends ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_same_seed_same_pixels_alone_and_in_a_batch(backends: dict[str, GeneratorBackend], kind: str) -> None:
    backend = backends[kind]
    assert isinstance(backend, GeneratorBackend) and backend.device == "cpu" and backend.dtype == "float32"
    spec = GenerateSpec("a sunny beach", "blurry", 96, 96, seed=7, steps=2)
    alone = backend.generate([spec])[0]
    again = backend.generate([spec])[0]
    batch = backend.generate(
        [
            GenerateSpec("white marble", "blurry", 96, 96, seed=1, steps=2),
            spec,
            GenerateSpec("a sunny beach", "blurry", 96, 96, seed=8, steps=2),
        ]
    )
    assert alone.size == (96, 96) and alone.mode == "RGB"
    assert np.array_equal(_arr(alone), _arr(again))
    assert np.array_equal(_arr(alone), _arr(batch[1]))
    assert not np.array_equal(_arr(batch[1]), _arr(batch[2]))  # same prompt, another seed
    assert _arr(alone).std() > 1  # a real image, not a flat fill


def test_batched_calls_match_single_runs_up_to_rounding(offline_env: Settings) -> None:
    preset = get_preset(str(tiny_model_dir("sdxl")), offline_env)
    backend = load_backend(preset, offline_env, exact_batches=False)
    try:
        specs = [GenerateSpec("beach", "", 128, 128, seed=s, steps=3) for s in (3, 4, 5)]
        steps: list[tuple[int, int]] = []
        together = backend.generate(specs, on_step=lambda i, n: steps.append((i, n)))
        alone = backend.generate([specs[1]])[0]
    finally:
        backend.close()
    assert steps == [(1, 3), (2, 3), (3, 3)]  # one pipeline call for the three
    assert np.abs(_arr(together[1]) - _arr(alone)).max() <= 2
    assert not np.array_equal(_arr(together[0]), _arr(together[2]))


def test_on_step_reports_every_step_of_the_batch(backends: dict[str, GeneratorBackend]) -> None:
    calls: list[tuple[int, int]] = []
    backends["sd"].generate(
        [GenerateSpec("beach", "", 64, 64, seed=1, steps=4)], on_step=lambda i, n: calls.append((i, n))
    )
    assert calls == [(i, 4) for i in range(1, 5)]
    calls.clear()
    specs = [GenerateSpec("beach", "", 64, 64, seed=s, steps=3) for s in (1, 2)]
    backends["sd"].generate(specs, on_step=lambda i, n: calls.append((i, n)))
    assert calls == [(i, 6) for i in range(1, 7)]  # on the CPU the two run one after the other


def test_should_stop_cancels_and_the_backend_keeps_working(backends: dict[str, GeneratorBackend]) -> None:
    backend = backends["sdxl"]
    seen: list[int] = []
    spec = GenerateSpec("beach", "", 64, 64, seed=1, steps=5)
    with pytest.raises(JobCancelledError, match="after 2 of 5 steps"):
        backend.generate([spec], on_step=lambda i, n: seen.append(i), should_stop=lambda: len(seen) >= 2)
    assert seen == [1, 2]
    with pytest.raises(JobCancelledError, match="after 0 of 5"):
        backend.generate([spec], should_stop=lambda: True)
    assert backend.generate([spec])[0].size == (64, 64)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_any_output_size_is_served_exactly(
    backends: dict[str, GeneratorBackend], width: int, height: int
) -> None:
    image = backends["sd"].generate([GenerateSpec("beach", "", width, height, seed=2, steps=1)])[0]
    assert image.size == (width, height)


def test_mixed_sizes_in_one_call_come_back_in_order(backends: dict[str, GeneratorBackend]) -> None:
    specs = [GenerateSpec("beach", "", w, h, seed=i, steps=1) for i, (w, h) in enumerate(SIZES)]
    images = backends["sdxl"].generate(specs)
    assert [im.size for im in images] == SIZES


def test_batch_keys_group_what_can_share_a_call(backends: dict[str, GeneratorBackend]) -> None:
    sdxl = backends["sdxl"].preset
    a = GenerateSpec("beach", "", 1024, 1024, seed=1, steps=2)
    assert batch_key(sdxl, a) == batch_key(sdxl, replace(a, seed=9, prompt="marble", width=900, height=900))
    assert batch_key(sdxl, a) != batch_key(sdxl, replace(a, width=1920, height=1080))  # another bucket
    assert batch_key(sdxl, a) != batch_key(sdxl, replace(a, steps=3))
    assert batch_key(sdxl, a) != batch_key(sdxl, replace(a, negative_prompt="blurry"))
    sd = backends["sd"].preset
    assert batch_key(sd, a) == batch_key(sd, replace(a, width=1920, height=1080))  # one native size


def test_memory_and_close(offline_env: Settings) -> None:
    backend = load_backend(get_preset(str(tiny_model_dir("sd")), offline_env), offline_env)
    assert isinstance(backend, DiffusersBackend) and backend.name == "tiny-sd"
    assert 100_000 < backend.memory_bytes() < 10_000_000
    backend.close()
    assert backend.memory_bytes() == 0
    with pytest.raises(ModelError, match="unloaded"):
        backend.generate([GenerateSpec("beach", "", 64, 64, seed=1, steps=1)])


def test_a_cached_hub_preset_loads_with_its_fp16_variant(offline_env: Settings, tmp_path: Path) -> None:
    repo = make_tiny_sd(
        tmp_path / "repo", variant="fp16"
    )  # only *.fp16.safetensors, as `models pull` leaves it
    from tests.support.tiny_pipelines import install_in_hf_cache

    install_in_hf_cache(repo, weights.hf_cache_dir(offline_env), "acme/tiny-sd")
    registry = Registry.default(offline_env)
    registry.register_preset(
        replace(registry.preset("sd-1.5"), name="tiny-sd15", hub_id="acme/tiny-sd", native_size=(64, 64))
    )
    preset = get_preset("tiny-sd15", offline_env, registry=registry)
    backend = load_backend(preset, offline_env, registry=registry)
    try:
        image = backend.generate([GenerateSpec("beach", "", 80, 80, seed=3, steps=2)])[0]
    finally:
        backend.close()
    assert backend.name == "tiny-sd15" and image.size == (80, 80)
    adhoc = get_preset("acme/tiny-sd", offline_env)
    assert adhoc.variant == "fp16" and adhoc.native_size == (32, 32)


# ---- load errors -------------------------------------------------------------------------------------


def test_missing_weights_offline_are_an_error_naming_the_pull(offline_env: Settings) -> None:
    with pytest.raises(ModelError) as info:
        load_backend(get_preset("sd-1.5", offline_env), offline_env)
    assert "productshot models pull sd-1.5" in str(info.value) and "HF_HUB_OFFLINE" in str(info.value)
    with pytest.raises(ModelError, match="productshot models pull someone/unknown-model"):
        load_backend(get_preset("someone/unknown-model", offline_env), offline_env)


def test_gated_model_without_token_names_hf_token_and_the_env_file(offline_env: Settings) -> None:
    with pytest.raises(ModelError) as info:
        load_backend(get_preset("flux.1-dev", offline_env), offline_env)
    message = str(info.value)
    assert "HF_TOKEN" in message and str(offline_env.home / ".env") in message
    assert "https://huggingface.co/black-forest-labs/FLUX.1-dev" in message
    with pytest.raises(ModelError, match=r"gated and no HF_TOKEN is set.*HF_TOKEN"):
        weights.pull(get_preset("sd-3.5-medium", offline_env), offline_env.with_overrides(extra_env=()))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("delete_unet_weights", "unet has no .safetensors weights"),
        ("truncate_vae", "truncated"),
        ("garbage_unet_config", "config.json is not valid JSON"),
        ("drop_text_encoder", "component 'text_encoder'"),
        ("garbage_weights", "no valid safetensors header"),
    ],
)
def test_a_damaged_model_folder_is_a_clear_error(
    offline_env: Settings, tmp_path: Path, damage: str, expected: str
) -> None:
    folder = copy_tiny_model("sd", tmp_path / "damaged")
    preset = get_preset(str(folder), offline_env)
    if damage == "delete_unet_weights":
        (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    elif damage == "truncate_vae":
        path = folder / "vae" / "diffusion_pytorch_model.safetensors"
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "garbage_unet_config":
        (folder / "unet" / "config.json").write_text("]]", encoding="utf-8")
    elif damage == "drop_text_encoder":
        shutil.rmtree(folder / "text_encoder")
    else:
        (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ModelError, match=expected) as info:
        load_backend(preset, offline_env)
    assert str(folder) in str(info.value)


def test_a_pipeline_diffusers_cannot_build_is_a_model_error(offline_env: Settings, tmp_path: Path) -> None:
    folder = copy_tiny_model("sd", tmp_path / "wrong")
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["cross_attention_dim"] = 48  # no longer matches the saved weights
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"could not be loaded from .*productshot models pull"):
        load_backend(get_preset(str(folder), offline_env), offline_env)


def test_device_placement_forms(offline_env: Settings) -> None:
    preset = get_preset(str(tiny_model_dir("sd")), offline_env)
    with pytest.raises(
        ModelError, match=r"device_map 'auto' is not supported for a whole pipeline.*balanced"
    ):
        load_backend(preset, offline_env, device_map="auto")
    with pytest.raises(BadRequestError, match="no CUDA GPU"):
        load_backend(preset, offline_env, device="cuda")
    backend = load_backend(preset, offline_env, device_map="cpu")  # a supported pipeline-level form
    try:
        assert backend.generate([GenerateSpec("beach", "", 64, 64, seed=1, steps=1)])[0].size == (64, 64)
    finally:
        backend.close()


# ---- studio and generate_local ----------------------------------------------------------------------


def test_studio_backend_is_seeded_and_batch_invariant(offline_env: Settings) -> None:
    studio = load_backend(get_preset("studio", offline_env), offline_env)
    assert (studio.name, studio.device, studio.memory_bytes()) == ("studio", "cpu", 0)
    spec = GenerateSpec("simple beach", "", 300, 200, seed=5)
    steps: list[tuple[int, int]] = []
    batch = studio.generate(
        [GenerateSpec("marble", "", 64, 64, seed=1), spec], on_step=lambda i, n: steps.append((i, n))
    )
    alone = studio.generate([spec])[0]
    assert steps == [(1, 2), (2, 2)] and alone.size == (300, 200)
    assert np.array_equal(_arr(alone), _arr(batch[1]))
    other = studio.generate([replace(spec, seed=6)])[0]
    assert not np.array_equal(_arr(alone), _arr(other))
    with pytest.raises(JobCancelledError):
        studio.generate([spec], should_stop=lambda: True)


def test_the_runner_reports_what_served_it(offline_env: Settings) -> None:
    runner = ModelRunner(offline_env)
    try:
        preset, reason = runner.resolve(str(tiny_model_dir("sdxl")))
        assert reason is None
        spec = spec_for(preset, "beach", width=200, height=120, seed=11, steps=2)
        made = runner.generate(preset, spec)
        assert isinstance(made, Generated) and made.image.size == (200, 120)
        assert made.backend == "tiny-sdxl" and made.seed == 11 and made.steps == 2
        assert made.device == "cpu" and made.load_seconds > 0 and made.seconds > 0
        assert made.guidance == preset.default_guidance
        assert made.native_size == native_size_for(preset, 200, 120)
        again = runner.generate(preset, spec)  # loaded once: the second call loads nothing
        assert again.load_seconds < made.load_seconds and again.image.tobytes() == made.image.tobytes()
        # The same spec straight on a backend gives the same pixels: the runner adds nothing to them.
        alone = load_backend(preset, offline_env)
        try:
            assert alone.generate([spec])[0].tobytes() == made.image.tobytes()
        finally:
            alone.close()
        studio, why = runner.resolve("auto")
        made2 = runner.generate(studio, spec_for(studio, "beach", width=200, height=120, seed=11))
        assert made2.backend == "studio" and why and "studio" in why and made2.image.size == (200, 120)
    finally:
        runner.close()


def test_spec_for_fills_what_the_request_leaves_out(offline_env: Settings) -> None:
    """One place turns a request into a spec: the model's native aspect, a drawn seed, the preset's steps."""
    preset = get_preset("studio", offline_env)
    spec = spec_for(preset, "beach")
    assert (spec.width, spec.height) == output_size(preset.native_size, None, None) == preset.native_size
    assert spec.steps == preset.default_steps and spec.guidance == preset.default_guidance
    assert 0 <= spec.seed <= 2**32 - 1 and spec.negative_prompt == ""
    native_w, native_h = preset.native_size
    assert spec_for(preset, "beach", width=600).height == round(600 * native_h / native_w)
    assert spec_for(preset, "beach", height=300).width == round(300 * native_w / native_h)
    assert spec_for(preset, "beach", width=70, height=4000, seed=5, steps=3).steps == 3
    with pytest.raises(BadRequestError, match="width"):
        spec_for(preset, "beach", width=10, height=100)
    with pytest.raises(BadRequestError, match="seed"):
        spec_for(preset, "beach", seed=-1)


# ---- fitting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_fit_to_size_gives_exact_sizes(width: int, height: int) -> None:
    assert fit_to_size(Image.new("RGB", (512, 512), "white"), width, height).size == (width, height)


def test_fit_to_size_crops_around_the_centre() -> None:
    source = Image.new("RGB", (300, 100), (0, 0, 255))
    source.paste((0, 255, 0), (100, 0, 200, 100))  # green middle third
    square = np.asarray(fit_to_size(source, 100, 100))
    assert (square[:, 10:90, 1] > 200).all() and (square[:, 10:90, 2] < 50).all()


def test_native_sizes_per_family(offline_env: Settings) -> None:
    registry = Registry.default(offline_env)
    sdxl, sd15, flux, studio = (
        registry.preset(n) for n in ("sdxl-base-1.0", "sd-1.5", "flux.1-schnell", "studio")
    )
    assert sdxl and sd15 and flux and studio
    assert native_size_for(sdxl, 1024, 1024) == (1024, 1024)
    assert native_size_for(sdxl, 1920, 1080) == (1344, 768)
    assert native_size_for(sdxl, 1080, 1920) == (768, 1344)
    assert native_size_for(sdxl, 1000, 800) == (1152, 896)
    assert native_size_for(sdxl, 1500, 1000) == (1216, 832)
    assert native_size_for(sdxl, 4096, 64) == (1536, 640)
    assert native_size_for(sdxl, 64, 4096) == (640, 1536)
    assert native_size_for(sd15, 4096, 64) == (512, 512)
    assert native_size_for(studio, 1000, 333) == (1000, 333)
    for w, h in bucket_sizes(flux.native_size, flux.size_multiple):
        assert w % 16 == 0 and h % 16 == 0 and 0.85 < (w * h) / 1024**2 < 1.15
    with pytest.raises(BadRequestError, match="width must be from 64 to 4096"):
        native_size_for(sdxl, 5000, 100)
    with pytest.raises(BadRequestError, match="height must be a whole number"):
        check_size(100, None)


# ---- devices -----------------------------------------------------------------------------------------


def test_device_choice_on_this_machine() -> None:
    assert devices.pick_device() == "cpu" and devices.pick_device("CPU") == "cpu"
    assert devices.accelerator_available() is False
    with pytest.raises(BadRequestError, match="device must be one of"):
        devices.pick_device("gpu0")
    with pytest.raises(BadRequestError, match="no Apple MPS"):
        devices.pick_device("mps")


def test_dtypes_per_device(offline_env: Settings) -> None:
    import torch

    registry = Registry.default(offline_env)
    turbo, flux = registry.preset("sdxl-turbo"), registry.preset("flux.1-schnell")
    assert turbo and flux
    assert (
        devices.dtype_for(turbo, "cpu") is torch.float32 and devices.dtype_for(flux, "cpu") is torch.float32
    )
    assert devices.dtype_name_for(turbo, "cuda:0") == "float16"
    assert (
        devices.dtype_name_for(turbo, "mps") == "float16" and devices.dtype_name_for(flux, "mps") == "float32"
    )


def test_out_of_memory_is_recognised_through_wrappers() -> None:
    import torch

    assert devices.is_out_of_memory(
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
    )
    assert devices.is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert devices.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 17 GB)"))
    assert devices.is_out_of_memory(MemoryError())
    try:
        try:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        except RuntimeError as inner:
            raise ModelError("sdxl-turbo does not fit") from inner
    except ModelError as wrapped:
        assert devices.is_out_of_memory(wrapped)
    assert not devices.is_out_of_memory(ValueError("height must be divisible by 8"))
    assert not devices.is_out_of_memory(RuntimeError("expected scalar type Half"))


def test_device_memory_on_the_cpu() -> None:
    info = devices.device_memory("cpu")
    assert info["device"] == "cpu" and info["rss"] > 10_000_000 and info["rss_peak"] >= info["rss"]


# ---- pulling from a local Hub stand-in ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    repo = tmp_path_factory.mktemp("hub-repo")
    make_tiny_sd(repo)
    make_tiny_sd(repo, variant="fp16")
    shutil.copy(
        repo / "unet" / "diffusion_pytorch_model.safetensors", repo / "single_file_checkpoint.safetensors"
    )
    (repo / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"a pickle nobody should load")
    server = FakeHub(
        {"acme/tiny-sd": FakeRepo(repo), "acme/gated-sd": FakeRepo(repo, gated=True, token="hf_ok")}
    )
    yield server.start()
    server.stop()


def _online_env(cli_env: dict[str, str], hub: FakeHub, cache: Path, **extra: str) -> dict[str, str]:
    """A CLI environment pointing at the stand-in Hub. Pulls run in a subprocess: huggingface_hub freezes
    HF_HUB_OFFLINE at import, and this module imported it offline."""
    env = {k: v for k, v in cli_env.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    return {**env, "HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(cache), **extra}


def test_pull_downloads_only_the_needed_files_then_loads(
    hub: FakeHub, cli_env: dict[str, str], offline_env: Settings, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    done = _productshot(["models", "pull", "acme/tiny-sd", "--json"], _online_env(cli_env, hub, cache))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    snapshot = Path(payload["path"])
    assert payload["backend"] == "huggingface_hub" and payload["bytes"] > 100_000 and snapshot.is_dir()
    files = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}
    assert "model_index.json" in files and "unet/diffusion_pytorch_model.fp16.safetensors" in files
    assert not any(f.endswith(".bin") or f == "single_file_checkpoint.safetensors" for f in files)
    assert not any(f.endswith(".safetensors") and ".fp16." not in f for f in files)  # fp16 only
    settings = offline_env.with_overrides(extra_env=(("HF_HUB_CACHE", str(cache)), ("HF_HUB_OFFLINE", "1")))
    preset = get_preset("acme/tiny-sd", settings)
    assert preset.native_size == (32, 32) and weights.missing_weights(preset, settings) is None
    backend = load_backend(preset, settings)
    try:
        assert backend.generate([GenerateSpec("beach", "", 64, 64, seed=1, steps=1)])[0].size == (64, 64)
    finally:
        backend.close()


def test_pull_of_a_gated_repo_needs_the_right_token(
    hub: FakeHub, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    refused = _productshot(
        ["models", "pull", "acme/gated-sd"], _online_env(cli_env, hub, cache, HF_TOKEN="hf_no")
    )
    assert refused.returncode == 2 and "gated: the Hub refused this token" in refused.stderr
    assert "HF_TOKEN" in refused.stderr and ".env" in refused.stderr
    allowed = _productshot(
        ["models", "pull", "acme/gated-sd"], _online_env(cli_env, hub, cache, HF_TOKEN="hf_ok")
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "acme/gated-sd" in allowed.stdout and "GiB in" in allowed.stdout


def test_pull_errors_are_clear_and_asked_once(hub: FakeHub, cli_env: dict[str, str], tmp_path: Path) -> None:
    asked_before = len(hub.requests)
    missing = _productshot(["models", "pull", "acme/no-such-repo"], _online_env(cli_env, hub, tmp_path))
    asked = [line for line in hub.requests[asked_before:] if "no-such-repo" in line]
    assert len(asked) == 1, f"a missing repo is asked about once, not retried: {asked}"
    closed = _online_env(cli_env, hub, tmp_path, HF_ENDPOINT="http://127.0.0.1:9")
    unreachable = _productshot(["models", "pull", "sd-turbo"], closed)
    assert missing.returncode == 2 and "was not found on the Hugging Face Hub" in missing.stderr
    assert unreachable.returncode == 2 and "could not be reached" in unreachable.stderr
    with pytest.raises(ModelError, match="built-in studio generator"):
        weights.pull(
            get_preset("studio", Settings.from_mapping({}, home=tmp_path)),
            Settings.from_mapping({}, home=tmp_path),
        )


# ---- the model commands ------------------------------------------------------------------------------

_CLI = (
    "import sys\n"
    "from productshot.cli import main\n"
    "name = 'productshot.cli.models_cmds'\n"
    "if name not in main.COMMAND_MODULES:\n"
    "    main.COMMAND_MODULES = (*main.COMMAND_MODULES, name)\n"
    "sys.exit(main.main(sys.argv[1:]))\n"
)


def _productshot(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _handler(argv: list[str]) -> argparse.Namespace:
    from productshot.cli import models_cmds

    parser = argparse.ArgumentParser(prog="productshot")
    models_cmds.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_models_command_lists_presets_with_licences(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "HF_HUB_CACHE": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": "1"}
    done = _productshot(["models", "--json"], env)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["backend"] == "registry" and payload["seconds"] >= 0
    rows = {row["name"]: row for row in payload["models"]}
    assert rows["flux.1-schnell"]["licence"] == "Apache-2.0" and rows["studio"]["available"] is True
    assert payload["auto"]["model"] == "studio" and "sdxl-turbo" in payload["auto"]["reason"]
    assert any(c["name"] == "u2netp" for c in payload["cutout_models"])
    table = _productshot(["models"], env)
    assert table.returncode == 0 and "sdxl-turbo*" in table.stdout and "Apache-2.0" in table.stdout
    assert "auto -> studio" in table.stdout


def test_pull_command_refuses_before_touching_the_hub(
    hub: FakeHub, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = _online_env(cli_env, hub, tmp_path / "c")
    asked_before = len(hub.requests)
    unknown = _productshot(["models", "pull", "sdxl-turbbo"], env)
    gated = _productshot(["models", "pull", "flux.1-dev"], env)
    offline = _productshot(["models", "pull", "sdxl-turbo"], {**env, "HF_HUB_OFFLINE": "1"})
    assert hub.requests[asked_before:] == [], "unknown, gated-without-token and offline never reach the Hub"
    assert unknown.returncode == 2 and "unknown model 'sdxl-turbbo'" in unknown.stderr
    assert gated.returncode == 2 and "HF_TOKEN" in gated.stderr and ".env" in gated.stderr
    assert offline.returncode == 2 and "HF_HUB_OFFLINE=1" in offline.stderr and "offline" in offline.stderr
    for done in (unknown, gated, offline):
        assert "Traceback" not in done.stderr


def test_bench_models_compares_and_writes_a_contact_sheet(
    offline_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet_path = tmp_path / "sheet.png"
    sd, sdxl = str(tiny_model_dir("sd")), str(tiny_model_dir("sdxl"))
    argv = ["bench", "models", "--models", sd, sdxl, "studio", "--prompt", "beach", "--prompt", "marble"]
    args = _handler(
        [*argv, "--seed", "1", "--seed", "2", "--steps", "2", "--cell", "64", "-o", str(sheet_path), "--json"]
    )
    assert args.handler(args, offline_env) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["backend"] == "bench" and payload["rows"] == 3 and payload["columns"] == 4
    assert [m["model"] for m in payload["models"]] == [sd, sdxl, "studio"]
    for run in payload["models"]:
        assert (
            run["error"] is None
            and run["load_seconds"] >= 0
            and run["first_seconds"] > 0
            and run["warm_seconds"] > 0
        )
        assert run["peak_bytes"] >= 0 and run["peak_source"]
    assert payload["models"][0]["native_size"] == [32, 32] and payload["models"][1]["native_size"] == [64, 64]
    with Image.open(sheet_path) as sheet:
        assert sheet.size == (260 + 4 * 64, 44 + 3 * 64)
        pixels = np.asarray(sheet.convert("RGB")).astype(np.int16)
    for row in range(3):  # every cell of every row holds an image, not the empty-cell fill
        for col in range(4):
            cell = pixels[44 + row * 64 + 8 : 44 + row * 64 + 56, 260 + col * 64 + 8 : 260 + col * 64 + 56]
            assert cell.std() > 0.5


def test_bench_models_keeps_going_past_a_model_that_fails(
    offline_env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _handler(
        ["bench", "models", "--models", "sd-1.5", "studio", "--cell", "48", "-o", str(tmp_path / "s.png")]
    )
    assert args.handler(args, offline_env) == 1
    out = capsys.readouterr().out
    assert "sd-1.5" in out and "failed" in out and "productshot models pull sd-1.5" in out and "studio" in out
    with Image.open(tmp_path / "s.png") as sheet:
        assert sheet.size[1] == 44 + 2 * 48
