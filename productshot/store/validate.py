"""Argument checks shared by the store's public methods; each failure is a BadRequestError naming the argument."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from productshot.errors import BadRequestError
from productshot.store.models import ASSET_KINDS

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """User text fit to store: NUL and other control characters (tab and newline kept) become spaces,
    so a stored request cannot carry terminal escapes or NULs into logs, tables and later prompts."""
    return _CONTROL.sub(" ", text).strip()


def check_kind(kind: object) -> str:
    if kind not in ASSET_KINDS:
        raise BadRequestError(f"kind must be one of {', '.join(ASSET_KINDS)}; got {kind!r}")
    return str(kind)


def check_name(value: object, *, name: str) -> str:
    """A short non-empty label such as a backend name."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def check_ids(ids: object, *, name: str) -> tuple[str, ...]:
    """A sequence of ids (not one bare string), duplicates dropped, order kept."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise BadRequestError(f"{name} must be a list of asset ids, got {ids!r}")
    if not all(isinstance(item, str) and item for item in ids):
        raise BadRequestError(f"{name} must contain only non-empty asset id strings, got {list(ids)!r}")
    return tuple(dict.fromkeys(ids))


def check_params(params: object) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise BadRequestError(f"params must be a mapping of names to values, got {type(params).__name__}")
    return {str(key): value for key, value in params.items()}


def check_number(value: object, *, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequestError(f"{name} must be a finite number, got {value!r}")
    if value < minimum:
        raise BadRequestError(f"{name} must be >= {minimum:g}, got {value!r}")
    return float(value)


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadRequestError(f"limit must be a whole number >= 1, got {limit!r}")
    return limit


def encode_json(value: Mapping[str, Any] | Sequence[Any], *, name: str) -> str:
    """JSON text for a column; values JSON cannot hold (objects, NaN) are a BadRequestError naming `name`."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRequestError(
            f"{name} must be JSON-serialisable (str, numbers, lists, dicts): {exc}"
        ) from exc
