"""What an installed productshot offers beyond the checkout: plugins found as installed entry points (the
cutout model table included), the Slack manifest and the u2netp weights through commands, one version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata, resources
from pathlib import Path

import pytest
import yaml

from productshot.errors import ModelError
from productshot.models.registry import ENTRY_POINT_GROUP, Registry
from productshot.server.worker.cutout_jobs import check_cutout_model
from productshot.settings import Settings
from productshot.tools.cutout import CUTOUT_MODELS, Cutter
from tests.conftest import REPO_ROOT

PLUGIN = '''
"""An installed plugin: a studio preset under another name, and a rembg session as a cutout model."""
from dataclasses import replace

from productshot.models.registry import STUDIO
from productshot.tools.cutout import CutoutModel


def register(registry):
    registry.register_preset(replace(registry.preset(STUDIO), name="acme-studio", description="acme's"))
    registry.register_cutout_model(CutoutModel(
        "isnet-anime", "isnet-anime.onnx", "Apache-2.0", "IS-Net for anime characters", True,
        "https://example.invalid/isnet-anime.onnx"))
'''


def install_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution on sys.path the way pip leaves one: the module and a dist-info with its entry point."""
    (site / "acme_ps_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "acme_ps_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-ps-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nacme = acme_ps_plugin\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))


def test_an_installed_plugin_is_found_by_its_entry_point(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, monkeypatch)
    settings = Settings.from_mapping({"HF_HUB_OFFLINE": "1"}, home=home)  # PRODUCTSHOT_PLUGINS unset
    registry = Registry.default(settings)
    assert registry.plugins == ["acme_ps_plugin"]
    assert registry.preset("acme-studio") is not None and registry.preset("acme-studio").kind == "studio"

    # Its cutout model joins the table the worker checks and the Cutter loads from.
    table = registry.cutout_models()
    assert set(CUTOUT_MODELS) < set(table) and "isnet-anime" in table
    assert check_cutout_model("isnet-anime", table) == "isnet-anime"
    with pytest.raises(ModelError, match="unknown cutout model 'isnet-anime'"):
        check_cutout_model("isnet-anime")  # the built-in table alone does not have it
    with pytest.raises(ModelError, match=r"isnet-anime\.onnx.*example\.invalid"):
        Cutter("isnet-anime", u2net_home=tmp_path / "no-weights", models=table)  # found, weights missing


def test_a_cutout_model_name_is_registered_once(home: Path) -> None:
    registry = Registry.default(Settings.from_mapping({}, home=home))
    with pytest.raises(ModelError, match="already registered"):
        registry.register_cutout_model(CUTOUT_MODELS["u2netp"])
    registry.register_cutout_model(CUTOUT_MODELS["u2netp"], replace=True)


def productshot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productshot", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_slack_manifest_ships_and_prints(cli_env: dict[str, str]) -> None:
    shipped = resources.files("productshot.slack").joinpath("manifest.yaml").read_text(encoding="utf-8")
    printed = productshot(cli_env, "slack", "manifest")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == shipped.rstrip("\n") + "\n"
    assert "chat:write" in yaml.safe_load(printed.stdout)["oauth_config"]["scopes"]["bot"]
    as_json = productshot(cli_env, "slack", "manifest", "--json")
    assert json.loads(as_json.stdout)["manifest"] == shipped


def test_setup_weights_leaves_a_checked_file_alone(
    cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    dest = tmp_path / "rembg-home"
    dest.mkdir()
    shutil.copy(settings.u2net_home / "u2netp.onnx", dest / "u2netp.onnx")  # provisioned by set-up
    done = productshot(cli_env, "setup", "weights", "--dest", str(dest), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["downloaded"] is False and payload["path"] == str(dest / "u2netp.onnx")


def test_the_version_has_one_source(cli_env: dict[str, str]) -> None:
    from productshot import __version__

    assert metadata.version("productshot") == __version__  # pyproject reads it from productshot/__init__.py
    assert productshot(cli_env, "--version").stdout.strip() == f"productshot {__version__}"
