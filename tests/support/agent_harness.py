"""A warm agent runtime for synchronous tests, product images with a known placement, and bbox checks.

`AgentHarness.open(settings)` runs an `AgentRuntime` (one real stdio MCP server, the real SQLite thread
store) on an event loop in a background thread (anyio's blocking portal), so a module-scoped fixture can
keep one warm agent for many tests. `mcp_children()` finds the stdio MCP server(s) this test process
started (Linux /proc), so a test can kill one mid-run by its pid.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from productshot.agent.context import AgentContext
from productshot.agent.runtime import AgentRuntime, ThreadView, TurnResult
from productshot.agent.toolbox import ProgressEvent
from productshot.settings import Settings
from tests.support.imagegen import make_product, on_background
from tests.support.worker_proc import idle_worker_url


@dataclass
class AgentHarness:
    """Blocking calls into a warm `AgentRuntime` that lives on a portal's event loop."""

    portal: BlockingPortal
    runtime: AgentRuntime

    @classmethod
    @contextmanager
    def open(cls, runtime: AgentRuntime) -> Iterator[AgentHarness]:
        with start_blocking_portal() as portal, portal.wrap_async_context_manager(runtime) as opened:
            yield cls(portal, opened)

    def run(self, request: str, *, thread: str, **options: Any) -> TurnResult:
        return self.portal.call(functools.partial(self.runtime.run, request, thread=thread, **options))

    def thread(self, thread: str) -> ThreadView:
        return self.portal.call(self.runtime.thread, thread)


def agent_settings(
    home: Path, *, allowed: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings isolated to `home`: no worker autostart, no LLM key, one OpenMP thread in children."""
    base = {k: v for k, v in (env or os.environ).items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    base["PRODUCTSHOT_HOME"] = str(home)
    base["PRODUCTSHOT_ALLOWED_DIRS"] = str(allowed or home)
    base["PRODUCTSHOT_WORKER_AUTOSTART"] = "0"
    base["PRODUCTSHOT_WORKER_URL"] = idle_worker_url()  # never a worker a developer runs on the default port
    base["HF_HUB_OFFLINE"] = "1"
    base["OMP_NUM_THREADS"] = "1"
    return Settings.from_mapping(base, home=home)


def small_context(**changes: Any) -> AgentContext:
    """The tests' canvas: 512×384 (fast on a CPU), studio backdrops unless a test names a model."""
    return AgentContext(**{"width": 512, "height": 384, "model": "studio", **changes})


# ---- images --------------------------------------------------------------------------------------------
PRODUCT_RGB = (170, 40, 45)


def write_cutout(path: Path, size: tuple[int, int] = (240, 320)) -> Path:
    """A transparent product (RGBA, its alpha the exact mask): place_product skips the cutout for it."""
    make_product(size, "box", PRODUCT_RGB).save(path)
    return path


def write_photo(path: Path, size: tuple[int, int] = (320, 400)) -> Path:
    """A product photographed on a plain light backdrop (RGB): place_product cuts it out with u2netp."""
    product = make_product((size[0] * 3 // 4, size[1] * 3 // 4), "bottle", PRODUCT_RGB)
    photo, _ = on_background(product, (236, 236, 232), canvas=size)
    photo.save(path)
    return path


# ---- where a product stands -------------------------------------------------------------------------------
def placement_problems(
    bbox: tuple[int, int, int, int], position: str, size: tuple[int, int], tol: float = 0.1
) -> list[str]:
    """How `bbox` fails to stand at `position` on a canvas of `size` (empty when it does).

    An anchor aligns the product's box with the canvas edges it names (within `tol` of the canvas) and
    centres it on the axes it does not name; an exact point is where the box's bottom-centre stands.
    """
    from productshot.tools.positions import parse_position

    place = parse_position(position)
    width, height = size
    if not place.is_anchor:
        px, py = place.point_px(width, height)
        x, y = (bbox[0] + bbox[2]) / 2, bbox[3]
        if abs(x - px) > tol * width or abs(y - py) > tol * height:
            return [f"bottom-centre ({x:.0f}, {y}) is not near {place.canonical()} = ({px:.0f}, {py:.0f})"]
        return []
    anchor = str(place.anchor)
    x0, y0, x1, y1 = bbox
    vertical, _, horizontal = anchor.partition("-") if "-" in anchor else (anchor, "", anchor)
    problems = []
    if "left" in (vertical, horizontal):
        if x0 > tol * width:
            problems.append(f"left edge {x0} is not near 0")
    elif "right" in (vertical, horizontal):
        if x1 < (1 - tol) * width:
            problems.append(f"right edge {x1} is not near {width}")
    elif abs((x0 + x1) / 2 - width / 2) > tol / 2 * width:
        problems.append(f"centre x {(x0 + x1) / 2} is not near {width / 2}")
    if "top" in (vertical, horizontal):
        if y0 > tol * height:
            problems.append(f"top edge {y0} is not near 0")
    elif "bottom" in (vertical, horizontal):
        if y1 < (1 - tol) * height:
            problems.append(f"bottom edge {y1} is not near {height}")
    elif abs((y0 + y1) / 2 - height / 2) > tol / 2 * height:
        problems.append(f"centre y {(y0 + y1) / 2} is not near {height / 2}")
    return problems


def centre(bbox: tuple[int, int, int, int]) -> tuple[float, float]:
    return ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)


# ---- processes -------------------------------------------------------------------------------------------
def mcp_children() -> list[int]:
    """Pids of `productshot mcp` processes whose parent is this test process (Linux /proc)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"productshot" in command and b"mcp" in command:
            found.append(int(entry.name))
    return found


def kill_mcp_children() -> list[int]:
    """SIGKILL this process's own stdio MCP server(s), by pid, as a crash would; the pids killed."""
    pids = mcp_children()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def kill_on_first_progress(killed: list[int]) -> Any:
    """A progress listener that kills the MCP server when the server's first progress arrives."""

    def listener(event: ProgressEvent) -> None:
        if event.kind == "progress" and not killed:
            killed.extend(kill_mcp_children())

    return listener


__all__ = [
    "PRODUCT_RGB",
    "AgentHarness",
    "agent_settings",
    "centre",
    "kill_mcp_children",
    "kill_on_first_progress",
    "mcp_children",
    "placement_problems",
    "small_context",
    "write_cutout",
    "write_photo",
]
