"""Allowed-folder checks for file paths that arrive from users, MCP clients or chat messages.

A path is resolved first (``~``, ``..`` and symlinks), then compared with the resolved allowed folders, so
neither a ``../`` trick nor a symlink inside an allowed folder can reach a file outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from productshot.errors import BadRequestError, NotFoundError, PathNotAllowedError


def resolve_allowed_path(path: str | Path, allowed_dirs: Sequence[Path], *, must_exist: bool = True) -> Path:
    """The absolute, symlink-free form of ``path`` if it lies inside one of ``allowed_dirs``.

    Raises `PathNotAllowedError` (naming the path and the allowed folders) when it does not, and
    `NotFoundError` when ``must_exist`` and nothing is there. The allowed check comes first, so nothing is
    revealed about files outside the allowed folders.
    """
    raw = str(path)
    if raw.strip() == "":
        raise BadRequestError("path is empty; give a file path inside the allowed folders")
    if "\x00" in raw:
        raise BadRequestError(f"path {raw!r} contains a NUL byte")
    resolved = _resolve(Path(raw).expanduser())
    roots = [_resolve(Path(folder).expanduser()) for folder in allowed_dirs]
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots) if roots else "none configured"
        raise PathNotAllowedError(
            f"path {raw!r} (resolved to {resolved}) is outside the allowed folders ({shown}); "
            "move the file into one of them or add its folder to PRODUCTSHOT_ALLOWED_DIRS"
        )
    if must_exist and not resolved.exists():
        raise NotFoundError(f"path {raw!r} does not exist")
    return resolved


def _resolve(path: Path) -> Path:
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
        raise BadRequestError(f"path {str(path)!r} cannot be resolved: {exc}") from exc


__all__ = ["resolve_allowed_path"]
