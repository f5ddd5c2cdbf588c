"""Model work yields the CPU: a real worker runs every thread at PRODUCTSHOT_MODEL_NICE (0 leaves it
alone), a process that leads its session lowers its autogroup too, one that does not leaves it alone, and
bad values are named errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from productshot.errors import BadRequestError
from productshot.server.priority import autogroup_nice, check_nice
from productshot.server.worker.config import WorkerConfig
from productshot.settings import Settings
from tests.support.worker_proc import REPO_ROOT, running_worker, worker_settings

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="nice values are POSIX")


def _thread_nices(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    if tasks.is_dir():
        return [os.getpriority(os.PRIO_PROCESS, int(task.name)) for task in tasks.iterdir()]
    return [os.getpriority(os.PRIO_PROCESS, pid)]


@pytest.mark.slow
def test_the_worker_runs_its_model_work_at_the_nice_value_set(tmp_path: Path) -> None:
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    wanted = max(mine, 7)
    settings = worker_settings(tmp_path / "home").with_overrides(model_nice=wanted)
    with running_worker(settings) as worker, worker.client() as client:
        # A cutout starts the model's threads; they must inherit the lowered priority too.
        client.cutout(Image.fromarray(data.coffee()), model="u2netp")
        nices = _thread_nices(worker.pid)
        log = worker.log_text()
    assert len(nices) > 1 and all(n >= wanted for n in nices), nices
    assert f"model work runs at nice {wanted}" in log


_LOWER = (
    "import os; from productshot.server.priority import lower_process_priority, autogroup_nice; "
    "lower_process_priority({nice}); print(os.getsid(0) == os.getpid(), autogroup_nice())"
)


@pytest.mark.skipif(autogroup_nice() is None, reason="no autogroups on this kernel")
def test_a_session_leader_lowers_its_autogroup_and_a_member_does_not() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    off = subprocess.run(
        [sys.executable, "-c", _LOWER.format(nice=0) + "; print(os.getpriority(os.PRIO_PROCESS, 0))"],
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    assert off.stdout.split()[1:] == ["0", str(mine)]  # nice 0: neither the autogroup nor the process changes
    code = _LOWER.format(nice=5)
    leader = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    assert leader.stdout.split() == ["True", "5"]
    before = autogroup_nice()
    member = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert member.stdout.split() == ["False", str(before)]
    assert autogroup_nice() == before  # the test runner's own session is untouched


def test_bad_nice_values_are_named_errors(tmp_path: Path) -> None:
    base = {"PRODUCTSHOT_HOME": str(tmp_path)}
    assert Settings.from_mapping(base).model_nice == 10
    assert Settings.from_mapping({**base, "PRODUCTSHOT_MODEL_NICE": "0"}).model_nice == 0
    for raw in ("20", "-1", "high"):
        with pytest.raises(BadRequestError, match="PRODUCTSHOT_MODEL_NICE"):
            Settings.from_mapping({**base, "PRODUCTSHOT_MODEL_NICE": raw})
    assert (
        Settings.from_mapping({**base, "PRODUCTSHOT_MODEL_NICE": "3"}).child_env()["PRODUCTSHOT_MODEL_NICE"]
        == "3"
    )
    with pytest.raises(BadRequestError, match="--nice"):
        WorkerConfig(nice=20)
    with pytest.raises(ValueError, match="0 \\(off\\) to 19"):
        check_nice(-3, source="nice")
