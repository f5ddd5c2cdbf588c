"""Headless Chromium from Debian's `chromium` package, driven by Playwright (never `playwright install`).

`chromium_missing()` says why browser tests cannot run here (None when they can); `launch()` starts the
browser with flags that work offline on a shared machine; extra `args` add to them.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium_missing() -> str | None:
    """Why the browser tests must skip, or None."""
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        return "Chromium is not installed: run `apt-get update && apt-get install -y chromium` (scripts/setup.sh does as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install -e '.[dev]'"
    return None


def launch(playwright: Any, args: Sequence[str] = ()) -> Any:
    """A headless Chromium browser (Playwright `Browser`)."""
    executable = str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=[*OFFLINE_FLAGS, *args], chromium_sandbox=False
    )


__all__ = ["CHROMIUM", "OFFLINE_FLAGS", "chromium_missing", "launch"]
