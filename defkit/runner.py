"""The one place defkit starts subprocesses, so callers can be given another runner in tests."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
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
        raise ToolMissingError(f"{argv[0]} is not installed (needed to run {' '.join(argv[:2])})") from exc
