"""Real MCP server processes for tests and benchmarks: `productshot mcp` over stdio or streamable HTTP.

Each server runs as its own subprocess with an explicit environment (from `Settings.child_env()`), its
stderr in a log file (read to find the HTTP URL and shown when something fails), and is stopped with
SIGTERM to its own pid.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

_READY = re.compile(r"serving streamable HTTP at (?P<url>http://\S+/mcp)")


def server_env(child_env: Mapping[str, str]) -> dict[str, str]:
    """An explicit environment for `productshot mcp`: the settings' child env, no API keys of the caller."""
    env = dict(child_env)
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    if "PYTHONPATH" in os.environ:  # a developer's extra import paths reach the child python too
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def stdio_params(env: Mapping[str, str], cwd: Path | None = None) -> StdioServerParameters:
    """Parameters that start `python -m productshot mcp` (stdio) from this interpreter."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "productshot", "mcp"],
        env=dict(env),
        cwd=str(cwd) if cwd else None,
    )


@asynccontextmanager
async def stdio_session(env: Mapping[str, str], *, errlog: Path) -> AsyncIterator[ClientSession]:
    """A client session with a fresh stdio server subprocess; its stderr goes to `errlog`."""
    with errlog.open("a", encoding="utf-8") as log:
        async with (
            stdio_client(stdio_params(env), errlog=log) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@dataclass(frozen=True)
class HttpServer:
    """A running `productshot mcp --transport http` process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def http_server(
    env: Mapping[str, str],
    log: Path,
    *,
    host: str = "127.0.0.1",
    extra_args: Sequence[str] = (),
    timeout: float = 60.0,
) -> Iterator[HttpServer]:
    """Start the HTTP server on a free port and yield it once it listens; stop it afterwards."""
    command = [
        sys.executable,
        "-m",
        "productshot",
        "mcp",
        "--transport",
        "http",
        "--host",
        host,
        "--port",
        "0",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, *extra_args], env=dict(env), stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    try:
        url = _wait_for_url(process, log, timeout)
        yield HttpServer(url=url, process=process, log=log)
    finally:
        stop(process)


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        found = _READY.search(text)
        if found:
            return found["url"]
        if process.poll() is not None:
            raise RuntimeError(f"productshot mcp exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    raise RuntimeError(
        f"productshot mcp did not listen within {timeout}s:\n{log.read_text(errors='replace')}"
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process itself (never a group or a name), then wait; kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@asynccontextmanager
async def http_session(url: str, *, headers: Mapping[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """A client session over streamable HTTP (a fresh MCP session per call of this)."""
    timeout = httpx.Timeout(120.0, read=300.0)
    async with (
        httpx.AsyncClient(headers=dict(headers or {}), timeout=timeout) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def inspector_command() -> list[str]:
    """`npx --no-install @modelcontextprotocol/inspector --cli` from the repo's node_modules."""
    npx = "npx.cmd" if os.name == "nt" else "npx"
    return [npx, "--no-install", "@modelcontextprotocol/inspector", "--cli"]


__all__ = [
    "HttpServer",
    "http_server",
    "http_session",
    "inspector_command",
    "server_env",
    "stdio_params",
    "stdio_session",
    "stop",
]


def pixel_processes(server_pid: int) -> list[Any]:
    """The MCP server's pixel processes (spawned children running multiprocessing's spawn_main)."""
    import psutil

    found = []
    for child in psutil.Process(server_pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def cpu_seconds(process: Any) -> float:
    """User + system CPU seconds of a psutil process (0 for one that ended)."""
    import psutil

    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def wait_for_pixel_processes(server_pid: int, count: int, timeout: float = 60.0) -> list[Any]:
    """Wait until the MCP server runs `count` pixel processes that have imported the pixel code (each has
    used some CPU and then gone quiet); return them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pixel_processes(server_pid)
        if len(found) >= count and all(cpu_seconds(child) > 0.3 for child in found):
            before = [cpu_seconds(child) for child in found]
            time.sleep(0.3)
            if all(cpu_seconds(child) - used < 0.05 for child, used in zip(found, before, strict=True)):
                return found
        time.sleep(0.1)
    raise AssertionError(f"the MCP server did not run {count} warm pixel processes within {timeout:g} s")
