"""How one resident worker runs: address, queue and batch limits, memory budget, timeouts, lifecycle.

Built once from the command line (`productshot worker …`) or by `ensure_worker`, validated here, then
passed to the app, the scheduler and the lifecycle code; nothing reads it from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from productshot.errors import BadRequestError
from productshot.hosts import is_local_host

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_QUEUE_SIZE = 64
DEFAULT_MAX_BATCH = 4
DEFAULT_JOB_TIMEOUT_S = 600.0
MAX_JOB_TIMEOUT_S = 24 * 3600.0
DEFAULT_GRACE_S = 10.0
DEFAULT_AUTOSTART_IDLE_S = 900.0
DEFAULT_RESULT_TTL_S = 900.0
DEFAULT_MAX_KEPT_JOBS = 512
DEFAULT_MAX_RESULT_BYTES = 2 * 1024**3  # finished images kept in memory (decoded + PNG)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything `productshot worker` takes on its command line, plus the few internal limits."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    queue_size: int = DEFAULT_QUEUE_SIZE
    max_batch: int = DEFAULT_MAX_BATCH
    memory_budget_gb: float | None = None  # None: derived from the device's memory
    preload: tuple[str, ...] = ()
    idle_timeout_s: float | None = None  # None: never exit for idleness
    default_timeout_s: float = DEFAULT_JOB_TIMEOUT_S
    grace_s: float = DEFAULT_GRACE_S
    result_ttl_s: float = DEFAULT_RESULT_TTL_S
    max_kept_jobs: int = DEFAULT_MAX_KEPT_JOBS
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    autostarted: bool = False
    # Nice value the worker's model work runs at (0: unchanged); the CLI takes it from the settings.
    nice: int = 0

    def __post_init__(self) -> None:
        checks: tuple[tuple[bool, str], ...] = (
            (bool(self.host.strip()), f"--host must not be empty, got {self.host!r}"),
            (0 <= self.port <= 65535, f"--port must be 0..65535, got {self.port}"),
            (1 <= self.queue_size <= 100_000, f"--queue-size must be 1..100000, got {self.queue_size}"),
            (1 <= self.max_batch <= 64, f"--max-batch must be 1..64, got {self.max_batch}"),
            (
                self.memory_budget_gb is None or self.memory_budget_gb > 0,
                f"--memory-budget-gb must be more than 0, got {self.memory_budget_gb}",
            ),
            (
                self.idle_timeout_s is None or self.idle_timeout_s > 0,
                f"--idle-timeout must be more than 0 seconds, got {self.idle_timeout_s}",
            ),
            (
                0 < self.default_timeout_s <= MAX_JOB_TIMEOUT_S,
                f"default job timeout must be 0..{MAX_JOB_TIMEOUT_S:.0f} s, got {self.default_timeout_s}",
            ),
            (self.grace_s >= 0, f"grace period must be 0 s or more, got {self.grace_s}"),
            (self.result_ttl_s > 0, f"result lifetime must be more than 0 s, got {self.result_ttl_s}"),
            (self.max_kept_jobs >= 1, f"kept jobs must be at least 1, got {self.max_kept_jobs}"),
            (0 <= self.nice <= 19, f"--nice must be 0 (off) to 19, got {self.nice}"),
            (
                self.max_result_bytes >= 0,
                f"result memory must be 0 bytes or more, got {self.max_result_bytes}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise BadRequestError(message)
        if not is_local_host(self.host) and not self.token:
            raise BadRequestError(
                f"--host {self.host} is reachable from other machines, so the worker needs a bearer token: "
                "set PRODUCTSHOT_WORKER_TOKEN (or worker_token in settings) and give clients the same token"
            )

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget_gb is None else int(self.memory_budget_gb * 1024**3)

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
