"""AssetStore: every image productshot takes in or makes, as SQLite rows plus content-addressed files.

Safe under several processes and threads at once: the file is written (atomically) before its row is
inserted, write transactions are short and take the lock up front, and gc deletes files only while it
holds the database's write lock, so a row never points at a missing file.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from productshot.errors import BadImageError, BadRequestError, NotFoundError, StoreError
from productshot.ids import ASSET_PREFIX, new_id
from productshot.store import imagebytes
from productshot.store.blobs import ASSETS_FOLDER, BlobFile, BlobStore, sha256_hex
from productshot.store.database import DEFAULT_BUSY_TIMEOUT, Database
from productshot.store.jobs import JobTable
from productshot.store.models import ASSET_KINDS, Asset, GcReport
from productshot.store.validate import (
    check_ids,
    check_kind,
    check_limit,
    check_name,
    check_number,
    check_params,
    encode_json,
)

if TYPE_CHECKING:
    from PIL.Image import Image

    from productshot.settings import Settings

DB_NAME = "productshot.sqlite3"  # the same name Settings.db_path uses
_DAY = 86_400.0
# A temp file younger than this (by the real clock) may belong to a write in progress; gc leaves it.
TEMP_GRACE_SECONDS = 3_600.0

# Assets to keep: everything newer than the cutoff, and every ancestor of a kept asset.
_KEEP = """
WITH RECURSIVE keep(id) AS (
    SELECT id FROM assets WHERE created > :cutoff
    UNION
    SELECT asset_parents.parent FROM asset_parents JOIN keep ON asset_parents.child = keep.id
)
"""
_DOOMED = "created <= :cutoff AND id NOT IN (SELECT id FROM keep)"


def require_file(asset: Asset) -> Path:
    """The asset's file, or a NotFoundError saying the row outlived its file and what to do."""
    if not asset.path.is_file():
        raise NotFoundError(
            f"asset {asset.id} ({asset.kind}) is in the store but its image file {asset.path} is missing "
            "(removed outside productshot?); run `productshot store check`, and start again from a new photo"
        )
    return asset.path


@dataclass(frozen=True)
class _Pending:
    """An asset whose file is written and whose row waits for its batch to commit."""

    asset: Asset
    relpath: str
    params_json: str
    data: bytes


@dataclass(frozen=True)
class _NewAsset:
    """A validated request to store one image, before its bytes are written."""

    kind: str
    parents: tuple[str, ...]
    params: dict[str, Any]
    params_json: str
    backend: str


def _new_asset(kind: object, parents: object, params: Mapping[str, Any] | None, backend: object) -> _NewAsset:
    checked = check_params(params)
    return _NewAsset(
        kind=check_kind(kind),
        parents=check_ids(parents, name="parents"),
        params=checked,
        params_json=encode_json(checked, name="params"),
        backend=check_name(backend, name="backend"),
    )


class AssetStore:
    """Images and jobs under one data home: `productshot.sqlite3` plus `assets/<sha[:2]>/<sha>.<ext>`."""

    def __init__(
        self,
        home: Path,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating on first use) the store in `home`; `clock` stamps created/updated times."""
        self.home = Path(home).expanduser().absolute()
        try:
            (self.home / ASSETS_FOLDER).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data home {self.home}: {exc.strerror or exc}") from exc
        self.db_path = self.home / DB_NAME
        self._clock = clock
        self._blobs = BlobStore(self.home)
        self._db = Database(
            self.db_path, busy_timeout=check_number(busy_timeout, name="busy_timeout", minimum=0)
        )
        self._jobs = JobTable(self._db, clock)
        self._batch = threading.local()  # the open batch of this thread (see `batch`)

    @classmethod
    def open(cls, settings: Settings) -> AssetStore:
        """The store in the settings' data home."""
        return cls(settings.home)

    def close(self) -> None:
        """Close the database connections of every thread; the files need no closing."""
        self._db.close()

    def __enter__(self) -> AssetStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---- adding images -----------------------------------------------------------------------------
    def put_image(
        self,
        image: Image,
        *,
        kind: str,
        parents: Sequence[str] = (),
        params: Mapping[str, Any] | None = None,
        backend: str,
        format: str = "PNG",
    ) -> Asset:
        """Encode a Pillow image (PNG by default; JPEG, WEBP, ...) and store it."""
        image_format = imagebytes.normalise_save_format(format)
        request = _new_asset(kind, parents, params, backend)
        data = imagebytes.encode(image, image_format)
        header = imagebytes.ImageHeader(format=image_format, width=image.width, height=image.height)
        return self._put(data, header, request)

    def put_bytes(
        self,
        data: bytes,
        *,
        kind: str,
        parents: Sequence[str] = (),
        params: Mapping[str, Any] | None = None,
        backend: str,
    ) -> Asset:
        """Store encoded image bytes exactly as given, after checking Pillow can read their header."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BadRequestError(f"data must be bytes, got {type(data).__name__}")
        request = _new_asset(kind, parents, params, backend)
        blob = bytes(data)
        return self._put(blob, imagebytes.read_header(blob, source="data"), request)

    def put_file(
        self,
        path: Path,
        *,
        kind: str = "input",
        params: Mapping[str, Any] | None = None,
        backend: str = "input",
    ) -> Asset:
        """Copy an image file in byte for byte; the original is only read. Without params, its name is kept."""
        source = Path(path).expanduser()
        request = _new_asset(kind, (), {"filename": source.name} if params is None else params, backend)
        try:
            data = source.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"path {str(source)!r} does not exist") from exc
        except IsADirectoryError as exc:
            raise BadRequestError(f"path {str(source)!r} is a folder, not an image file") from exc
        except OSError as exc:
            raise BadImageError(f"path {str(source)!r} could not be read: {exc.strerror or exc}") from exc
        return self._put(data, imagebytes.read_header(data, source=f"file {str(source)!r}"), request)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Make every asset stored on this thread inside the block one transaction: the rows are written
        together when the block ends, and an exception anywhere in it discards them all, so a call that
        fails half-way leaves no row behind. Files are written at once (content-addressed; an unused one
        is removed by gc). Nested blocks join the outermost one."""
        if getattr(self._batch, "pending", None) is not None:
            yield
            return
        pending: builtins.list[_Pending] = []
        links: builtins.list[tuple[str, str]] = []
        self._batch.pending, self._batch.links = pending, links
        try:
            yield
            if pending:
                self._commit(pending)
        finally:
            self._batch.pending = self._batch.links = None
        for job_id, asset_id in links:
            self.link_job(job_id, asset_id)

    def _put(self, data: bytes, header: imagebytes.ImageHeader, request: _NewAsset) -> Asset:
        sha = sha256_hex(data)
        relpath = BlobStore.relpath(sha, imagebytes.extension_for(header.format))
        now = self._clock()
        pending: builtins.list[_Pending] | None = getattr(self._batch, "pending", None)
        earlier = {item.asset.id for item in pending} if pending is not None else set()
        with self._db.read("check the parents of a new asset") as conn:
            # before the write: a bad call leaves no file
            self._require_parents(conn, tuple(p for p in request.parents if p not in earlier))
        self._blobs.write(data, sha, relpath, mtime=now)
        asset = Asset(
            id=new_id(ASSET_PREFIX, now),
            kind=request.kind,
            path=self._blobs.absolute(relpath),
            sha256=sha,
            width=header.width,
            height=header.height,
            format=header.format,
            size_bytes=len(data),
            parents=request.parents,
            params=json.loads(request.params_json),
            backend=request.backend,
            created=now,
        )
        item = _Pending(asset, relpath, request.params_json, data)
        if pending is not None:
            pending.append(item)
            return asset
        return self._commit([item], renamable=True)[0]

    def _commit(self, items: builtins.list[_Pending], *, renamable: bool = False) -> builtins.list[Asset]:
        """Insert the rows of `items` in one write transaction (parents may be earlier items). A single
        put whose random id is already taken gets a new one; a batch's ids are already in the caller's hands."""
        stored: builtins.list[Asset] = []
        kinds = ", ".join(dict.fromkeys(item.asset.kind for item in items))
        with self._db.write(f"record new {kinds} assets") as conn:
            made: set[str] = set()
            for item in items:
                asset = item.asset
                self._require_parents(conn, tuple(p for p in asset.parents if p not in made))
                if not self._blobs.exists(item.relpath):
                    # gc removed the file as unreferenced between our write and this transaction; gc only
                    # deletes under the write lock we now hold, so the rewritten file stays.
                    self._blobs.write(item.data, asset.sha256, item.relpath, mtime=asset.created)
                asset_id = asset.id
                while conn.execute("SELECT 1 FROM assets WHERE id = ?", (asset_id,)).fetchone():
                    if not renamable:  # the call already holds (and may have used) this id
                        raise StoreError(
                            f"asset id {asset_id} was taken while it was being stored; try again"
                        )
                    asset_id = new_id(ASSET_PREFIX, asset.created)
                conn.execute(
                    "INSERT INTO assets (id, kind, sha256, file, width, height, format, size_bytes, parents, "
                    "params, backend, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        asset_id,
                        asset.kind,
                        asset.sha256,
                        item.relpath,
                        asset.width,
                        asset.height,
                        asset.format,
                        asset.size_bytes,
                        json.dumps(list(asset.parents)),
                        item.params_json,
                        asset.backend,
                        asset.created,
                    ),
                )
                conn.executemany(
                    "INSERT INTO asset_parents (child, parent) VALUES (?, ?)",
                    [(asset_id, parent) for parent in asset.parents],
                )
                made.add(asset_id)
                stored.append(replace(asset, id=asset_id))
        return stored

    @staticmethod
    def _require_parents(conn: sqlite3.Connection, parents: tuple[str, ...]) -> None:
        for parent in parents:
            if conn.execute("SELECT 1 FROM assets WHERE id = ?", (parent,)).fetchone() is None:
                raise NotFoundError(f"parent asset {parent!r} does not exist")

    # ---- reading -----------------------------------------------------------------------------------
    def _asset(self, row: sqlite3.Row) -> Asset:
        return Asset(
            id=row["id"],
            kind=row["kind"],
            path=self._blobs.absolute(row["file"]),
            sha256=row["sha256"],
            width=int(row["width"]),
            height=int(row["height"]),
            format=row["format"],
            size_bytes=int(row["size_bytes"]),
            parents=tuple(json.loads(row["parents"])),
            params=json.loads(row["params"]),
            backend=row["backend"],
            created=float(row["created"]),
        )

    def _not_found(self, asset_id: str) -> NotFoundError:
        return NotFoundError(f"asset {asset_id!r} does not exist in the store at {self.home}")

    def get(self, asset_id: str) -> Asset:
        """The asset with this id; NotFoundError names the id when there is none."""
        with self._db.read(f"read asset {asset_id}") as conn:
            row = conn.execute("SELECT * FROM assets WHERE id = ?", (asset_id,)).fetchone()
        if row is None:
            raise self._not_found(asset_id)
        return self._asset(row)

    def exists(self, asset_id: str) -> bool:
        with self._db.read(f"look up asset {asset_id}") as conn:
            return conn.execute("SELECT 1 FROM assets WHERE id = ?", (asset_id,)).fetchone() is not None

    def list(
        self, *, kind: str | None = None, limit: int = 50, since: float | None = None
    ) -> builtins.list[Asset]:
        """Assets newest first, optionally of one kind and created at or after `since` (unix time)."""
        where: builtins.list[str] = []
        values: builtins.list[object] = []
        if kind is not None:
            where.append("kind = ?")
            values.append(check_kind(kind))
        if since is not None:
            where.append("created >= ?")
            values.append(check_number(since, name="since", minimum=-float("inf")))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        values.append(check_limit(limit))
        with self._db.read("list assets") as conn:
            rows = conn.execute(
                f"SELECT * FROM assets {clause} ORDER BY created DESC, id DESC LIMIT ?", values
            ).fetchall()
        return [self._asset(row) for row in rows]

    def children(self, asset_id: str) -> builtins.list[Asset]:
        """Assets made directly from this one, newest first."""
        with self._db.read(f"list the children of asset {asset_id}") as conn:
            if conn.execute("SELECT 1 FROM assets WHERE id = ?", (asset_id,)).fetchone() is None:
                raise self._not_found(asset_id)
            rows = conn.execute(
                "SELECT assets.* FROM asset_parents JOIN assets ON assets.id = asset_parents.child "
                "WHERE asset_parents.parent = ? ORDER BY assets.created DESC, assets.id DESC",
                (asset_id,),
            ).fetchall()
        return [self._asset(row) for row in rows]

    def lineage(self, asset_id: str) -> builtins.list[Asset]:
        """The asset first, then all its ancestors, nearest generation first."""
        with self._db.read(f"trace the lineage of asset {asset_id}") as conn:
            rows = conn.execute(
                """
                WITH RECURSIVE line(id, depth) AS (
                    SELECT ?, 0
                    UNION
                    SELECT asset_parents.parent, line.depth + 1
                    FROM asset_parents JOIN line ON asset_parents.child = line.id
                )
                SELECT assets.*, MIN(line.depth) AS depth FROM line JOIN assets ON assets.id = line.id
                GROUP BY assets.id ORDER BY depth, assets.created DESC, assets.id
                """,
                (asset_id,),
            ).fetchall()
        if not rows or rows[0]["id"] != asset_id:
            raise self._not_found(asset_id)
        return [self._asset(row) for row in rows]

    # ---- housekeeping ------------------------------------------------------------------------------
    def gc(self, older_than_days: float, *, dry_run: bool = False, now: float | None = None) -> GcReport:
        """Delete old assets, then the files no asset uses any more; a dry run only counts.

        An asset goes when it is at least `older_than_days` old and no newer asset descends from it (a
        recent result keeps its cutout, background and input). A file goes when no remaining row points
        at it and it was last written before the same cutoff. `now` replaces the clock (for tests).
        """
        days = check_number(older_than_days, name="older_than_days", minimum=0)
        at = self._clock() if now is None else check_number(now, name="now", minimum=-float("inf"))
        cutoff = {"cutoff": at - days * _DAY}
        if dry_run:
            with self._db.read("plan a garbage collection") as conn:
                doomed = conn.execute(f"{_KEEP} SELECT COUNT(*) FROM assets WHERE {_DOOMED}", cutoff)
                assets_removed = int(doomed.fetchone()[0])
                kept_files = conn.execute(
                    f"{_KEEP} SELECT DISTINCT file FROM assets WHERE NOT ({_DOOMED})", cutoff
                ).fetchall()
            files = self._unreferenced_files({row[0] for row in kept_files}, cutoff["cutoff"])
            return GcReport(assets_removed, len(files), sum(f.size for f in files), dry_run=True)
        with self._db.write("delete old assets") as conn:
            conn.execute(f"{_KEEP} DELETE FROM assets WHERE {_DOOMED}", cutoff)
            # Cursor.rowcount is -1 for a statement that starts with WITH; changes() counts the rows.
            assets_removed = int(conn.execute("SELECT changes()").fetchone()[0])
        files_removed = bytes_freed = 0
        # Files go under the write lock, so no put can be between writing a file and recording it.
        with self._db.write("delete unreferenced asset files") as conn:
            referenced = {row[0] for row in conn.execute("SELECT DISTINCT file FROM assets")}
            for blob in self._unreferenced_files(referenced, cutoff["cutoff"]):
                if self._blobs.remove(blob):
                    files_removed += 1
                    bytes_freed += blob.size
        return GcReport(assets_removed, files_removed, bytes_freed, dry_run=False)

    def _unreferenced_files(self, referenced: set[str], cutoff: float) -> builtins.list[BlobFile]:
        """Blobs no row references, and temp files crashed writers left, last touched before the cutoff."""
        settled = time.time() - TEMP_GRACE_SECONDS
        return [
            blob
            for blob in self._blobs.scan()
            if blob.mtime <= cutoff
            and (blob.mtime <= settled if blob.temporary else blob.relpath not in referenced)
        ]

    def stats(self) -> dict[str, Any]:
        """Counts by kind and job status, and bytes: on disk, referenced by rows, in the database."""
        with self._db.read("count assets") as conn:
            by_kind = {
                row[0]: int(row[1]) for row in conn.execute("SELECT kind, COUNT(*) FROM assets GROUP BY kind")
            }
            referenced_bytes = conn.execute(
                "SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size_bytes) AS size FROM assets GROUP BY file)"
            ).fetchone()[0]
            by_file = conn.execute("SELECT file, COUNT(*) FROM assets GROUP BY file").fetchall()
        files = [blob for blob in self._blobs.scan() if not blob.temporary]
        database_bytes = sum(
            path.stat().st_size
            for path in (self.db_path, self.db_path.with_name(DB_NAME + "-wal"))
            if path.exists()
        )
        return {
            "home": str(self.home),
            "assets": sum(by_kind.values()),
            "by_kind": {kind: by_kind.get(kind, 0) for kind in ASSET_KINDS},
            "files": len(files),
            "bytes_on_disk": sum(blob.size for blob in files),
            "bytes_referenced": int(referenced_bytes),
            "database_bytes": database_bytes,
            "missing_files": sum(int(n) for file, n in by_file if not self._blobs.exists(file)),
            "jobs": self._jobs.counts(),
        }

    # ---- jobs --------------------------------------------------------------------------------------
    def create_job(self, kind: str, params: Mapping[str, Any]) -> str:
        """A new queued job owned by this process; returns its id."""
        return self._jobs.create(kind, params)

    def update_job(
        self, job_id: str, *, status: str, error: str | None = None, assets: Sequence[str] = ()
    ) -> None:
        """Move a job on (queued, running, done, failed, cancelled); a finished job cannot change again."""
        self._jobs.update(job_id, status=status, error=error, assets=assets)

    def list_jobs(self, *, limit: int = 50, status: str | None = None) -> builtins.list[dict[str, Any]]:
        """Jobs newest first (optionally of one status), each as `get_job` returns it."""
        return self._jobs.list(limit=check_limit(limit), status=status)

    def link_job(self, job_id: str | None, asset_id: str) -> None:
        """Record that a job produced this asset. Inside a batch it happens after the batch's rows are
        written (and not at all if the batch is dropped, since the asset then never existed)."""
        if job_id is None:
            return
        links: builtins.list[tuple[str, str]] | None = getattr(self._batch, "links", None)
        if links is not None:
            links.append((job_id, asset_id))
            return
        status = self._jobs.get(job_id)["status"]
        self._jobs.update(job_id, status=status, error=None, assets=[asset_id])

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job's row as a JSON-ready dict (status, params, error, assets, times, owner pid)."""
        return self._jobs.get(job_id)

    def mark_abandoned_jobs(self) -> int:
        """Mark queued/running jobs whose owning process has exited as failed; returns how many."""
        return self._jobs.mark_abandoned()
