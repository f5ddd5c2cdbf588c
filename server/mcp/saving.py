"""`save_to`: a copy of a tool's image where the seller wants it, and nowhere else.

The rule: the path (a relative one is taken inside the first allowed folder) must resolve, after `~`, `..`
and symlinks, inside one of the allowed folders; end in .png, .jpg, .jpeg or .webp; name no file that
exists yet (a user's file is never overwritten); and lie outside the data home's own folders (`assets/`,
`run/`, `logs/` and the database), which only the store writes. The copy is written atomically (a temp
file next to it, then a rename). Everything else the server writes lands in the data home.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from productshot.errors import BadRequestError, PathNotAllowedError
from productshot.settings import Settings
from productshot.tools.imageio import save_image_atomic
from productshot.tools.paths import resolve_allowed_path

SAVE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_NO_ALPHA = (".jpg", ".jpeg")


def check_save_to(save_to: str, settings: Settings, *, has_alpha: bool = False) -> Path:
    """The resolved target for `save_to`, or a named error saying which part of the rule it breaks.

    Called before any work is done, so a bad `save_to` costs nothing.
    """
    raw = Path(save_to).expanduser()
    if not raw.is_absolute() and settings.allowed_dirs:
        raw = settings.allowed_dirs[0] / raw  # a bare name lands in the first allowed folder
    try:
        target = resolve_allowed_path(raw, settings.allowed_dirs, must_exist=False)
    except PathNotAllowedError as exc:
        folders = ", ".join(str(folder) for folder in settings.allowed_dirs)
        raise PathNotAllowedError(
            f"save_to {save_to!r} is outside the allowed folders ({folders}); save into one of them, "
            "or add a folder to PRODUCTSHOT_ALLOWED_DIRS"
        ) from exc
    if target.is_dir():
        raise BadRequestError(
            f"save_to {save_to!r} is a folder; give a file name such as {target / 'shot.png'}"
        )
    suffix = target.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise BadRequestError(f"save_to {save_to!r}: end the file name in {', '.join(SAVE_SUFFIXES)}")
    if has_alpha and suffix in _NO_ALPHA:
        raise BadRequestError(
            f"save_to {save_to!r}: a cutout has transparency, which JPEG cannot keep; use .png or .webp"
        )
    for internal in _internal_paths(settings):
        if target == internal or target.is_relative_to(internal):
            raise BadRequestError(
                f"save_to {save_to!r} is inside productshot's own store folder {internal}; "
                "choose a folder of yours such as ~/Pictures"
            )
    if target.exists() or target.is_symlink():
        raise BadRequestError(
            f"save_to {save_to!r} already exists; choose a new file name (files are never overwritten)"
        )
    return target


def save_copy(image: Image.Image, target: Path) -> Path:
    """Write `image` to a target `check_save_to` returned; JPEG gets an RGB copy."""
    if target.suffix.lower() in _NO_ALPHA and image.mode != "RGB":
        image = image.convert("RGB")
    return save_image_atomic(image, target)


def _internal_paths(settings: Settings) -> tuple[Path, ...]:
    folders = (settings.assets_dir, settings.run_dir, settings.logs_dir, settings.db_path)
    return tuple(p.expanduser().resolve(strict=False) for p in folders)


__all__ = ["SAVE_SUFFIXES", "check_save_to", "save_copy"]
