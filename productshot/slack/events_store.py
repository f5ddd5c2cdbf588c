"""What the Slack bot has taken on, in SQLite under the data home, so nothing runs twice, even after a restart.

Slack redelivers an event it thinks was missed (`X-Slack-Retry-Num`), and one message can arrive twice as two
events (an `app_mention` and a `message` in a thread the bot follows). `claim` records the event id and the
message's own keys in one transaction: the first claim wins, every later one is refused. Each claim opens a
job row (running → done or failed), so a restart can find the requests an earlier run never finished and
say so in their threads. `threads` remembers which Slack threads hold a shot and who started them, so a
plain reply there is a follow-up.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from productshot.errors import BadRequestError
from productshot.settings import Settings

DB_NAME = "slack.sqlite3"
DEFAULT_RETENTION_S = 7 * 24 * 3600.0  # Slack retries for about an hour; a week is ample
JOB_STATUSES = ("running", "done", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handled (
    key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    boot TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS threads (
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    owner TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (channel, thread_ts)
);
"""


@dataclass(frozen=True)
class JobRecord:
    """One request the bot took on: where it came from and how it ended."""

    job_id: str
    channel: str
    thread_ts: str
    user_id: str
    status: str
    created: float
    detail: str = ""


class EventStore:
    """The bot's SQLite ledger; safe to use from many threads (one short connection per operation)."""

    def __init__(self, path: Path, *, retention_s: float = DEFAULT_RETENTION_S) -> None:
        if retention_s <= 0:
            raise BadRequestError(f"retention_s must be positive, got {retention_s}")
        self.path = path
        self.retention_s = retention_s
        # Jobs opened by this process carry its boot id; running jobs of another boot were interrupted.
        self.boot = uuid.uuid4().hex
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @classmethod
    def open(cls, settings: Settings, *, retention_s: float = DEFAULT_RETENTION_S) -> EventStore:
        """The store of this data home (`<home>/slack.sqlite3`)."""
        settings.ensure_home()
        return cls(settings.home / DB_NAME, retention_s=retention_s)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    # ---- events -------------------------------------------------------------------------------------------
    def claim(self, keys: Sequence[str], *, channel: str, thread_ts: str, user_id: str) -> str | None:
        """Record `keys` (event id, message keys) and open a job; None when any key was claimed before."""
        wanted = [key for key in dict.fromkeys(keys) if key]
        if not wanted:
            raise BadRequestError(
                "claim: no event id or message key to record; the event cannot be deduplicated"
            )
        job_id = f"j-{uuid.uuid4().hex[:16]}"
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" for _ in wanted)
                seen = db.execute(f"SELECT 1 FROM handled WHERE key IN ({marks}) LIMIT 1", wanted).fetchone()
                if seen is not None:
                    db.execute("ROLLBACK")
                    return None
                db.executemany(
                    "INSERT INTO handled (key, job_id, created) VALUES (?, ?, ?)",
                    [(key, job_id, now) for key in wanted],
                )
                db.execute(
                    "INSERT INTO jobs (job_id, channel, thread_ts, user_id, status, boot, created) "
                    "VALUES (?, ?, ?, ?, 'running', ?, ?)",
                    (job_id, channel, thread_ts, user_id, self.boot, now),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return job_id

    def is_handled(self, key: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM handled WHERE key = ?", (key,)).fetchone() is not None

    # ---- jobs ---------------------------------------------------------------------------------------------
    def finish(self, job_id: str, status: str, detail: str = "") -> None:
        """Close a job as done, failed or interrupted (with a short reason)."""
        if status not in JOB_STATUSES or status == "running":
            raise BadRequestError(f"status must be one of done, failed, interrupted; got {status!r}")
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished = ?, detail = ? WHERE job_id = ?",
                (status, time.time(), detail[:500], job_id),
            )

    def job(self, job_id: str) -> JobRecord | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT job_id, channel, thread_ts, user_id, status, created, detail FROM jobs WHERE job_id = ?",
                (job_id,),
            ).fetchone()
        return JobRecord(*row) if row else None

    def jobs(self, status: str | None = None) -> list[JobRecord]:
        """Every job (or those with `status`), oldest first."""
        query = "SELECT job_id, channel, thread_ts, user_id, status, created, detail FROM jobs"
        with self._connect() as db:
            if status is None:
                rows = db.execute(f"{query} ORDER BY created").fetchall()
            else:
                rows = db.execute(f"{query} WHERE status = ? ORDER BY created", (status,)).fetchall()
        return [JobRecord(*row) for row in rows]

    def take_interrupted(self) -> list[JobRecord]:
        """Jobs an earlier run left running (it stopped or crashed mid-request), now marked interrupted."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT job_id, channel, thread_ts, user_id, status, created, detail FROM jobs "
                "WHERE status = 'running' AND boot != ? ORDER BY created",
                (self.boot,),
            ).fetchall()
            db.execute(
                "UPDATE jobs SET status = 'interrupted', finished = ?, detail = 'the bot stopped mid-request' "
                "WHERE status = 'running' AND boot != ?",
                (time.time(), self.boot),
            )
            db.execute("COMMIT")
        return [JobRecord(*row) for row in rows]

    # ---- threads ------------------------------------------------------------------------------------------
    def remember_thread(self, channel: str, thread_ts: str, owner: str) -> None:
        """Note that the thread holds a shot (its first requester stays its owner)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO threads (channel, thread_ts, owner, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (channel, thread_ts) DO UPDATE SET updated = excluded.updated",
                (channel, thread_ts, owner, time.time()),
            )

    def thread_owner(self, channel: str, thread_ts: str) -> str | None:
        """Who started the bot's conversation in this thread; None when the thread holds no shot."""
        with self._connect() as db:
            row = db.execute(
                "SELECT owner FROM threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
            ).fetchone()
        return str(row[0]) if row else None

    # ---- housekeeping -------------------------------------------------------------------------------------
    def prune(self, now: float | None = None) -> int:
        """Forget handled keys and finished jobs older than the retention; returns the keys removed."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        with self._connect() as db:
            removed = db.execute("DELETE FROM handled WHERE created < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM jobs WHERE status != 'running' AND created < ?", (cutoff,))
        return int(removed)


__all__ = ["DB_NAME", "DEFAULT_RETENTION_S", "JOB_STATUSES", "EventStore", "JobRecord"]
