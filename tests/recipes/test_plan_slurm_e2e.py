"""End to end (`make e2e`; root, Debian's slurm-wlm): the plan's Slurm script on a real
single-node Slurm (auth/none, started here on 127.0.0.1, spec registry-cache-remote §8). Three
hello points and a build on one of them run as two job arrays; afterwards a new plan has
nothing to build. A failing build cancels the level after it (--kill-on-invalid-dep) instead of
leaving it pending forever."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time

import pytest

from tests.engine.engine.helpers import defkit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("slurmctld") is None or os.geteuid() != 0,
                       reason="needs root and Debian's slurm-wlm"),
]


def _job_state(env: dict[str, str], job: str) -> str:
    shown = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True,
                           text=True).stdout
    return shown.split("JobState=")[1].split()[0] if "JobState=" in shown else ""


def _wait(env: dict[str, str], jobs: list[str], timeout: float = 300) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [_job_state(env, job) for job in jobs]
        if all(state in ("COMPLETED", "FAILED", "CANCELLED") for state in states):
            return states
        time.sleep(1)
    pytest.fail(f"jobs {jobs} did not finish: {[_job_state(env, job) for job in jobs]}")


def _submit(workspace: pathlib.Path, env: dict[str, str]) -> list[str]:
    planned = defkit("plan", "--fakeroot", "--format", "slurm", "-o", "submit.sh", "rendered",
                     env=env)
    assert planned.returncode == 0, planned.stderr
    done = subprocess.run(["bash", "submit.sh"], env=env, capture_output=True, text=True,
                          cwd=workspace)
    assert done.returncode == 0, done.stderr
    return [line.split("job ")[1].split()[0] for line in done.stdout.splitlines()]


def test_slurm_runs_the_plan_level_by_level(workspace: pathlib.Path,
                                            slurm: dict[str, str]) -> None:
    import sys

    env = {**slurm, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}",
           "SOURCE_DATE_EPOCH": "1700000000"}
    assert defkit("recipes", "render", "hello", "--all", "-o", "rendered").returncode == 0
    (workspace / "rendered" / "app.def").write_text(
        "Bootstrap: localimage\nFrom: hello-fr.sif\n\n%runscript\n    echo app\n")
    jobs = _submit(workspace, env)
    assert len(jobs) == 2
    assert _wait(env, jobs) == ["COMPLETED", "COMPLETED"]
    for name in ("hello-en", "hello-fr", "hello-de", "app"):
        assert (workspace / "rendered" / f"{name}.sif").exists()
    again = defkit("plan", "--fakeroot", "--format", "json", "rendered", env=env)
    assert '"builds": []' in again.stdout

    (workspace / "rendered" / "broken.def").write_text(
        "Bootstrap: localimage\nFrom: ./busybox-rootfs\n\n%test\n    false\n")
    (workspace / "rendered" / "after-broken.def").write_text(
        "Bootstrap: localimage\nFrom: broken.sif\n")
    jobs = _submit(workspace, env)
    assert _wait(env, jobs) == ["FAILED", "CANCELLED"]
    assert not (workspace / "rendered" / "after-broken.sif").exists()
