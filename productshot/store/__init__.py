"""The asset store: every image as a SQLite row plus a content-addressed file under the data home."""

from productshot.ids import ASSET_ID_PATTERN
from productshot.store.asset_store import DB_NAME, AssetStore, require_file
from productshot.store.models import (
    ASSET_KINDS,
    JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    Asset,
    GcReport,
)

__all__ = [
    "ASSET_ID_PATTERN",
    "ASSET_KINDS",
    "DB_NAME",
    "JOB_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "Asset",
    "AssetStore",
    "GcReport",
    "require_file",
]
