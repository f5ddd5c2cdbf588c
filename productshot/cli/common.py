"""Helpers shared by the CLI commands: reading image arguments and guarding output paths."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from productshot.errors import BadRequestError

if TYPE_CHECKING:
    from productshot.settings import Settings
    from productshot.store import Asset, AssetStore
    from productshot.tools.imageio import LoadedImage


def load_input(arg: str, settings: Settings) -> LoadedImage:
    """Load an image argument: a file path or a bundled sample (`sample:coffee`)."""
    from productshot.tools.imageio import load_image

    source: str | Path = arg if arg.startswith("sample:") else Path(arg).expanduser()
    return load_image(source, max_pixels=settings.max_image_pixels)


def store_input(store: AssetStore, arg: str, loaded: LoadedImage) -> Asset:
    """Record an input in the store: a file is copied byte for byte, a sample is stored as PNG."""
    if arg.startswith("sample:"):
        return store.put_image(loaded.image, kind="input", params={"source": arg}, backend="sample")
    return store.put_file(Path(arg).expanduser(), kind="input", params={"source": arg}, backend="input")


def output_path(raw: str, *inputs: str) -> Path:
    """Validate `-o`: an image suffix we can write, and never one of the input files."""
    out = Path(raw).expanduser()
    if out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise BadRequestError(f"output {raw!r}: use a .png, .jpg or .webp file name")
    if out.exists() and out.is_dir():
        raise BadRequestError(f"output {raw!r} is a directory; give a file name such as {out / 'shot.png'}")
    for arg in inputs:
        if arg.startswith("sample:"):
            continue
        src = Path(arg).expanduser()
        if src.exists() and out.exists() and src.resolve() == out.resolve():
            raise BadRequestError(f"output {raw!r} is also an input; refusing to overwrite the original")
    return out


def add_output(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "-o", "--output", required=required, metavar="OUT.png", help="where to write the image"
    )
