"""End to end (`make e2e`; root, Debian's slurm-wlm): the plan's Slurm script on a real
single-node Slurm (auth/none, started here on 127.0.0.1, spec registry-cache-remote §8). Three
hello points and a build on one of them run as two job arrays; afterwards a new plan has
nothing to build. A failing build cancels the level after it (--kill-on-invalid-dep) instead of
leaving it pending forever."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.engine.engine.helpers import defkit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("slurmctld") is None or os.geteuid() != 0,
                       reason="needs root and Debian's slurm-wlm"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def slurm(tmp_path: pathlib.Path) -> Iterator[dict[str, str]]:
    root = tmp_path / "slurm"
    for name in ("state", "spool", "log"):
        (root / name).mkdir(parents=True)
    host = socket.gethostname()
    conf = root / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=defkit", f"SlurmctldHost={host}(127.0.0.1)", "AuthType=auth/none",
        "CredType=cred/none", "SlurmUser=root", "SlurmdUser=root",
        f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
        f"StateSaveLocation={root}/state", f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/ctld.pid", f"SlurmdPidFile={root}/d.pid",
        f"SlurmctldLogFile={root}/log/ctld.log", f"SlurmdLogFile={root}/log/d.log",
        "ProctrackType=proctrack/pgid", "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "ReturnToService=2", f"NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP", ""]))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons = [subprocess.Popen(["slurmctld", "-D", "-f", str(conf)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(1)
        daemons.append(subprocess.Popen(["slurmd", "-D", "-f", str(conf), "-N", host], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(100):
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                                   text=True)
            if state.stdout.strip() == "idle":
                break
            time.sleep(0.2)
        else:
            pytest.fail("slurmd did not come up")
        yield env
    finally:
        for daemon in reversed(daemons):
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


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
