"""The linter over the real-world corpus: no crash, and per-rule counts that change only on purpose.

After a deliberate change (a new rule, fewer false positives), regenerate the snapshot with
`DEFKIT_UPDATE_SNAPSHOT=1 pytest tests/lint/test_corpus.py` and review the diff of
`tests/lint/corpus_counts.json`.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from defkit.cli import main
from tests.shared import corpus_def_files

SNAPSHOT = pathlib.Path(__file__).parent / "corpus_counts.json"


def test_corpus_counts(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(path) for path in corpus_def_files()]
    assert len(files) > 300
    report = tmp_path / "findings.json"
    # A fixed arch keeps arch-mismatch independent of the machine running the tests.
    code = main(["lint", "--arch", "amd64", "--no-cache", "-f", "json", "-o", str(report), *files])
    err = capsys.readouterr().err
    assert code in (0, 1), err  # 2 would be a usage error, 3 a crash
    assert "internal error" not in err
    findings = json.loads(report.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["code"]] = counts.get(finding["code"], 0) + 1
    counts = dict(sorted(counts.items()))
    if os.environ.get("DEFKIT_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changed = {
        code: (expected.get(code, 0), counts.get(code, 0))
        for code in sorted(set(expected) | set(counts))
        if expected.get(code, 0) != counts.get(code, 0)
    }
    assert not changed, (
        f"per-rule counts changed (snapshot, now): {changed}; see the module docstring"
    )
