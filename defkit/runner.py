"""The one place defkit starts subprocesses, so callers can be given another runner in tests."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Optional, Protocol

from defkit.errors import DefkitError, ToolMissingError


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
        memory: Optional[int] = None,
    ) -> subprocess.CompletedProcess[bytes]: ...


def _die_with_parent(memory: Optional[int] = None) -> Callable[[], None]:
    """A preexec function: the child gets SIGKILL when defkit dies (PR_SET_PDEATHSIG), so a
    `kill -9` of a build cannot leave `unshare` and its %post running into a dead build's tree
    (`unshare --kill-child` then takes the whole PID namespace down). libc is looked up here, in
    the parent: the child, forked from a process that may have threads, only makes the call."""
    prctl = _prctl()
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if os.getppid() != parent:  # the parent died before the call: nobody would reap us
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@functools.lru_cache(maxsize=1)
def _prctl() -> Callable[..., int]:
    import ctypes

    # dlopen(NULL): the interpreter's own symbols, libc's prctl among them.
    function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return function


class ToolTimeoutError(DefkitError):
    """A program ran longer than its caller allows (e.g. unsquashfs on a crafted image)."""


def run(
    argv: Sequence[str],
    *,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    input: Optional[bytes] = None,
    capture: bool = True,
    check: bool = False,
    timeout: Optional[float] = None,
    memory: Optional[int] = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv`; a missing program becomes a ToolMissingError naming it. After `timeout`
    seconds the program and everything it started are killed: ToolTimeoutError. `memory` caps
    the program's address space in bytes (an allocation beyond it fails in the program)."""
    try:
        # With a time limit the program gets its own process group, so a wrapper's children
        # (`unshare ... fakeroot ... mksquashfs`) are killed with it and cannot hold the pipes.
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if input is not None else None,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            start_new_session=timeout is not None,
            preexec_fn=_die_with_parent(memory),
        )
    except FileNotFoundError as exc:
        wanted = " ".join(argv[:2])
        raise ToolMissingError(f"{argv[0]} is not installed (needed to run {wanted})") from exc
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc, timeout is not None)
        raise _timed_out(argv, timeout) from None
    except BaseException:
        _kill(proc, timeout is not None)
        raise
    done = subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


def _kill(proc: subprocess.Popen[bytes], group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    proc.communicate()


def _timed_out(argv: Sequence[str], timeout: Optional[float]) -> ToolTimeoutError:
    return ToolTimeoutError(f"{os.path.basename(argv[0])} did not finish within {timeout:g} "
                            "seconds and was stopped")


def run_streaming(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    stderr_to_stdout: bool = False,
    timeout: Optional[float] = None,
    on_start: Optional[Callable[[int], None]] = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv`, calling `on_line` with each line of its stdout as it arrives.

    Lines end at "\\n" or "\\r" (progress bars redraw with "\\r"), decoded leniently. stdout is
    not kept (`.stdout` is b""); stderr is captured and returned unless `stderr_to_stdout`.
    A missing program becomes a ToolMissingError naming it; one still running after `timeout`
    seconds is killed with everything it started (ToolTimeoutError). `on_start` is called with
    the child's pid as soon as it runs; with a `timeout` that is also its process group, which
    a caller that cancels (`defkit serve`) kills with `os.killpg`.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
            start_new_session=timeout is not None,
            preexec_fn=_die_with_parent(),
        )
    except FileNotFoundError as exc:
        needed = " ".join(argv[:2])
        raise ToolMissingError(f"{argv[0]} is not installed (needed to run {needed})") from exc
    assert proc.stdout is not None
    if on_start is not None:
        on_start(proc.pid)
    # stderr is drained by a thread so a chatty child cannot block on a full pipe.
    err_chunks: list[bytes] = []
    err_thread: Optional[threading.Thread] = None
    if proc.stderr is not None:
        stderr = proc.stderr
        err_thread = threading.Thread(target=lambda: err_chunks.append(stderr.read()), daemon=True)
        err_thread.start()
    expired = threading.Event()
    watchdog: Optional[threading.Timer] = None
    if timeout is not None:

        def expire() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
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
        if watchdog is not None:
            watchdog.cancel()
    returncode = proc.wait()
    if err_thread is not None:
        err_thread.join()
    if expired.is_set():
        raise _timed_out(argv, timeout)
    return subprocess.CompletedProcess(list(argv), returncode, b"", b"".join(err_chunks))
