"""A local stand-in for the Hugging Face Hub's HTTP API, serving pipeline folders from disk on 127.0.0.1.

The real Hub cannot be reached from the test machines, so `productshot models pull` is exercised against
this: the real huggingface_hub client talks real HTTP to the endpoints it uses for a snapshot download
(repo info, recursive tree listing, HEAD/GET on `resolve/`). A repo marked gated answers 403 GatedRepo to
file requests unless the request carries the expected bearer token.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeRepo:
    folder: Path
    gated: bool = False
    token: str | None = None  # the token that unlocks a gated repo

    def files(self) -> dict[str, Path]:
        return {
            p.relative_to(self.folder).as_posix(): p for p in sorted(self.folder.rglob("*")) if p.is_file()
        }


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every request, for assertions
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:  # keep pytest output clean
                return

            def do_GET(self) -> None:
                hub._handle(self, head=False)

            def do_HEAD(self) -> None:
                hub._handle(self, head=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- routing ---------------------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = unquote(urlparse(req.path).path)
        self.requests.append(f"{'HEAD' if head else 'GET'} {path}")
        if path.startswith("/api/models/"):
            self._api(req, path.removeprefix("/api/models/"))
            return
        if "/resolve/" in path:
            repo_id, _, rest = path.lstrip("/").partition("/resolve/")
            _revision, _, file_path = rest.partition("/")
            self._file(req, repo_id, file_path, head=head)
            return
        self._send_json(req, 404, {"error": "not found"}, error_code="EntryNotFound")

    def _repo(self, req: BaseHTTPRequestHandler, repo_id: str) -> FakeRepo | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._send_json(req, 404, {"error": "Repository not found"}, error_code="RepoNotFound")
        return repo

    def _api(self, req: BaseHTTPRequestHandler, rest: str) -> None:
        for marker in ("/tree/", "/revision/"):
            if marker in rest:
                repo_id, _, _tail = rest.partition(marker)
                break
        else:
            repo_id, marker = rest, ""
        repo = self._repo(req, repo_id)
        if repo is None:
            return
        files = repo.files()
        if marker == "/tree/":
            tree = [
                {"type": "file", "path": name, "size": p.stat().st_size, "oid": _sha1(p)}
                for name, p in files.items()
            ]
            self._send_json(req, 200, tree)
            return
        info = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": COMMIT,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "siblings": [{"rfilename": name} for name in files],
        }
        self._send_json(req, 200, info)

    def _file(self, req: BaseHTTPRequestHandler, repo_id: str, file_path: str, *, head: bool) -> None:
        repo = self._repo(req, repo_id)
        if repo is None:
            return
        if repo.gated and req.headers.get("authorization") != f"Bearer {repo.token}":
            self._send_json(req, 403, {"error": "Access to this model is restricted"}, error_code="GatedRepo")
            return
        target = repo.files().get(file_path)
        if target is None:
            self._send_json(req, 404, {"error": "Entry not found"}, error_code="EntryNotFound")
            return
        body = target.read_bytes()
        req.send_response(200)
        req.send_header("X-Repo-Commit", COMMIT)
        req.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        req.send_header("Content-Length", str(len(body)))
        req.send_header("Content-Type", "application/octet-stream")
        req.end_headers()
        if not head:
            req.wfile.write(body)

    @staticmethod
    def _send_json(
        req: BaseHTTPRequestHandler, status: int, payload: object, *, error_code: str = ""
    ) -> None:
        body = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        if error_code:
            req.send_header("X-Error-Code", error_code)
            req.send_header("X-Error-Message", str(payload))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()
