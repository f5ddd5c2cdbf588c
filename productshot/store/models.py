"""What the store hands out: assets (one stored image each) and gc reports, as frozen, JSON-ready values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Every image the product makes or takes in is one of these; `recovered` is an image file `store repair`
# found without its row (its lineage and parameters were lost with the damaged database).
ASSET_KINDS: tuple[str, ...] = ("input", "cutout", "background", "result", "preview", "recovered")
RECOVERED_KIND = "recovered"

JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
# A job in one of these states is finished: its row no longer changes.
TERMINAL_JOB_STATUSES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
# A job in one of these states belongs to a live process; if that process is gone, the job was abandoned.
ACTIVE_JOB_STATUSES: tuple[str, ...] = ("queued", "running")

_MIME_BY_FORMAT: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
}


def mime_for(image_format: str) -> str:
    """The MIME type of a Pillow format name (`PNG` -> `image/png`); unknown formats are octet streams."""
    return _MIME_BY_FORMAT.get(image_format.upper(), "application/octet-stream")


@dataclass(frozen=True)
class Asset:
    """One stored image: where its bytes are, what they are, and what made them."""

    id: str
    kind: str
    path: Path
    sha256: str
    width: int
    height: int
    format: str
    size_bytes: int
    parents: tuple[str, ...]
    params: dict[str, Any] = field(hash=False)
    backend: str
    created: float

    @property
    def mime(self) -> str:
        return mime_for(self.format)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the path as a string, parents as a list)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": str(self.path),
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "mime": self.mime,
            "size_bytes": self.size_bytes,
            "parents": list(self.parents),
            "params": dict(self.params),
            "backend": self.backend,
            "created": self.created,
        }


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection removed (or, for a dry run, would remove)."""

    assets_removed: int
    files_removed: int
    bytes_freed: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "assets_removed": self.assets_removed,
            "files_removed": self.files_removed,
            "bytes_freed": self.bytes_freed,
            "dry_run": self.dry_run,
        }
