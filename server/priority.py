"""CPU priority for model work: a process (or thread) that runs cutouts and diffusion steps lowers its own
scheduling priority, so a quick call (a 40 ms composite) gets a core at once instead of a time slice
between model threads. A lower priority costs model work nothing when the cores are free.

Priorities only go down: an unprivileged process cannot raise them again, so a nice value at or above
the one asked for is left as it is. On Linux each thread has its own nice value, so every thread of the
process is lowered (threads started later inherit it from the thread that starts them). Linux with
autogroups (the desktop default) shares the CPU fairly between sessions first and applies nice values only
inside a session, so a process that leads its own session (the auto-started worker does) also lowers its
session's autogroup: without that its nice value would change nothing against the MCP server next to it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_NICE = 19
_TASKS = Path("/proc/self/task")
_AUTOGROUP = Path("/proc/self/autogroup")


def check_nice(nice: int, *, source: str) -> int:
    """`nice` if it is 0..19 (0: leave the priority alone); a ValueError naming `source` otherwise."""
    if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= MAX_NICE:
        raise ValueError(f"{source} must be a whole number from 0 (off) to {MAX_NICE}, got {nice!r}")
    return nice


def lower_process_priority(nice: int) -> int | None:
    """Lower this process's CPU priority (all its threads) to at least `nice`; the nice value it runs at
    afterwards, or None when the platform has no nice values or refuses (logged, never fatal)."""
    check_nice(nice, source="nice")
    if not hasattr(os, "setpriority"):  # Windows
        logger.info("CPU priority not lowered: this platform has no nice values")
        return None
    try:
        if nice == 0:
            return os.getpriority(os.PRIO_PROCESS, 0)
        if sys.platform.startswith("linux") and _TASKS.is_dir():
            for task in _TASKS.iterdir():
                _lower(int(task.name), nice)
            _lower_autogroup(nice)
        else:  # macOS and the BSDs: the nice value belongs to the whole process
            _lower(0, nice)
        return os.getpriority(os.PRIO_PROCESS, 0)
    except OSError as exc:
        logger.warning("CPU priority not lowered to nice %d: %s", nice, exc)
        return None


def lower_thread_priority(nice: int) -> int | None:
    """Lower the calling thread's CPU priority to at least `nice` (and that of the threads it starts later);
    the nice value afterwards. Only Linux has per-thread nice values: elsewhere this does nothing and
    returns None, since lowering the whole process would slow its quick calls too."""
    check_nice(nice, source="nice")
    if not sys.platform.startswith("linux"):
        return None
    who = threading.get_native_id()
    try:
        if nice:
            _lower(who, nice)
        return os.getpriority(os.PRIO_PROCESS, who)
    except OSError as exc:
        logger.warning("thread CPU priority not lowered to nice %d: %s", nice, exc)
        return None


def _lower(who: int, nice: int) -> None:
    try:
        current = os.getpriority(os.PRIO_PROCESS, who)
    except ProcessLookupError:  # a thread that ended while we looked
        return
    if current < nice:
        try:
            os.setpriority(os.PRIO_PROCESS, who, nice)
        except ProcessLookupError:
            return


def autogroup_nice() -> int | None:
    """The nice value of this process's autogroup (Linux), or None where there are no autogroups."""
    try:
        text = _AUTOGROUP.read_text(encoding="ascii")  # e.g. "/autogroup-460 nice 0"
    except OSError:
        return None
    parts = text.split()
    return int(parts[-1]) if len(parts) >= 3 and parts[-2] == "nice" else None


def _lower_autogroup(nice: int) -> None:
    """Lower the session's autogroup too, but only when this process leads the session: a worker run in a
    terminal shares that terminal's autogroup with the user's shell, which is not ours to slow down."""
    if os.getsid(0) != os.getpid():
        return
    current = autogroup_nice()
    if current is None or current >= nice:
        return
    try:
        _AUTOGROUP.write_text(str(nice), encoding="ascii")
    except OSError as exc:
        logger.info("the session's autogroup stays at nice %d: %s", current, exc)


__all__ = ["MAX_NICE", "autogroup_nice", "check_nice", "lower_process_priority", "lower_thread_priority"]
