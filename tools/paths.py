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

    Raises `PathNotAllowedError` (naming the path as given and the allowed folders) when it does not, and
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
    if not _inside(resolved, roots):
        raise not_allowed(raw, allowed_dirs)
    if must_exist and not resolved.exists():
        raise NotFoundError(f"path {raw!r} does not exist")
    return resolved


def not_allowed(raw: str, allowed_dirs: Sequence[Path], *, what: str = "path") -> PathNotAllowedError:
    """The one refusal for any path outside the allowed folders: it names only what the caller gave and
    the allowed folders, never where the path led or whether anything is there."""
    shown = ", ".join(str(folder) for folder in allowed_dirs) if allowed_dirs else "none configured"
    return PathNotAllowedError(
        f"{what} {raw!r} is not a file inside the allowed folders ({shown}); move the file into one of "
        "them or add its folder to PRODUCTSHOT_ALLOWED_DIRS"
    )


def find_allowed_file(text: str, allowed_dirs: Sequence[Path]) -> Path:
    """An existing file named by `text`: absolute as given, relative looked for in each allowed folder.

    Anything that is not an existing file inside the allowed folders (outside them, missing, a folder, a
    symlink leading out) gets the same `not_allowed` message, so the answer says nothing about the rest
    of the disk.
    """
    raw = Path(text).expanduser()
    roots = [_resolve(Path(folder).expanduser()) for folder in allowed_dirs]
    candidates = [raw] if raw.is_absolute() else [Path(folder) / raw for folder in allowed_dirs]
    for candidate in candidates:
        resolved = _resolve(candidate)
        if _inside(resolved, roots) and resolved.is_file():
            return resolved
    raise not_allowed(text, allowed_dirs)


def check_model_folder(name: str, allowed_dirs: Sequence[Path], model_roots: Sequence[Path]) -> None:
    """Refuse (one message) a `model` argument naming a folder outside the allowed folders and model cache.

    Names that are not paths (presets, `auto`, Hub ids `org/name`) pass; remote callers (MCP, Slack) call
    this before the registry looks at the disk, so its answers cannot probe arbitrary folders.
    """
    text = name.strip()
    if not _looks_like_path(text):
        return
    roots = [_resolve(Path(folder).expanduser()) for folder in [*allowed_dirs, *model_roots]]
    if "\x00" in text or not _inside(_resolve(Path(text).expanduser()), roots):
        shown = ", ".join(str(root) for root in roots) if roots else "none configured"
        raise PathNotAllowedError(
            f"model {text!r}: a model folder must be inside the allowed folders or the model cache ({shown}); "
            "give a model name (see list_models) or move the pipeline folder there"
        )


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~", "\\"))
        or "\\" in text
        or text.count("/") > 1
        or Path(text).expanduser().is_absolute()
    )


def _inside(resolved: Path, roots: Sequence[Path]) -> bool:
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
        raise BadRequestError(f"path {str(path)!r} cannot be resolved: {exc}") from exc


__all__ = ["check_model_folder", "find_allowed_file", "not_allowed", "resolve_allowed_path"]
