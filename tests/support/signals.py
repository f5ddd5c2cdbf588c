"""Subprocesses that a test interrupts with Ctrl-C (SIGINT)."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """`preexec_fn` for a child the test will send SIGINT: restore the default disposition. A runner started
    in the background by a non-interactive shell inherits SIGINT *ignored*, and so would the child; Python
    then installs no KeyboardInterrupt handler and Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
