"""A real worker subprocess for tests: a free port, an isolated data home, /health awaited, stopped after.

The worker runs as `python -m productshot worker` from the repository root, so test plugins such as
`tests.support.faulty_plugin` import in it. Its output goes to a log file that failures quote.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from productshot.server.worker.client import WorkerClient
from productshot.settings import Settings
from tests.support.tiny_pipelines import TINY_PIPELINES_ROOT

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0
FAULTY_PLUGIN = "tests.support.faulty_plugin"


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_RESERVED: list[socket.socket] = []  # kept open for the whole test session (see idle_worker_url)


def idle_worker_url() -> str:
    """A worker URL where nothing answers for the whole test session, whatever runs on this machine.

    Its port is bound (never listened on) by this process: connections are refused at once, and neither
    a `productshot worker` on the default port nor a worker another test starts can ever be found there.
    """
    if not _RESERVED:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        _RESERVED.append(sock)
    return f"http://127.0.0.1:{_RESERVED[0].getsockname()[1]}"


def worker_settings(
    home: Path, *, port: int | None = None, plugins: Sequence[str] = (), autostart: bool = False
) -> Settings:
    """Settings isolated to `home` (as the `settings` fixture builds them) with a worker URL on `port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    env["PRODUCTSHOT_HOME"] = str(home)
    # The tiny test pipelines' folder is allowed too: MCP only loads model folders inside allowed folders.
    env["PRODUCTSHOT_ALLOWED_DIRS"] = os.pathsep.join([str(home), str(TINY_PIPELINES_ROOT)])
    env["PRODUCTSHOT_WORKER_AUTOSTART"] = "1" if autostart else "0"
    env["PRODUCTSHOT_WORKER_URL"] = f"http://127.0.0.1:{port or free_port()}"
    env["HF_HUB_OFFLINE"] = "1"
    # Tests share a few cores: one intra-op thread avoids OpenMP spin-waiting (10-30× slower tiny models).
    env["OMP_NUM_THREADS"] = "1"
    # No pixel processes: a short test ends before they are up; tests/test_pixel_pool.py runs them.
    env["PRODUCTSHOT_PIXEL_PROCESSES"] = "0"
    if plugins:
        env["PRODUCTSHOT_PLUGINS"] = ",".join(plugins)
    settings = Settings.from_mapping(env, home=home)
    # Child processes (test-started and auto-started workers) must import test plugins from the repo root.
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return settings.with_overrides(extra_env=(*settings.extra_env, ("PYTHONPATH", python_path)))


@dataclass
class WorkerProcess:
    """A started worker: its process, URL, settings and log file."""

    proc: subprocess.Popen[bytes]
    settings: Settings
    log: Path

    @property
    def url(self) -> str:
        return self.settings.worker_url

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, **options: float) -> WorkerClient:
        return WorkerClient(self.url, token=self.settings.worker_token, **options)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait (SIGKILL after `timeout`); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)


def wait_for_health(
    url: str, proc: subprocess.Popen[bytes] | None, log: Path, timeout: float = START_TIMEOUT_S
) -> None:
    """Poll /health until it answers 200; fail with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode} before answering:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"worker at {url} did not answer within {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def start_worker(
    settings: Settings, *, args: Sequence[str] = (), log_name: str = "worker-test.log"
) -> WorkerProcess:
    """Start `productshot worker` on the settings' URL port and wait until it answers."""
    from productshot.server.worker.lifecycle import url_address

    settings.ensure_home()
    _, port = url_address(settings.worker_url)
    log = settings.home / log_name
    command = [sys.executable, "-m", "productshot", "worker", "--port", str(port), *args]
    with log.open("ab") as output:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=settings.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(proc, settings, log)
    try:
        wait_for_health(settings.worker_url, proc, log)
    except BaseException:
        worker.stop(timeout=5)
        raise
    return worker


@contextmanager
def running_worker(settings: Settings, *, args: Sequence[str] = ()) -> Iterator[WorkerProcess]:
    """A worker for the duration of a `with` block, stopped (SIGTERM) at its end."""
    worker = start_worker(settings, args=args)
    try:
        yield worker
    finally:
        worker.stop()


__all__ = [
    "FAULTY_PLUGIN",
    "REPO_ROOT",
    "WorkerProcess",
    "free_port",
    "idle_worker_url",
    "running_worker",
    "start_worker",
    "wait_for_health",
    "worker_settings",
]
