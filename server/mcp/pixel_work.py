"""The composite tool's pixel work as one picklable job: decode, place, encode the stored PNG and the preview.

`run_composite` is the same function whether it runs on a quick-lane thread of the MCP server or in one of
its pixel processes (`pixel_pool.py`): a job names its inputs either as pixels already decoded in this
process or as stored files a pixel process decodes itself (and keeps for the next job), and the answer
carries only bytes and small facts back, so nothing large crosses between processes twice.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from PIL import Image

    from productshot.server.mcp.outputs import Preview
    from productshot.tools.ground import Ground
    from productshot.tools.notes import Note
    from productshot.tools.shadow import Light

T = TypeVar("T")

# How often a pixel process checks that the server that started it is still there.
_PARENT_CHECK_S = 1.0
# Decoded stored files a pixel process keeps for its next jobs (the same background tried at several places).
_KEPT_FILES = 8


@dataclass(frozen=True)
class StoredFile:
    """A stored image file, named by its content hash (stored files never change), to decode where it runs."""

    path: Path
    sha256: str
    max_pixels: int


@dataclass(frozen=True)
class Decoded:
    """Pixels already decoded in this process (an input that is not a stored file: a path, base64, a sample)."""

    image: Image.Image


ImageRef = StoredFile | Decoded


@dataclass(frozen=True)
class CompositeJob:
    """Everything the composite tool's pixel work needs, checked by the caller before it is made."""

    background: ImageRef
    product: ImageRef
    position: str
    scale: float | None
    margin: float | None
    shadow: bool
    light: str | None
    harmonize: bool
    floating: bool
    preview_bytes: int  # the most the encoded preview may take
    save_to: Path | None = None  # a target `check_save_to` accepted

    @property
    def portable(self) -> bool:
        """Whether another process can run it: both inputs are stored files (no pixels to ship)."""
        return isinstance(self.background, StoredFile) and isinstance(self.product, StoredFile)


@dataclass(frozen=True)
class Composited:
    """What a composite job made: the result's PNG and preview, and what was done (no pixels)."""

    png: bytes
    width: int
    height: int
    bbox: tuple[int, int, int, int]
    position: str
    scale: float
    shadow: bool
    grounded: bool | None
    light: Light | None
    notes: tuple[Note, ...]
    backend: str
    seconds: float  # the composite itself (placement, shadows, harmonisation)
    preview: Preview
    saved: Path | None


def run_composite(job: CompositeJob) -> Composited:
    """Composite the job's product on its background (ground, shadows, harmonisation as asked), encode the
    PNG to store and the preview to answer with, and write the `save_to` copy."""
    from productshot.server.mcp.outputs import encode_preview
    from productshot.server.mcp.saving import save_copy
    from productshot.store import imagebytes
    from productshot.tools.composite import composite

    back_rgb, ground = _scene(job.background)
    result = composite(
        back_rgb,
        _pixels(job.product),
        position=job.position,
        scale=job.scale,
        margin=job.margin,
        shadow=job.shadow,
        light=job.light,
        ground=ground,
        harmonize=job.harmonize,
        floating=job.floating,
    )
    image = result.image
    return Composited(
        png=imagebytes.encode(image, "PNG"),
        width=image.width,
        height=image.height,
        bbox=result.bbox,
        position=result.position,
        scale=result.scale,
        shadow=result.shadow,
        grounded=result.grounded,
        light=result.light,
        notes=result.notes,
        backend=result.backend,
        seconds=result.seconds,
        preview=encode_preview(image, job.preview_bytes),
        saved=save_copy(image, job.save_to) if job.save_to is not None else None,
    )


def start_pixel_process() -> None:
    """A new pixel process's first act: import what a job needs (so its first job is not the slow one) and
    watch its parent, so the process ends when the server does, however the server ends (even killed)."""
    parent = os.getppid()
    threading.Thread(
        target=_watch_parent, args=(parent,), name="productshot-parent-watch", daemon=True
    ).start()
    warm()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_PARENT_CHECK_S)
        if os.getppid() != parent:  # the server is gone (this process was handed to another parent)
            os._exit(0)


def warm() -> int:
    """Import what a job needs; 0 (a pixel pool's first task in each process)."""
    import productshot.server.mcp.outputs
    import productshot.server.mcp.saving
    import productshot.store.imagebytes
    import productshot.tools.composite
    import productshot.tools.ground
    import productshot.tools.harmonize  # noqa: F401

    return 0


class _Kept:
    """The last few values made per stored file (LRU, thread-safe): a pixel process's own decodes and
    grounds. The MCP server itself passes `Decoded` pixels, so only pixel processes fill these."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], Any] = OrderedDict()

    def get(self, ref: StoredFile, make: Callable[[], T]) -> T:
        key = (ref.sha256, ref.max_pixels)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return cast(T, self._items[key])
        value = make()  # outside the lock: two jobs may make it at once; either copy is the same
        with self._lock:
            self._items[key] = value
            while len(self._items) > _KEPT_FILES:
                self._items.popitem(last=False)
        return value


_files = _Kept()
_scenes = _Kept()


def _scene(ref: ImageRef) -> tuple[Image.Image, Ground]:
    """The background in RGB and the ground read from it; for a stored file both are kept (the ground is a
    function of the pixels alone, and a background is usually tried at several places)."""
    from productshot.tools.ground import estimate_ground

    def make() -> tuple[Image.Image, Ground]:
        image = _pixels(ref)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        ground = estimate_ground(rgb)
        if isinstance(ref, StoredFile):
            ground.surface.setflags(write=False)  # shared by later jobs: nothing may change it
        return rgb, ground

    return make() if isinstance(ref, Decoded) else _scenes.get(ref, make)


def _pixels(ref: ImageRef) -> Image.Image:
    """The image a reference names. Stored files are decoded once per process and reused while they are
    among the last few used; composite never changes its inputs, so the kept image is shared safely."""
    if isinstance(ref, Decoded):
        return ref.image
    from productshot.tools.imageio import load_image

    return _files.get(ref, lambda: load_image(ref.path, max_pixels=ref.max_pixels).image)


__all__ = [
    "CompositeJob",
    "Composited",
    "Decoded",
    "ImageRef",
    "StoredFile",
    "run_composite",
    "start_pixel_process",
    "warm",
]
