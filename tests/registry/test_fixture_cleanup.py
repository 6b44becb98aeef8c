"""The registry fixture leaves no process behind: not when a test fails, not when pytest is
killed."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]

FAILING_TEST = '''
import os, pathlib, time
from tests.registry_fixture import registry  # noqa: F401

def test_uses_the_registry(registry):
    pathlib.Path(os.environ["PID_FILE"]).write_text(str(registry.process.pid))
    if os.environ.get("HANG"):
        time.sleep(120)
    assert False, "this test fails on purpose"
'''


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _run(tmp_path: pathlib.Path, hang: bool) -> tuple[subprocess.Popen[bytes], pathlib.Path]:
    (tmp_path / "test_failing.py").write_text(FAILING_TEST)
    pid_file = tmp_path / "pid"
    env = {**os.environ, "PID_FILE": str(pid_file), "PYTHONPATH": str(REPO)}
    if hang:
        env["HANG"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         str(tmp_path / "test_failing.py"), "--rootdir", str(tmp_path),
         # Its own temporary root: the shared one's clean-up is not this test's business.
         "--basetemp", str(tmp_path / "inner")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, pid_file


def test_no_registry_left_after_a_failing_test(tmp_path: pathlib.Path) -> None:
    process, pid_file = _run(tmp_path, hang=False)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1 and b"fails on purpose" in output, output.decode()
    assert _wait_gone(int(pid_file.read_text())), "the registry outlived pytest"


def test_no_registry_left_when_pytest_is_killed(tmp_path: pathlib.Path) -> None:
    process, pid_file = _run(tmp_path, hang=True)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise AssertionError(process.communicate()[0].decode())
        time.sleep(0.05)
    registry_pid = int(pid_file.read_text())
    assert _alive(registry_pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    gone = _wait_gone(registry_pid)
    if not gone:  # do not leave the orphan this test is about
        os.kill(registry_pid, signal.SIGKILL)
    assert gone, "the registry outlived the killed pytest"
