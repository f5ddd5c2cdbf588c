"""One settings object, read once from the environment and `.env` files, then passed down.

No other module reads the environment: a library takes what it needs from a `Settings` (or plain
arguments), so tests build one pointing at a temp folder and nothing leaks between them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from productshot.errors import BadRequestError

DEFAULT_WORKER_URL = "http://127.0.0.1:8765"
DEFAULT_LLM_MODEL = "gpt-4o-mini"
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000  # 10000 x 10000; a phone's 48 MP photo passes, a bomb does not
DEFAULT_MAX_UPLOAD_BYTES = 40 * 1024 * 1024
# Model work (the worker, the MCP server's model lane) runs at this nice value so quick calls get the cores first.
DEFAULT_MODEL_NICE = 10

# Variables a child process (worker, stdio MCP server) needs to see the same configuration.
_FORWARDED = (
    "PATH",
    "HOME",
    "USERPROFILE",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "SYSTEMROOT",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_ENDPOINT",
    "HF_TOKEN",
    "U2NET_HOME",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CUDA_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS",
    "VIRTUAL_ENV",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
)


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("productshot", appauthor=False))


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_int(env, name)
    return default if value is None else value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequestError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise BadRequestError(f"{name} must be 0 or more, got {raw!r}")
    return value


def _nice(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if not 0 <= value <= 19:
        raise BadRequestError(f"{name} must be 0 (off) to 19, got {value}")
    return value


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequestError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Everything configurable about productshot; see docs/configuration.md for each variable."""

    home: Path
    worker_url: str = DEFAULT_WORKER_URL
    worker_autostart: bool = True
    worker_token: str | None = None
    allowed_dirs: tuple[Path, ...] = ()
    generator: str = "auto"
    diffusion_default: str = "sdxl-turbo"
    cutout_model: str = "u2netp"
    llm_model: str = DEFAULT_LLM_MODEL
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    hf_token: str | None = None
    u2net_home: Path = field(default_factory=lambda: Path.home() / ".u2net")
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    mcp_token: str | None = None
    web_token: str | None = None
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    # The Slack bot's admin limits (None: the bot's default; its flags override these).
    slack_channels: str | None = None
    slack_rate: int | None = None
    slack_workers: int | None = None
    slack_queue: int | None = None
    plugins: tuple[str, ...] = ()
    debug: bool = False  # the CLI prints tracebacks (PRODUCTSHOT_DEBUG=1)
    # Ray engine (`productshot worker --engine ray`): what each generator/cutout replica asks of the cluster.
    ray_replica_cpus: float = 1.0
    ray_replica_gpus: float = 0.0
    ray_models_per_replica: int = 2
    extra_env: tuple[tuple[str, str], ...] = ()
    # CPU priority of model work (nice 0..19, 0: unchanged): the worker process and the MCP server's model
    # lane run at it, so quick calls get the cores first.
    model_nice: int = DEFAULT_MODEL_NICE

    # ---- derived locations -------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.home / "productshot.sqlite3"

    @property
    def assets_dir(self) -> Path:
        return self.home / "assets"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]  # replace() checks the field names at run time

    # ---- loading -----------------------------------------------------------------------------------
    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
        """Read settings: process environment first, then `./.env`, then the data home's `.env`.

        MCP clients start the server in an arbitrary folder, so the data home's `.env` is where keys live.
        """
        from dotenv import dotenv_values

        base = dict(os.environ if environ is None else environ)
        merged: dict[str, str] = {}
        cwd_env = (cwd or Path.cwd()) / ".env"
        for source in (cwd_env,):
            if source.is_file():
                merged.update({k: v for k, v in dotenv_values(source).items() if v is not None})
        merged.update(base)
        home = Path(merged["PRODUCTSHOT_HOME"]).expanduser() if merged.get("PRODUCTSHOT_HOME") else None
        home = (home or _default_home()).absolute()
        home_env = home / ".env"
        if home_env.is_file() and home_env != cwd_env:
            from_home = {k: v for k, v in dotenv_values(home_env).items() if v is not None}
            merged = {**from_home, **merged}
        return cls.from_mapping(merged, home=home)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str], *, home: Path | None = None) -> Settings:
        """Build settings from one flat mapping (no files read); tests use this directly."""
        if home is None:
            raw_home = env.get("PRODUCTSHOT_HOME")
            home = Path(raw_home).expanduser().absolute() if raw_home else _default_home()
        user = Path.home()
        raw_allowed = env.get("PRODUCTSHOT_ALLOWED_DIRS")
        if raw_allowed:
            allowed = [Path(p).expanduser().absolute() for p in raw_allowed.split(os.pathsep) if p.strip()]
        else:
            allowed = [user / "Pictures", user / "Downloads", user / "Desktop"]
        allowed.append(home)
        u2net = env.get("U2NET_HOME")
        forwarded = tuple((k, env[k]) for k in _FORWARDED if k in env)
        return cls(
            home=home,
            worker_url=env.get("PRODUCTSHOT_WORKER_URL") or DEFAULT_WORKER_URL,
            worker_autostart=_truthy(env.get("PRODUCTSHOT_WORKER_AUTOSTART"), True),
            worker_token=env.get("PRODUCTSHOT_WORKER_TOKEN") or None,
            allowed_dirs=tuple(dict.fromkeys(allowed)),
            generator=env.get("PRODUCTSHOT_GENERATOR") or "auto",
            diffusion_default=env.get("PRODUCTSHOT_DIFFUSION_DEFAULT") or "sdxl-turbo",
            cutout_model=env.get("PRODUCTSHOT_CUTOUT_MODEL") or "u2netp",
            llm_model=env.get("PRODUCTSHOT_LLM_MODEL") or DEFAULT_LLM_MODEL,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            hf_token=env.get("HF_TOKEN") or None,
            u2net_home=Path(u2net).expanduser().absolute() if u2net else user / ".u2net",
            max_image_pixels=_int(env, "PRODUCTSHOT_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS),
            max_upload_bytes=_int(env, "PRODUCTSHOT_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            mcp_token=env.get("PRODUCTSHOT_MCP_TOKEN") or None,
            web_token=env.get("PRODUCTSHOT_WEB_TOKEN") or None,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_channels=env.get("PRODUCTSHOT_SLACK_CHANNELS") or None,
            slack_rate=_optional_int(env, "PRODUCTSHOT_SLACK_RATE"),
            slack_workers=_optional_int(env, "PRODUCTSHOT_SLACK_WORKERS"),
            slack_queue=_optional_int(env, "PRODUCTSHOT_SLACK_QUEUE"),
            plugins=tuple(p.strip() for p in (env.get("PRODUCTSHOT_PLUGINS") or "").split(",") if p.strip()),
            debug=_truthy(env.get("PRODUCTSHOT_DEBUG"), False),
            ray_replica_cpus=_float(env, "PRODUCTSHOT_RAY_REPLICA_CPUS", 1.0),
            ray_replica_gpus=_float(env, "PRODUCTSHOT_RAY_REPLICA_GPUS", 0.0),
            ray_models_per_replica=_int(env, "PRODUCTSHOT_RAY_MODELS_PER_REPLICA", 2),
            extra_env=forwarded,
            model_nice=_nice(env, "PRODUCTSHOT_MODEL_NICE", DEFAULT_MODEL_NICE),
        )

    def child_env(self) -> dict[str, str]:
        """An explicit environment for a child process (worker, stdio MCP server) with these settings."""
        env = dict(self.extra_env)
        env["PRODUCTSHOT_HOME"] = str(self.home)
        env["PRODUCTSHOT_WORKER_URL"] = self.worker_url
        env["PRODUCTSHOT_WORKER_AUTOSTART"] = "1" if self.worker_autostart else "0"
        env["PRODUCTSHOT_ALLOWED_DIRS"] = os.pathsep.join(str(p) for p in self.allowed_dirs)
        env["PRODUCTSHOT_GENERATOR"] = self.generator
        env["PRODUCTSHOT_DIFFUSION_DEFAULT"] = self.diffusion_default
        env["PRODUCTSHOT_CUTOUT_MODEL"] = self.cutout_model
        env["PRODUCTSHOT_LLM_MODEL"] = self.llm_model
        env["PRODUCTSHOT_MAX_IMAGE_PIXELS"] = str(self.max_image_pixels)
        env["PRODUCTSHOT_MAX_UPLOAD_BYTES"] = str(self.max_upload_bytes)
        env["U2NET_HOME"] = str(self.u2net_home)
        env["PYTHONUNBUFFERED"] = "1"
        env["PRODUCTSHOT_RAY_REPLICA_CPUS"] = str(self.ray_replica_cpus)
        env["PRODUCTSHOT_RAY_REPLICA_GPUS"] = str(self.ray_replica_gpus)
        env["PRODUCTSHOT_RAY_MODELS_PER_REPLICA"] = str(self.ray_models_per_replica)
        env["PRODUCTSHOT_MODEL_NICE"] = str(self.model_nice)
        if self.plugins:
            env["PRODUCTSHOT_PLUGINS"] = ",".join(self.plugins)
        for name, value in (
            ("PRODUCTSHOT_WORKER_TOKEN", self.worker_token),
            ("OPENAI_API_KEY", self.openai_api_key),
            ("OPENAI_BASE_URL", self.openai_base_url),
            ("HF_TOKEN", self.hf_token),
        ):
            if value:
                env[name] = value
        return env

    def ensure_home(self) -> Path:
        """Create the data home's folders (idempotent) and return the home."""
        for folder in (self.home, self.assets_dir, self.logs_dir, self.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self.home
