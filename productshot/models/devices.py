"""Which device and dtype a model runs on, how much memory it has, and whether an error means "out of memory".

torch is imported inside the functions, so importing this module stays cheap for the CLI.
"""

from __future__ import annotations

import re
import resource
import sys
from typing import TYPE_CHECKING, Any

from productshot.errors import BadRequestError

if TYPE_CHECKING:
    import torch

    from productshot.models.registry import ModelPreset

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_OOM_MARKERS = (
    "out of memory",
    "cudnn_status_alloc_failed",
    "cublas_status_alloc_failed",
)  # CUDA and MPS texts


def _has_mps(torch_module: Any) -> bool:
    backend = getattr(torch_module.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preference: str | None = None) -> str:
    """The device to run on: CUDA first, then Apple MPS, then CPU; `preference` ("cuda:1", "cpu", ...) pins one.

    A preference the machine cannot satisfy is a BadRequestError naming what is missing.
    """
    wanted = (preference or "auto").strip().lower()
    if not _DEVICE_RE.match(wanted):
        raise BadRequestError(f"device must be one of auto, cpu, mps, cuda or cuda:N, got {preference!r}")
    import torch

    if wanted == "cpu":
        return "cpu"
    if wanted.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadRequestError(
                f"device {preference!r} is not available: torch {torch.__version__} sees no CUDA GPU "
                "(install a CUDA build of torch, or use device 'cpu')"
            )
        index = int(wanted.split(":")[1]) if ":" in wanted else 0
        if index >= torch.cuda.device_count():
            raise BadRequestError(
                f"device {preference!r} is not available: only {torch.cuda.device_count()} CUDA GPU(s) are visible"
            )
        return f"cuda:{index}"
    if wanted == "mps":
        if not _has_mps(torch):
            raise BadRequestError(
                f"device {preference!r} is not available: this machine has no Apple MPS backend"
            )
        return "mps"
    if torch.cuda.is_available():
        return "cuda:0"
    if _has_mps(torch):
        return "mps"
    return "cpu"


def accelerator_available() -> bool:
    """True when a CUDA GPU or Apple MPS is usable (what `auto` needs to pick a diffusion model)."""
    return pick_device() != "cpu"


def dtype_name_for(preset: ModelPreset, device: str) -> str:
    """The dtype name a preset runs in on `device`: its fp16/bf16 on CUDA, fp16 on MPS, float32 on CPU.

    bf16 falls back to fp16 on GPUs without bf16 support, and to float32 on MPS (patchy bf16 kernels there).
    CPU always runs float32: half-precision convolutions on CPU are slow or missing.
    """
    if device.startswith("cuda"):
        if preset.dtype == "bfloat16":
            import torch

            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return preset.dtype
    if device == "mps":
        return "float16" if preset.dtype == "float16" else "float32"
    return "float32"


def dtype_for(preset: ModelPreset, device: str) -> torch.dtype:
    """The torch dtype for `preset` on `device` (see dtype_name_for)."""
    import torch

    dtype = getattr(torch, dtype_name_for(preset, device))
    if not isinstance(dtype, torch.dtype):
        raise BadRequestError(f"preset {preset.name!r} has an unknown dtype {preset.dtype!r}")
    return dtype


def is_out_of_memory(exc: BaseException) -> bool:
    """True when `exc`, or any exception it was raised from, is an accelerator out-of-memory error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    torch = sys.modules.get("torch")
    oom_types: tuple[type[BaseException], ...] = ()
    if torch is not None:
        oom_types = tuple(
            t
            for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
            if t
        )
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError) or (oom_types and isinstance(current, oom_types)):
            return True
        if isinstance(current, RuntimeError) and any(m in str(current).lower() for m in _OOM_MARKERS):
            return True
        current = current.__cause__ or current.__context__
    return False


def _process_rss() -> tuple[int, int]:
    """(current, peak) resident set size of this process in bytes."""
    import psutil

    current = int(psutil.Process().memory_info().rss)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes
    return current, max(current, int(peak_bytes))


def device_memory(device: str | None = None) -> dict[str, Any]:
    """Memory figures for `device` (default: the picked one), in bytes.

    CUDA: total, free, allocated, reserved and peak allocated (since the last reset_peak_memory).
    MPS: allocated and driver-allocated. Always: the process's resident set (rss) and its peak.
    """
    rss, rss_peak = _process_rss()
    info: dict[str, Any] = {"device": device or "cpu", "rss": rss, "rss_peak": rss_peak}
    if device is None:
        if "torch" not in sys.modules:  # nothing has touched an accelerator yet
            return info
        device = pick_device()
        info["device"] = device
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        free, total = torch.cuda.mem_get_info(index)
        info.update(
            total=int(total),
            free=int(free),
            allocated=int(torch.cuda.memory_allocated(index)),
            reserved=int(torch.cuda.memory_reserved(index)),
            peak=int(torch.cuda.max_memory_allocated(index)),
        )
    elif device == "mps":
        import torch

        info.update(
            allocated=int(torch.mps.current_allocated_memory()),
            driver_allocated=int(torch.mps.driver_allocated_memory()),
        )
    return info


def reset_peak_memory(device: str) -> None:
    """Start a new peak-memory measurement on a CUDA device (no-op elsewhere: RSS peaks cannot be reset)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(torch.device(device).index or 0)


def total_memory_bytes(device: str) -> int | None:
    """The accelerator's total memory, or None for the CPU (where offloading does not apply)."""
    if not device.startswith("cuda"):
        return None
    import torch

    return int(torch.cuda.get_device_properties(torch.device(device).index or 0).total_memory)


def free_memory(device: str) -> None:
    """Return cached allocator blocks to the device after a model is dropped."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and _has_mps(torch):
        torch.mps.empty_cache()
