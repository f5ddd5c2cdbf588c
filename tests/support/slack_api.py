"""A local stand-in for Slack, on 127.0.0.1, for the bot's tests: the Web API, file hosting, and the sender
of signed Events API requests.

`SlackStandIn` answers the Web API methods the bot uses (auth.test, files.info, files.getUploadURLExternal,
files.completeUploadExternal, chat.postMessage, reactions.add, apps.connections.open) under `/api/`, serves
the files it holds at their `url_private_download` (only with the bot token; anything else gets Slack's HTML
sign-in page, as the real one does), takes the upload POSTed to the upload URL it hands out, and records every
call. Socket Mode: `apps.connections.open` hands out a ws:// URL on a second port, where a WebSocket server
greets the bot with `hello` and pushes event envelopes the test sends with `push_socket_event`.
`signed_request` builds and sends an Events API POST the way Slack signs it (v0 HMAC-SHA256), with optional
retry headers.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from productshot.settings import Settings

T = TypeVar("T")

SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


@dataclass(frozen=True)
class ApiCall:
    """One Web API call the bot made: method, its parameters (form, query or JSON), the token it used."""

    method: str
    params: Mapping[str, Any]
    token: str | None
    at: float


@dataclass
class HostedFile:
    """A file the stand-in serves: its bytes, what files.info says about it, and an optional failure."""

    id: str
    name: str
    mimetype: str
    filetype: str
    data: bytes
    size: int
    fail_status: int | None = None
    downloads: int = 0


@dataclass
class Upload:
    """A file the bot uploaded: the name and length it announced, and the bytes it POSTed."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None


@dataclass(frozen=True)
class EventResponse:
    """What the bot's events endpoint answered, how long it took, and when (wall clock) the answer came."""

    status: int
    body: str
    seconds: float
    answered_at: float


@dataclass
class _State:
    calls: list[ApiCall] = field(default_factory=list)
    files: dict[str, HostedFile] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)


class SlackStandIn:
    """Slack's Web API and file host on 127.0.0.1 (start with `with SlackStandIn() as slack:`)."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-standin-token",
        app_token: str = "xapp-standin-token",
        signing_secret: str = "standin-signing-secret",
        team_id: str = "T0STANDIN",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self._state = _State()
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: _SocketServer | None = None

    # ---- life -----------------------------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        stand_in = self

        class Handler(_Handler):
            owner = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.stop()
            self._socket = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None, "start the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What the bot's WebClient takes as `base_url`."""
        return f"{self.origin}/api/"

    # ---- what the test sets up ---------------------------------------------------------------------------------
    def add_file(
        self,
        name: str,
        data: bytes,
        mimetype: str,
        *,
        size: int | None = None,
        fail_status: int | None = None,
    ) -> str:
        """Host a file; `size` overrides what files.info reports, `fail_status` makes its download fail."""
        file_id = f"F{next(self._ids):08d}"
        filetype = mimetype.split("/")[-1]
        hosted = HostedFile(
            file_id, name, mimetype, filetype, data, len(data) if size is None else size, fail_status
        )
        with self._changed:
            self._state.files[file_id] = hosted
        return file_id

    def file_object(self, file_id: str) -> dict[str, Any]:
        """The file as Slack describes it in events and in files.info."""
        hosted = self._state.files[file_id]
        url = f"{self.origin}/files-pri/{self.team_id}-{file_id}/download/{hosted.name}"
        return {
            "id": hosted.id,
            "name": hosted.name,
            "title": hosted.name,
            "mimetype": hosted.mimetype,
            "filetype": hosted.filetype,
            "size": hosted.size,
            "mode": "hosted",
            "url_private": url.replace("/download/", "/"),
            "url_private_download": url,
        }

    def fail_method(self, method: str, error: str) -> None:
        """Make a Web API method answer `{"ok": false, "error": error}` from now on."""
        with self._changed:
            self._state.errors[method] = error

    def downloads(self, file_id: str) -> int:
        return self._state.files[file_id].downloads

    # ---- what the test reads ---------------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._changed:
            return [c for c in self._state.calls if method is None or c.method == method]

    def in_thread(self, channel: str, thread_ts: str, method: str | None = None) -> list[ApiCall]:
        """Messages and completed uploads the bot sent into one thread (and reactions on its message)."""
        found = []
        for call in self.calls(method):
            params = call.params
            if (
                call.method == "chat.postMessage"
                and (params.get("channel"), params.get("thread_ts"))
                == (
                    channel,
                    thread_ts,
                )
            ) or (
                call.method == "files.completeUploadExternal"
                and (
                    params.get("channel_id"),
                    params.get("thread_ts"),
                )
                == (channel, thread_ts)
            ):
                found.append(call)
        return found

    def upload(self, file_id: str) -> Upload:
        with self._changed:
            return self._state.uploads[file_id]

    def wait_for(self, predicate: Callable[[SlackStandIn], T | None], timeout: float = 60.0) -> T:
        """Block until `predicate(self)` returns something truthy; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = predicate(self)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    methods = [c.method for c in self._state.calls]
                    raise AssertionError(
                        f"the bot did not get there within {timeout:.0f}s; calls so far: {methods}"
                    )
                self._changed.wait(min(left, 0.5))

    # ---- Socket Mode -------------------------------------------------------------------------------------------
    def enable_socket_mode(self) -> None:
        """Serve a WebSocket for apps.connections.open (call before the bot connects)."""
        self._socket = _SocketServer(self)
        self._socket.start()

    def push_socket_event(self, payload: Mapping[str, Any], timeout: float = 30.0) -> str:
        """Send an events_api envelope to the connected bot; returns its envelope id."""
        assert self._socket is not None, "enable_socket_mode() first"
        return self._socket.push(payload, timeout)

    def socket_acks(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._state.socket_acks)

    # ---- the handler's side ---------------------------------------------------------------------------------
    def _record(self, call: ApiCall) -> None:
        with self._changed:
            self._state.calls.append(call)
            self._changed.notify_all()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _answer(self, method: str, params: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        """The JSON answer of a Web API method (after the call is recorded)."""
        if method == "apps.connections.open":
            if token != self.app_token:
                return {"ok": False, "error": "invalid_auth"}
            if self._socket is None:
                return {"ok": False, "error": "socket_mode_not_enabled"}
            return {"ok": True, "url": self._socket.url}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        error = self._state.errors.get(method)
        if error:
            return {"ok": False, "error": error}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://standin.slack.com/",
                "team": "Stand-in",
                "user": "productshot",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": self.bot_id,
            }
        if method == "files.info":
            file_id = str(params.get("file", ""))
            if file_id not in self._state.files:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "file": self.file_object(file_id)}
        if method == "files.getUploadURLExternal":
            upload = Upload(
                f"FU{next(self._ids):07d}", str(params.get("filename", "")), int(params.get("length", 0))
            )
            with self._changed:
                self._state.uploads[upload.file_id] = upload
            return {
                "ok": True,
                "upload_url": f"{self.origin}/upload/{upload.file_id}",
                "file_id": upload.file_id,
            }
        if method == "files.completeUploadExternal":
            files = params.get("files")
            items = json.loads(files) if isinstance(files, str) else list(files or [])
            for item in items:
                taken = self._state.uploads.get(str(item.get("id")))
                if taken is None or taken.data is None:
                    return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "files": [{"id": item["id"], "title": item.get("title")} for item in items]}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            return {
                "ok": True,
                "channel": params.get("channel"),
                "ts": ts,
                "message": {"text": params.get("text")},
            }
        if method == "reactions.add":
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}


class _Handler(BaseHTTPRequestHandler):
    owner: SlackStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the recorded calls instead."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/files-pri/"):
            self._download(path)
        elif path.startswith("/api/"):
            self._api(path)
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/api/"):
            self._api(path)
        elif path.startswith("/upload/"):
            self._take_upload(path.removeprefix("/upload/"))
        else:
            self._send(404, b"not found", "text/plain")

    def _api(self, path: str) -> None:
        method = path.removeprefix("/api/")
        params = self._params()
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else params.get("token")
        owner = self.owner
        owner._record(ApiCall(method, params, token, time.time()))
        body = json.dumps(owner._answer(method, params, token)).encode("utf-8")
        self._send(200, body, "application/json; charset=utf-8")
        owner._notify()

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if raw and kind == "application/json":
            params.update(json.loads(raw.decode("utf-8")))
        elif raw:
            params.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()})
        return params

    def _download(self, path: str) -> None:
        owner = self.owner
        # /files-pri/{team}-{file_id}/download/{name}
        parts = path.split("/")
        file_id = parts[2].split("-", 1)[-1] if len(parts) > 2 else ""
        hosted = owner._state.files.get(file_id)
        if hosted is None:
            self._send(404, b"file not found", "text/plain")
            return
        if self.headers.get("Authorization") != f"Bearer {owner.bot_token}":
            self._send(200, SIGN_IN_PAGE, "text/html; charset=utf-8")
            return
        with owner._changed:
            hosted.downloads += 1
        if hosted.fail_status is not None:
            self._send(hosted.fail_status, b"server error", "text/plain")
            return
        self._send(200, hosted.data, hosted.mimetype)

    def _take_upload(self, upload_id: str) -> None:
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        with owner._changed:
            upload = owner._state.uploads.get(upload_id)
            if upload is not None:
                upload.data = data
            owner._changed.notify_all()
        if upload is None:
            self._send(404, b"unknown upload", "text/plain")
        else:
            self._send(200, f"OK - {len(data)}".encode(), "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _SocketServer:
    """The Socket Mode WebSocket: greets with `hello`, pushes envelopes, records the bot's acks."""

    def __init__(self, owner: SlackStandIn) -> None:
        self.owner = owner
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._connection: Any = None
        self._connected = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link/?ticket=standin"

    def start(self) -> None:
        from websockets.sync.server import serve

        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-socket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _session(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        connection.send(
            json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "standin"}})
        )
        self._connection = connection
        self._connected.set()
        try:
            for raw in connection:
                message = json.loads(raw)
                with self.owner._changed:
                    self.owner._state.socket_acks.append(message)
                    self.owner._changed.notify_all()
        except ConnectionClosed:
            return  # the bot closed its socket (slack_sdk's client closes without a close frame)

    def push(self, payload: Mapping[str, Any], timeout: float) -> str:
        if not self._connected.wait(timeout):
            raise AssertionError(f"the bot did not open its Socket Mode connection within {timeout:.0f}s")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": dict(payload),
        }
        self._connection.send(json.dumps(envelope))
        return envelope_id


# ---- the bot's settings -----------------------------------------------------------------------------------
def bot_settings(
    home: Path, slack: SlackStandIn, *, worker_url: str | None = None, socket_mode: bool = False
) -> Settings:
    """Settings isolated to `home` (as the `settings` fixture builds them) with the stand-in's tokens.

    The worker URL points at a port nothing listens on (unless given) and auto-start is off, so no test
    finds or starts a worker by accident; the embedded studio generator and u2netp run in the MCP server.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_", "SLACK_"))}
    env["PRODUCTSHOT_HOME"] = str(home)
    env["PRODUCTSHOT_ALLOWED_DIRS"] = str(home)
    env["PRODUCTSHOT_WORKER_AUTOSTART"] = "0"
    env["PRODUCTSHOT_WORKER_URL"] = worker_url or f"http://127.0.0.1:{_free_port()}"
    env["HF_HUB_OFFLINE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env["SLACK_BOT_TOKEN"] = slack.bot_token
    env["SLACK_SIGNING_SECRET"] = slack.signing_secret
    if socket_mode:
        env["SLACK_APP_TOKEN"] = slack.app_token
    return Settings.from_mapping(env, home=home)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- Slack's side of the Events API ------------------------------------------------------------------------
def event_payload(
    event: Mapping[str, Any], *, team_id: str = "T0STANDIN", event_id: str | None = None
) -> dict[str, Any]:
    """An `event_callback` body around `event`, with a fresh event id unless one is given."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": "A0STANDIN",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "user_id": "U0BOT", "is_bot": True}],
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_request(
    url: str,
    payload: Mapping[str, Any],
    secret: str,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    retry_num: int | None = None,
    timeout: float = 30.0,
) -> EventResponse:
    """POST an Events API body the way Slack does (signed; `signature` overrides; retry headers optional)."""
    body = json.dumps(payload).encode("utf-8")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature or sign(secret, stamp, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
            return EventResponse(response.status, text, time.perf_counter() - started, time.time())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", errors="replace")
        return EventResponse(exc.code, text, time.perf_counter() - started, time.time())
