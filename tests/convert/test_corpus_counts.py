"""The converter over the real-world Dockerfile corpus: counts that change only on purpose.

The snapshot holds how many files convert, how many are refused (with a positioned error), and
the notes by severity and by what they are about (their first word: an instruction, a flag or
the topic). After a deliberate change, regenerate it with
`DEFKIT_UPDATE_SNAPSHOT=1 pytest tests/convert/test_corpus_counts.py`, review the diff of
`tests/convert/corpus_counts.json`, and explain the change in counts in the commit message.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from tests.convert.corpus import converted
from tests.shared import CORPUS_DOCKERFILES

pytestmark = pytest.mark.skipif(not CORPUS_DOCKERFILES.is_dir(), reason="no ../shared corpus")

SNAPSHOT = pathlib.Path(__file__).parent / "corpus_counts.json"


def corpus_counts() -> dict[str, int]:
    counts: dict[str, int] = {"files": 0, "converted": 0, "refused": 0}
    for outcome in converted():
        counts["files"] += 1
        if outcome.conversion is None:
            counts["refused"] += 1
            continue
        counts["converted"] += 1
        for note in outcome.conversion.notes:
            about = note.message.split(maxsplit=1)[0].rstrip(":")
            for key in (note.severity, f"{note.severity} {about}"):
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def test_corpus_conversion_counts() -> None:
    counts = corpus_counts()
    if os.environ.get("DEFKIT_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changed = {key: (expected.get(key, 0), counts.get(key, 0))
               for key in sorted(set(expected) | set(counts))
               if expected.get(key, 0) != counts.get(key, 0)}
    assert not changed, f"counts changed (snapshot, now): {changed}; see the module docstring"
