"""Content-addressed image files under the data home: `assets/<sha[:2]>/<sha>.<ext>`.

A file is written to a temp file in its final folder, fsynced, then renamed into place, so a reader (or a
crash) never sees half a file. Two assets with the same bytes share one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from productshot.errors import StoreError

ASSETS_FOLDER = "assets"
TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".part"
_SHARD = re.compile(r"^[0-9a-f]{2}$")
_BLOB = re.compile(r"^(?P<sha>[0-9a-f]{64})\.[a-z0-9]{1,5}$")


@dataclass(frozen=True)
class BlobFile:
    """A file found under the assets folder: a stored blob, or a temp file a crashed writer left behind."""

    relpath: str
    path: Path
    size: int
    mtime: float
    temporary: bool


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable; Windows cannot open folders, and its renames need no such step."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """The files half of the asset store; the database half records which asset points at which file."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home / ASSETS_FOLDER

    @staticmethod
    def relpath(sha256: str, extension: str) -> str:
        """Where the bytes with this hash live, relative to the data home (always with `/`)."""
        return f"{ASSETS_FOLDER}/{sha256[:2]}/{sha256}.{extension}"

    def absolute(self, relpath: str) -> Path:
        return self.home / relpath

    def write(self, data: bytes, sha256: str, relpath: str, *, mtime: float) -> Path:
        """Store `data` at `relpath` atomically unless an intact copy is there; stamp its mtime either way.

        The mtime says when an asset last referred to the file, which is what gc's age cutoff reads.
        """
        target = self.absolute(relpath)
        try:
            if target.is_file() and file_sha256(target) == sha256:
                os.utime(target, (mtime, mtime))
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.utime(temp_name, (mtime, mtime))
                os.replace(temp_name, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
                raise
            _fsync_folder(target.parent)
        except OSError as exc:
            raise StoreError(f"could not write asset file {target}: {exc.strerror or exc}") from exc
        return target

    def exists(self, relpath: str) -> bool:
        return self.absolute(relpath).is_file()

    def scan(self) -> Iterator[BlobFile]:
        """Every blob and leftover temp file; anything else in the folder is not ours and is never listed."""
        if not self.root.is_dir():
            return
        for shard in sorted(os.scandir(self.root), key=lambda entry: entry.name):
            if not (_SHARD.match(shard.name) and shard.is_dir(follow_symlinks=False)):
                continue
            for entry in os.scandir(shard.path):
                blob = _BLOB.match(entry.name)
                is_blob = blob is not None and blob["sha"][:2] == shard.name
                is_temp = entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX)
                if not (is_blob or is_temp) or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed by another process between listing and stat: nothing to report
                yield BlobFile(
                    relpath=f"{ASSETS_FOLDER}/{shard.name}/{entry.name}",
                    path=Path(entry.path),
                    size=stat.st_size,
                    mtime=stat.st_mtime,
                    temporary=is_temp,
                )

    def remove(self, blob: BlobFile) -> bool:
        """Delete one file; False when another process already did."""
        try:
            blob.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"could not delete asset file {blob.path}: {exc.strerror or exc}") from exc
        return True
