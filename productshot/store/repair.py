"""`store check` and `store repair`: find what is wrong with a store, and salvage a damaged database.

Recovery uses Python's sqlite3 only (the `sqlite3` shell and its `.recover` are often not installed): the
damaged file is opened read-only, each table's row ids are collected by scanning forwards and backwards
(a damaged page stops a scan, so the two scans together get past it) and the gap between them is probed
id by id; then every row is read on its own, so one bad page loses only the rows on it. Readable rows go
into a fresh database, the damaged file is renamed aside (never deleted), and image files that no salvaged
row names are registered as `recovered` assets. Lineage that lived only in lost rows cannot come back
(asset ids are random), and the report says how much was lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from productshot.errors import BadImageError, StoreError
from productshot.ids import ASSET_ID_PATTERN
from productshot.store import imagebytes
from productshot.store.blobs import ASSETS_FOLDER, BlobStore
from productshot.store.database import Database, is_damage
from productshot.store.models import ASSET_KINDS, JOB_STATUSES, RECOVERED_KIND
from productshot.store.schema import SCHEMA_VERSION

DB_NAME = "productshot.sqlite3"  # the same name AssetStore uses
MAX_PROBED_IDS = 500_000  # row ids probed one by one inside a damaged stretch, at most
_ASSET_COLUMNS = (
    "id",
    "kind",
    "sha256",
    "file",
    "width",
    "height",
    "format",
    "size_bytes",
    "parents",
    "params",
    "backend",
    "created",
)
_JOB_COLUMNS = ("id", "kind", "status", "params", "error", "assets", "created", "updated", "pid", "host")


@dataclass(frozen=True)
class CheckReport:
    """What `store check` found: the database's state, rows whose file is missing, files no row names."""

    home: str
    database: str  # "ok", "absent" (a fresh store is made on first use) or "damaged"
    problems: tuple[str, ...]
    assets: int | None
    missing_files: tuple[str, ...]  # ids of assets whose file is gone
    orphan_files: tuple[str, ...]  # relative paths of image files no asset row names

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "ok": self.ok,
            "database": self.database,
            "problems": list(self.problems),
            "assets": self.assets,
            "missing_files": list(self.missing_files),
            "orphan_files": list(self.orphan_files),
        }


@dataclass(frozen=True)
class RepairReport:
    """What `store repair` did, and what could not be saved."""

    home: str
    repaired: bool
    damaged_copy: str | None
    salvaged_assets: int
    salvaged_jobs: int
    unreadable_rows: int
    rejected_rows: int
    lineage_links_lost: int
    recovered_files: tuple[str, ...]  # asset ids made for orphan image files
    skipped_files: tuple[str, ...]  # files under assets/ that are not readable images (left in place)
    missing_files: tuple[str, ...]
    lost: tuple[str, ...] = field(default=())  # sentences saying what is gone

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "repaired": self.repaired,
            "damaged_copy": self.damaged_copy,
            "salvaged_assets": self.salvaged_assets,
            "salvaged_jobs": self.salvaged_jobs,
            "unreadable_rows": self.unreadable_rows,
            "rejected_rows": self.rejected_rows,
            "lineage_links_lost": self.lineage_links_lost,
            "recovered_files": list(self.recovered_files),
            "skipped_files": list(self.skipped_files),
            "missing_files": list(self.missing_files),
            "lost": list(self.lost),
        }


# ---- check ------------------------------------------------------------------------------------------
def _open_read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def check_store(home: Path) -> CheckReport:
    """Inspect the store in `home` without changing anything."""
    home = Path(home).expanduser().absolute()
    db_path = home / DB_NAME
    blobs = BlobStore(home)
    files = {blob.relpath for blob in blobs.scan() if not blob.temporary}
    if not db_path.exists():
        orphans = tuple(sorted(files))
        absent = (f"{len(orphans)} image files but no database",) if orphans else ()
        return CheckReport(str(home), "absent", absent, None, (), orphans)
    problems: list[str] = []
    try:
        conn = _open_read_only(db_path)
        try:
            found = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            rows = conn.execute("SELECT id, file FROM assets").fetchall() if found == ["ok"] else []
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if not is_damage(exc):
            raise StoreError(f"could not check the asset store {db_path}: {exc}") from exc
        damage = f"the database {db_path} is damaged: {exc}"
        return CheckReport(str(home), "damaged", (damage,), None, (), tuple(sorted(files)))
    if found != ["ok"]:
        shown = "; ".join(found[:5]) + (f"; … {len(found) - 5} more" if len(found) > 5 else "")
        problems.append(f"the database {db_path} is damaged: {shown}")
        return CheckReport(str(home), "damaged", tuple(problems), None, (), tuple(sorted(files)))
    if version > SCHEMA_VERSION:
        problems.append(
            f"the database has schema version {version}, newer than this productshot ({SCHEMA_VERSION})"
        )
    missing = tuple(row["id"] for row in rows if not (home / row["file"]).is_file())
    if missing:
        problems.append(f"{len(missing)} assets have lost their image file: {', '.join(missing[:10])}")
    named = {row["file"] for row in rows}
    orphans = tuple(sorted(files - named))
    return CheckReport(str(home), "ok", tuple(problems), len(rows), missing, orphans)


# ---- salvage ----------------------------------------------------------------------------------------
@dataclass
class _Salvage:
    rows: list[dict[str, Any]]
    unreadable: int


def _row_ids(conn: sqlite3.Connection, table: str) -> set[int]:
    """Row ids reachable by a forward and a backward scan, plus every id between them, probed later."""
    found: set[int] = set()
    for order in ("ASC", "DESC"):
        try:
            for (rowid,) in conn.execute(f"SELECT rowid FROM {table} ORDER BY rowid {order}"):
                found.add(int(rowid))
        except sqlite3.DatabaseError:
            continue  # a damaged page: the scan from the other end covers what lies beyond it
    if not found:
        return found
    low, high = min(found), max(found)
    if high - low < MAX_PROBED_IDS:
        found.update(range(low, high + 1))
    return found


def _salvage_table(conn: sqlite3.Connection, table: str, columns: Iterable[str]) -> _Salvage:
    names = ", ".join(columns)
    rows: list[dict[str, Any]] = []
    unreadable = 0
    try:
        ids = _row_ids(conn, table)
    except sqlite3.DatabaseError:
        return _Salvage([], 0)
    for rowid in sorted(ids):
        try:
            row = conn.execute(f"SELECT {names} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            unreadable += 1
            continue
        if row is not None:
            rows.append(dict(row))
    return _Salvage(rows, unreadable)


def _valid_asset(row: dict[str, Any]) -> bool:
    try:
        return (
            isinstance(row["id"], str)
            and ASSET_ID_PATTERN.match(row["id"]) is not None
            and row["kind"] in ASSET_KINDS
            and isinstance(row["file"], str)
            and row["file"].startswith(f"{ASSETS_FOLDER}/")
            and ".." not in row["file"]
            and int(row["width"]) > 0
            and int(row["height"]) > 0
            and isinstance(json.loads(row["parents"]), list)
            and isinstance(json.loads(row["params"]), dict)
            and isinstance(row["backend"], str)
            and float(row["created"]) >= 0
        )
    except (KeyError, TypeError, ValueError):
        return False


def _valid_job(row: dict[str, Any]) -> bool:
    try:
        return (
            isinstance(row["id"], str)
            and row["status"] in JOB_STATUSES
            and isinstance(json.loads(row["params"]), dict)
            and isinstance(json.loads(row["assets"]), list)
            and float(row["created"]) >= 0
        )
    except (KeyError, TypeError, ValueError):
        return False


def _salvage(db_path: Path) -> tuple[_Salvage, _Salvage]:
    try:
        conn = _open_read_only(db_path)
    except sqlite3.Error:
        return _Salvage([], 0), _Salvage([], 0)
    try:
        return _salvage_table(conn, "assets", _ASSET_COLUMNS), _salvage_table(conn, "jobs", _JOB_COLUMNS)
    finally:
        conn.close()


# ---- repair -----------------------------------------------------------------------------------------
def repair_store(home: Path, *, clock: Callable[[], float] = time.time) -> RepairReport:
    """Rebuild a damaged database from its readable rows; a healthy store is left as it is.

    Never deletes a file: the damaged database (and its -wal/-shm) is renamed to
    `productshot.sqlite3.damaged-<time>`, and orphan image files are registered, not removed.
    Run it while no other productshot process uses the store.
    """
    home = Path(home).expanduser().absolute()
    check = check_store(home)
    if check.database != "damaged":
        return RepairReport(
            str(home), False, None, 0, 0, 0, 0, 0, (), (), check.missing_files,
            ("nothing to repair: the database is readable",) if check.database == "ok" else (),
        )  # fmt: skip
    db_path = home / DB_NAME
    assets, jobs = _salvage(db_path)
    kept = [row for row in assets.rows if _valid_asset(row)]
    kept_ids = {row["id"] for row in kept}
    kept_jobs = [row for row in jobs.rows if _valid_job(row)]
    rejected = len(assets.rows) - len(kept) + len(jobs.rows) - len(kept_jobs)

    stamp = datetime.fromtimestamp(clock()).strftime("%Y%m%d-%H%M%S")
    fresh_path = home / f"{DB_NAME}.repair-{stamp}-{os.getpid()}"
    links_lost = 0
    fresh = Database(fresh_path)
    try:
        with fresh.write("write the salvaged rows") as conn:
            for row in kept:
                parents = [p for p in json.loads(row["parents"]) if p in kept_ids]
                links_lost += len(json.loads(row["parents"])) - len(parents)
                conn.execute(
                    f"INSERT INTO assets ({', '.join(_ASSET_COLUMNS)}) VALUES ({', '.join('?' * len(_ASSET_COLUMNS))})",
                    (*[row[c] for c in _ASSET_COLUMNS[:8]], json.dumps(parents), row["params"], row["backend"], row["created"]),
                )  # fmt: skip
                conn.executemany(
                    "INSERT OR IGNORE INTO asset_parents (child, parent) VALUES (?, ?)",
                    [(row["id"], parent) for parent in parents],
                )
            for row in kept_jobs:
                named = [a for a in json.loads(row["assets"]) if a in kept_ids]
                values = {**row, "assets": json.dumps(named), "error": row["error"]}
                conn.execute(
                    f"INSERT OR IGNORE INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({', '.join('?' * len(_JOB_COLUMNS))})",
                    tuple(values[c] for c in _JOB_COLUMNS),
                )  # fmt: skip
        recovered, skipped = _register_orphans(fresh, home, {row["file"] for row in kept}, clock)
    finally:
        fresh.close()
    damaged_copy = _move_aside(db_path, stamp)
    os.replace(fresh_path, db_path)
    missing = tuple(row["id"] for row in kept if not (home / row["file"]).is_file())
    lost = _lost_sentences(assets.unreadable + jobs.unreadable, rejected, links_lost, len(recovered))
    return RepairReport(
        str(home), True, str(damaged_copy), len(kept), len(kept_jobs), assets.unreadable + jobs.unreadable,
        rejected, links_lost, tuple(recovered), tuple(skipped), missing, lost,
    )  # fmt: skip


def _register_orphans(
    db: Database, home: Path, named: set[str], clock: Callable[[], float]
) -> tuple[list[str], list[str]]:
    """Give every image file no salvaged row names an asset of kind `recovered` (no parents, no lineage)."""
    from productshot.ids import ASSET_PREFIX, new_id

    recovered: list[str] = []
    skipped: list[str] = []
    for blob in BlobStore(home).scan():
        if blob.temporary or blob.relpath in named:
            continue
        try:
            data = blob.path.read_bytes()
            header = imagebytes.read_header(data, source=f"file {blob.relpath}")
        except (OSError, BadImageError):
            skipped.append(blob.relpath)
            continue
        asset_id = new_id(ASSET_PREFIX, clock())
        params = {"recovered_file": blob.relpath, "note": "found by store repair; its lineage was lost"}
        with db.write("register a recovered file") as conn:
            conn.execute(
                f"INSERT INTO assets ({', '.join(_ASSET_COLUMNS)}) VALUES ({', '.join('?' * len(_ASSET_COLUMNS))})",
                (asset_id, RECOVERED_KIND, blob.relpath.rsplit("/", 1)[-1].split(".", 1)[0], blob.relpath,
                 header.width, header.height, header.format, len(data), "[]", json.dumps(params),
                 "store-repair", blob.mtime),
            )  # fmt: skip
        recovered.append(asset_id)
    return recovered, skipped


def _move_aside(db_path: Path, stamp: str) -> Path:
    target = db_path.with_name(f"{DB_NAME}.damaged-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = db_path.with_name(f"{DB_NAME}.damaged-{stamp}-{counter}")
    os.replace(db_path, target)
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(DB_NAME + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


def _lost_sentences(unreadable: int, rejected: int, links: int, recovered: int) -> tuple[str, ...]:
    lost: list[str] = []
    if unreadable:
        lost.append(f"{unreadable} rows sat on damaged pages and could not be read")
    if rejected:
        lost.append(f"{rejected} rows were readable but garbled, and were left out")
    if links:
        lost.append(f"{links} lineage links pointed at lost assets and were dropped")
    if recovered:
        lost.append(
            f"{recovered} image files had no surviving row: they are back as kind=recovered, without their "
            "request, parameters or lineage (asset ids are random, so the old ids cannot be rebuilt)"
        )
    return tuple(lost) or ("nothing: every row was read back",)


__all__ = ["RECOVERED_KIND", "CheckReport", "RepairReport", "check_store", "repair_store"]
