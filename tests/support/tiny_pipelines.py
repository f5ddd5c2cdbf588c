"""Tiny random-weight diffusers pipelines for tests: SD 1.x-, SDXL- and SD3-shaped, built offline.

Shapes follow diffusers' own `get_dummy_components()` (a few-channel UNet or transformer, 32-wide text
encoders), shrunk further so one denoising step takes milliseconds on a CPU. The tokenizers are written
here from a handful of pieces (no download). Each folder is what `save_pretrained` writes, so it loads
through the registry's real path (`get_preset(folder)` → `load_backend`).

Native sizes: SD 32 px, SDXL 64 px, SD3 32 px (the unet/transformer `sample_size` × the VAE scale factor).
`tiny_model_dir(kind)` builds each kind once into a cache folder keyed by the library versions, so a test
session (and the next one) pays the build once; tests that damage a folder must copy it first
(`copy_tiny_model`).
"""

from __future__ import annotations

import json
import shutil
import string
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import CLIPTextConfig

# Bump when the builders change, so stale cached folders are not reused.
TINY_FORMAT = 1

TINY_KINDS = ("sd", "sdxl", "sd3")
TINY_NATIVE_SIZES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {"sd": (32, 32), "sdxl": (64, 64), "sd3": (32, 32)}
)

_CLIP_HIDDEN = 32
_CLIP_VOCAB = 600  # the CLIP tokenizer below has 518 entries


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's reversible byte → printable-character table, in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def _clip_tokenizer(folder: Path) -> object:
    """A byte-level BPE CLIP tokenizer: every byte (with and without the end-of-word mark) plus a few merges."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    chars = _bytes_to_unicode()
    for char in chars:
        vocab.setdefault(char, len(vocab))
    for char in chars:
        vocab.setdefault(char + "</w>", len(vocab))
    merges = ["#version: 0.2"]
    for left, right in (("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>")):
        merges.append(f"{left} {right}")
        vocab.setdefault(left + right, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
    return CLIPTokenizer(
        vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77
    )


def _t5_tokenizer() -> object:
    """A unigram T5 tokenizer over ASCII characters and a few whole words."""
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for char in string.ascii_letters + string.digits + string.punctuation:
        pieces.extend(((char, -3.0), ("▁" + char, -3.5)))
    pieces.extend(
        ("▁" + word, -1.0) for word in ("the", "a", "on", "sand", "sea", "beach", "studio", "marble")
    )
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _clip_config(*, projection: bool) -> CLIPTextConfig:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=_CLIP_HIDDEN,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=_CLIP_VOCAB,
        max_position_embeddings=77,
        hidden_act="gelu",
        projection_dim=_CLIP_HIDDEN if projection else 512,
    )


def _vae(*, blocks: tuple[int, ...], sample_size: int, sd3: bool = False) -> object:
    from diffusers import AutoencoderKL

    extra: dict[str, object] = {}
    if sd3:
        extra = {
            "use_quant_conv": False,
            "use_post_quant_conv": False,
            "shift_factor": 0.0609,
            "scaling_factor": 1.5035,
        }
    return AutoencoderKL(
        block_out_channels=blocks,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(blocks),
        up_block_types=["UpDecoderBlock2D"] * len(blocks),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4 if not sd3 else 1,
        sample_size=sample_size,
        **extra,
    )


def _build_sd(folder: Path, variant: str | None) -> None:
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_CLIP_HIDDEN,
        attention_head_dim=(2, 4),
        norm_num_groups=4,
    )
    torch.manual_seed(0)
    vae = _vae(blocks=(8, 16), sample_size=32)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_clip_config(projection=False))
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe: Any = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_clip_tokenizer(folder / "_vocab"),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, variant=variant)


def _build_sdxl(folder: Path, variant: str | None) -> None:
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + _CLIP_HIDDEN,  # six time ids + the pooled projection
        cross_attention_dim=2 * _CLIP_HIDDEN,  # both encoders' hidden states, concatenated
        norm_num_groups=4,
    )
    torch.manual_seed(0)
    vae = _vae(blocks=(8, 16), sample_size=64)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_clip_config(projection=False))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(_clip_config(projection=True))
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing"
    )
    tokenizer = _clip_tokenizer(folder / "_vocab")
    pipe: Any = StableDiffusionXLPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        scheduler=scheduler,
    )
    pipe.save_pretrained(folder, variant=variant)


def _build_sd3(folder: Path, variant: str | None) -> None:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,  # the T5 width; the CLIP states are padded or cut to it
        pooled_projection_dim=2 * _CLIP_HIDDEN,
        out_channels=4,
        pos_embed_max_size=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(_clip_config(projection=True))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(_clip_config(projection=True))
    torch.manual_seed(0)
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=256,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    torch.manual_seed(0)
    vae = _vae(blocks=(4,), sample_size=32, sd3=True)
    tokenizer = _clip_tokenizer(folder / "_vocab")
    pipe: Any = StableDiffusion3Pipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        text_encoder_3=t5,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        tokenizer_3=_t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
    pipe.save_pretrained(folder, variant=variant)


_BUILDERS: Mapping[str, Callable[[Path, str | None], None]] = MappingProxyType(
    {"sd": _build_sd, "sdxl": _build_sdxl, "sd3": _build_sd3}
)


def _build(kind: str, path: Path, variant: str | None) -> Path:
    if kind not in _BUILDERS:
        raise ValueError(f"kind must be one of {', '.join(TINY_KINDS)}, got {kind!r}")
    import torch

    path.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # leave the caller's RNG untouched
        # Euler schedulers call np.array() on a tensor; torch 2.13's __array__ lacks `copy`, numpy 2 warns.
        warnings.filterwarnings(
            "ignore", "__array__ implementation doesn't accept a copy keyword", DeprecationWarning
        )
        _BUILDERS[kind](path, variant)
    shutil.rmtree(path / "_vocab", ignore_errors=True)
    return path


def make_tiny_sd(path: Path, *, variant: str | None = None) -> Path:
    """Write an SD 1.x-shaped pipeline (StableDiffusionPipeline, 32 px native) into `path`."""
    return _build("sd", Path(path), variant)


def make_tiny_sdxl(path: Path, *, variant: str | None = None) -> Path:
    """Write an SDXL-shaped pipeline (two CLIP encoders, text-time conditioning, 64 px native) into `path`."""
    return _build("sdxl", Path(path), variant)


def make_tiny_sd3(path: Path, *, variant: str | None = None) -> Path:
    """Write an SD3-shaped pipeline (MMDiT transformer, two CLIPs and a T5, 32 px native) into `path`."""
    return _build("sd3", Path(path), variant)


# Every cached tiny pipeline lives below this folder; MCP tests allow it, as a user allows a model folder.
TINY_PIPELINES_ROOT = Path(tempfile.gettempdir()) / "productshot-tiny-pipelines"


def default_cache_root() -> Path:
    """Where built pipelines are kept between sessions: keyed by the library versions and TINY_FORMAT."""
    import diffusers
    import torch
    import transformers

    key = (
        f"diffusers-{diffusers.__version__}-transformers-{transformers.__version__}-torch-{torch.__version__}"
    )
    return TINY_PIPELINES_ROOT / f"{key}-v{TINY_FORMAT}"


def tiny_model_dir(kind: str, root: Path | None = None) -> Path:
    """The cached tiny pipeline of `kind` ("sd", "sdxl", "sd3"), built on first use. Treat it as read-only."""
    from filelock import FileLock

    if kind not in _BUILDERS:
        raise ValueError(f"kind must be one of {', '.join(TINY_KINDS)}, got {kind!r}")
    base = Path(root) if root is not None else default_cache_root()
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"tiny-{kind}"
    with FileLock(str(base / f".tiny-{kind}.lock")):
        if not (final / "model_index.json").is_file():
            staging = Path(tempfile.mkdtemp(prefix=f".tiny-{kind}-", dir=base))
            _build(kind, staging, None)
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
    return final


def copy_tiny_model(kind: str, dest: Path) -> Path:
    """A private copy of the cached tiny pipeline at `dest` (for tests that damage or rename it)."""
    shutil.copytree(tiny_model_dir(kind), dest)
    return Path(dest)


def install_in_hf_cache(folder: Path, cache_dir: Path, repo_id: str, *, revision: str = "ab" * 20) -> Path:
    """Lay `folder` out as the Hugging Face hub cache does (blobs, a snapshot of links, refs/main) so the
    registry finds `repo_id` "already pulled". Returns the snapshot folder."""
    import hashlib
    import os

    repo_dir = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / revision
    blobs = repo_dir / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    for source in sorted(Path(folder).rglob("*")):
        if not source.is_file():
            continue
        data = source.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / source.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision, encoding="utf-8")
    return snapshot
