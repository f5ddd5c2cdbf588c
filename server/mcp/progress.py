"""Progress notifications for one tool call, sent from the event loop or from the tool's worker thread.

The pipeline runs in a thread and reports steps ("cutout" started) and denoising steps (3 of 8); each
becomes an MCP progress notification with a message, its progress value strictly increasing as the
protocol asks. Nothing is sent when the client gave no progress token, or after the call has finished.
"""

from __future__ import annotations

import logging

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.fastmcp import Context

logger = logging.getLogger(__name__)

STEP_WORDS = {
    "plan": "understanding the request",
    "cutout": "cutting the product out",
    "prompt": "writing the background prompt",
    "generate": "generating the background",
    "check_split": "checking the background is one scene",
    "composite": "placing the product",
    "undo": "going back to the earlier result",
}


class ProgressRelay:
    """Sends one call's progress to its client; safe to use from the tool's worker thread."""

    def __init__(self, ctx: Context, *, denoise_total: bool = False) -> None:
        """`denoise_total`: report denoising as progress i of total n (a call that only generates)."""
        meta = ctx.request_context.meta
        self._ctx = ctx
        self._denoise_total = denoise_total
        self._enabled = meta is not None and meta.progressToken is not None
        self._value = 0.0
        self._finished = False
        # Made on the event loop; the token lets any thread (the model lane's own) send through it.
        self._loop = anyio.lowlevel.current_token()

    @property
    def enabled(self) -> bool:
        return self._enabled and not self._finished

    async def note(self, message: str, *, total: float | None = None, value: float | None = None) -> None:
        """Send one notification (from the event loop); `value` defaults to one more than the last."""
        if not self.enabled:
            return
        self._value = max(self._value + 1e-3, value) if value is not None else self._value + 1
        try:
            await self._ctx.report_progress(self._value, total, message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            # The client went away mid-call; the call itself finds out through cancellation.
            logger.info("progress not sent, the client's stream is closed: %s", message)
            self._finished = True

    def say(self, message: str) -> None:
        """Send one message from the tool's worker thread."""
        if self.enabled:
            anyio.from_thread.run(self.note, message, token=self._loop)

    def step(self, name: str, state: str) -> None:
        """The pipeline's step callback (worker thread): announce each step as it starts."""
        if state == "start" and self.enabled:
            anyio.from_thread.run(self.note, f"{name}: {STEP_WORDS.get(name, name)}", token=self._loop)

    def denoise(self, step: int, steps: int) -> None:
        """The generator's progress callback (worker thread): denoising step i of n."""
        if not self.enabled:
            return
        message = f"generate: step {step}/{steps}"
        if self._denoise_total:
            anyio.from_thread.run(lambda: self.note(message, value=step, total=steps), token=self._loop)
        else:
            anyio.from_thread.run(self.note, message, token=self._loop)

    def finish(self) -> None:
        """Stop sending: the call has returned (a thread left running after a cancel stays quiet)."""
        self._finished = True


__all__ = ["STEP_WORDS", "ProgressRelay"]
