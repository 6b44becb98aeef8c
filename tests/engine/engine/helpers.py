"""Shared helpers for the engine tests: write a def file, build it, collect the events."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

from defkit.engine.context import Event
from defkit.engine.engine import build

HEADER = "Bootstrap: localimage\nFrom: ./rootfs\n"


def write_def(directory: pathlib.Path, body: str, name: str = "image.def",
              header: str = HEADER) -> pathlib.Path:
    path = directory / name
    path.write_text(header + textwrap.dedent(body), encoding="utf-8")
    return path


def build_def(path: pathlib.Path, events: list[Event] | None = None, **options: Any) -> str:
    options.setdefault("workdir", str(path.parent / "work"))
    options.setdefault("source_date_epoch", 1700000000)
    options.setdefault("force", True)
    sink = events if events is not None else []
    result = build(str(path), progress=sink.append, **options)
    return result.output


def defkit(*args: str, cwd: str | None = None, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess (the runtime hands the terminal to the container)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "defkit", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def leftovers(work: pathlib.Path) -> list[str]:
    return sorted(os.listdir(work))
