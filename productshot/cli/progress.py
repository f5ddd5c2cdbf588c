"""The CLI's one progress style: a transient rich bar on stderr, shown only when stderr is a terminal.

Quiet under `--json` (and `--quiet`) and in pipes, so scripts and logs get the result alone. Every command
that shows progress (generate, run, chat, batch) opens a `TerminalProgress` and feeds it what it knows:
a step count, an agent's progress event, or a batch's position and time left.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress

    from productshot.agent.toolbox import ProgressEvent


def wanted(args: argparse.Namespace) -> bool:
    """False under --json or --quiet; whether stderr is a terminal is checked when the bar opens."""
    return not (getattr(args, "json", False) or getattr(args, "quiet", False))


class TerminalProgress:
    """One bar with one task; each method maps what a command knows onto it and draws a frame at once
    (rich's own refresh tick would skip a step that ends within a tenth of a second)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=None)

    @property
    def enabled(self) -> bool:
        return not self._progress.disable

    def step(self, description: str, step: int, steps: int) -> None:
        """A job's state and its denoising steps (0 steps: no count yet, the bar pulses)."""
        self._progress.update(self._task, description=description, completed=step, total=steps or None)
        self._progress.refresh()

    def event(self, event: ProgressEvent) -> None:
        """An agent turn's progress: the current tool's line on the bar; a failed tool stays above it."""
        if event.kind == "end" and not event.ok and self.enabled:
            from rich.text import Text

            self._progress.console.print(Text.assemble(("✗ ", "red"), event.line()))
        counted = event.progress is not None and event.total
        self._progress.update(
            self._task,
            description=event.line(),
            completed=event.progress if counted else 0,
            total=event.total if counted else None,
        )
        self._progress.refresh()  # every step gets its frame, however fast the next one follows

    def item(self, done: int, total: int, current: str, eta: float | None) -> None:
        """A batch: which file of how many, and the time left the batch estimates."""
        left = f" (about {eta:.0f}s left)" if eta is not None and done < total else ""
        self._progress.update(self._task, description=f"{current}{left}", completed=done, total=total)
        self._progress.refresh()


@contextmanager
def terminal_progress(enabled: bool, *, file: IO[str] | None = None) -> Iterator[TerminalProgress]:
    """The bar on `file` (stderr), drawn only when `enabled` and `file` is a terminal; gone when done.
    rich is imported here, not with the module, so `--help` and argument errors stay quick."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(file=file, stderr=file is None)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),  # file names and tool lines are plain text
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    ) as progress:
        yield TerminalProgress(progress)


__all__ = ["TerminalProgress", "terminal_progress", "wanted"]
