"""The store's SQLite schema, versioned with `PRAGMA user_version` and brought up to date by `migrate`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from productshot.errors import StoreError

# MIGRATIONS[n] turns a version-n database into version n+1. Append new steps; never edit old ones.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE assets (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            file TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            format TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            parents TEXT NOT NULL DEFAULT '[]',
            params TEXT NOT NULL DEFAULT '{}',
            backend TEXT NOT NULL,
            created REAL NOT NULL
        )
        """,
        "CREATE INDEX assets_created ON assets (created)",
        "CREATE INDEX assets_kind_created ON assets (kind, created)",
        "CREATE INDEX assets_file ON assets (file)",
        # One edge per (child, parent); `parents` above keeps the caller's order for reading.
        """
        CREATE TABLE asset_parents (
            child TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
            parent TEXT NOT NULL REFERENCES assets (id) DEFERRABLE INITIALLY DEFERRED,
            PRIMARY KEY (child, parent)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX asset_parents_parent ON asset_parents (parent)",
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            assets TEXT NOT NULL DEFAULT '[]',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL
        )
        """,
        "CREATE INDEX jobs_status ON jobs (status)",
    ),
    (
        # When a job started running and when it ended, for timings in `productshot store jobs`.
        "ALTER TABLE jobs ADD COLUMN started REAL",
        "ALTER TABLE jobs ADD COLUMN finished REAL",
        "CREATE INDEX jobs_created ON jobs (created)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, db_path: Path) -> int:
    """Apply the missing migrations in one write transaction; return the version reached.

    Several processes may open a fresh home at once: BEGIN IMMEDIATE makes them take turns, and each
    re-reads the version inside its transaction, so every step runs exactly once.
    """
    if schema_version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"asset store {db_path} has schema version {version}, newer than this productshot "
                f"understands ({SCHEMA_VERSION}); upgrade productshot"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")
    return SCHEMA_VERSION
