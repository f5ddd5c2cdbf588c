"""`productshot run`: one request sentence and a product photo in, a finished product shot out.

It is one turn of the agent (`productshot.agent`): the request goes through the LangGraph graph, which reaches
the tools over MCP (a `productshot mcp` server it starts over stdio, or `--mcp-url`). Every run belongs to a
thread kept in the data home's thread store, so `--thread ID` continues a conversation: "move it a little to
the right", "bigger", "undo" act on that thread's last result.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from productshot.cli.common import output_path
from productshot.cli.exits import ExitCode
from productshot.cli.output import add_json_flag, emit
from productshot.cli.progress import terminal_progress, wanted

if TYPE_CHECKING:
    from productshot.agent.context import AgentContext
    from productshot.agent.runtime import AgentRuntime, TurnResult
    from productshot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="make a product shot from one sentence (English or Korean)",
        description='Example: productshot run "put this cup on a simple beach scene, bottom-left" '
        '--image sample:coffee -o shot.png; then productshot run "move it a little to the right" --thread ID',
    )
    p.add_argument("request", help="what you want, in English or Korean")
    p.add_argument(
        "--image", default=None, help="product photo path or sample:coffee (not needed for follow-ups)"
    )
    p.add_argument("-o", "--output", default=None, metavar="OUT.png", help="also write the result here")
    p.add_argument(
        "--thread",
        default=None,
        metavar="ID",
        help="continue this conversation (follow-ups act on its last result); default: a new thread",
    )
    p.add_argument(
        "--previous", default=None, metavar="ASSET_ID", help="an earlier result to change (follow-up)"
    )
    add_agent_options(p)
    p.add_argument("--position", default=None, help="override the position the request names")
    p.add_argument(
        "--scale", type=float, default=None, help="override the product's scale (longest side / short side)"
    )
    add_json_flag(p)
    p.set_defaults(handler=run)


def add_agent_options(p: argparse.ArgumentParser) -> None:
    """Options `run` and `chat` share: canvas, generator, seed, where models run, the MCP server."""
    p.add_argument("-W", "--width", type=int, default=None, help="canvas width (default 1024)")
    p.add_argument("-H", "--height", type=int, default=None, help="canvas height (default 768)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed of the generated background, 0..4294967295 (default: drawn, and kept with the result)",
    )
    p.add_argument(
        "--no-harmonize",
        dest="harmonize",
        action="store_false",
        default=True,
        help="keep the product's own light and colour (default: match them gently to the scene's)",
    )
    p.add_argument(
        "--model", default="auto", help="background generator (default auto; see `productshot models`)"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        dest="where",
        action="store_const",
        const="local",
        help="never start the resident worker: model work runs in the MCP server's process "
        "(a worker that already runs is still used)",
    )
    where.add_argument(
        "--worker",
        dest="where",
        action="store_const",
        const="worker",
        help="start the resident worker when none answers (it stays up for the next requests)",
    )
    p.set_defaults(where="auto")
    p.add_argument(
        "--mcp-url",
        default=None,
        metavar="URL",
        help="use a running MCP server (streamable HTTP, e.g. http://127.0.0.1:8766/mcp) instead of "
        "starting `productshot mcp` over stdio",
    )


def agent_settings(settings: Settings, where: str) -> Settings:
    """`--local`/`--worker` as the stdio server's worker autostart setting."""
    if where == "local":
        return settings.with_overrides(worker_autostart=False)
    if where == "worker":
        return settings.with_overrides(worker_autostart=True)
    return settings


def agent_context(args: argparse.Namespace) -> AgentContext:
    from productshot.agent.context import AgentContext

    return AgentContext(
        width=args.width,
        height=args.height,
        model=args.model,
        seed=args.seed,
        harmonize=getattr(args, "harmonize", True),
    )


def open_runtime(args: argparse.Namespace, settings: Settings) -> AgentRuntime:
    from productshot.agent.runtime import AgentRuntime

    return AgentRuntime.from_settings(
        agent_settings(settings, args.where), mcp_url=args.mcp_url, context=agent_context(args)
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from productshot.agent.images import image_reference
    from productshot.agent.threads import check_thread_id, new_thread_id
    from productshot.tools.plan import clean_request

    out = output_path(args.output, *([args.image] if args.image else [])) if args.output else None
    thread = check_thread_id(args.thread) if args.thread else new_thread_id()
    # Bad input fails here, before a server is started (the graph checks the same again).
    clean_request(args.request)
    if args.image is not None:
        image_reference(args.image, settings)
    runtime = open_runtime(args, settings)
    with terminal_progress(wanted(args)) as bar:
        result = asyncio.run(_one_turn(runtime, args, thread, out, bar.event if bar.enabled else None))
    payload = result.to_dict()
    if out is not None:
        payload["stored_path"] = payload["path"]
        payload["path"] = str(out.resolve())
    emit(args, payload, summary(result, payload), language=result.language)
    return ExitCode.DONE if result.outcome else ExitCode.NOT_OK  # a reply without a shot is not the job done


async def _one_turn(
    runtime: AgentRuntime, args: argparse.Namespace, thread: str, out: Path | None, show: Any
) -> TurnResult:
    async with runtime:
        result = await runtime.run(
            args.request,
            thread=thread,
            image=args.image,
            previous=args.previous,
            position=args.position,
            scale=args.scale,
            on_progress=show,
        )
        if out is not None and result.asset_id is not None:
            await save_result(runtime, result.asset_id, out)
    return result


async def save_result(runtime: AgentRuntime, asset_id: str, out: Path) -> Path:
    """Write the result asset to `out` (its format from the suffix), atomically."""
    from productshot.tools.imageio import decode_image_bytes, save_image_atomic

    data = await runtime.read_asset(asset_id)
    image = decode_image_bytes(data, max_pixels=runtime.settings.max_image_pixels).image
    return save_image_atomic(image, out)


def summary(result: TurnResult, payload: dict[str, Any]) -> str:
    """The human summary: the reply, the shot, the thread to follow up in, the steps."""
    lines = [result.reply]
    if result.outcome:
        lines.append(
            f"shot: {payload['path']} ({payload.get('width')}x{payload.get('height')}, "
            f"{payload.get('position')}, scale {float(payload.get('scale') or 0):.2f}, bbox {payload.get('bbox')})"
        )
        lines.append(
            "steps: "
            + "; ".join(f"{s['name']} {s.get('backend', '')} {s['seconds']:.2f}s" for s in result.steps)
        )
    lines.append(
        f'thread: {result.thread} (follow up: productshot run "move it a little to the right" --thread {result.thread})'
    )
    return "\n".join(lines)
