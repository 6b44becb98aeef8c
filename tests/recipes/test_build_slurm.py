"""`defkit build --slurm` without a cluster: option errors, and a missing sbatch, as one line."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

from defkit.plan.graph import Build
from defkit.plan.probe import MISS, BuildOptions, Plan, Planned
from defkit.plan.slurm import SlurmOptions, job_script
from tests.engine.engine.helpers import defkit


def test_slurm_options_need_slurm(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.def").write_text("Bootstrap: localimage\nFrom: ./rootfs\n")
    done = defkit("build", "--partition", "debug", "a.def", cwd=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --partition, --account, --time and --no-wait go with --slurm")


def test_without_sbatch_the_error_is_one_line(tmp_path: pathlib.Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (tmp_path / "a.def").write_text("Bootstrap: localimage\nFrom: ./rootfs\n")
    # The machine's programs, except Slurm's: planning still keys the build (mksquashfs...).
    tools = tmp_path / "bin"
    tools.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        for name in os.listdir(directory) if os.path.isdir(directory) else ():
            if not name.startswith(("sbatch", "squeue", "srun", "salloc")) and \
                    not (tools / name).exists():
                (tools / name).symlink_to(os.path.join(directory, name))
    env = {"PATH": f"{pathlib.Path(sys.executable).parent}:{tools}", "HOME": str(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = defkit("build", "--slurm", "a.def", cwd=str(tmp_path), env=env)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("error: sbatch is not installed")
    assert "Traceback" not in done.stderr


def test_job_script_stops_at_the_first_failure(tmp_path: pathlib.Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    build = Build("a", str(tmp_path / "a.def"), str(tmp_path / "a.sif"), ())
    planned = Planned(build, MISS, "sha256-0")
    text = job_script(planned, Plan((planned,), BuildOptions(fakeroot=True)))
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    assert text.endswith("rm -f a.sif\ndefkit build --fakeroot a.def\n")
    assert SlurmOptions(partition="p", account="a", time="1:00").sbatch_argv() == [
        "--partition=p", "--account=a", "--time=1:00"]
