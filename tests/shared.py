"""Where the tests find ../shared (reference specs, corpus, conformance data), read in place."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEFKIT_SHARED", REPO.parent / "shared")).resolve()
CORPUS_DEFS = SHARED / "corpus" / "defs"
CORPUS_DOCKERFILES = SHARED / "corpus" / "dockerfiles"
CONFORMANCE = SHARED / "conformance"


def corpus_def_files() -> list[pathlib.Path]:
    return sorted(p for p in CORPUS_DEFS.iterdir() if p.is_file() and p.name != "MANIFEST.tsv")


def imported(*args: str, cwd: pathlib.Path) -> set[str]:
    """The modules `defkit ARGS` imports (from `python -X importtime`); it must succeed."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "defkit", *args],
                            capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:")}
