"""The store's SQLite database: WAL, a long busy timeout, one connection per thread, short write transactions.

Every sqlite3 error leaving this module is turned into a ProductshotError that names the database and
what was being done, so callers never see a bare `database is locked`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from productshot.errors import BadRequestError, ProductshotError, StoreCorruptError, StoreError
from productshot.store.schema import migrate

logger = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction before giving up
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
RECOVERY_HINT = (
    "run `productshot store check` to see what is wrong, then `productshot store repair` to salvage the "
    "readable rows into a new database (the damaged file is kept beside it, no image file is deleted)"
)


def is_damage(exc: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT / SQLITE_NOTADB: the file is damaged or not a database at all."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGE_CODES


def _is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED, extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, ...) included."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY_CODES


@dataclass(frozen=True)
class _Handle:
    """A connection and the thread it belongs to (sqlite3 connections must not be shared across threads)."""

    thread: threading.Thread
    connection: sqlite3.Connection


class Database:
    """One SQLite file shared by many processes and threads; created and migrated on first open."""

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        if busy_timeout < 0:
            raise BadRequestError(f"busy_timeout must be >= 0 seconds, got {busy_timeout}")
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: list[_Handle] = []
        self._owner_pid = os.getpid()
        self._closed = False
        try:
            with self.guard("open the database"):
                conn = self.connection()
                self._enable_wal(conn)
                migrate(conn, path)
        except BaseException:
            self.close()
            raise

    # ---- connections -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), never opened behind our back.
        # check_same_thread=False only so close() may close every thread's connection; each is still
        # used by its own thread alone.
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000):d}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (a setting stored in the file, so once per database is enough).

        The switch needs an exclusive lock and SQLite answers BUSY at once instead of calling the busy
        handler, which happens when several processes open a fresh home together: retry until the timeout.
        """
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.005
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        if mode.lower() != "wal":
            # Some filesystems (network shares) cannot hold a WAL; the rollback journal is slower but safe.
            logger.warning(
                "asset store %s keeps journal mode %s: this filesystem refused WAL", self.path, mode
            )

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise StoreError(f"asset store {self.path} is closed; open a new AssetStore")
        conn: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        with self._lock:
            if self._closed:
                raise StoreError(f"asset store {self.path} is closed; open a new AssetStore")
            if self._owner_pid != os.getpid():
                # A forked child must not touch its parent's connections, not even to close them.
                self._handles = []
                self._owner_pid = os.getpid()
            for stale in [h for h in self._handles if not h.thread.is_alive()]:
                stale.connection.close()
                self._handles.remove(stale)
            conn = self._connect()
            self._handles.append(_Handle(threading.current_thread(), conn))
        self._local.connection = conn
        self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close every thread's connection; later use raises a ProductshotError."""
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.connection.close()

    # ---- transactions ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Turn sqlite3 errors raised inside into ProductshotErrors that say what was being done."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc, action) from exc

    @contextlib.contextmanager
    def read(self, action: str) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot; in WAL mode it never waits for writers."""
        with self.guard(action):
            conn = self.connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextlib.contextmanager
    def write(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE); keep it short."""
        with self.guard(action):
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            conn.execute("COMMIT")

    def _translate(self, exc: sqlite3.Error, action: str) -> ProductshotError:
        if _is_busy(exc):
            return StoreError(
                f"asset store {self.path} stayed busy for {self.busy_timeout:g} s while trying to {action}: "
                "another productshot process is holding it; try again"
            )
        if is_damage(exc):
            return StoreCorruptError(
                f"asset store {self.path} is damaged ({exc}) and could not {action}; {RECOVERY_HINT}"
            )
        return StoreError(f"asset store {self.path} could not {action}: {exc}")
