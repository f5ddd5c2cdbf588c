"""Job rows: what was asked, by which process, and how it ended, so a crash leaves a job marked failed."""

from __future__ import annotations

import builtins
import json
import os
import socket
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from productshot.errors import BadRequestError, NotFoundError
from productshot.ids import JOB_PREFIX, new_id
from productshot.store.database import Database
from productshot.store.models import ACTIVE_JOB_STATUSES, JOB_STATUSES, TERMINAL_JOB_STATUSES
from productshot.store.validate import check_ids, check_name, check_params, encode_json


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 on POSIX, a handle query on Windows)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill on Windows would terminate the process instead of probing it
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]  # windll exists on Windows only
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but owned by another user
    return True


def _job_dict(row: sqlite3.Row) -> dict[str, Any]:
    started, finished = row["started"], row["finished"]
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "params": json.loads(row["params"]),
        "error": row["error"],
        "assets": json.loads(row["assets"]),
        "created": row["created"],
        "updated": row["updated"],
        "pid": row["pid"],
        "host": row["host"],
        "started": started,
        "finished": finished,
        "seconds": round(finished - started, 3) if started is not None and finished is not None else None,
    }


class JobTable:
    """Job rows in the store's database; each job is owned by the process that last moved it forward."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._host = socket.gethostname()

    def create(self, kind: str, params: Mapping[str, Any]) -> str:
        kind = check_name(kind, name="job kind")
        params_json = encode_json(check_params(params), name="params")
        now = self._clock()
        with self._db.write("create a job") as conn:
            job_id = new_id(JOB_PREFIX, now)
            while conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone():
                job_id = new_id(JOB_PREFIX, now)
            conn.execute(
                "INSERT INTO jobs (id, kind, status, params, error, assets, created, updated, pid, host) "
                "VALUES (?, ?, 'queued', ?, NULL, '[]', ?, ?, ?, ?)",
                (job_id, kind, params_json, now, now, os.getpid(), self._host),
            )
        return job_id

    def update(self, job_id: str, *, status: str, error: str | None, assets: Sequence[str]) -> None:
        """Move a job to `status`; `assets` are added to the job's list and must exist."""
        if status not in JOB_STATUSES:
            raise BadRequestError(f"status must be one of {', '.join(JOB_STATUSES)}; got {status!r}")
        if error is not None and not isinstance(error, str):
            raise BadRequestError(f"error must be a string or None, got {type(error).__name__}")
        asset_ids = check_ids(assets, name="assets")
        with self._db.write(f"update job {job_id}") as conn:
            row = conn.execute("SELECT status, assets FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"job {job_id!r} does not exist")
            if row["status"] in TERMINAL_JOB_STATUSES and row["status"] != status:
                raise BadRequestError(
                    f"job {job_id!r} already ended as {row['status']}; it cannot become {status}"
                )
            for asset_id in asset_ids:
                if conn.execute("SELECT 1 FROM assets WHERE id = ?", (asset_id,)).fetchone() is None:
                    raise NotFoundError(f"asset {asset_id!r} given for job {job_id!r} does not exist")
            merged = list(dict.fromkeys([*json.loads(row["assets"]), *asset_ids]))
            now = self._clock()
            conn.execute(
                "UPDATE jobs SET status = ?, error = COALESCE(?, error), assets = ?, updated = ?, "
                "pid = CASE WHEN ? IN ('queued', 'running') THEN ? ELSE pid END, "
                "host = CASE WHEN ? IN ('queued', 'running') THEN ? ELSE host END, "
                "started = CASE WHEN ? = 'running' THEN COALESCE(started, ?) ELSE started END, "
                "finished = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN COALESCE(finished, ?) "
                "ELSE finished END WHERE id = ?",
                (
                    status,
                    error,
                    json.dumps(merged),
                    now,
                    status,
                    os.getpid(),
                    status,
                    self._host,
                    status,
                    now,
                    status,
                    now,
                    job_id,
                ),
            )

    def get(self, job_id: str) -> dict[str, Any]:
        with self._db.read(f"read job {job_id}") as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return _job_dict(row)

    def mark_abandoned(self) -> int:
        """Fail this machine's queued/running jobs whose owning process is gone; return how many."""
        marks = ", ".join("?" for _ in ACTIVE_JOB_STATUSES)
        with self._db.write("mark abandoned jobs") as conn:
            rows = conn.execute(
                f"SELECT id, pid FROM jobs WHERE status IN ({marks}) AND host = ?",
                (*ACTIVE_JOB_STATUSES, self._host),
            ).fetchall()
            dead = [row for row in rows if row["pid"] != os.getpid() and not process_alive(row["pid"])]
            now = self._clock()
            for row in dead:
                conn.execute(
                    "UPDATE jobs SET status = 'failed', error = ?, updated = ?, finished = ? WHERE id = ?",
                    (
                        f"abandoned: its process (pid {row['pid']}) exited before the job finished",
                        now,
                        now,
                        row["id"],
                    ),
                )
        return len(dead)

    def list(self, *, limit: int, status: str | None = None) -> builtins.list[dict[str, Any]]:
        """Jobs newest first, optionally only those in one status."""
        if status is not None and status not in JOB_STATUSES:
            raise BadRequestError(f"status must be one of {', '.join(JOB_STATUSES)}; got {status!r}")
        clause, values = ("WHERE status = ?", [status]) if status else ("", [])
        with self._db.read("list jobs") as conn:
            rows = conn.execute(
                f"SELECT * FROM jobs {clause} ORDER BY created DESC, id DESC LIMIT ?", [*values, limit]
            ).fetchall()
        return [_job_dict(row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._db.read("count jobs") as conn:
            rows = conn.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        found = {row["status"]: int(row["n"]) for row in rows}
        return {status: found.get(status, 0) for status in JOB_STATUSES}
