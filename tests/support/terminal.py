"""Reading what a program wrote to a pseudo-terminal (the CLI's progress bar only draws on one)."""

from __future__ import annotations

import os


def drain(leader: int) -> str:
    """Everything written to the pty whose `leader` end this is, once its other end is closed (decoded)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end is closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
