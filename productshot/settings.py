"""One settings object, read once from the environment and `.env` files, then passed down.

No other module reads the environment: a library takes what it needs from a `Settings` (or plain
arguments), so tests build one pointing at a temp folder and nothing leaks between them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

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


def default_pixel_processes() -> int:
    """One pixel process per core, at most 4; none on a single core (threads do as well there)."""
    cores = os.cpu_count() or 1
    return min(4, cores) if cores >= 2 else 0


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("productshot", appauthor=False))


def _default_u2net_home() -> Path:
    return Path.home() / ".u2net"


def _user_folders() -> tuple[Path, ...]:
    """Where a seller's photos usually are: the allowed folders unless PRODUCTSHOT_ALLOWED_DIRS says otherwise."""
    user = Path.home()
    return (user / "Pictures", user / "Downloads", user / "Desktop")


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source reading one given mapping instead of `os.environ` (as its
    own .env source does), so `from_mapping` and `load` parse variables exactly alike and read nothing else."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            (name if self.case_sensitive else name.lower()): value
            for name, value in self._env.items()
            if not (self.env_ignore_empty and value == "")
        }


# How a pydantic error type reads in a message about an environment variable.
_PROBLEMS = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "greater_than_equal": "must be 0 or more",
    "less_than_equal": "must be at most {le}",
    "bool_parsing": "must be true or false (1/0, yes/no, on/off)",
}


class Settings(BaseSettings):
    """Everything configurable about productshot; see docs/configuration.md for each variable.

    Each field is the variable `PRODUCTSHOT_<FIELD>` unless it names its own (OPENAI_API_KEY, HF_TOKEN,
    U2NET_HOME, SLACK_*); an empty variable counts as unset. Frozen: derive a changed copy with
    `with_overrides`."""

    model_config = SettingsConfigDict(
        env_prefix="PRODUCTSHOT_", env_ignore_empty=True, frozen=True, extra="ignore"
    )

    home: Path = Field(default_factory=_default_home)
    worker_url: str = DEFAULT_WORKER_URL
    worker_autostart: bool = True
    worker_token: str | None = None
    # PRODUCTSHOT_ALLOWED_DIRS: folders joined by os.pathsep; the data home is always added.
    allowed_dirs: Annotated[tuple[Path, ...], NoDecode] = ()
    generator: str = "auto"
    diffusion_default: str = "sdxl-turbo"
    cutout_model: str = "u2netp"
    llm_model: str = DEFAULT_LLM_MODEL
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    hf_token: str | None = Field(default=None, validation_alias="HF_TOKEN")
    u2net_home: Path = Field(default_factory=_default_u2net_home, validation_alias="U2NET_HOME")
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    mcp_token: str | None = None
    web_token: str | None = None
    slack_bot_token: str | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: str | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: str | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    # The Slack bot's admin limits (None: the bot's default; its flags override these).
    slack_channels: str | None = None
    slack_rate: int | None = None
    slack_workers: int | None = None
    slack_queue: int | None = None
    # PRODUCTSHOT_PLUGINS: module names joined by commas.
    plugins: Annotated[tuple[str, ...], NoDecode] = ()
    debug: bool = False  # the CLI prints tracebacks (PRODUCTSHOT_DEBUG=1)
    # Ray engine (`productshot worker --engine ray`): what each generator/cutout replica asks of the cluster.
    ray_replica_cpus: float = Field(default=1.0, ge=0)
    ray_replica_gpus: float = Field(default=0.0, ge=0)
    ray_models_per_replica: int = 2
    # Ray engine autoscaling (`--autoscale MIN:MAX`): Serve's delays before adding/removing a replica and the
    # window its load is averaged over (Serve's defaults: 30 s, 600 s, 30 s).
    ray_upscale_delay_s: float = Field(default=30.0, ge=0)
    ray_downscale_delay_s: float = Field(default=600.0, ge=0)
    ray_autoscale_window_s: float = Field(default=30.0, gt=0)
    # Port of Serve's own HTTP proxy, which the worker's public port relays to (0: a free port here).
    ray_proxy_port: int = Field(default=0, ge=0, le=65535)
    # CPU priority of model work (nice 0..19, 0: unchanged): the worker process and the MCP server's model
    # lane run at it, so quick calls get the cores first.
    model_nice: int = Field(default=DEFAULT_MODEL_NICE, ge=0, le=19)
    # Processes the MCP server runs quick pixel work in (the composite tool), beside its event loop rather
    # than sharing its GIL (0: the quick lane's threads only). Default: one per core, at most 4.
    pixel_processes: int = Field(default_factory=lambda: default_pixel_processes(), ge=0, le=32)
    # The variables of _FORWARDED that were set, for child processes; filled by from_mapping, never read.
    extra_env: tuple[tuple[str, str], ...] = Field(default=(), exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what the caller passes: `load` and `from_mapping` hand over the variables they read (through
        `_MappingSource`), so building a Settings never reads `os.environ` behind a test's back."""
        return (init_settings,)

    @field_validator("home", "u2net_home", mode="after")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.expanduser().absolute()

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, raw: object) -> object:
        if isinstance(raw, str):
            return tuple(Path(part).expanduser().absolute() for part in raw.split(os.pathsep) if part.strip())
        return raw

    @field_validator("plugins", mode="before")
    @classmethod
    def _split_plugins(cls, raw: object) -> object:
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw

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
        """A copy with some fields changed (tests, CLI flags); an unknown field name is a TypeError."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise TypeError(f"Settings has no field {', '.join(unknown)}")
        return self.model_copy(update=changes)

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
        if cwd_env.is_file():
            merged.update({k: v for k, v in dotenv_values(cwd_env).items() if v is not None})
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
        """Build settings from one flat mapping (no files read, `os.environ` untouched); tests use this.

        A bad value is a BadRequestError naming the variable, e.g. `PRODUCTSHOT_SLACK_RATE must be an
        integer, got 'many'`."""
        try:
            values = _MappingSource(cls, env)()
        except SettingsError as exc:  # a variable the source could not even parse (its message names it)
            raise BadRequestError(str(exc)) from exc
        if home is not None:
            values["home"] = home
        try:
            settings = cls.model_validate(values)  # validation only: BaseSettings' own sources are not read
        except ValidationError as exc:
            raise BadRequestError("; ".join(_describe(error) for error in exc.errors())) from exc
        allowed = settings.allowed_dirs or _user_folders()
        return settings.model_copy(
            update={
                "allowed_dirs": tuple(dict.fromkeys((*allowed, settings.home))),
                "extra_env": tuple((name, env[name]) for name in _FORWARDED if name in env),
            }
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
        env["PRODUCTSHOT_RAY_UPSCALE_DELAY_S"] = str(self.ray_upscale_delay_s)
        env["PRODUCTSHOT_RAY_DOWNSCALE_DELAY_S"] = str(self.ray_downscale_delay_s)
        env["PRODUCTSHOT_RAY_AUTOSCALE_WINDOW_S"] = str(self.ray_autoscale_window_s)
        env["PRODUCTSHOT_RAY_PROXY_PORT"] = str(self.ray_proxy_port)
        env["PRODUCTSHOT_MODEL_NICE"] = str(self.model_nice)
        env["PRODUCTSHOT_PIXEL_PROCESSES"] = str(self.pixel_processes)
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


def _variable(field_name: str) -> str:
    """The environment variable a Settings field is read from."""
    alias = (
        Settings.model_fields[field_name].validation_alias if field_name in Settings.model_fields else None
    )
    if isinstance(alias, str):
        return alias
    return f"PRODUCTSHOT_{field_name.upper()}" if field_name in Settings.model_fields else field_name


def _describe(error: ErrorDetails) -> str:
    name = _variable(str(error["loc"][0])) if error["loc"] else "a setting"
    problem = _PROBLEMS.get(error["type"], error["msg"]).format(**error.get("ctx", {}))
    return f"{name} {problem}, got {error['input']!r}"
