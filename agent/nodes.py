"""The graph's nodes: prepare a turn, then either the rules path (plan in-process, call place_product) or the
LLM path (the model calls tools; the split guard checks backgrounds before composite), then the reply.

Every node reaches images only through the MCP `Toolbox`; what it returns to the state is ids, parameters
and text. Bad input raises the named errors of `productshot.errors` before any tool runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from productshot.agent.context import AgentContext
from productshot.agent.guard import DEFAULT_CANVAS, Recipe, SplitGuard
from productshot.agent.images import image_reference
from productshot.agent.replies import describe_help, describe_nothing, describe_result, language_name
from productshot.agent.state import AgentState, Turn
from productshot.agent.toolbox import Toolbox, content_text
from productshot.errors import BadImageError, BadRequestError, LLMError
from productshot.prompts import load_template
from productshot.settings import Settings
from productshot.tools.notes import note
from productshot.tools.plan import Plan, RulesPlanner, clean_request, request_language

# What a result keeps in the state (the tools' structured content minus long texts).
_RESULT_FIELDS = (
    "asset_id",
    "path",
    "resource_uri",
    "width",
    "height",
    "bbox",
    "position",
    "scale",
    "scene",
    "scene_requested",
    "seed",
    "steps",
    "reused",
    "input_id",
    "cutout_id",
    "background_id",
    "product_id",
    "plan",
    "backend",
    "seconds",
    "notes",
)
_KEPT_PLANS = 12
NOTHING_TO_UNDO = "nothing_to_undo"
_IMAGE_TOOLS = ("composite", "place_product")
LISTING_ACTIONS = ("listing", "check_listing")


class Nodes:
    """The node functions, bound to the MCP tools, the settings and (for the LLM path) a chat model."""

    def __init__(self, toolbox: Toolbox, settings: Settings, chat_model: BaseChatModel | None = None) -> None:
        self.toolbox = toolbox
        self.settings = settings
        self.chat_model = chat_model
        self.planner = RulesPlanner()
        self.split_guard = SplitGuard(toolbox)
        self._bound = chat_model.bind_tools(toolbox.tools) if chat_model is not None else None

    # ---- every turn ---------------------------------------------------------------------------------------
    async def prepare(self, state: AgentState) -> dict[str, Any]:
        """Validate the turn's input (request, image, overrides) and start the turn; clears the input fields."""
        request = clean_request(state.request)
        image = None
        if state.image is not None:
            raw = state.image
            image = await anyio.to_thread.run_sync(lambda: image_reference(raw, self.settings))
        turn = Turn(
            request=request,
            language=request_language(request),
            image=image,
            previous=_asset_id(state.previous, "previous") if state.previous else None,
            position=_position(state.position),
            scale=_scale(state.scale),
        )
        return {
            "turn": turn.to_dict(),
            "language": turn.language,
            "request": "",
            "image": None,
            "previous": None,
            "position": None,
            "scale": None,
            "outcome": None,
            "reply": "",
            "guard_log": [],
            "turn_plan": None,
            "turns": state.turns + 1,
            "messages": [*close_dangling_calls(state.messages), HumanMessage(content=request)],
        }

    def route_mode(self, state: AgentState) -> str:
        """`llm` when a chat model composes the tools, `rules` otherwise."""
        return "llm" if self._bound is not None else "rules"

    async def reply(self, state: AgentState) -> dict[str, Any]:
        """Say what the turn did in the user's language, and remember the result for follow-ups."""
        turn = state.current()
        llm = self._bound is not None
        model_text = _last_model_text(state.messages) if llm else ""
        outcome = state.outcome
        update: dict[str, Any] = {}
        if outcome is None and state.turn_plan is not None and state.turn_plan.get("action") == "help":
            text = await anyio.to_thread.run_sync(lambda: describe_help(turn.language))
        elif outcome is None:
            text = await anyio.to_thread.run_sync(lambda: describe_nothing(turn.language, model_text))
        else:
            plan = outcome.get("plan") if isinstance(outcome.get("plan"), Mapping) else None
            action = str(plan["action"]) if plan and "action" in plan else None
            text = await anyio.to_thread.run_sync(
                lambda: describe_result(outcome, turn.language, action=action, model_text=model_text)
            )
            if action in LISTING_ACTIONS:
                # A listing image is not a shot to move or undo: the thread's last shot stays what it was.
                if "asset_id" in outcome:
                    update["last_listing"] = str(outcome["asset_id"])
            else:
                update["results"] = remember(state.results, str(outcome["asset_id"]))
                update["last_result"] = str(outcome["asset_id"])
                update["last_outcome"] = {k: v for k, v in outcome.items() if k != "plan"}
        listing_turn = (state.turn_plan or {}).get("action") in LISTING_ACTIONS
        if state.turn_plan is not None and outcome is not None and not listing_turn:
            update["plans"] = _plans_after(state.plans, state.turn_plan)
        update["reply"] = text
        if not llm:
            update["messages"] = [AIMessage(content=text)]
        return update

    # ---- rules path -------------------------------------------------------------------------------------
    async def plan(self, state: AgentState) -> dict[str, Any]:
        """Plan the request with the rules planner (the thread's earlier plans make it a follow-up)."""
        turn = state.current()
        previous = turn.previous or (None if turn.image else state.last_result)
        if _asks_for_help(turn.request):
            return {"turn_plan": {"action": "help", "language": turn.language}}
        if turn.image is None and previous is None and state.last_listing is None:
            raise BadImageError(
                "image: no product photo attached and no earlier result in this conversation to change; "
                "attach one (productshot run --image PATH, or /image PATH in chat)"
            )
        history = [] if turn.image else [Plan.from_dict(p) for p in state.plans]
        # The planner reads its word lists from files on first use: not on the event loop.
        plan = await anyio.to_thread.run_sync(lambda: self.planner.plan(turn.request, history))
        if plan.action == "undo" and previous is None:
            raise BadRequestError("request: undo, but there is no earlier result in this conversation")
        resolved = Turn(**{**turn.to_dict(), "previous": previous})
        if plan.action == "undo" and turn.previous is None and len(state.results) < 2 and state.last_outcome:
            # The first shot of the conversation: nothing earlier to go back to, so it stays as it is.
            kept = {**state.last_outcome, "plan": {**plan.to_dict(), "action": NOTHING_TO_UNDO}, "steps": []}
            return {"turn": resolved.to_dict(), "outcome": kept}
        return {"turn": resolved.to_dict(), "turn_plan": plan.to_dict()}

    def route_plan(self, state: AgentState) -> str:
        """`place` to call the tool, `listing` for a marketplace image or check, or `reply` when the plan
        needs no new image (undo of the first shot, help)."""
        if state.outcome is not None:
            return "reply"
        if state.turn_plan is not None and state.turn_plan.get("action") == "help":
            return "reply"
        action = (state.turn_plan or {}).get("action")
        return "listing" if action in LISTING_ACTIONS else "place"

    async def listing(self, state: AgentState) -> dict[str, Any]:
        """Call make_listing_image or check_listing for the plan's marketplace preset.

        Makes from the attached photo, else the last shot's own product photo; checks the attached image,
        else the last listing image made, else the last shot.
        """
        turn = state.current()
        plan = dict(state.turn_plan or {})
        preset = str(plan.get("preset"))
        last_input = (state.last_outcome or {}).get("input_id")
        if plan.get("action") == "check_listing":
            source = turn.image or state.last_listing or turn.previous or state.last_result
            data = (await self.toolbox.call("check_listing", {"image": source, "preset": preset})).require()
        else:
            source = turn.image or last_input or turn.previous or state.last_result
            data = (
                await self.toolbox.call("make_listing_image", {"image": source, "preset": preset})
            ).require()
        outcome = listing_outcome(
            data, plan, checked=source if plan.get("action") == "check_listing" else None
        )
        return {"outcome": outcome}

    async def place(self, state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Call the MCP place_product tool: the only implementation of the shot and its split retries."""
        turn = state.current()
        context = _context(runtime)
        args: dict[str, Any] = {"request": turn.request, "model": context.model}
        if turn.image is not None:
            args["image"] = turn.image
            args.update({k: v for k, v in context.canvas_args().items() if k != "model"})
        if turn.previous is not None:
            args["previous"] = turn.previous
        if turn.position is not None:
            args["position"] = turn.position
        if turn.scale is not None:
            args["scale"] = turn.scale
        if not context.harmonize:
            args["harmonize"] = False
        placed = (await self.toolbox.call("place_product", args)).require()
        return {"outcome": result_fields(placed)}

    # ---- LLM path -----------------------------------------------------------------------------------------
    async def call_model(self, state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask the tool-calling model for its next step (tool calls, or the final answer)."""
        if self._bound is None:
            raise LLMError("no chat model is configured for the LLM path")
        turn = state.current()
        context = _context(runtime)
        facts = {
            "language": language_name(turn.language),
            "attached_image": turn.image,
            "last_result": turn.previous or state.last_result,
            "earlier_results": state.results[-5:],
            "canvas": {
                "width": context.width or DEFAULT_CANVAS[0],
                "height": context.height or DEFAULT_CANVAS[1],
            },
            "generator": context.model,
            "position_asked": turn.position,
            "scale_asked": turn.scale,
        }
        system = await anyio.to_thread.run_sync(lambda: system_prompt(turn.language, facts))
        messages = [SystemMessage(content=system), *recent_turns(state.messages, context.history_turns)]
        try:
            answer = await self._bound.ainvoke(messages)
        except Exception as exc:
            failure = _model_failure(exc, self.chat_model)
            if failure is None:
                raise
            raise failure from exc
        return {"messages": [answer]}

    def route_model(self, state: AgentState) -> str:
        """`tools` while the model asks for tool calls, `reply` once it answers in words."""
        last = state.messages[-1] if state.messages else None
        if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
            return "tools"
        return "reply"

    async def guard(self, state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Check every composite call's background for a split (regenerating it) before it can run."""
        last = state.messages[-1]
        assert isinstance(last, AIMessage)
        turn = state.current()
        context = _context(runtime)
        passed = list(state.passed_split)
        recipes = dict(state.backgrounds)
        log: list[dict[str, Any]] = []
        calls = []
        changed = False
        for call in last.tool_calls:
            background = call["args"].get("background") if call["name"] == "composite" else None
            if not isinstance(background, str) or background in passed:
                calls.append(call)
                continue
            verdict = await self.split_guard.check(
                call_id=str(call["id"]),
                background=background,
                recipes=recipes,
                request=turn.request,
                position=str(call["args"].get("position") or turn.position or "bottom"),
                context=context,
            )
            passed.extend(verdict.passed)
            recipes.update({asset: recipe.to_dict() for asset, recipe in verdict.made.items()})
            log.append({**verdict.log_entry(), "message_id": last.id})
            if verdict.replaced:
                call = {**call, "args": {**call["args"], "background": verdict.background}}
                changed = True
            calls.append(call)
        update: dict[str, Any] = {
            "passed_split": list(dict.fromkeys(passed)),
            "backgrounds": recipes,
            "guard_log": [*state.guard_log, *log],
        }
        if changed:
            update["messages"] = [last.model_copy(update={"tool_calls": calls})]
        return update

    async def run_tools(self, state: AgentState) -> dict[str, Any]:
        """Run the model's tool calls over MCP; errors go back to the model as error ToolMessages."""
        last = state.messages[-1]
        assert isinstance(last, AIMessage)
        # This answer's guard decisions (call ids are only unique within one model answer).
        guarded = {e["call_id"]: e for e in state.guard_log if e.get("message_id") == last.id}
        replies: list[ToolMessage] = []
        outcome = state.outcome
        passed = list(state.passed_split)
        recipes = dict(state.backgrounds)
        for call in last.tool_calls:
            call_id, name, args = str(call["id"]), call["name"], call["args"]
            entry = guarded.get(call_id)
            if entry and entry.get("blocked"):
                replies.append(
                    ToolMessage(content=entry["blocked"], tool_call_id=call_id, name=name, status="error")
                )
                continue
            result = await self.toolbox.call(name, args, call_id=call_id)
            text = result.text or ("done" if result.ok else "the tool failed")
            if entry and entry.get("note"):
                text = f"{text}\n{entry['note']}"
            replies.append(
                ToolMessage(
                    content=text, tool_call_id=call_id, name=name, status="success" if result.ok else "error"
                )
            )
            if not result.ok:
                continue
            data = result.data
            if name == "check_split":
                ids = [str(args.get("image", "")), str(data.get("image_id") or "")]
                passed = _passed_after(passed, [i for i in ids if i], split=bool(data.get("split")))
            elif name == "generate_background" and "asset_id" in data:
                recipes[str(data["asset_id"])] = Recipe.from_data({**args, **data}).to_dict()
            elif name in ("make_listing_image", "check_listing"):
                action = "listing" if name == "make_listing_image" else "check_listing"
                plan = {"action": action, "preset": data.get("preset")}
                outcome = listing_outcome(
                    data, plan, checked=str(args.get("image")) if action != "listing" else None
                )
            elif name in _IMAGE_TOOLS and "asset_id" in data:
                outcome = result_fields(data)
                if entry:
                    outcome["split_regenerated"] = int(entry.get("regenerated") or 0)
                    outcome["split_kept"] = bool(entry.get("kept_split"))
                    outcome["notes"] = [*(outcome.get("notes") or []), *_guard_notes(entry)]
        for bad in last.invalid_tool_calls:
            replies.append(
                ToolMessage(
                    content=f"the arguments of {bad.get('name')} were not a valid JSON object ({bad.get('error')}); "
                    "call it again with valid JSON arguments",
                    tool_call_id=str(bad.get("id")),
                    name=str(bad.get("name") or "tool"),
                    status="error",
                )
            )
        return {"messages": replies, "outcome": outcome, "passed_split": passed, "backgrounds": recipes}


# ---- helpers -----------------------------------------------------------------------------------------------
def _guard_notes(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The split guard's work as notes: backgrounds regenerated, or a split one kept."""
    if entry.get("kept_split"):
        return [note("split_kept").to_dict()]
    regenerated = int(entry.get("regenerated") or 0)
    return [note("split_regenerated", count=regenerated).to_dict()] if regenerated else []


def _asks_for_help(request: str) -> bool:
    """True for "what can you do?" / "뭐 할 수 있어?": the rules planner's `help` action, no image needed."""
    from productshot.tools.plan import asks_for_help

    return asks_for_help(request)


def system_prompt(language: str, facts: Mapping[str, Any]) -> str:
    """The LLM path's system prompt: how to use the tools, in which language to answer, this turn's ids."""
    from productshot.tools.llm import json_data

    template = load_template("agent/system")
    return "\n\n".join(
        [
            template.render("system", {"language_name": language_name(language)}),
            template.render("context", {"context_json": json_data(facts)}),
        ]
    )


def result_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a result keeps in the state: ids, path, bbox, position, scale, steps, backend, seconds ..."""
    return {key: data[key] for key in _RESULT_FIELDS if key in data}


def listing_outcome(
    data: Mapping[str, Any], plan: Mapping[str, Any], *, checked: str | None = None
) -> dict[str, Any]:
    """What a listing turn keeps: the image's fields (when one was made) or what was checked, the preset,
    whether it passes, its failed required rules and what to review."""
    outcome: dict[str, Any] = (
        {"checked": checked, "backend": data.get("backend"), "seconds": data.get("seconds")}
        if checked is not None
        else {**result_fields(data), "needs_review": list(data.get("needs_review") or [])}
    )
    outcome.update(
        plan=dict(plan),
        preset=str(data.get("preset") or plan.get("preset")),
        ok=bool(data.get("ok")),
        failed=[
            r["name"] for r in data.get("rules", []) if r.get("level") == "required" and r.get("ok") is False
        ],
        rules=[
            {key: r.get(key) for key in ("name", "kind", "level", "ok", "measured", "required")}
            for r in data.get("rules", [])
        ],
    )
    return outcome


def remember(results: Sequence[str], asset_id: str) -> list[str]:
    """The thread's results after a turn made `asset_id`: an undo (back to the one before) pops the last."""
    if len(results) >= 2 and results[-2] == asset_id:
        return list(results[:-1])
    if results and results[-1] == asset_id:
        return list(results)
    return [*results, asset_id]


def close_dangling_calls(messages: Sequence[AnyMessage]) -> list[ToolMessage]:
    """Answers for tool calls a stopped turn never ran, so the conversation stays valid for the model."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    missing: list[ToolMessage] = []
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        for call in [*message.tool_calls, *message.invalid_tool_calls]:
            call_id = call.get("id")
            if call_id and call_id not in answered:
                missing.append(
                    ToolMessage(
                        content="not run: the request was stopped before this call",
                        tool_call_id=str(call_id),
                        name=str(call.get("name") or "tool"),
                        status="error",
                    )
                )
    return missing


def recent_turns(messages: Sequence[AnyMessage], turns: int) -> list[AnyMessage]:
    """The messages of the last `turns` user turns (a turn starts at a user message)."""
    starts = [i for i, message in enumerate(messages) if isinstance(message, HumanMessage)]
    if len(starts) <= turns:
        return list(messages)
    return list(messages[starts[-turns] :])


def _plans_after(plans: Sequence[Mapping[str, Any]], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    if plan.get("action") == "undo":
        return [dict(p) for p in plans[:-1]]
    return [*(dict(p) for p in plans), dict(plan)][-_KEPT_PLANS:]


def _passed_after(passed: list[str], ids: list[str], *, split: bool) -> list[str]:
    if split:
        return [p for p in passed if p not in ids]
    return list(dict.fromkeys([*passed, *ids]))


def _last_model_text(messages: Sequence[AnyMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return "" if message.tool_calls else content_text(message.content)
        if isinstance(message, HumanMessage):
            return ""
    return ""


def _context(runtime: Runtime[AgentContext]) -> AgentContext:
    context = runtime.context
    if isinstance(context, AgentContext):
        return context
    if isinstance(context, Mapping):
        return AgentContext(**context)
    return AgentContext()


def _asset_id(value: str, name: str) -> str:
    text = value.strip().removeprefix("productshot://assets/")
    if not text:
        raise BadRequestError(f"{name}: empty; give the asset id of an earlier result")
    return text


def _position(value: str | None) -> str | None:
    if value is None:
        return None
    from productshot.tools.positions import parse_position

    return parse_position(value).canonical()


def _scale(value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0 < float(value) <= 1:
        raise BadRequestError(
            f"scale must be a fraction within (0, 1] of the canvas's short side, got {value!r}"
        )
    return float(value)


def _model_failure(exc: Exception, chat_model: Any) -> LLMError | None:
    """A chat-model failure as LLMError with the reason (auth, rate limit, timeout, server error); None when
    `exc` is not one (a bug, which must surface as itself)."""
    import openai

    from productshot.tools.llm import model_name

    if isinstance(exc, openai.APIStatusError):
        return LLMError(
            f"the chat model {model_name(chat_model)} failed: HTTP {exc.status_code}: {exc.message}"
        )
    if isinstance(exc, openai.OpenAIError):
        return LLMError(f"the chat model {model_name(chat_model)} failed: {type(exc).__name__}: {exc}")
    return None


__all__ = [
    "Nodes",
    "close_dangling_calls",
    "listing_outcome",
    "recent_turns",
    "remember",
    "result_fields",
]
