"""The runner's time limit: a program that hangs (and whatever it started) is killed, and the
caller gets one clear error instead of waiting for ever."""

from __future__ import annotations

import os
import time

import pytest

from defkit.runner import ToolTimeoutError, run, run_streaming


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is dead enough)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("streaming", [False, True])
def test_timeout_kills_the_program_and_its_children(tmp_path: str, streaming: bool) -> None:
    pidfile = os.path.join(tmp_path, "child.pid")
    # The child keeps the output pipe open: killing only the direct process would still hang.
    argv = ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; echo started; wait"]
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"^sh did not finish within 1 seconds"):
        if streaming:
            run_streaming(argv, lambda line: None, timeout=1)
        else:
            run(argv, timeout=1)
    assert time.monotonic() - started < 15
    with open(pidfile, encoding="ascii") as f:
        child = int(f.read())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_without_timeout_results_are_unchanged() -> None:
    done = run(["sh", "-c", "cat; echo err >&2; exit 3"], input=b"in")
    assert (done.returncode, done.stdout, done.stderr) == (3, b"in", b"err\n")
    lines: list[str] = []
    streamed = run_streaming(["sh", "-c", "echo a; echo b"], lines.append, timeout=30)
    assert lines == ["a", "b"] and streamed.returncode == 0
