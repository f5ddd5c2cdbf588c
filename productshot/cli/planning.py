"""`productshot plan` and `productshot prompt`: see what the agent will do with a request, and its prompt.

Both use the LLM when settings configure one (OPENAI_API_KEY, optional OPENAI_BASE_URL and
PRODUCTSHOT_LLM_MODEL), else the rules planner and the template writer; every result says which in
`backend`. Imports of the planner and langchain happen inside the handlers so `productshot --help` stays fast.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from productshot.cli import output

if TYPE_CHECKING:
    from productshot.settings import Settings

_FAMILIES = ("sd1", "sd2", "sdxl", "sd3", "flux")


def register(subparsers: Any) -> None:
    """Add the `plan` and `prompt` commands."""
    plan = subparsers.add_parser(
        "plan",
        help="show the plan for a request (scene, position, size, style, product, action)",
        description="Turn a request (English or Korean) into the plan the agent would follow.",
    )
    plan.add_argument("request", help='e.g. "put this bag on a simple beach scene, bottom-left"')
    output.add_json_flag(plan)
    plan.set_defaults(handler=plan_handler)

    prompt = subparsers.add_parser(
        "prompt",
        help="write the diffusion prompt for a request",
        description="Write the English diffusion prompt and negative prompt for a request in any language.",
    )
    prompt.add_argument("request", help='e.g. "이 가방을 단순한 해변 배경 왼쪽 아래에 놓아줘"')
    prompt.add_argument("--product", metavar="NAME", help="the product's name (kept out of the prompt)")
    prompt.add_argument(
        "--position", metavar="POS", help="where the product stands: bottom-left, x=0.3,y=0.8, ..."
    )
    prompt.add_argument(
        "--model-family",
        choices=_FAMILIES,
        default="sdxl",
        help="the diffusion model's family: decides the token limit (default: sdxl, CLIP's 77 tokens)",
    )
    prompt.add_argument(
        "--view",
        choices=("eye-level", "flat-lay"),
        help="the camera view (default: what the request's words ask, else eye-level)",
    )
    output.add_json_flag(prompt)
    prompt.set_defaults(handler=prompt_handler)


def plan_handler(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.tools.plan import make_planner

    started = time.perf_counter()
    plan = make_planner(settings).plan(args.request)
    payload = {**plan.to_dict(), "seconds": round(time.perf_counter() - started, 3)}
    lines = [
        f"action:   {plan.action}",
        f"scene:    {plan.scene}",
        f"position: {plan.position or '(not said)'}",
    ]
    if plan.scale is not None:
        lines.append(f"scale:    {plan.scale:g}")
    if plan.scale_factor is not None:
        lines.append(f"size:     x{plan.scale_factor:g}")
    if plan.move is not None:
        lines.append(f"move:     dx={plan.move.dx:+g}, dy={plan.move.dy:+g} (fractions of the canvas)")
    if plan.style:
        lines.append(f"style:    {', '.join(plan.style)}")
    lines.append(f"product:  {plan.product or '(not named)'}")
    lines.append(f"backend:  {plan.backend}")
    lines.extend(output.note_lines(plan.notes, plan.language))
    output.emit(args, payload, "\n".join(lines), language=plan.language)
    return 0


def prompt_handler(args: argparse.Namespace, settings: Settings) -> int:
    from productshot.tools.prompt import write_prompt

    started = time.perf_counter()
    chat_model = None
    if settings.llm_configured:
        from productshot.tools.llm import make_chat_model

        chat_model = make_chat_model(settings)
    facts = {"name": args.product} if args.product else None
    spec = write_prompt(
        args.request,
        facts,
        args.position,
        chat_model=chat_model,
        model_family=args.model_family,
        view=args.view,
    )
    payload = {**spec.to_dict(), "seconds": round(time.perf_counter() - started, 3)}
    lines = [
        spec.prompt,
        f"negative: {spec.negative_prompt}",
        f"backend:  {spec.backend} ({spec.template_version})",
    ]
    lines.extend(output.note_lines(spec.notes))
    output.emit(args, payload, "\n".join(lines))
    return 0
