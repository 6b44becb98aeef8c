"""End to end (`make e2e`; root, Debian's slurm-wlm): `defkit build --slurm` on a real
single-node Slurm (the `slurm` fixture of conftest.py). Three busybox builds, one bootstrapping
from another, land at their outputs and in the cache; a failing build is reported with its log
and the build that needs it is "not built" rather than left pending; `--no-wait` prints job ids.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.engine.engine.helpers import defkit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("slurmctld") is None or os.geteuid() != 0,
                       reason="needs root and Debian's slurm-wlm"),
]


def _env(slurm: dict[str, str]) -> dict[str, str]:
    # The jobs run `defkit`: the one of this interpreter, as an installed site would have it.
    return {**slurm, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}",
            "SOURCE_DATE_EPOCH": "1700000000"}


def _three_builds(workspace: pathlib.Path) -> None:
    assert defkit("recipes", "render", "hello", "--all", "-o", "rendered").returncode == 0
    (workspace / "rendered" / "hello-de.def").unlink()
    (workspace / "rendered" / "app.def").write_text(
        "Bootstrap: localimage\nFrom: hello-fr.sif\n\n%runscript\n    echo app\n")


def test_build_slurm_builds_in_dependency_order(workspace: pathlib.Path,
                                                 slurm: dict[str, str]) -> None:
    env = _env(slurm)
    _three_builds(workspace)
    done = defkit("build", "--slurm", "--fakeroot", "--partition", "debug", "--time", "10",
                  "rendered", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    for name in ("hello-en", "hello-fr", "app"):
        assert (workspace / "rendered" / f"{name}.sif").exists()
        assert re.search(rf"defkit: {name} \(job \d+\) done", done.stderr), done.stderr
    assert "3 built, 0 failed, 0 not built" in done.stderr
    # The images are in the cache: a new plan has nothing left to build, and so has a new run.
    again = defkit("plan", "--fakeroot", "--format", "json", "rendered", env=env)
    assert '"builds": []' in again.stdout, again.stdout
    rerun = defkit("build", "--slurm", "--fakeroot", "rendered", env=env)
    assert rerun.returncode == 0 and "nothing submitted" in rerun.stderr


def test_a_failure_marks_its_dependant_not_built(workspace: pathlib.Path,
                                                 slurm: dict[str, str]) -> None:
    env = _env(slurm)
    rendered = workspace / "rendered"
    (rendered / "broken.def").write_text(
        "Bootstrap: localimage\nFrom: ./busybox-rootfs\n\n%test\n    echo broken-test-ran\n"
        "    false\n")
    (rendered / "after-broken.def").write_text("Bootstrap: localimage\nFrom: broken.sif\n")
    (rendered / "fine.def").write_text(
        "Bootstrap: localimage\nFrom: ./busybox-rootfs\n\n%runscript\n    echo fine\n")
    started = time.monotonic()
    done = defkit("build", "--slurm", "--fakeroot", "rendered", env=env, timeout=600)
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 300
    assert re.search(r"defkit: fine \(job \d+\) done", done.stderr), done.stderr
    assert "after-broken" in done.stderr and "not built" in done.stderr
    log = re.search(r"defkit: broken failed \(.*\); log: (\S+)", done.stderr)
    assert log is not None, done.stderr
    assert "broken-test-ran" in pathlib.Path(log.group(1)).read_text()
    assert "1 built, 1 failed, 1 not built" in done.stderr
    assert not (rendered / "after-broken.sif").exists()
    assert not (rendered / "broken.sif").exists()


def test_no_wait_prints_the_job_ids(workspace: pathlib.Path, slurm: dict[str, str]) -> None:
    env = _env(slurm)
    (workspace / "rendered" / "quick.def").write_text(
        "Bootstrap: localimage\nFrom: ./busybox-rootfs\n")
    done = defkit("build", "--slurm", "--no-wait", "--fakeroot", "rendered", env=env)
    assert done.returncode == 0, done.stderr
    name, job = done.stdout.strip().split("\t")
    assert name == "quick" and job.isdigit()
    shown = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True,
                           text=True)
    assert "JobName=defkit-quick" in shown.stdout
