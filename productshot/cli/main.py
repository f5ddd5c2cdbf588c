"""`productshot` command line: argparse front, each command group in its own module.

Command modules only declare arguments at import time; heavy libraries (torch, diffusers, rembg) are
imported inside the handlers that need them, so `productshot --help` and pixel-only commands stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from productshot.errors import ProductshotError

# One row per command group; each module exposes `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "productshot.cli.run_cmd",
    "productshot.cli.chat_cmd",
    "productshot.cli.imaging",
    "productshot.cli.listing_cmds",
    "productshot.cli.planning",
    "productshot.cli.worker_cmds",
    "productshot.cli.models_cmds",
    "productshot.cli.mcp_cmds",
    "productshot.cli.slack_cmd",
    "productshot.cli.store_cmds",
    "productshot.cli.web_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="productshot",
        description="A product-photo studio you talk to: cut out, place, generate backgrounds.",
    )
    from productshot import __version__

    parser.add_argument("--version", action="version", version=f"productshot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from productshot.settings import Settings

    try:
        settings = Settings.load()
        code = args.handler(args, settings)
    except ProductshotError as exc:
        print(f"productshot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("productshot: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
