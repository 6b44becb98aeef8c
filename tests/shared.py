"""Where the tests find ../shared (reference specs, corpus, conformance data), read in place."""

from __future__ import annotations

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEFKIT_SHARED", REPO.parent / "shared")).resolve()
CORPUS_DEFS = SHARED / "corpus" / "defs"
CORPUS_DOCKERFILES = SHARED / "corpus" / "dockerfiles"
CONFORMANCE = SHARED / "conformance"


def corpus_def_files() -> list[pathlib.Path]:
    return sorted(p for p in CORPUS_DEFS.iterdir() if p.is_file() and p.name != "MANIFEST.tsv")
