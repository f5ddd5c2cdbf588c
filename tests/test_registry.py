"""The model registry: the preset table, name/id/folder resolution, `auto`, availability and plugins.

Everything here reads files only (no torch, no network): availability is decided from a Hugging Face cache
laid out on disk by the test, exactly as `huggingface_hub` writes it.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from productshot.errors import ModelError
from productshot.models import weights
from productshot.models.registry import (
    AUTO_PIPELINE,
    BUILTIN_PRESETS,
    Registry,
    get_preset,
    list_presets,
    load_plugins,
    resolve_auto,
)
from productshot.settings import Settings
from tests.support.tiny_pipelines import (
    TINY_NATIVE_SIZES,
    copy_tiny_model,
    install_in_hf_cache,
    tiny_model_dir,
)

REQUIRED = {
    "sd-1.4": "CompVis/stable-diffusion-v1-4",
    "sd-1.5": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl-base-0.9": "stabilityai/stable-diffusion-xl-base-0.9",
    "sdxl-base-1.0": "stabilityai/stable-diffusion-xl-base-1.0",
    "sdxl-turbo": "stabilityai/sdxl-turbo",
    "sd-3.5-medium": "stabilityai/stable-diffusion-3.5-medium",
    "sd-turbo": "stabilityai/sd-turbo",
    "flux.1-schnell": "black-forest-labs/FLUX.1-schnell",
    "flux.1-dev": "black-forest-labs/FLUX.1-dev",
}


def _settings(home: Path, cache: Path, **env: str) -> Settings:
    base = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", **env}
    return Settings.from_mapping(base, home=home)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@pytest.fixture
def offline(home: Path, cache: Path) -> Settings:
    """Settings with an empty Hugging Face cache, offline."""
    return _settings(home, cache)


# ---- the table ---------------------------------------------------------------------------------------


def test_every_required_preset_is_in_the_table_with_its_hub_id(offline: Settings) -> None:
    registry = Registry.default(offline)
    for name, hub_id in REQUIRED.items():
        preset = registry.preset(name)
        assert preset is not None, name
        assert preset.hub_id == hub_id and preset.kind == "diffusers"
    studio = registry.preset("studio")
    assert studio is not None and studio.kind == "studio" and studio.hub_id is None
    assert len({p.name for p in BUILTIN_PRESETS}) == len(BUILTIN_PRESETS)


def test_preset_rows_carry_model_card_facts(offline: Settings) -> None:
    registry = Registry.default(offline)
    turbo = registry.preset("sdxl-turbo")
    assert turbo is not None
    assert (turbo.native_size, turbo.default_guidance, turbo.commercial_ok) == ((512, 512), 0.0, False)
    assert (
        1 <= turbo.default_steps <= 4 and turbo.variant == "fp16" and "commercial use needs" in turbo.licence
    )
    for name in ("sd-turbo", "flux.1-schnell"):
        fast = registry.preset(name)
        assert fast is not None and 1 <= fast.default_steps <= 4
    gated = {p.name for p in registry.presets() if p.gated}
    assert gated == {"sdxl-base-0.9", "sd-3.5-medium", "flux.1-dev"}
    licences = {p.name: p.licence for p in registry.presets()}
    assert licences["flux.1-schnell"] == "Apache-2.0"
    assert licences["flux.1-dev"] == "FLUX.1 [dev] Non-Commercial License"
    assert licences["sd-1.5"] == "CreativeML OpenRAIL-M"
    assert licences["sdxl-base-1.0"] == "CreativeML Open RAIL++-M"
    assert licences["sd-3.5-medium"] == "Stability AI Community License"
    assert licences["sdxl-base-0.9"] == "SDXL 0.9 Research License"
    dev = registry.preset("flux.1-dev")
    assert dev is not None and dev.cpu_offload and dev.memory_gb > 24 and dev.size_multiple == 16
    assert {registry.preset(n).native_size for n in ("sd-1.4", "sd-1.5")} == {(512, 512)}
    assert {registry.preset(n).native_size for n in ("sdxl-base-1.0", "sd-3.5-medium")} == {(1024, 1024)}


def test_a_bad_row_is_refused_with_the_field_named() -> None:
    row = BUILTIN_PRESETS[0]
    with pytest.raises(ModelError, match="dtype must be one of"):
        replace(row, dtype="float8")
    with pytest.raises(ModelError, match="native_size"):
        replace(row, native_size=(0, 512))
    with pytest.raises(ModelError, match="sizing"):
        replace(row, sizing="stretch")


# ---- resolving names ---------------------------------------------------------------------------------


def test_unknown_name_lists_the_presets_and_the_fix(offline: Settings) -> None:
    with pytest.raises(ModelError) as info:
        get_preset("sdxl-turbbo", offline)
    message = str(info.value)
    assert "unknown model 'sdxl-turbbo'" in message
    for name in (*REQUIRED, "studio", "auto"):
        assert name in message
    assert "productshot models" in message
    with pytest.raises(ModelError, match="non-empty"):
        get_preset("  ", offline)


def test_names_are_case_insensitive_and_hub_ids_become_ad_hoc_presets(offline: Settings) -> None:
    assert get_preset("SDXL-Turbo", offline).name == "sdxl-turbo"
    adhoc = get_preset("someone/product-backdrops", offline)
    assert adhoc.name == adhoc.hub_id == "someone/product-backdrops"
    assert adhoc.pipeline_class == AUTO_PIPELINE and adhoc.kind == "diffusers"
    assert list_presets(offline)  # ad-hoc lookups never add rows
    assert "someone/product-backdrops" not in Registry.default(offline).names()


@pytest.mark.parametrize("kind", ["sd", "sdxl", "sd3"])
def test_a_local_folder_is_an_ad_hoc_preset_sized_from_its_configs(offline: Settings, kind: str) -> None:
    folder = tiny_model_dir(kind)
    preset = get_preset(str(folder), offline)
    assert preset.name == preset.hub_id == str(folder)
    assert preset.backend_name == folder.name and preset.local_folder == folder
    assert preset.pipeline_class == AUTO_PIPELINE
    assert preset.native_size == TINY_NATIVE_SIZES[kind]
    assert preset.sizing == ("fixed" if kind == "sd" else "buckets")
    assert preset.size_multiple == (16 if kind == "sd3" else 8)
    assert preset.text_encoder == ("t5" if kind == "sd3" else "clip")
    assert weights.missing_weights(preset, offline) is None


def test_folders_that_are_not_pipelines_are_clear_errors(offline: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match=r"has no model_index\.json"):
        get_preset(str(empty), offline)
    with pytest.raises(ModelError, match="does not exist"):
        get_preset(str(tmp_path / "nope"), offline)
    checkpoint = tmp_path / "sd_xl_turbo_1.0_fp16.safetensors"
    checkpoint.write_bytes(b"weights")
    with pytest.raises(ModelError, match="is a file: give a diffusers pipeline folder"):
        get_preset(str(checkpoint), offline)
    garbage = copy_tiny_model("sd", tmp_path / "garbage")
    (garbage / "model_index.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"model_index\.json is not valid JSON"):
        get_preset(str(garbage), offline)
    classless = copy_tiny_model("sd", tmp_path / "classless")
    (classless / "model_index.json").write_text(json.dumps({"unet": ["diffusers", "UNet2DConditionModel"]}))
    with pytest.raises(ModelError, match="_class_name"):
        get_preset(str(classless), offline)


# ---- availability and auto ---------------------------------------------------------------------------


def test_list_presets_shows_licences_availability_and_the_fix(offline: Settings) -> None:
    rows = {row["name"]: row for row in list_presets(offline)}
    assert set(REQUIRED) | {"studio"} <= set(rows)
    for row in rows.values():
        assert row["licence"] and isinstance(row["commercial_ok"], bool)
        assert isinstance(row["native_size"], list) and row["memory_gb"] >= 0
    assert rows["studio"]["available"] is True and rows["studio"]["missing"] is None
    turbo = rows["sdxl-turbo"]
    assert turbo["available"] is False and turbo["default"] is True
    assert "productshot models pull sdxl-turbo" in turbo["missing"]
    assert "HF_HUB_OFFLINE" in turbo["missing"]
    dev = rows["flux.1-dev"]["missing"]
    assert "HF_TOKEN" in dev and str(offline.home / ".env") in dev


def test_auto_is_studio_on_this_cpu_machine_and_says_why(offline: Settings) -> None:
    preset, reason = resolve_auto(offline)
    assert preset.name == "studio"
    assert "sdxl-turbo" in reason and "productshot models pull sdxl-turbo" in reason
    assert get_preset("auto", offline).name == "studio"


def test_auto_with_weights_present_needs_an_accelerator(home: Path, cache: Path) -> None:
    install_in_hf_cache(tiny_model_dir("sdxl"), cache, "stabilityai/sdxl-turbo")
    settings = _settings(home, cache)
    turbo = get_preset("sdxl-turbo", settings)
    assert weights.missing_weights(turbo, settings) is None
    assert {r["name"]: r["available"] for r in list_presets(settings)}["sdxl-turbo"] is True
    preset, reason = resolve_auto(settings, device="cpu")
    assert preset.name == "studio" and "no CUDA or MPS accelerator" in reason and "sdxl-turbo" in reason
    preset, reason = resolve_auto(settings)  # this machine has no GPU
    assert preset.name == "studio"
    preset, reason = resolve_auto(settings, device="cuda:0")
    assert preset.name == "sdxl-turbo" and "cuda:0" in reason


def test_one_setting_makes_flux_schnell_the_default(home: Path, cache: Path) -> None:
    settings = _settings(home, cache, PRODUCTSHOT_DIFFUSION_DEFAULT="flux.1-schnell")
    preset, reason = resolve_auto(settings, device="cuda:0")
    assert preset.name == "studio" and "flux.1-schnell" in reason
    install_in_hf_cache(tiny_model_dir("sd3"), cache, "black-forest-labs/FLUX.1-schnell")
    preset, reason = resolve_auto(settings, device="cuda:0")
    assert preset.name == "flux.1-schnell" and preset.licence == "Apache-2.0"
    rows = {r["name"]: r for r in list_presets(settings)}
    assert rows["flux.1-schnell"]["default"] and not rows["sdxl-turbo"]["default"]
    bad = _settings(home, cache, PRODUCTSHOT_DIFFUSION_DEFAULT="sdxl-trubo")
    with pytest.raises(ModelError, match="PRODUCTSHOT_DIFFUSION_DEFAULT='sdxl-trubo'"):
        resolve_auto(bad)


def test_damaged_cached_weights_are_not_available(home: Path, cache: Path) -> None:
    snapshot = install_in_hf_cache(tiny_model_dir("sdxl"), cache, "stabilityai/sdxl-turbo")
    settings = _settings(home, cache)
    turbo = get_preset("sdxl-turbo", settings)
    blob = (snapshot / "unet" / "diffusion_pytorch_model.safetensors").resolve()
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])  # an interrupted download
    problem = weights.missing_weights(turbo, settings)
    assert problem is not None and "truncated" in problem and "productshot models pull sdxl-turbo" in problem
    blob.unlink()  # a dangling link: the blob is gone
    problem = weights.missing_weights(turbo, settings)
    assert problem is not None and "unet" in problem
    assert resolve_auto(settings, device="cuda:0")[0].name == "studio"


def test_folder_checks_name_the_broken_component(tmp_path: Path) -> None:
    folder = copy_tiny_model("sd", tmp_path / "m")
    assert weights.folder_problem(folder) is None
    (folder / "unet" / "diffusion_pytorch_model.safetensors").rename(
        folder / "unet" / "diffusion_pytorch_model.bin"
    )
    assert "pickle" in (weights.folder_problem(folder) or "")
    (folder / "unet" / "diffusion_pytorch_model.bin").unlink()
    assert "unet has no .safetensors weights" in (weights.folder_problem(folder) or "")
    shutil.rmtree(folder / "unet")
    assert "component 'unet'" in (weights.folder_problem(folder) or "")


def test_pull_takes_only_what_the_preset_needs() -> None:
    index = {"_class_name": "StableDiffusionXLPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"]}  # fmt: skip
    files = [
        "model_index.json",
        "README.md",
        "sd_xl_turbo_1.0_fp16.safetensors",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "text_encoder/model.onnx",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
        "onnx/unet/model.onnx",
    ]
    picked = set(weights.select_files(index, files, "fp16"))
    assert picked == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",  # no fp16 file for this component: the plain one
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    }
    plain = set(weights.select_files(index, files, None))
    assert "unet/diffusion_pytorch_model.safetensors" in plain
    assert "unet/diffusion_pytorch_model.fp16.safetensors" not in plain


def test_hf_cache_location_follows_the_settings(home: Path, tmp_path: Path) -> None:
    assert (
        weights.hf_cache_dir(Settings.from_mapping({"HF_HOME": str(tmp_path)}, home=home)) == tmp_path / "hub"
    )
    explicit = Settings.from_mapping({"HF_HUB_CACHE": str(tmp_path / "c"), "HF_HOME": "/x"}, home=home)
    assert weights.hf_cache_dir(explicit) == tmp_path / "c"


# ---- plugins -----------------------------------------------------------------------------------------

PLUGIN = '''
"""A plugin adding a backend kind and a preset for it."""
from PIL import Image

from productshot.models.fitting import SIZING_ANY
from productshot.models.registry import BackendKind, ModelPreset


class SolidBackend:
    device = "cpu"
    dtype = "float32"

    def __init__(self, preset):
        self.preset = preset
        self.name = preset.name

    def generate(self, specs, *, on_step=None, should_stop=None):
        return [Image.new("RGB", (s.width, s.height), (s.seed % 256, 10, 20)) for s in specs]

    def memory_bytes(self):
        return 0

    def close(self):
        pass


def register(registry):
    registry.register_backend(BackendKind("solid", lambda p, s, o: SolidBackend(p), lambda p, s: None))
    registry.register_preset(ModelPreset(
        name="solid-colour", kind="solid", hub_id=None, pipeline_class="SolidBackend", native_size=(64, 64),
        default_steps=1, default_guidance=0.0, dtype="float32", variant=None, gated=False, licence="MIT",
        commercial_ok=True, memory_gb=0.0, cpu_offload=False, text_encoder="none",
        description="one colour per seed", sizing=SIZING_ANY))
'''


def _write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def test_plugins_register_presets_and_backends(
    home: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from productshot.models.generators import GenerateSpec, load_backend

    _write_module(tmp_path, "ps_solid_plugin", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = _settings(home, cache, PRODUCTSHOT_PLUGINS="ps_solid_plugin")
    registry = Registry.default(settings)
    assert registry.plugins == ["ps_solid_plugin"] and "solid" in registry.kinds()
    assert load_plugins(settings, registry) == ("ps_solid_plugin",)  # loading twice is a no-op
    preset = get_preset("solid-colour", settings, registry=registry)
    rows = {r["name"]: r for r in list_presets(settings, registry=registry)}
    assert rows["solid-colour"]["available"] is True and rows["solid-colour"]["licence"] == "MIT"
    backend = load_backend(preset, settings, registry=registry)
    image = backend.generate([GenerateSpec("anything", "", 100, 70, seed=300)])[0]
    assert image.size == (100, 70) and image.getpixel((5, 5)) == (300 % 256, 10, 20)


def test_broken_plugins_are_named(
    home: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "ps_no_hook", "X = 1\n")
    _write_module(tmp_path, "ps_raises", "def register(registry):\n    raise RuntimeError('boom')\n")
    with pytest.raises(ModelError, match=r"'ps_missing_mod' .*PRODUCTSHOT_PLUGINS.* cannot be imported"):
        Registry.default(_settings(home, cache, PRODUCTSHOT_PLUGINS="ps_missing_mod"))
    with pytest.raises(ModelError, match="has no `register"):
        Registry.default(_settings(home, cache, PRODUCTSHOT_PLUGINS="ps_no_hook"))
    with pytest.raises(ModelError, match="failed to register: RuntimeError: boom"):
        Registry.default(_settings(home, cache, PRODUCTSHOT_PLUGINS="ps_raises"))


def test_a_row_is_added_once_unless_replaced(offline: Settings) -> None:
    registry = Registry.default(offline)
    turbo = registry.preset("sdxl-turbo")
    assert turbo is not None
    with pytest.raises(ModelError, match="already registered"):
        registry.register_preset(turbo)
    registry.register_preset(replace(turbo, default_steps=4), replace=True)
    assert registry.preset("sdxl-turbo").default_steps == 4
    with pytest.raises(ModelError, match="reserved"):
        registry.register_preset(replace(turbo, name="auto"))
    with pytest.raises(ModelError, match="no backend is registered for model kind 'nope'"):
        registry.backend("nope")
    assert Registry.default(offline).preset("sdxl-turbo").default_steps == 1
