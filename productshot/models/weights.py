"""Where model weights live on this machine, whether they are complete, and how `models pull` fetches them.

Loading never downloads: a preset runs from the Hugging Face cache (or a local folder) and a missing model
is a ModelError naming `productshot models pull NAME`. So a job never stalls on a multi-GB download and an
offline machine fails in milliseconds. Everything here reads files only, except `pull`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from productshot.errors import ModelError

if TYPE_CHECKING:
    from productshot.models.registry import ModelPreset
    from productshot.settings import Settings

# Files that are weights in some format; a pull takes safetensors only and loading refuses pickles.
_WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".ckpt",
    ".pt",
    ".pth",
    ".onnx",
    ".onnx_data",
    ".msgpack",
    ".h5",
    ".gguf",
)
# Components that hold no weights (tokenizers, schedulers, image processors) are recognised by class name.
_NO_WEIGHT_CLASS_ENDINGS = (
    "Scheduler",
    "Tokenizer",
    "TokenizerFast",
    "Processor",
    "ImageProcessor",
    "FeatureExtractor",
)
_MAX_HEADER = 100 * 1024 * 1024


# ---- settings-derived locations ----------------------------------------------------------------------


def _env(settings: Settings) -> dict[str, str]:
    return dict(settings.extra_env)


def hf_cache_dir(settings: Settings) -> Path:
    """The Hugging Face hub cache the settings point at (HF_HUB_CACHE, else HF_HOME/hub, else the default)."""
    env = _env(settings)
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    cache_home = (
        Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    )
    return cache_home / "huggingface" / "hub"


def hf_offline(settings: Settings) -> bool:
    """True when HF_HUB_OFFLINE is set: no download is attempted."""
    return _env(settings).get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hf_endpoint(settings: Settings) -> str | None:
    """A Hub mirror from HF_ENDPOINT, or None for huggingface.co."""
    return _env(settings).get("HF_ENDPOINT") or None


# ---- checking a pipeline folder ----------------------------------------------------------------------


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file or raise ModelError saying which file is damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{what}: {path} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{what}: {path} is not valid JSON ({exc})") from exc


def read_model_index(folder: Path) -> dict[str, Any]:
    """The pipeline's model_index.json (its class and components), validated."""
    index = read_json(folder / "model_index.json", f"model folder {folder}")
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise ModelError(
            f"model folder {folder}: model_index.json has no pipeline `_class_name`; is it a diffusers pipeline?"
        )
    return index


def components(index: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Component name → (library, class) for every component the pipeline declares."""
    found: dict[str, tuple[str, str]] = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        library, cls = value
        if isinstance(library, str) and isinstance(cls, str):
            found[name] = (library, cls)
    return found


def _is_variant_weight(name: str, variant: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 3 and parts[-1] == "safetensors" and parts[-2] == variant


def _is_plain_weight(name: str) -> bool:
    return name.endswith(".safetensors") and name.count(".") == 1


def has_variant(folder: Path, variant: str | None) -> bool:
    """True when any component folder holds `variant` weights (what diffusers needs to load with variant=)."""
    if not variant:
        return False
    return any(_is_variant_weight(p.name, variant) for p in folder.glob("*/*.safetensors"))


def detect_variant(folder: Path) -> str | None:
    """The weights variant a folder holds when it has no plain weights (e.g. only *.fp16.safetensors), else None."""
    plain = any(_is_plain_weight(p.name) for p in folder.glob("*/*.safetensors"))
    if plain:
        return None
    tags = sorted({p.name.split(".")[-2] for p in folder.glob("*/*.safetensors") if p.name.count(".") >= 2})
    return tags[0] if tags else None


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file cannot be complete (bad header, truncated), or None. Reads the header only."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if not 0 < length <= min(_MAX_HEADER, size - 8):
                return f"{path.name} has no valid safetensors header"
            header = json.loads(handle.read(length))
    except FileNotFoundError:
        return f"{path.name} is missing (a broken link in the cache?)"
    except (OSError, ValueError) as exc:
        return f"{path.name} cannot be read ({exc})"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    needed = 8 + length + max(ends, default=0)
    if size < needed:
        return f"{path.name} is truncated ({size} of {needed} bytes)"
    return None


def _weights_problem(sub: Path, variant: str | None) -> str | None:
    files = [p for p in sub.iterdir() if p.is_file() or p.is_symlink()]
    names = {p.name for p in files}
    use_variant = bool(variant) and any(_is_variant_weight(n, variant or "") for n in names)
    if use_variant:
        indexes = [n for n in names if n.endswith(f".safetensors.index.{variant}.json")]
        singles = [n for n in names if _is_variant_weight(n, variant or "")]
    else:
        indexes = [n for n in names if n.endswith(".safetensors.index.json")]
        singles = [n for n in names if _is_plain_weight(n)]
    if indexes:
        index = read_json(sub / indexes[0], f"component {sub.name}")
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            return f"{sub.name}/{indexes[0]} lists no weight files"
        singles = sorted(set(weight_map.values()))
    if not singles:
        if any(n.endswith((".bin", ".ckpt", ".pt", ".pth")) for n in names):
            return f"{sub.name} has only pickle (.bin/.ckpt) weights; productshot loads .safetensors only"
        return f"{sub.name} has no .safetensors weights"
    for name in singles:
        problem = _safetensors_problem(sub / name)
        if problem:
            return f"{sub.name}/{problem}"
    return None


def folder_problem(folder: Path, variant: str | None = None) -> str | None:
    """What is missing or damaged in a diffusers pipeline folder, or None when it looks complete.

    Checks model_index.json, every declared component's folder, configs, and each weights file's header and
    length (so a half-finished download or a deleted file is reported before diffusers trips over it).
    """
    try:
        index = read_model_index(folder)
        for name, (_library, cls) in components(index).items():
            sub = folder / name
            if not sub.is_dir():
                return f"component {name!r} ({cls}) has no folder {sub}"
            if cls.endswith("Scheduler"):
                read_json(sub / "scheduler_config.json", f"component {name}")
                continue
            if cls.endswith(_NO_WEIGHT_CLASS_ENDINGS):
                if not any(sub.iterdir()):
                    return f"component {name!r} ({cls}) folder {sub} is empty"
                continue
            read_json(sub / "config.json", f"component {name}")
            problem = _weights_problem(sub, variant)
            if problem:
                return problem
    except ModelError as exc:
        return str(exc)
    return None


# ---- the hub cache -----------------------------------------------------------------------------------


def cached_snapshot(repo_id: str, settings: Settings) -> Path | None:
    """The cached snapshot folder of `repo_id` (main revision) holding a model_index.json, or None. No network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=hf_cache_dir(settings))
    return Path(found).parent if isinstance(found, str) else None


def weights_folder(preset: ModelPreset) -> Path | None:
    """A local-folder preset's folder (its hub_id is an absolute path), else None."""
    if preset.hub_id and Path(preset.hub_id).is_absolute():
        return Path(preset.hub_id)
    return None


def _pull_hint(preset: ModelPreset, settings: Settings) -> str:
    hint = f"run `productshot models pull {preset.name}`"
    if preset.gated and not settings.hf_token:
        hint += f" after {gated_fix(preset, settings)}"
    if hf_offline(settings):
        hint += " on a connection (HF_HUB_OFFLINE=1 is set here, so nothing is downloaded)"
    return hint


def gated_fix(preset: ModelPreset, settings: Settings) -> str:
    """How to get a gated model: accept its licence on the Hub and put a token in the data home's .env."""
    return (
        f"accepting its licence at https://huggingface.co/{preset.hub_id} and setting HF_TOKEN "
        f"(a Hugging Face access token) in {settings.home / '.env'} or the environment"
    )


def missing_weights(preset: ModelPreset, settings: Settings) -> str | None:
    """Why `preset` cannot be loaded from this machine's files (with the fix), or None when it can."""
    folder = weights_folder(preset)
    if folder is not None:
        problem = folder_problem(folder, preset.variant)
        return f"model folder {folder} is not usable: {problem}" if problem else None
    if not preset.hub_id:
        return f"preset {preset.name!r} names no weights (hub_id is empty)"
    snapshot = cached_snapshot(preset.hub_id, settings)
    if snapshot is None:
        return (
            f"weights for {preset.name} ({preset.hub_id}) are not on this machine "
            f"(looked in {hf_cache_dir(settings)}): {_pull_hint(preset, settings)}"
        )
    problem = folder_problem(snapshot, preset.variant)
    if problem:
        return (
            f"the cached weights of {preset.name} are incomplete ({problem}): {_pull_hint(preset, settings)}"
        )
    return None


def locate_weights(preset: ModelPreset, settings: Settings) -> Path:
    """The folder to load `preset` from; ModelError naming the fix when weights are missing or damaged."""
    problem = missing_weights(preset, settings)
    if problem:
        raise ModelError(problem)
    folder = weights_folder(preset)
    if folder is not None:
        return folder
    snapshot = cached_snapshot(preset.hub_id or "", settings)
    if snapshot is None:  # removed between the two looks
        raise ModelError(f"weights for {preset.name} disappeared from {hf_cache_dir(settings)} while loading")
    return snapshot


# ---- pulling -----------------------------------------------------------------------------------------


def select_files(index: Mapping[str, Any], repo_files: Iterable[str], variant: str | None) -> list[str]:
    """The repo files a preset needs: model_index.json, each component's configs and tokenizer files, and its
    weights as `variant` safetensors where the component has them, plain safetensors otherwise.

    Root-level single-file checkpoints, pickles, ONNX and other formats are left out (they can be many GB).
    """
    wanted = ["model_index.json"]
    by_component: dict[str, list[str]] = {}
    for path in repo_files:
        head, _, rest = path.partition("/")
        if rest and head in components(index):
            by_component.setdefault(head, []).append(path)
    for paths in by_component.values():
        names = [p.rsplit("/", 1)[-1] for p in paths]
        has_var = bool(variant) and any(_is_variant_weight(n, variant or "") for n in names)
        for path, name in zip(paths, names, strict=True):
            if (
                not name.endswith(_WEIGHT_SUFFIXES)
                or (has_var and _is_variant_weight(name, variant or ""))
                or (not has_var and _is_plain_weight(name))
            ):
                wanted.append(path)
    return wanted


def _hub_error(exc: Exception, preset: ModelPreset, settings: Settings) -> ModelError:
    """Turn a huggingface_hub (or network) error into a ModelError that says what to do."""
    from huggingface_hub import errors as hub_errors

    if isinstance(exc, hub_errors.GatedRepoError):
        return ModelError(
            f"{preset.name} is gated: the Hub refused this token; fix it by {gated_fix(preset, settings)}"
        )
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return ModelError(
            f"{preset.hub_id} was not found on the Hugging Face Hub (or it is private: set HF_TOKEN in "
            f"{settings.home / '.env'})"
        )
    if isinstance(exc, hub_errors.OfflineModeIsEnabled):
        return ModelError(
            f"cannot download {preset.name}: HF_HUB_OFFLINE=1 is set; unset it and run the pull again"
        )
    network = any(word in type(exc).__name__ for word in ("Connect", "Timeout", "Network", "Proxy"))
    if network or isinstance(exc, hub_errors.LocalEntryNotFoundError | OSError):
        where = hf_endpoint(settings) or "https://huggingface.co"
        return ModelError(
            f"cannot download {preset.name}: {where} could not be reached ({exc}); check the network"
        )
    return ModelError(f"downloading {preset.name} failed: {type(exc).__name__}: {exc}")


def pull(preset: ModelPreset, settings: Settings, *, progress: bool = True) -> Path:
    """Download the files `preset` needs into the Hugging Face cache (a progress bar on stderr) and return
    the snapshot folder. Gated models need settings.hf_token; HF_HUB_OFFLINE makes this fail at once."""
    if preset.kind != "diffusers":
        raise ModelError(
            f"{preset.name} is the built-in {preset.kind} generator: there are no weights to pull"
        )
    folder = weights_folder(preset)
    if folder is not None:
        raise ModelError(f"{preset.name} is a local folder: there is nothing to download")
    if hf_offline(settings):
        raise ModelError(
            f"cannot download {preset.name}: HF_HUB_OFFLINE=1 is set (offline mode); unset it on a machine with "
            f"network access, or copy the Hugging Face cache ({hf_cache_dir(settings)}) here"
        )
    if preset.gated and not settings.hf_token:
        raise ModelError(
            f"{preset.name} is gated and no HF_TOKEN is set: fix it by {gated_fix(preset, settings)}"
        )
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    repo_id = preset.hub_id or ""
    cache = hf_cache_dir(settings)
    endpoint = hf_endpoint(settings)
    token = settings.hf_token or False  # False: never fall back to a token stored by `hf auth login`
    if not progress:
        disable_progress_bars()
    try:
        # model_info fails at once when the Hub is unreachable; file downloads would retry for ~25 s first.
        info = HfApi(endpoint=endpoint, token=token).model_info(repo_id, files_metadata=False)
        files = [sibling.rfilename for sibling in info.siblings or ()]
        if "model_index.json" not in files:
            raise ModelError(f"{repo_id} is not a diffusers pipeline (it has no model_index.json)")
        first = snapshot_download(
            repo_id, cache_dir=cache, token=token, endpoint=endpoint, allow_patterns=["model_index.json"]
        )
        index = read_json(Path(first) / "model_index.json", repo_id)
        snapshot = Path(
            snapshot_download(
                repo_id,
                cache_dir=cache,
                token=token,
                endpoint=endpoint,
                allow_patterns=select_files(index, files, preset.variant),
                max_workers=4,
            )
        )
    except ModelError:
        raise
    except Exception as exc:  # the Hub client raises its own, httpx's and OS errors; each becomes one message
        raise _hub_error(exc, preset, settings) from exc
    finally:
        if not progress:
            enable_progress_bars()
    problem = folder_problem(snapshot, preset.variant)
    if problem:
        raise ModelError(f"{preset.name} downloaded but is not usable: {problem}")
    return snapshot


def folder_size(folder: Path) -> int:
    """Bytes under `folder`, following the cache's symlinks to their blobs."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if path.exists():  # a dangling cache link (blob deleted) adds nothing
                total += path.stat().st_size
    return total
