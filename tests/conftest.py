"""Shared fixtures: an isolated data home per test, and settings that point at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from productshot.settings import Settings
from tests.support.worker_proc import idle_worker_url

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh, empty data home for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path, tmp_path: Path) -> Settings:
    """Settings isolated to the test's data home; the real U2NET_HOME (provisioned by set-up) is kept."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
    env["PRODUCTSHOT_HOME"] = str(home)
    env["PRODUCTSHOT_ALLOWED_DIRS"] = str(tmp_path)
    env["PRODUCTSHOT_WORKER_AUTOSTART"] = "0"
    # Never the default port: a `productshot worker` the developer runs must not get the tests' jobs.
    env["PRODUCTSHOT_WORKER_URL"] = idle_worker_url()
    # No pixel processes: a short test ends before they are up; tests/test_pixel_pool.py runs them.
    env["PRODUCTSHOT_PIXEL_PROCESSES"] = "0"
    return Settings.from_mapping(env, home=home)


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running `productshot` as a subprocess against the isolated home."""
    env = dict(os.environ)
    env.update(settings.child_env())
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(key, None)
    return env


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Print a measured figure so it shows in every run (CI included), not only under `pytest -s`."""

    def write(*parts: object) -> None:
        with capsys.disabled():
            print(*parts)

    return write
