"""Settings: the variable names, the .env layering, clear errors, and no reads behind a test's back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from productshot.errors import BadRequestError
from productshot.settings import DEFAULT_WORKER_URL, Settings


def test_each_field_reads_its_own_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        "PRODUCTSHOT_HOME": str(home),
        "PRODUCTSHOT_WORKER_URL": "http://127.0.0.1:9999",
        "PRODUCTSHOT_WORKER_AUTOSTART": "0",
        "PRODUCTSHOT_ALLOWED_DIRS": os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")]),
        "PRODUCTSHOT_PLUGINS": " one, two ,,",
        "PRODUCTSHOT_SLACK_RATE": "7",
        "PRODUCTSHOT_RAY_REPLICA_CPUS": "0.5",
        "PRODUCTSHOT_DEBUG": "yes",
        "OPENAI_API_KEY": "sk-test",
        "HF_TOKEN": "hf-test",
        "U2NET_HOME": str(tmp_path / "u2"),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "HF_HOME": str(tmp_path / "hf"),
        "PRODUCTSHOT_TOKEN_TYPO": "ignored",
    }
    settings = Settings.from_mapping(env)
    assert settings.home == home and settings.worker_url == "http://127.0.0.1:9999"
    assert settings.worker_autostart is False and settings.debug is True
    assert settings.allowed_dirs == (tmp_path / "a", tmp_path / "b", home)  # the data home is always allowed
    assert (
        settings.plugins == ("one", "two") and settings.slack_rate == 7 and settings.ray_replica_cpus == 0.5
    )
    assert settings.openai_api_key == "sk-test" and settings.llm_configured and settings.hf_token == "hf-test"
    assert settings.u2net_home == tmp_path / "u2" and settings.slack_bot_token == "xoxb-test"
    assert dict(settings.extra_env)["HF_HOME"] == str(tmp_path / "hf")  # forwarded to child processes

    child = Settings.from_mapping(settings.child_env())  # what a worker or MCP child process reads back
    kept = ("home", "worker_url", "worker_autostart", "allowed_dirs", "plugins", "openai_api_key", "hf_token")
    assert {name: getattr(child, name) for name in kept} == {name: getattr(settings, name) for name in kept}
    assert (child.u2net_home, child.ray_replica_cpus) == (settings.u2net_home, settings.ray_replica_cpus)


def test_empty_variables_count_as_unset_and_defaults_hold(tmp_path: Path) -> None:
    settings = Settings.from_mapping(
        {"PRODUCTSHOT_WORKER_URL": "", "PRODUCTSHOT_SLACK_RATE": "", "OPENAI_API_KEY": ""}, home=tmp_path
    )
    assert settings.worker_url == DEFAULT_WORKER_URL and settings.slack_rate is None
    assert not settings.llm_configured and settings.worker_autostart is True
    assert settings.allowed_dirs[-1] == tmp_path and Path.home() / "Pictures" in settings.allowed_dirs


def test_from_mapping_never_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTSHOT_SLACK_RATE", "9")
    monkeypatch.setenv("OPENAI_API_KEY", "from-the-process")
    settings = Settings.from_mapping({}, home=tmp_path)
    assert settings.slack_rate is None and settings.openai_api_key is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PRODUCTSHOT_SLACK_RATE", "many", "PRODUCTSHOT_SLACK_RATE must be an integer, got 'many'"),
        ("PRODUCTSHOT_MAX_IMAGE_PIXELS", "1e9x", "PRODUCTSHOT_MAX_IMAGE_PIXELS must be an integer"),
        ("PRODUCTSHOT_RAY_REPLICA_CPUS", "lots", "PRODUCTSHOT_RAY_REPLICA_CPUS must be a number"),
        ("PRODUCTSHOT_RAY_REPLICA_GPUS", "-1", "PRODUCTSHOT_RAY_REPLICA_GPUS must be 0 or more, got '-1'"),
        ("PRODUCTSHOT_WORKER_AUTOSTART", "maybe", "PRODUCTSHOT_WORKER_AUTOSTART must be true or false"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        Settings.from_mapping({variable: value}, home=tmp_path)


def test_load_layers_process_env_then_cwd_dotenv_then_home_dotenv(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (project / ".env").write_text(
        f"PRODUCTSHOT_HOME={home}\nPRODUCTSHOT_LLM_MODEL=from-cwd\nPRODUCTSHOT_SLACK_RATE=3\n",
        encoding="utf-8",
    )
    (home / ".env").write_text(
        "PRODUCTSHOT_LLM_MODEL=from-home\nOPENAI_API_KEY=key-from-home\nPRODUCTSHOT_SLACK_RATE=4\n"
        "PRODUCTSHOT_GENERATOR=studio\n",
        encoding="utf-8",
    )
    settings = Settings.load({"PRODUCTSHOT_SLACK_RATE": "5", "PATH": "/bin"}, cwd=project)
    assert settings.home == home  # found through ./.env, then the home's own .env is read
    assert settings.slack_rate == 5  # the process environment wins
    assert settings.llm_model == "from-cwd"  # ./.env beats the home's .env
    assert settings.openai_api_key == "key-from-home" and settings.generator == "studio"
    assert dict(settings.extra_env)["OPENAI_API_KEY"] == "key-from-home"  # children see the .env key too

    with pytest.raises(BadRequestError, match="PRODUCTSHOT_SLACK_RATE must be an integer"):
        Settings.load({"PRODUCTSHOT_HOME": str(home), "PRODUCTSHOT_SLACK_RATE": "x"}, cwd=tmp_path)


def test_settings_are_frozen_and_overrides_are_checked(tmp_path: Path) -> None:
    settings = Settings.from_mapping({}, home=tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        settings.debug = True  # type: ignore[misc]  # the point: assignment is refused
    changed = settings.with_overrides(debug=True, plugins=("x",))
    assert changed.debug and changed.plugins == ("x",) and not settings.debug
    with pytest.raises(TypeError, match="no field nope"):
        settings.with_overrides(nope=1)
    assert hash(settings) == hash(Settings.from_mapping({}, home=tmp_path))
