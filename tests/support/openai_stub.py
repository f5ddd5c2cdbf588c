"""A scripted OpenAI-compatible server on 127.0.0.1 for tests: real HTTP, replayed answers, recorded requests.

The real `openai` and `langchain-openai` clients talk to it through `base_url`, so tests exercise the whole
client stack (retries, timeouts, structured-output parsing, streaming) without a network or a key::

    with OpenAIStub() as stub:
        stub.script(Reply.json({"prompt": "..."}), Reply.error(429, "slow down", retry_after=1))
        model = ChatOpenAI(base_url=stub.base_url, api_key="test", model="stub-model")
        ...
        assert stub.chat_requests[0]["messages"][0]["role"] == "system"

Each POST to `/v1/chat/completions` takes the next scripted reply (a `Reply`, or a function of the request
body returning one); when the script runs out the server answers HTTP 500 naming the problem, so a test that
sends more requests than it scripted fails loudly. `GET /v1/models` lists the stub's model.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool call in an assistant reply; `arguments` is the JSON text the model 'wrote'."""

    name: str
    arguments: str
    id: str = ""


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the server: a chat completion, an HTTP error, or a broken body."""

    status: int = 200
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    finish_reason: str | None = None
    error_message: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    raw_body: bytes | None = None
    delay_s: float = 0.0

    # ---- constructors ------------------------------------------------------------------------------
    @classmethod
    def text(cls, content: str, *, finish_reason: str = "stop") -> Reply:
        """A plain assistant message."""
        return cls(content=content, finish_reason=finish_reason)

    @classmethod
    def json(cls, payload: Any) -> Reply:
        """An assistant message whose content is this value as JSON (what structured output expects)."""
        return cls(content=json.dumps(payload, ensure_ascii=False), finish_reason="stop")

    @classmethod
    def tool_call(cls, name: str, arguments: Mapping[str, Any] | str, *, call_id: str = "") -> Reply:
        """An assistant message calling one tool; `arguments` as a mapping or as raw (maybe broken) text."""
        return cls.tool_calls_of([(name, arguments)], ids=[call_id] if call_id else None)

    @classmethod
    def tool_calls_of(
        cls,
        calls: Sequence[tuple[str, Mapping[str, Any] | str]],
        *,
        ids: Sequence[str] | None = None,
        content: str | None = None,
    ) -> Reply:
        """An assistant message calling several tools at once (parallel tool calls)."""
        made = []
        for index, (name, arguments) in enumerate(calls):
            text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            call_id = ids[index] if ids else f"call_{index}"
            made.append(ToolCall(name=name, arguments=text, id=call_id))
        return cls(content=content, tool_calls=tuple(made), finish_reason="tool_calls")

    @classmethod
    def refused(cls, reason: str) -> Reply:
        """A structured-output refusal (the `refusal` field set, no content)."""
        return cls(refusal=reason, finish_reason="stop")

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
    ) -> Reply:
        """An HTTP error with an OpenAI-shaped error body and optional Retry-After headers."""
        headers: list[tuple[str, str]] = []
        if retry_after is not None:
            headers.append(("Retry-After", f"{retry_after:g}"))
        if retry_after_ms is not None:
            headers.append(("retry-after-ms", str(retry_after_ms)))
        return cls(status=status, error_message=message, headers=tuple(headers))

    @classmethod
    def malformed(cls, body: bytes = b'{"id": "chatcmpl-broken", "choices": [') -> Reply:
        """HTTP 200 with a body that is not valid JSON."""
        return cls(raw_body=body)

    def delayed(self, seconds: float) -> Reply:
        """The same reply, sent after `seconds` (to force client timeouts)."""
        return replace(self, delay_s=seconds)


Script = Reply | Callable[[Json], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received: method, path, headers (lower-case names) and parsed JSON body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Json | None
    received_at: float = field(default_factory=time.monotonic)


class OpenAIStub:
    """A real HTTP server on 127.0.0.1 speaking enough of the OpenAI chat API for tests."""

    def __init__(self, *, model: str = "stub-model") -> None:
        self.model = model
        self._lock = threading.Lock()
        self._queue: deque[Script] = deque()
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> OpenAIStub:
        if self._server is not None:
            raise RuntimeError("OpenAIStub already started")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-stub", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- scripting and inspection ------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The `OPENAI_BASE_URL` to give a client (ends in /v1)."""
        if self._server is None:
            raise RuntimeError("OpenAIStub not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Script) -> None:
        """Queue replies for the next chat-completion requests, in order."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[Json]:
        """The JSON bodies of the chat-completion requests received so far."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions") and r.body is not None]

    # ---- used by the handler -----------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_reply(self, body: Json) -> Reply:
        with self._lock:
            scripted = self._queue.popleft() if self._queue else None
        if scripted is None:
            return Reply.error(500, "openai stub: no scripted reply left for this request")
        return scripted(body) if callable(scripted) else scripted

    def _wait(self, seconds: float) -> None:
        self._closing.wait(seconds)


# ---- wire format ----------------------------------------------------------------------------------------
def _usage(body: Json, reply: Reply) -> Json:
    prompt_tokens = len(json.dumps(body.get("messages", []))) // 4
    completion_tokens = len(reply.content or "") // 4 + sum(len(c.arguments) // 4 for c in reply.tool_calls)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion(body: Json, reply: Reply, model: str, serial: int) -> Json:
    message: Json = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-stub-{serial}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish_reason or "stop", "logprobs": None}
        ],
        "usage": _usage(body, reply),
    }


def _pieces(text: str, size: int = 8) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _stream_chunks(body: Json, reply: Reply, model: str, serial: int) -> Iterator[Json]:
    """The chat.completion.chunk objects of a streamed reply: role, content pieces, tool-call deltas, end."""
    base = {
        "id": f"chatcmpl-stub-{serial}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model") or model,
    }

    def chunk(delta: Json, finish: str | None = None) -> Json:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    yield chunk({"role": "assistant", "content": "" if reply.content is not None else None})
    if reply.refusal:
        yield chunk({"refusal": reply.refusal})
    for piece in _pieces(reply.content or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(call.arguments):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, reply.finish_reason or "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(body, reply)}


def _make_handler(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    serial = iter(range(1, 1_000_000))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests assert on recorded requests, not on a log."""

        def _send_json(self, status: int, payload: Json, headers: Sequence[tuple[str, str]] = ()) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self._send_bytes(status, data, headers)

        def _send_bytes(self, status: int, data: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _read_body(self) -> tuple[Json | None, str | None]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None, None
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                return None, f"request body is not JSON: {exc}"
            if not isinstance(parsed, dict):
                return None, "request body must be a JSON object"
            return parsed, None

        def _record(self, body: Json | None) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            stub._record(RecordedRequest(method=self.command, path=self.path, headers=headers, body=body))

        def do_GET(self) -> None:
            self._record(None)
            if self.path.rstrip("/").endswith("/models"):
                models = [{"id": stub.model, "object": "model", "created": 0, "owned_by": "openai-stub"}]
                self._send_json(200, {"object": "list", "data": models})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:
            body, problem = self._read_body()
            self._record(body)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            if body is None:
                self._send_json(
                    400, {"error": {"message": problem or "empty body", "type": "invalid_request"}}
                )
                return
            reply = stub._next_reply(body)
            if reply.delay_s:
                stub._wait(reply.delay_s)
            try:
                self._answer(body, reply, next(serial))
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout fired during the scripted delay): nothing left to answer.
                self.close_connection = True

        def _answer(self, body: Json, reply: Reply, number: int) -> None:
            if reply.raw_body is not None:
                self._send_bytes(reply.status, reply.raw_body, reply.headers)
                return
            if reply.status >= 400:
                error = {
                    "message": reply.error_message or f"HTTP {reply.status}",
                    "type": "stub_error",
                    "code": str(reply.status),
                }
                self._send_json(reply.status, {"error": error}, reply.headers)
                return
            if body.get("stream"):
                self._stream(body, reply, number)
                return
            self._send_json(reply.status, _completion(body, reply, stub.model, number), reply.headers)

        def _stream(self, body: Json, reply: Reply, number: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            for chunk in _stream_chunks(body, reply, stub.model, number):
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


__all__ = ["OpenAIStub", "RecordedRequest", "Reply", "Script", "ToolCall"]
