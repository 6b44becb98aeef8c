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

from tests.engine.engine.conftest import busybox_template

__all__ = ["busybox_template", "workspace"]  # the engine tests' busybox rootfs, built once


@pytest.fixture()
def workspace(tmp_path: pathlib.Path, busybox_template: pathlib.Path,  # noqa: F811
              monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A CI-like checkout as the working directory: `rendered/busybox-rootfs` where the hello
    family's points look for their base, and a fixed SOURCE_DATE_EPOCH (part of every key)."""
    shutil.copytree(busybox_template, tmp_path / "rendered" / "busybox-rootfs", symlinks=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return tmp_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def slurm(tmp_path: pathlib.Path) -> Iterator[dict[str, str]]:
    """A single-node Slurm (auth/none) on 127.0.0.1 for this test: the environment that
    points sbatch, squeue and scontrol at it (SLURM_CONF)."""
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
