"""How every command reports: one JSON object with `--json`, a short human summary otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from productshot.tools.notes import Note, notes_from_dicts, notes_to_dicts


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def emit(args: argparse.Namespace, payload: dict[str, Any], summary: str, *, language: str = "en") -> None:
    """Print the payload (must carry `backend` and `seconds`) as JSON, or the summary line(s).

    Every JSON result has `notes`, a list of `{code, params, text}` (Notes are rendered in `language`).
    """
    if "backend" not in payload or "seconds" not in payload:
        raise ValueError("every result must say its backend and seconds")
    payload = {**payload, "notes": json_notes(payload.get("notes") or (), language)}
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(summary.rstrip("\n") + "\n")
    sys.stdout.flush()


def json_notes(notes: Iterable[Note | Mapping[str, Any]], language: str = "en") -> list[dict[str, Any]]:
    """Notes as `{code, params, text}` dicts, whether given as Notes or as such dicts already."""
    return notes_to_dicts(notes_from_dicts(notes), language)


def note_lines(notes: Iterable[Note | Mapping[str, Any]], language: str = "en") -> list[str]:
    """One `note: ...` line per note, for a human summary."""
    return [f"note:     {n.text(language)}" for n in notes_from_dicts(notes)]
