"""The CLI's one progress bar: drawn on a real terminal (a pty), silent in pipes and under --json/--quiet."""

from __future__ import annotations

import argparse
import fcntl
import io
import os
import pty
import struct
import termios
from collections.abc import Callable

from productshot.agent.toolbox import ProgressEvent
from productshot.cli.progress import TerminalProgress, terminal_progress, wanted
from tests.support.terminal import drain


def _on_a_terminal(feed: Callable[[TerminalProgress], None], *, enabled: bool = True) -> str:
    """Run `feed` against a bar whose stderr is a pseudo-terminal (120 columns); what the terminal got."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        with os.fdopen(os.dup(follower), "w", encoding="utf-8") as tty:
            with terminal_progress(enabled, file=tty) as bar:
                assert bar.enabled is enabled
                feed(bar)
            tty.flush()
        os.close(follower)
        follower = -1
        return drain(leader)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_a_batch_shows_each_file_and_the_time_left_on_a_terminal() -> None:
    def feed(bar: TerminalProgress) -> None:
        bar.item(0, 3, "p0.png", None)
        bar.item(1, 3, "p1.png", 4.2)
        bar.item(2, 3, "p[2].png", 2.0)  # brackets are a file name, not rich markup

    shown = _on_a_terminal(feed)
    assert "p0.png" in shown and "0/3" in shown
    assert "p1.png (about 4s left)" in shown and "1/3" in shown
    assert "p[2].png" in shown


def test_an_agent_turn_shows_its_steps_and_keeps_a_failed_tool_above_the_bar() -> None:
    def feed(bar: TerminalProgress) -> None:
        bar.event(ProgressEvent("place_product", kind="start"))
        bar.event(ProgressEvent("place_product", "plan: understanding the request"))
        bar.event(ProgressEvent("place_product", "generate: step 3/8", progress=3, total=8))
        bar.event(ProgressEvent("generate_background", kind="end", ok=False))
        bar.step("running", 5, 8)

    shown = _on_a_terminal(feed)
    assert "place_product: plan: understanding the request" in shown
    assert "3/8" in shown and "5/8" in shown
    assert "✗" in shown and "generate_background failed" in shown  # printed above the bar, so it stays


def test_quiet_under_json_quiet_and_in_pipes() -> None:
    assert wanted(argparse.Namespace(json=False, quiet=False)) and wanted(argparse.Namespace())
    assert not wanted(argparse.Namespace(json=True)) and not wanted(argparse.Namespace(quiet=True))
    assert _on_a_terminal(lambda bar: bar.item(0, 2, "p0.png", None), enabled=False) == ""
    pipe = io.StringIO()  # not a terminal
    with terminal_progress(True, file=pipe) as bar:
        assert not bar.enabled
        bar.item(0, 2, "p0.png", None)
        bar.event(ProgressEvent("place_product", kind="end", ok=False))
    assert pipe.getvalue() == ""
