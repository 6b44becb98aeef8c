"""`python -X importtime` totals of a whole command, printed beside its wall time by the
benchmarks so that import cost stays visible."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Optional

# The commands run as after `pip install`, with their modules' bytecode cached: a
# PYTHONDONTWRITEBYTECODE in this environment would have every run compile defkit's sources.
ENVIRON = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def import_total(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> tuple[float, str]:
    """The command's `python -X importtime` total in seconds and its three costliest top-level
    imports ("name ms, ..."). argv is `python ...` (this interpreter) or a Python script such as
    a console script, which this interpreter runs."""
    script = argv[1:] if argv[0] == sys.executable else argv
    done = subprocess.run([sys.executable, "-X", "importtime", *script], capture_output=True,
                          text=True, check=False, env=dict(env or ENVIRON))
    total = 0
    top: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            total += int(match.group(1))
            if len(match.group(3)) == 1:
                top.append((int(match.group(2)), match.group(4)))
    biggest = ", ".join(f"{name} {cumulative / 1000:.0f}" for cumulative, name in
                        sorted(top, reverse=True)[:3])
    return total / 1e6, biggest
