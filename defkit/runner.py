"""The one place defkit starts subprocesses, so callers can be given another runner in tests."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Optional, Protocol

from defkit.errors import ToolMissingError


class Runner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        input: Optional[bytes] = None,
        capture: bool = True,
        check: bool = False,
        timeout: Optional[float] = None,
    ) -> subprocess.CompletedProcess[bytes]: ...


def run(
    argv: Sequence[str],
    *,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    input: Optional[bytes] = None,
    capture: bool = True,
    check: bool = False,
    timeout: Optional[float] = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv`; a missing program becomes a ToolMissingError naming it."""
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            check=check,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        wanted = " ".join(argv[:2])
        raise ToolMissingError(f"{argv[0]} is not installed (needed to run {wanted})") from exc


def run_streaming(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    stderr_to_stdout: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv`, calling `on_line` with each line of its stdout as it arrives.

    Lines end at "\\n" or "\\r" (progress bars redraw with "\\r"), decoded leniently. stdout is
    not kept (`.stdout` is b""); stderr is captured and returned unless `stderr_to_stdout`.
    A missing program becomes a ToolMissingError naming it.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        needed = " ".join(argv[:2])
        raise ToolMissingError(f"{argv[0]} is not installed (needed to run {needed})") from exc
    assert proc.stdout is not None
    # stderr is drained by a thread so a chatty child cannot block on a full pipe.
    err_chunks: list[bytes] = []
    err_thread: Optional[threading.Thread] = None
    if proc.stderr is not None:
        stderr = proc.stderr
        err_thread = threading.Thread(target=lambda: err_chunks.append(stderr.read()), daemon=True)
        err_thread.start()
    pending = b""
    try:
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            parts = re.split(rb"[\r\n]", pending)
            pending = parts.pop()
            for part in parts:
                if part:
                    on_line(part.decode("utf-8", "replace"))
        if pending:
            on_line(pending.decode("utf-8", "replace"))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    returncode = proc.wait()
    if err_thread is not None:
        err_thread.join()
    return subprocess.CompletedProcess(list(argv), returncode, b"", b"".join(err_chunks))
