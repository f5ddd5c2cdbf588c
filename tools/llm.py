"""The chat model: built from Settings, asked for structured answers, every failure turned into a reason.

The prompt writer and the LLM planner both ask a question whose answer is a Pydantic model, check the
answer with their own rules, and fall back to their rule-based twin when the model fails. This module is
that shared part: `make_chat_model` (langchain-openai's ChatOpenAI; works with any OpenAI-compatible server
through OPENAI_BASE_URL) and `ask_validated` (one retry with the reasons when an answer is malformed or
fails the check; HTTP 401/429/5xx, timeouts and broken bodies become an `LLMAnswer.failure` reason, never
an exception). Rate limits and server errors are retried by the openai client itself (`max_retries`,
exponential backoff, honouring Retry-After).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from productshot.errors import BadRequestError, LLMError
from productshot.prompts import load_template
from productshot.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_RETRIES = 2
StructuredMethod = Literal["json_schema", "function_calling"]
# json_schema (response_format with a strict JSON schema) is OpenAI's structured-output API and what vLLM,
# Ollama and LM Studio accept; function_calling (a forced tool call) suits servers without it.
DEFAULT_METHOD: StructuredMethod = "json_schema"

M = TypeVar("M", bound=BaseModel)


def make_chat_model(
    settings: Settings,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
    temperature: float = 0.2,
) -> BaseChatModel:
    """ChatOpenAI for `settings.llm_model` with the key and base URL from settings; LLMError if none set."""
    if not settings.llm_configured:
        raise LLMError(
            "no LLM configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server)"
        )
    if not timeout_s > 0:
        raise BadRequestError(f"timeout_s must be positive seconds, got {timeout_s!r}")
    if max_retries < 0:
        raise BadRequestError(f"max_retries must be 0 or more, got {max_retries!r}")
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        model=settings.llm_model,
        api_key=SecretStr(settings.openai_api_key or ""),
        base_url=settings.openai_base_url,
        timeout=timeout_s,
        max_retries=max_retries,
        temperature=temperature,
    )


def json_data(value: Any) -> str:
    """Data for a chat message as JSON, with '<' escaped so it can never close the tag it is wrapped in."""
    return json.dumps(value, ensure_ascii=False, indent=1).replace("<", "\\u003c")


def model_name(chat_model: Any) -> str:
    """The model's name for a result's `backend` ("gpt-4o-mini"), or its class name."""
    for attribute in ("model_name", "model"):
        value = getattr(chat_model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__


@dataclass(frozen=True)
class LLMAnswer(Generic[M]):
    """What asking produced: the accepted value, or the reason there is none; `problems` of each attempt."""

    value: M | None
    failure: str | None
    attempts: int
    problems: tuple[str, ...] = ()


class _AnswerShapeError(Exception):
    """The model answered, but not in the asked shape: worth one retry with the reason."""


def _shape_reason(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        reasons = []
        for error in exc.errors()[:4]:
            where = ".".join(str(p) for p in error.get("loc", ())) or "answer"
            kind = error.get("type", "")
            reasons.append(
                "the answer is not valid JSON" if kind == "json_invalid" else f"{where}: {error['msg']}"
            )
        return "; ".join(reasons)
    return f"the answer does not fit the asked fields ({str(exc).splitlines()[0][:160]})"


def _transport_reason(exc: Exception, chat_model: Any) -> str | None:
    """A short reason for a failed call, or None when `exc` is not a failure of the model or its server."""
    import openai
    from langchain_core.exceptions import ModelError

    retries = getattr(chat_model, "max_retries", None)
    after = f" (after {retries} retries)" if retries else ""
    if isinstance(exc, openai.APITimeoutError):
        return f"timed out after {getattr(chat_model, 'request_timeout', '?')} s{after}"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the LLM server at {getattr(chat_model, 'openai_api_base', None) or 'api.openai.com'}"
    if isinstance(exc, openai.AuthenticationError):
        return "HTTP 401: the LLM server rejected the API key (check OPENAI_API_KEY)"
    if isinstance(exc, openai.RateLimitError):
        return f"HTTP 429: rate limited by the LLM server{after}"
    if isinstance(exc, openai.NotFoundError):
        return f"HTTP 404: the LLM server does not know model {model_name(chat_model)!r}"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message") if isinstance(body.get("message"), str) else exc.message
        return f"HTTP {exc.status_code}: {str(detail)[:200]}{after}"
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return "malformed JSON in the LLM server's response"
    if isinstance(exc, ModelError | openai.OpenAIError):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def _invoke(chat_model: Any, schema: type[M], messages: Sequence[Any], method: StructuredMethod) -> M:
    runnable = chat_model.with_structured_output(schema, method=method)
    try:
        value = runnable.invoke(list(messages))
    except json.JSONDecodeError as exc:  # a broken HTTP body: not the model's answer, no retry
        raise LLMError(_transport_reason(exc, chat_model) or str(exc)) from exc
    except ValueError as exc:  # pydantic ValidationError, OutputParserException, missing `parsed`
        raise _AnswerShapeError(_shape_reason(exc)) from exc
    except Exception as exc:
        reason = _transport_reason(exc, chat_model)
        if reason is None:
            raise
        raise LLMError(reason) from exc
    if value is None:
        raise _AnswerShapeError("no structured answer (the model did not fill the fields)")
    if isinstance(value, dict):
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            raise _AnswerShapeError(_shape_reason(exc)) from exc
    if not isinstance(value, schema):
        raise _AnswerShapeError(f"expected {schema.__name__}, got {type(value).__name__}")
    return value


def ask_validated(
    chat_model: Any,
    schema: type[M],
    messages: Sequence[tuple[str, str]],
    check: Callable[[M], list[str]],
    *,
    method: StructuredMethod = DEFAULT_METHOD,
) -> LLMAnswer[M]:
    """Ask for a `schema` answer; on a malformed answer or one `check` rejects, retry once with the reasons.

    `messages` are (role, text) pairs. Transport failures (401, 429 after the client's retries, 5xx,
    timeouts, broken JSON bodies) end at once with the reason in `failure`.
    """
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    roles = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    sent: list[Any] = [roles[role](content=text) for role, text in messages]
    problems: list[str] = []
    for attempt in (1, 2):
        answered: list[Any] = []
        try:
            value = _invoke(chat_model, schema, sent, method)
            answered = [AIMessage(content=value.model_dump_json())]
            found = check(value)
        except _AnswerShapeError as exc:
            found = [str(exc)]
        except LLMError as exc:
            log.info("LLM call failed: %s", exc)
            return LLMAnswer(value=None, failure=str(exc), attempts=attempt, problems=tuple(problems))
        else:
            if not found:
                return LLMAnswer(value=value, failure=None, attempts=attempt, problems=tuple(problems))
        reason = "; ".join(found)
        problems.append(f"attempt {attempt}: {reason}")
        log.info("LLM answer rejected (attempt %d): %s", attempt, reason)
        retry = load_template("retry").render("text", {"problems": reason})
        sent = [*sent, *answered, HumanMessage(content=retry)]
    return LLMAnswer(
        value=None,
        failure=f"answer rejected twice ({problems[-1].split(': ', 1)[1]})",
        attempts=2,
        problems=tuple(problems),
    )


__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_METHOD",
    "DEFAULT_TIMEOUT_S",
    "LLMAnswer",
    "StructuredMethod",
    "ask_validated",
    "json_data",
    "make_chat_model",
    "model_name",
]
