"""`productshot chat`: talk to the studio line by line; attach a photo, ask for a shot, follow up.

One warm agent for the whole session (one MCP session, the data home's thread store), so every request after
the first is fast. Lines come from stdin (a terminal or a pipe); replies and result paths go to stdout,
live progress per step to stderr when it is a terminal (not under --json or --quiet). It exits 1 when any request or command answered an error (as a batch
with failures does), 0 otherwise. Commands: `/image PATH` attaches a product photo to the next request,
`/new` starts a new thread, `/thread` shows the current one, `/help`, `/quit`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from productshot.cli.exits import ExitCode, error_object
from productshot.cli.progress import terminal_progress, wanted
from productshot.cli.run_cmd import add_agent_options, open_runtime
from productshot.errors import BadRequestError, ProductshotError

if TYPE_CHECKING:
    from productshot.agent.runtime import AgentRuntime
    from productshot.settings import Settings

HELP = (
    "Type what you want, e.g. 'put this bag on a simple beach scene, bottom-left' or '조금 더 크게'.\n"
    "  /image PATH   attach a product photo (or sample:coffee) to the next request\n"
    "  /new          start a new conversation (thread)\n"
    "  /thread       show the current thread id\n"
    "  /quit         leave (end of input works too)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "chat",
        help="talk to the studio: attach a photo, ask for a shot, follow up (English or Korean)",
        description="Interactive: each line is a request or a command (/image PATH, /new, /thread, /quit). "
        "Works with a terminal or a pipe; replies and result paths go to stdout, and a progress bar to "
        "stderr when it is a terminal (not with --json or --quiet).",
    )
    p.add_argument("--thread", default=None, metavar="ID", help="continue this conversation")
    p.add_argument("--image", default=None, help="attach this product photo to the first request")
    add_agent_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object per turn instead of text")
    p.set_defaults(handler=handler)


@dataclass
class ChatSession:
    """The chat's own state: which thread it talks in and the photo attached to the next request."""

    thread: str
    attached: str | None = None
    failures: int = 0  # requests and commands that answered an error


def handler(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from productshot.agent.threads import check_thread_id, new_thread_id

    session = ChatSession(
        thread=check_thread_id(args.thread) if args.thread else new_thread_id(), attached=args.image
    )
    runtime = open_runtime(args, settings)
    return asyncio.run(_chat(runtime, session, args))


async def _chat(runtime: AgentRuntime, session: ChatSession, args: argparse.Namespace) -> int:
    import anyio.to_thread

    interactive = sys.stdin.isatty()
    _note(f"productshot chat: thread {session.thread} ({runtime.mode}); /help for commands")
    async with runtime:
        while True:
            if interactive:
                sys.stderr.write("> ")
                sys.stderr.flush()
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if line == "":
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if not await _command(text, runtime, session, args):
                    break
                continue
            await _turn(text, runtime, session, args)
    return ExitCode.NOT_OK if session.failures else ExitCode.DONE


async def _turn(text: str, runtime: AgentRuntime, session: ChatSession, args: argparse.Namespace) -> None:
    try:
        with terminal_progress(wanted(args)) as bar:  # one bar per request, gone before the reply prints
            show = bar.event if bar.enabled else None
            result = await runtime.run(text, thread=session.thread, image=session.attached, on_progress=show)
    except ProductshotError as exc:
        _error(exc, session, args)
        return
    session.attached = None
    if args.json:
        _write(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    _write(result.reply)
    if result.path is not None:
        _write(f"result: {result.path}")


async def _command(text: str, runtime: AgentRuntime, session: ChatSession, args: argparse.Namespace) -> bool:
    """Run a /command; False when the chat should end."""
    from productshot.agent.threads import new_thread_id

    name, _, rest = text.partition(" ")
    if name in ("/quit", "/exit", "/q"):
        return False
    if name == "/image":
        try:
            session.attached = _attach(rest, runtime.settings)
        except ProductshotError as exc:
            _error(exc, session, args)
        else:
            _note(f"attached {session.attached}; it goes with your next request")
    elif name == "/new":
        session.thread, session.attached = new_thread_id(), None
        _note(f"new thread {session.thread}")
    elif name == "/thread":
        _note(f"thread {session.thread}")
    elif name == "/help":
        _note(HELP)
    else:
        _error(
            BadRequestError(f"unknown command {name!r}; commands: /image PATH, /new, /thread, /help, /quit"),
            session,
            args,
        )
    return True


def _attach(rest: str, settings: Settings) -> str:
    """Validate the photo `/image` names (a quoted path may hold spaces); its reference for the tools."""
    from productshot.agent.images import image_reference

    try:
        parts = shlex.split(rest)
    except ValueError:
        parts = [rest.strip()]
    if len(parts) != 1:
        raise BadRequestError("/image: give one photo path (quote a path with spaces) or sample:coffee")
    return image_reference(parts[0], settings)


def _note(message: str) -> None:
    """Chat housekeeping (banners, confirmations) on stderr, so stdout carries only replies."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _error(exc: ProductshotError, session: ChatSession, args: argparse.Namespace) -> None:
    session.failures += 1
    sys.stderr.write(f"error: {exc}\n")
    sys.stderr.flush()
    if args.json:
        _write(json.dumps(error_object(exc.code, str(exc)), ensure_ascii=False))


def _write(text: str) -> None:
    sys.stdout.write(text.rstrip("\n") + "\n")
    sys.stdout.flush()


__all__ = ["HELP", "ChatSession", "handler", "register"]
