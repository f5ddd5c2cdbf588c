"""Decoded stored images, kept for the next call: a bounded LRU keyed by the file's content hash.

A seller tries a product at several places on one background, and an agent sends the same asset ids call
after call; decoding a 1024×768 PNG costs ~25 ms of CPU each time. Stored files never change (the store
is content-addressed), so a decode is reused until the cache's byte budget pushes it out. Every caller
gets its own copy of the pixels, so no call can change what another call sees.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from productshot.store import Asset
from productshot.tools.imageio import LoadedImage, load_image

# Room for a few dozen 1024×768 images; a process serving one seller rarely needs more.
DEFAULT_MAX_BYTES = 192 * 1024 * 1024

_Key = tuple[str, str, int]


class DecodedImages:
    """Thread-safe LRU of decoded stored images, at most `max_bytes` of pixels (0 turns it off)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, got {max_bytes}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[_Key, LoadedImage] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def load(self, asset: Asset, path: Path, *, max_pixels: int) -> LoadedImage:
        """The decoded image of `asset` (whose file is `path`), from the cache when it holds it."""
        key = (asset.sha256, str(path), max_pixels)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
        if found is None:
            found = load_image(path, max_pixels=max_pixels)  # outside the lock: decodes run in parallel
            self._keep(key, found)
        return replace(found, image=found.image.copy())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def _keep(self, key: _Key, loaded: LoadedImage) -> None:
        size = _pixel_bytes(loaded)
        with self._lock:
            self.misses += 1
            if size > self.max_bytes or key in self._items:
                return
            self._items[key] = loaded
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= _pixel_bytes(dropped)


def _pixel_bytes(loaded: LoadedImage) -> int:
    image = loaded.image
    return image.width * image.height * len(image.getbands())


__all__ = ["DEFAULT_MAX_BYTES", "DecodedImages"]
