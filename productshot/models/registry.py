"""The model registry: one table of presets, one way to add a row, and plugins that add rows and backends.

A preset says everything needed to load and run a model (hub id, pipeline class, native size, defaults,
dtype, licence, memory). Backends are registered per preset `kind` ("diffusers", "studio", or a plugin's),
so a new model family is a `register(registry)` hook in a plugin, never a new branch in an `if` chain; the
same hook may add cutout models (`register_cutout_model`). Plugins are found as installed entry points in
the group `productshot.plugins` (as llm finds its plugins) and as modules named in PRODUCTSHOT_PLUGINS.
State lives in a `Registry` object built by `Registry.default(settings)`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from productshot.errors import ModelError, ProductshotError
from productshot.models import weights
from productshot.models.fitting import SIZING_ANY, SIZING_BUCKETS, SIZING_FIXED, SIZINGS

if TYPE_CHECKING:
    from productshot.models.generators import GeneratorBackend
    from productshot.settings import Settings
    from productshot.tools.cutout import CutoutModel

AUTO = "auto"
STUDIO = "studio"
KIND_DIFFUSERS = "diffusers"
KIND_STUDIO = "studio"
AUTO_PIPELINE = "AutoPipelineForText2Image"

DTYPES = ("float16", "bfloat16", "float32")
TEXT_ENCODERS = ("clip", "t5", "none")
# Modules whose `register(registry)` hook provides the built-in backends, loaded exactly like plugins.
BUILTIN_HOOKS: tuple[str, ...] = ("productshot.models.generators",)
# Installed packages offer plugins as entry points in this group: `acme = "acme_productshot"` names a module
# with a `register(registry)` hook (`"module:function"` names the hook itself).
ENTRY_POINT_GROUP = "productshot.plugins"

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelPreset:
    """One model the worker can load: where its weights are, how to run it, and what its licence allows."""

    name: str  # "sdxl-turbo", "studio", or the hub id / folder path itself for ad-hoc models
    kind: str  # "diffusers" | "studio" | a plugin's kind
    hub_id: str | None  # Hugging Face repo id; a local folder's absolute path; None for studio
    pipeline_class: str  # diffusers class name, e.g. "StableDiffusionXLPipeline"
    native_size: tuple[int, int]  # (width, height) the model was trained at
    default_steps: int
    default_guidance: float
    dtype: str  # on CUDA; the CPU always runs float32 (devices.dtype_name_for)
    variant: str | None  # weights variant to prefer ("fp16") where the repo has it
    gated: bool  # the Hub asks for a licence click and HF_TOKEN
    licence: str
    commercial_ok: bool
    memory_gb: float  # rough accelerator memory for one image in fp16/bf16
    cpu_offload: bool  # use enable_model_cpu_offload() when the GPU has less than memory_gb
    text_encoder: str  # "clip" (77-token prompts), "t5" (long prompts), "none"
    description: str
    sizing: str = SIZING_FIXED  # fitting.SIZING_*: how the generation size is chosen
    size_multiple: int = 8  # generation sides are multiples of this

    def __post_init__(self) -> None:
        problems = []
        if not self.name.strip() or not self.kind.strip():
            problems.append("name and kind must not be empty")
        w, h = self.native_size
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            problems.append(f"native_size must be two positive integers, got {self.native_size!r}")
        if self.default_steps < 1:
            problems.append(f"default_steps must be at least 1, got {self.default_steps}")
        if self.default_guidance < 0:
            problems.append(f"default_guidance must not be negative, got {self.default_guidance}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.text_encoder not in TEXT_ENCODERS:
            problems.append(
                f"text_encoder must be one of {', '.join(TEXT_ENCODERS)}, got {self.text_encoder!r}"
            )
        if self.sizing not in SIZINGS:
            problems.append(f"sizing must be one of {', '.join(SIZINGS)}, got {self.sizing!r}")
        if self.size_multiple < 1:
            problems.append(f"size_multiple must be positive, got {self.size_multiple}")
        if problems:
            raise ModelError(f"model preset {self.name!r}: " + "; ".join(problems))

    @property
    def local_folder(self) -> Path | None:
        """The folder of a local-folder preset, else None."""
        return weights.weights_folder(self)

    @property
    def backend_name(self) -> str:
        """The name results report: the preset name, or a local folder's own name."""
        folder = self.local_folder
        return folder.name if folder is not None else self.name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["native_size"] = list(self.native_size)
        return data


@dataclass(frozen=True)
class LoadOptions:
    """Where and how to place a model: a device ("cuda:0", "mps", "cpu"; None picks), an optional
    pipeline-level device_map in a form diffusers supports ("balanced", the accelerator's name, "cpu"), and
    whether a batch's samples run one at a time so results are bit-identical to single runs (None: only
    on the CPU, where batching gains little)."""

    device: str | None = None
    device_map: str | None = None
    exact_batches: bool | None = None


BackendLoader = Callable[[ModelPreset, "Settings", LoadOptions], "GeneratorBackend"]
MissingCheck = Callable[[ModelPreset, "Settings"], "str | None"]


@dataclass(frozen=True)
class BackendKind:
    """How presets of one kind are loaded, and what (if anything) keeps one from loading here."""

    name: str
    load: BackendLoader
    missing: MissingCheck  # a reason naming the fix, or None when the preset can load


_SD_LICENCE = "CreativeML OpenRAIL-M"
_TURBO_LICENCE = (
    "Stability AI Non-Commercial Research Community License (commercial use needs Stability's licence)"
)

# The built-in table. Sizes and defaults follow each model card; memory is a rough fp16 figure for one image.
BUILTIN_PRESETS: tuple[ModelPreset, ...] = (
    ModelPreset(
        name="sd-1.4",
        kind=KIND_DIFFUSERS,
        hub_id="CompVis/stable-diffusion-v1-4",
        pipeline_class="StableDiffusionPipeline",
        native_size=(512, 512),
        default_steps=30,
        default_guidance=7.5,
        dtype="float16",
        variant="fp16",
        gated=False,
        licence=_SD_LICENCE,
        commercial_ok=True,
        memory_gb=3.5,
        cpu_offload=False,
        text_encoder="clip",
        description="Stable Diffusion 1.4 at 512 px: the first public checkpoint, soft detail.",
    ),
    ModelPreset(
        name="sd-1.5",
        kind=KIND_DIFFUSERS,
        hub_id="stable-diffusion-v1-5/stable-diffusion-v1-5",
        pipeline_class="StableDiffusionPipeline",
        native_size=(512, 512),
        default_steps=30,
        default_guidance=7.5,
        dtype="float16",
        variant="fp16",
        gated=False,
        licence=_SD_LICENCE,
        commercial_ok=True,
        memory_gb=3.5,
        cpu_offload=False,
        text_encoder="clip",
        description="Stable Diffusion 1.5 at 512 px: small and widely fine-tuned.",
    ),
    ModelPreset(
        name="sd-turbo",
        kind=KIND_DIFFUSERS,
        hub_id="stabilityai/sd-turbo",
        pipeline_class="StableDiffusionPipeline",
        native_size=(512, 512),
        default_steps=1,
        default_guidance=0.0,
        dtype="float16",
        variant="fp16",
        gated=False,
        licence=_TURBO_LICENCE,
        commercial_ok=False,
        memory_gb=3.5,
        cpu_offload=False,
        text_encoder="clip",
        description="SD 2.1 distilled for 1-4 steps at 512 px: the fastest diffusion preset.",
    ),
    ModelPreset(
        name="sdxl-base-0.9",
        kind=KIND_DIFFUSERS,
        hub_id="stabilityai/stable-diffusion-xl-base-0.9",
        pipeline_class="StableDiffusionXLPipeline",
        native_size=(1024, 1024),
        default_steps=30,
        default_guidance=7.0,
        dtype="float16",
        variant="fp16",
        gated=True,
        licence="SDXL 0.9 Research License",
        commercial_ok=False,
        memory_gb=8.0,
        cpu_offload=False,
        text_encoder="clip",
        description="SDXL 0.9 research preview at 1024 px; blurred product outlines in the experiments.",
        sizing=SIZING_BUCKETS,
    ),
    ModelPreset(
        name="sdxl-base-1.0",
        kind=KIND_DIFFUSERS,
        hub_id="stabilityai/stable-diffusion-xl-base-1.0",
        pipeline_class="StableDiffusionXLPipeline",
        native_size=(1024, 1024),
        default_steps=30,
        default_guidance=7.0,
        dtype="float16",
        variant="fp16",
        gated=False,
        licence="CreativeML Open RAIL++-M",
        commercial_ok=True,
        memory_gb=8.0,
        cpu_offload=False,
        text_encoder="clip",
        description="SDXL 1.0 base at 1024 px (aspect buckets): detailed, slower than turbo.",
        sizing=SIZING_BUCKETS,
    ),
    ModelPreset(
        name="sdxl-turbo",
        kind=KIND_DIFFUSERS,
        hub_id="stabilityai/sdxl-turbo",
        pipeline_class="StableDiffusionXLPipeline",
        native_size=(512, 512),
        default_steps=1,
        default_guidance=0.0,
        dtype="float16",
        variant="fp16",
        gated=False,
        licence=_TURBO_LICENCE,
        commercial_ok=False,
        memory_gb=7.5,
        cpu_offload=False,
        text_encoder="clip",
        description="SDXL distilled for 1-4 steps at 512 px: fast and reliably one single scene (the default).",
    ),
    ModelPreset(
        name="sd-3.5-medium",
        kind=KIND_DIFFUSERS,
        hub_id="stabilityai/stable-diffusion-3.5-medium",
        pipeline_class="StableDiffusion3Pipeline",
        native_size=(1024, 1024),
        default_steps=40,
        default_guidance=4.5,
        dtype="bfloat16",
        variant=None,
        gated=True,
        licence="Stability AI Community License",
        commercial_ok=True,
        memory_gb=18.0,
        cpu_offload=True,
        text_encoder="t5",
        description=(
            "SD 3.5 Medium (MMDiT + T5) at 1024 px: good looks, slow to load, weak on non-English prompts; "
            "free commercial use only under US$1M annual revenue."
        ),
        sizing=SIZING_BUCKETS,
        size_multiple=16,
    ),
    ModelPreset(
        name="flux.1-schnell",
        kind=KIND_DIFFUSERS,
        hub_id="black-forest-labs/FLUX.1-schnell",
        pipeline_class="FluxPipeline",
        native_size=(1024, 1024),
        default_steps=4,
        default_guidance=0.0,
        dtype="bfloat16",
        variant=None,
        gated=False,
        licence="Apache-2.0",
        commercial_ok=True,
        memory_gb=34.0,
        cpu_offload=True,
        text_encoder="t5",
        description="FLUX.1 [schnell], 4 steps at 1024 px, Apache-2.0: the commercial-friendly default choice.",
        sizing=SIZING_BUCKETS,
        size_multiple=16,
    ),
    ModelPreset(
        name="flux.1-dev",
        kind=KIND_DIFFUSERS,
        hub_id="black-forest-labs/FLUX.1-dev",
        pipeline_class="FluxPipeline",
        native_size=(1024, 1024),
        default_steps=28,
        default_guidance=3.5,
        dtype="bfloat16",
        variant=None,
        gated=True,
        licence="FLUX.1 [dev] Non-Commercial License",
        commercial_ok=False,
        memory_gb=34.0,
        cpu_offload=True,
        text_encoder="t5",
        description="FLUX.1 [dev] at 1024 px: top quality, ~34 GB of weights (offloaded on smaller GPUs).",
        sizing=SIZING_BUCKETS,
        size_multiple=16,
    ),
    ModelPreset(
        name=STUDIO,
        kind=KIND_STUDIO,
        hub_id=None,
        pipeline_class="productshot.tools.studio.render_backdrop",
        native_size=(1024, 1024),
        default_steps=1,
        default_guidance=0.0,
        dtype="float32",
        variant=None,
        gated=False,
        licence="Apache-2.0 (part of productshot)",
        commercial_ok=True,
        memory_gb=0.0,
        cpu_offload=False,
        text_encoder="none",
        description="Procedural backdrops from scene words (beach, marble, wood, ...): no GPU, no weights.",
        sizing=SIZING_ANY,
    ),
)


@dataclass(frozen=True)
class _Family:
    """Defaults for an ad-hoc model, chosen by its pipeline class name."""

    marker: str  # substring of model_index.json's _class_name; "" matches anything
    native: int
    sizing: str
    size_multiple: int
    text_encoder: str
    dtype: str
    steps: int
    guidance: float
    memory_gb: float
    cpu_offload: bool


_FAMILIES: tuple[_Family, ...] = (
    _Family("Flux", 1024, SIZING_BUCKETS, 16, "t5", "bfloat16", 28, 3.5, 34.0, True),
    _Family("StableDiffusion3", 1024, SIZING_BUCKETS, 16, "t5", "bfloat16", 28, 4.5, 18.0, True),
    _Family("StableDiffusionXL", 1024, SIZING_BUCKETS, 8, "clip", "float16", 30, 7.0, 8.0, False),
    _Family("", 512, SIZING_FIXED, 8, "clip", "float16", 30, 7.5, 3.5, False),
)


def _family(class_name: str) -> _Family:
    return next(f for f in _FAMILIES if f.marker in class_name)


def _native_from_folder(folder: Path, index: dict[str, Any], default: int) -> tuple[int, int]:
    """The pipeline's default size: the denoiser's sample_size × the VAE's scale factor (as diffusers does);
    `default` where the configs do not say (FLUX transformers have no sample_size)."""
    denoiser = next((n for n in ("unet", "transformer") if n in weights.components(index)), None)
    vae_path = folder / "vae" / "config.json"
    if denoiser is None or not vae_path.is_file():
        return default, default
    config = weights.read_json(folder / denoiser / "config.json", f"component {denoiser}")
    vae = weights.read_json(vae_path, "component vae")
    sample = config.get("sample_size") if isinstance(config, dict) else None
    blocks = vae.get("block_out_channels") if isinstance(vae, dict) else None
    if not isinstance(blocks, list) or not blocks or not isinstance(sample, int | list):
        return default, default
    factor = 2 ** (len(blocks) - 1)
    if isinstance(sample, list):
        return int(sample[1]) * factor, int(sample[0]) * factor
    return sample * factor, sample * factor


def preset_from_folder(folder: Path, *, name: str | None = None, hub_id: str | None = None) -> ModelPreset:
    """An ad-hoc preset for a diffusers pipeline folder (AutoPipelineForText2Image), sized from its configs."""
    folder = folder.expanduser().absolute()
    index = weights.read_model_index(folder)
    class_name = str(index["_class_name"])
    family = _family(class_name)
    native = _native_from_folder(folder, index, family.native)
    return ModelPreset(
        name=name or str(folder),
        kind=KIND_DIFFUSERS,
        hub_id=hub_id or str(folder),
        pipeline_class=AUTO_PIPELINE,
        native_size=native,
        default_steps=family.steps,
        default_guidance=family.guidance,
        dtype=family.dtype,
        variant=weights.detect_variant(folder),
        gated=False,
        licence="unknown: see the model's own card or LICENSE file",
        commercial_ok=False,
        memory_gb=family.memory_gb,
        cpu_offload=family.cpu_offload,
        text_encoder=family.text_encoder,
        description=f"ad-hoc {class_name} from {hub_id or folder}",
        sizing=family.sizing,
        size_multiple=family.size_multiple,
    )


def preset_for_hub_id(repo_id: str, settings: Settings) -> ModelPreset:
    """An ad-hoc preset for any Hub repo id; sized from the cached configs when the weights are here."""
    snapshot = weights.cached_snapshot(repo_id, settings)
    if snapshot is not None:
        return preset_from_folder(snapshot, name=repo_id, hub_id=repo_id)
    family = _family("")
    return ModelPreset(
        name=repo_id,
        kind=KIND_DIFFUSERS,
        hub_id=repo_id,
        pipeline_class=AUTO_PIPELINE,
        native_size=(family.native, family.native),
        default_steps=family.steps,
        default_guidance=family.guidance,
        dtype=family.dtype,
        variant="fp16",  # pulled as fp16 where the repo has it, full precision otherwise
        gated=False,
        licence="unknown: see the model card on the Hugging Face Hub",
        commercial_ok=False,
        memory_gb=family.memory_gb,
        cpu_offload=family.cpu_offload,
        text_encoder=family.text_encoder,
        description=f"ad-hoc model {repo_id} (not downloaded yet)",
    )


class Registry:
    """Presets by name and backends by kind. Build one with `Registry.default(settings)`."""

    def __init__(self) -> None:
        self._presets: dict[str, ModelPreset] = {}
        self._kinds: dict[str, BackendKind] = {}
        self._cutouts: dict[str, CutoutModel] = {}
        self.plugins: list[str] = []  # plugins whose hooks have run, in order (entry point values, modules)

    @classmethod
    def default(cls, settings: Settings) -> Registry:
        """The built-in presets and backends plus every plugin named in settings.plugins."""
        from productshot.tools.cutout import CUTOUT_MODELS

        registry = cls()
        for preset in BUILTIN_PRESETS:
            registry.register_preset(preset)
        for row in CUTOUT_MODELS.values():
            registry.register_cutout_model(row)
        for module in BUILTIN_HOOKS:
            _run_hook(registry, module, source="built-in backends")
        load_plugins(settings, registry)
        return registry

    def register_preset(self, preset: ModelPreset, *, replace: bool = False) -> None:
        """Add a row to the table; an existing name needs replace=True (a plugin overriding a built-in)."""
        key = preset.name.lower()
        if key in (AUTO,):
            raise ModelError(f"model name {preset.name!r} is reserved")
        if key in self._presets and not replace:
            raise ModelError(
                f"model preset {preset.name!r} is already registered; pass replace=True to override it"
            )
        self._presets[key] = preset

    def register_backend(self, kind: BackendKind, *, replace: bool = False) -> None:
        """Say how presets of `kind.name` are loaded (one entry per kind)."""
        if kind.name in self._kinds and not replace:
            raise ModelError(
                f"a backend for kind {kind.name!r} is already registered; pass replace=True to override it"
            )
        self._kinds[kind.name] = kind

    def register_cutout_model(self, model: CutoutModel, *, replace: bool = False) -> None:
        """Offer another cutout model (a rembg session name, its weights file and licence), as presets are."""
        if model.name in self._cutouts and not replace:
            raise ModelError(
                f"cutout model {model.name!r} is already registered; pass replace=True to override it"
            )
        self._cutouts[model.name] = model

    def cutout_models(self) -> Mapping[str, CutoutModel]:
        """The cutout model table (built-in rows plus the plugins'), for `Cutter(models=...)`."""
        return MappingProxyType(dict(self._cutouts))

    def preset(self, name: str) -> ModelPreset | None:
        return self._presets.get(name.strip().lower())

    def presets(self) -> tuple[ModelPreset, ...]:
        return tuple(self._presets.values())

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self._presets.values())

    def kinds(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def backend(self, kind: str) -> BackendKind:
        found = self._kinds.get(kind)
        if found is None:
            raise ModelError(
                f"no backend is registered for model kind {kind!r} (known kinds: {', '.join(self._kinds)}); "
                "add the plugin that provides it to PRODUCTSHOT_PLUGINS"
            )
        return found

    def missing(self, preset: ModelPreset, settings: Settings) -> str | None:
        """Why `preset` cannot load on this machine (naming the fix), or None."""
        if preset.kind not in self._kinds:
            return f"no backend is registered for kind {preset.kind!r}"
        return self._kinds[preset.kind].missing(preset, settings)


def _run_hook(registry: Registry, module_name: str, *, source: str, hook_name: str = "register") -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"plugin {module_name!r} ({source}) cannot be imported: {exc}") from exc
    hook = getattr(module, hook_name, None)
    if not callable(hook):
        raise ModelError(f"plugin {module_name!r} ({source}) has no `{hook_name}(registry)` function")
    try:
        hook(registry)
    except ProductshotError:
        raise
    except Exception as exc:
        raise ModelError(
            f"plugin {module_name!r} ({source}) failed to register: {type(exc).__name__}: {exc}"
        ) from exc


def load_plugins(settings: Settings, registry: Registry) -> tuple[str, ...]:
    """Run the hook of every installed plugin (entry points in ENTRY_POINT_GROUP), then of each module named
    in settings.plugins (PRODUCTSHOT_PLUGINS, for ad-hoc use); each runs once."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.value in registry.plugins:
            continue
        owner = f" of {point.dist.name}" if point.dist is not None else ""
        source = f"entry point {point.name!r}{owner}"
        _run_hook(registry, point.module, source=source, hook_name=point.attr or "register")
        registry.plugins.append(point.value)
    for module_name in settings.plugins:
        if module_name in registry.plugins:
            continue
        _run_hook(registry, module_name, source="PRODUCTSHOT_PLUGINS")
        registry.plugins.append(module_name)
    return tuple(registry.plugins)


def _unknown(name: str, registry: Registry) -> ModelError:
    names = ", ".join([*registry.names(), AUTO])
    return ModelError(
        f"unknown model {name!r}: choose one of {names}, a Hugging Face repo id (org/name), or a folder holding a "
        "diffusers pipeline (model_index.json); `productshot models` lists them"
    )


def get_preset(name_or_path: str, settings: Settings, *, registry: Registry | None = None) -> ModelPreset:
    """The preset for a name ("sdxl-turbo"), "auto", a Hub id ("org/name") or a local pipeline folder."""
    registry = registry or Registry.default(settings)
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ModelError(f"model must be a non-empty name, got {name_or_path!r}")
    name = name_or_path.strip()
    if name.lower() == AUTO:
        return resolve_auto(settings, registry=registry)[0]
    found = registry.preset(name)
    if found is not None:
        return found
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").exists():
            raise ModelError(f"model folder {path} is not a diffusers pipeline: it has no model_index.json")
        return preset_from_folder(path)
    if path.is_file():
        raise ModelError(
            f"model {name!r} is a file: give a diffusers pipeline folder (with model_index.json) or a Hugging Face "
            "repo id; single-file checkpoints are not loaded"
        )
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        raise ModelError(f"model folder {path} does not exist")
    if _HUB_ID_RE.match(name):
        return preset_for_hub_id(name, settings)
    raise _unknown(name, registry)


def resolve_auto(
    settings: Settings, *, registry: Registry | None = None, device: str | None = None
) -> tuple[ModelPreset, str]:
    """What "auto" means here: settings.diffusion_default when its weights are on this machine and an
    accelerator is available, else the embedded studio generator. Returns (preset, the reason in words).

    `device` is the device the caller will run on (None: the best one here).
    """
    registry = registry or Registry.default(settings)
    studio = registry.preset(STUDIO)
    if studio is None:
        raise ModelError("the studio generator is not registered, so 'auto' has nothing to fall back on")
    wanted = settings.diffusion_default.strip()
    if wanted.lower() == AUTO:
        raise ModelError("PRODUCTSHOT_DIFFUSION_DEFAULT must name a model, not 'auto'")
    try:
        preferred = get_preset(wanted, settings, registry=registry)
    except ModelError as exc:
        raise ModelError(f"PRODUCTSHOT_DIFFUSION_DEFAULT={wanted!r} is not usable: {exc}") from exc
    if preferred.kind == KIND_STUDIO:
        return (
            preferred,
            f"'auto' uses {preferred.name}: it is the configured default (PRODUCTSHOT_DIFFUSION_DEFAULT)",
        )
    missing = registry.missing(preferred, settings)
    if missing:
        return studio, f"'auto' uses studio (procedural backdrops) because {missing}"
    if device is None:
        from productshot.models.devices import pick_device

        device = pick_device()
    if device == "cpu":
        return studio, (
            f"'auto' uses studio (procedural backdrops) because there is no CUDA or MPS accelerator: "
            f"{preferred.name}'s weights are here but take minutes per image on a CPU (ask for "
            f"model {preferred.name!r} by name to run it anyway)"
        )
    return preferred, f"'auto' uses {preferred.name}: its weights are here and {device} is available"


def list_presets(settings: Settings, *, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Every preset as a dict, with `available` (loadable from this machine's files), `missing` (why not,
    with the fix) and `default` (it is settings.diffusion_default). Reads files only: no network, no torch."""
    registry = registry or Registry.default(settings)
    rows = []
    for preset in registry.presets():
        missing = registry.missing(preset, settings)
        row = preset.to_dict()
        row.update(
            available=missing is None,
            missing=missing,
            default=preset.name.lower() == settings.diffusion_default.strip().lower(),
        )
        rows.append(row)
    return rows
