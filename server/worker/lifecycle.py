"""One worker per data home: serving it, finding it, starting it detached, reporting and stopping it.

The worker holds `run/worker.lock` (an OS file lock, released even on `kill -9`) for its whole life and
writes `run/worker.json` (pid, URL, start time) next to it. `ensure_worker` starts one when none answers:
detached (own session), stdin from /dev/null and output to `logs/worker.log`, never the caller's terminal
or pipes. Starters serialise on `run/worker-start.lock`, so two racing callers leave exactly one worker.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout

from productshot import __version__
from productshot.errors import ProductshotError, WorkerUnavailableError
from productshot.server.priority import lower_process_priority
from productshot.server.worker.config import DEFAULT_AUTOSTART_IDLE_S, WorkerConfig, is_local_host
from productshot.settings import Settings

if TYPE_CHECKING:
    import uvicorn

    from productshot.server.worker.runtime import WorkerRuntime
    from productshot.server.worker.schemas import HealthInfo

log = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT_S = 120.0  # a cold start imports torch and diffusers; slow disks take a while
PROBE_TIMEOUT_S = 2.0
_LOG_MAX_BYTES = 10 * 1024 * 1024
_GIL_SWITCH_INTERVAL_S = 0.001  # Python's default is 0.005


# ---- where things are -----------------------------------------------------------------------------------
def record_path(settings: Settings) -> Path:
    return settings.run_dir / "worker.json"


def lock_path(settings: Settings) -> Path:
    return settings.run_dir / "worker.lock"


def log_path(settings: Settings) -> Path:
    return settings.logs_dir / "worker.log"


def _start_lock_path(settings: Settings) -> Path:
    return settings.run_dir / "worker-start.lock"


@dataclass(frozen=True)
class WorkerRecord:
    """What a running worker writes about itself in `run/worker.json`."""

    pid: int
    url: str
    host: str
    port: int
    home: str
    started_at: float
    autostarted: bool
    version: str


def read_record(settings: Settings) -> WorkerRecord | None:
    """The worker record of this data home, or None when there is none (or it is unreadable)."""
    path = record_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return WorkerRecord(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring unreadable worker record %s: %s", path, exc)
        return None


def _write_record(settings: Settings, record: WorkerRecord) -> None:
    path = record_path(settings)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
    os.replace(temp, path)


def _remove_record(settings: Settings, *, pid: int | None = None) -> None:
    """Delete the record (only if it is `pid`'s, when given)."""
    record = read_record(settings)
    if pid is not None and record is not None and record.pid != pid:
        return
    record_path(settings).unlink(missing_ok=True)


def worker_lock_held(settings: Settings) -> bool:
    """True while a worker process holds this data home's lock (it is starting or serving)."""
    path = lock_path(settings)
    if not path.exists():
        return False
    probe = FileLock(str(path), timeout=0, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False


# ---- finding a worker -----------------------------------------------------------------------------------
def probe(url: str, settings: Settings, *, timeout: float = PROBE_TIMEOUT_S) -> HealthInfo | None:
    """The worker's /health at `url`, or None when nothing answers there."""
    from productshot.server.worker.client import WorkerClient

    with WorkerClient(url, token=settings.worker_token, timeout=timeout) as client:
        try:
            return client.health()
        except WorkerUnavailableError:
            return None


def url_address(url: str) -> tuple[str, int]:
    """(host, port) of a worker URL; WorkerUnavailableError when it is not an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WorkerUnavailableError(f"worker URL {url!r} is not an http:// URL (PRODUCTSHOT_WORKER_URL)")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def ensure_worker(
    settings: Settings,
    *,
    idle_timeout_s: float = DEFAULT_AUTOSTART_IDLE_S,
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> str:
    """The URL of a worker that answers: the configured one, or one started now (detached) for this home.

    WorkerUnavailableError when none answers and autostart is off, the URL is not on this machine, or the
    started worker exits or stays silent for `start_timeout_s` (the message quotes its log).
    """
    url = settings.worker_url
    found = _answering_url(settings)
    if found is not None:
        return found
    if not settings.worker_autostart:
        raise WorkerUnavailableError(
            f"worker at {url} is not answering and auto-start is off (PRODUCTSHOT_WORKER_AUTOSTART=0); "
            "start one with `productshot worker`"
        )
    host, port = url_address(url)
    if not is_local_host(host):
        raise WorkerUnavailableError(
            f"worker at {url} is not answering, and it is not on this machine, so it cannot be started here; "
            "start it there with `productshot worker --host …`, or point PRODUCTSHOT_WORKER_URL elsewhere"
        )
    settings.ensure_home()
    deadline = time.monotonic() + start_timeout_s
    starter = FileLock(str(_start_lock_path(settings)), thread_local=False)
    try:
        starter.acquire(timeout=start_timeout_s)
    except Timeout as exc:
        raise WorkerUnavailableError(
            f"another process has been starting the worker for {settings.home} for over {start_timeout_s:.0f} s; "
            f"see {log_path(settings)}"
        ) from exc
    try:
        found = _answering_url(settings)
        if found is not None:
            return found
        child = None if worker_lock_held(settings) else _spawn(settings, host, port, idle_timeout_s)
        return _wait_until_answering(settings, child, deadline, host, port, idle_timeout_s)
    finally:
        starter.release()


def _answering_url(settings: Settings) -> str | None:
    """The configured URL if a worker answers there, else this home's worker URL if it answers."""
    if probe(settings.worker_url, settings) is not None:
        return settings.worker_url
    record = read_record(settings)
    if record is not None and record.url != settings.worker_url and probe(record.url, settings) is not None:
        return record.url
    return None


def _wait_until_answering(
    settings: Settings,
    child: subprocess.Popen[bytes] | None,
    deadline: float,
    host: str,
    port: int,
    idle_timeout_s: float,
) -> str:
    while time.monotonic() < deadline:
        found = _answering_url(settings)
        if found is not None:
            return found
        if child is not None and child.poll() is not None:
            raise WorkerUnavailableError(
                f"the worker started for {settings.home} exited with code {child.returncode} before answering; "
                f"the end of {log_path(settings)}:\n{_log_tail(settings)}"
            )
        if child is None and not worker_lock_held(settings):
            child = _spawn(settings, host, port, idle_timeout_s)  # the worker we waited for is gone
        time.sleep(0.1)
    raise WorkerUnavailableError(
        f"the worker for {settings.home} did not answer at {settings.worker_url} within the start timeout; "
        f"the end of {log_path(settings)}:\n{_log_tail(settings)}"
    )


def _spawn(settings: Settings, host: str, port: int, idle_timeout_s: float) -> subprocess.Popen[bytes]:
    """Start `productshot worker` detached: own session, no stdin, output appended to the worker log."""
    settings.ensure_home()
    command = [
        sys.executable,
        "-m",
        "productshot",
        "worker",
        "--host",
        host,
        "--port",
        str(port),
        "--idle-timeout",
        repr(float(idle_timeout_s)),
        "--autostarted",
    ]
    options: dict[str, Any] = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True
    log.info("starting a worker for %s: %s", settings.home, " ".join(command))
    with log_path(settings).open("ab") as output:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=settings.child_env(),
            cwd=str(settings.home),
            close_fds=True,
            **options,
        )
    # The worker outlives this call; a daemon thread reaps it when it exits (no zombie, no blocking).
    threading.Thread(target=child.wait, name=f"productshot-reap-{child.pid}", daemon=True).start()
    return child


def _log_tail(settings: Settings, lines: int = 15) -> str:
    try:
        text = log_path(settings).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:])


# ---- status and stop ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerStatus:
    """What `productshot worker status` reports."""

    running: bool
    url: str
    home: str
    log_file: str
    pid: int | None = None
    started_at: float | None = None
    autostarted: bool | None = None
    health: HealthInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["health"] = self.health.model_dump(mode="json") if self.health else None
        return data


def worker_status(settings: Settings) -> WorkerStatus:
    """This home's worker (from its lock and record) and whether the configured URL answers."""
    record = read_record(settings)
    held = worker_lock_held(settings)
    url = record.url if record is not None and held else settings.worker_url
    health = probe(url, settings)
    if health is None and url != settings.worker_url:
        health = probe(settings.worker_url, settings)
        url = settings.worker_url if health is not None else url
    return WorkerStatus(
        running=held or health is not None,
        url=url,
        home=str(settings.home),
        log_file=str(log_path(settings)),
        pid=record.pid if record is not None and held else (health.pid if health else None),
        started_at=record.started_at if record is not None and held else None,
        autostarted=record.autostarted
        if record is not None and held
        else (health.autostarted if health else None),
        health=health,
    )


@dataclass(frozen=True)
class StopOutcome:
    """What `productshot worker stop` did."""

    was_running: bool
    pid: int | None
    forced: bool
    seconds: float


def stop_worker(settings: Settings, *, timeout_s: float = 30.0) -> StopOutcome:
    """Ask this home's worker to stop (SIGTERM: graceful), and kill it if it is still there after timeout_s."""
    started = time.monotonic()
    record = read_record(settings)
    if not worker_lock_held(settings):
        if record is not None:
            _remove_record(settings, pid=record.pid)  # stale: its process is gone
        return StopOutcome(False, None, False, time.monotonic() - started)
    if record is None:
        raise ProductshotError(
            f"a worker holds {lock_path(settings)} but wrote no {record_path(settings).name}; "
            "it may still be starting: try again in a moment"
        )
    _signal(record.pid, signal.SIGTERM)
    if _wait_released(settings, started + timeout_s):
        return StopOutcome(True, record.pid, False, time.monotonic() - started)
    log.warning("worker pid %d did not stop within %.0f s; killing it", record.pid, timeout_s)
    _signal(record.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    if not _wait_released(settings, time.monotonic() + 10.0):
        raise ProductshotError(f"worker pid {record.pid} did not stop, even when killed; check it with `ps`")
    _remove_record(settings, pid=record.pid)
    return StopOutcome(True, record.pid, True, time.monotonic() - started)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return  # it exited on its own meanwhile
    except PermissionError as exc:
        raise ProductshotError(
            f"not allowed to signal worker pid {pid} (another user's process?): {exc}"
        ) from exc


def _wait_released(settings: Settings, until: float) -> bool:
    while time.monotonic() < until:
        if not worker_lock_held(settings):
            return True
        time.sleep(0.1)
    return not worker_lock_held(settings)


# ---- serving --------------------------------------------------------------------------------------------
def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a clear error (port in use, address not on this machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ProductshotError(f"--host {host!r} cannot be resolved: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ProductshotError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port, or stop what uses it"
        ) from exc
    sock.set_inheritable(False)
    return sock


def _configure_logging(settings: Settings, *, to_stderr: bool) -> list[logging.Handler]:
    settings.ensure_home()
    formatter = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(
            log_path(settings), maxBytes=_LOG_MAX_BYTES, backupCount=3, encoding="utf-8"
        )
    ]
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handlers


def _make_server(app: Any, config: WorkerConfig, runtime: WorkerRuntime) -> uvicorn.Server:
    import uvicorn

    class WorkerServer(uvicorn.Server):
        """uvicorn's server, which also stops the job queue the moment a stop signal arrives."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # A signal handler must not take the job table's lock: stop the queue from a thread instead.
            threading.Thread(target=runtime.begin_shutdown, name="productshot-shutdown", daemon=True).start()
            super().handle_exit(sig, frame)

    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(max(1.0, config.grace_s + 1.0)),
    )
    return WorkerServer(uv_config)


def _watch_idle(
    runtime: WorkerRuntime, server: uvicorn.Server, idle_s: float, stopped: threading.Event
) -> None:
    while not stopped.wait(min(1.0, idle_s / 4)):
        if runtime.idle_seconds() >= idle_s:
            log.info("no requests for %.0f s; the idle timeout is up, shutting down", idle_s)
            runtime.begin_shutdown()
            server.should_exit = True
            return


def serve(settings: Settings, config: WorkerConfig) -> int:
    """Run the worker in this process until SIGTERM/SIGINT or the idle timeout; holds the home's lock.

    Logs go to `logs/worker.log` (and to stderr unless auto-started, whose stderr already is that file).
    """
    with holding_home(settings, config, bind=True) as (bound, sock):
        assert sock is not None
        if config.nice:
            # Before the server's and the models' threads start, so they all inherit it.
            now = lower_process_priority(config.nice)
            log.info("model work runs at nice %s (PRODUCTSHOT_MODEL_NICE or --nice; 0 turns it off)", now)
        return _run_server(settings, bound, sock)


@contextmanager
def holding_home(
    settings: Settings, config: WorkerConfig, *, bind: bool = False
) -> Iterator[tuple[WorkerConfig, socket.socket | None]]:
    """Hold the data home's worker lock and record (and log file) while a worker engine serves.

    With `bind`, the listening socket is opened first (so port 0 becomes a real port in the record); the
    Ray engine binds this way too and relays the port to Serve's proxy.
    """
    settings.ensure_home()
    lock = FileLock(str(lock_path(settings)), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        other = read_record(settings)
        where = f" (pid {other.pid} at {other.url})" if other else ""
        raise ProductshotError(
            f"a worker already runs for data home {settings.home}{where}; use it, or stop it with "
            "`productshot worker stop`"
        ) from exc
    handlers: list[logging.Handler] = []
    try:
        sock = _bind(config.host, config.port) if bind else None
        if sock is not None:
            config = replace(config, port=sock.getsockname()[1])
        handlers = _configure_logging(settings, to_stderr=not config.autostarted)
        record = WorkerRecord(
            pid=os.getpid(),
            url=config.url,
            host=config.host,
            port=config.port,
            home=str(settings.home),
            started_at=time.time(),
            autostarted=config.autostarted,
            version=__version__,
        )
        _write_record(settings, record)
        log.info("worker pid %d starting on %s for %s", record.pid, record.url, settings.home)
        yield config, sock
    finally:
        _remove_record(settings, pid=os.getpid())
        lock.release()
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _absorb_stop_signals() -> dict[int, Any]:
    """Make SIGINT/SIGTERM no-ops outside uvicorn's own handling.

    uvicorn handles them while it serves, then re-raises the signal it caught once it has shut down; with
    the default action that would kill the process before the pid file and lock are cleaned up.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _stop_signal_after_shutdown) for sig in _STOP_SIGNALS}


def _stop_signal_after_shutdown(signum: int, _frame: FrameType | None) -> None:
    log.info("received %s; the worker is shutting down", signal.Signals(signum).name)


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _run_server(settings: Settings, config: WorkerConfig, sock: socket.socket) -> int:
    from productshot.server.worker.app import create_app

    # Jobs compute in threads; a shorter GIL switch interval keeps the HTTP loop answering promptly meanwhile.
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_S)
    with sock:
        app = create_app(settings, config=config)
        runtime: WorkerRuntime = app.state.runtime
        server = _make_server(app, config, runtime)
        stopped = threading.Event()
        if config.idle_timeout_s is not None:
            threading.Thread(
                target=_watch_idle,
                args=(runtime, server, config.idle_timeout_s, stopped),
                name="productshot-idle",
                daemon=True,
            ).start()
        previous = _absorb_stop_signals()
        try:
            server.run(sockets=[sock])
        finally:
            stopped.set()
            _restore_signals(previous)
        if not server.started:
            raise ProductshotError(f"the worker failed to start; see {log_path(settings)}")
    return 0


__all__ = [
    "StopOutcome",
    "WorkerRecord",
    "WorkerStatus",
    "ensure_worker",
    "holding_home",
    "log_path",
    "probe",
    "read_record",
    "serve",
    "stop_worker",
    "url_address",
    "worker_lock_held",
    "worker_status",
]
