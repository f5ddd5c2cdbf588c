"""How every command reports: one JSON object with `--json`, a short human summary otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def emit(args: argparse.Namespace, payload: dict[str, Any], summary: str) -> None:
    """Print the payload (must carry `backend` and `seconds`) as JSON, or the summary line(s)."""
    if "backend" not in payload or "seconds" not in payload:
        raise ValueError("every result must say its backend and seconds")
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(summary.rstrip("\n") + "\n")
    sys.stdout.flush()
