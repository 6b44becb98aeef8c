"""`defkit parse` and `defkit fmt` as a user runs them: output, exit codes, one-line errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from tests.shared import CONFORMANCE


def defkit(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "defkit", *args],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        check=False,
    )


def write(tmp_path: Path, text: str, name: str = "x.def") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_parse_json_matches_the_upstream_fixture() -> None:
    case = CONFORMANCE / "apptainer-parser" / "testdata_multi" / "simple"
    result = defkit("parse", "--json", str(case / "simple"))
    assert result.returncode == 0, result.stderr
    expected = json.loads((case / "simple.json").read_text())
    for stage in expected:  # the fixture omits the field; Go decodes it as empty
        stage["buildData"]["buildScripts"].setdefault("arguments", {"args": "", "script": ""})
    assert json.loads(result.stdout) == expected


def test_parse_single_and_outline(tmp_path: Path) -> None:
    path = write(tmp_path, "Bootstrap: docker\nFrom: alpine\n%post\necho hi\n")
    single = json.loads(defkit("parse", "--json", "--single", path).stdout)
    assert single["header"] == {"bootstrap": "docker", "from": "alpine"}
    outline = defkit("parse", path).stdout
    assert "Bootstrap: docker" in outline and "%post" in outline


def test_templated_json_has_the_templated_fullraw(tmp_path: Path) -> None:
    path = write(tmp_path, "Bootstrap: docker\nFrom: {{ IMG }}\n%arguments\nIMG=alpine\n")
    result = defkit("parse", "--json", "--build-arg", "IMG=debian", path)
    assert result.returncode == 0, result.stderr
    (stage,) = json.loads(result.stdout)
    assert stage["header"]["from"] == "debian"
    assert base64.b64decode(stage["fullraw"]).decode().startswith("Bootstrap: docker\nFrom: debian\n")
    unused = defkit("parse", "--build-arg", "X=1", path)
    assert unused.returncode == 1 and "unused build args: X" in unused.stderr
    warned = defkit("parse", "--build-arg", "X=1", "--warn-unused-build-args", path)
    assert warned.returncode == 0 and "warning: unused build args: X" in warned.stderr


def test_rejected_file_gives_one_positioned_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Bootstrap: docker\nFrom: alpine\n%environments\nexport A=1\n")
    result = defkit("parse", path)
    assert result.returncode == 1
    assert result.stderr == f"{path}:3:1: error: invalid section(s) specified: environments\n"
    crash = defkit("parse", "-", stdin=b'Bootstrap: docker\n%files\n"\n')
    assert crash.returncode == 1 and crash.stderr.startswith("<stdin>:3:1: error: ")
    assert "Traceback" not in crash.stderr


def test_fmt_check_diff_and_write(tmp_path: Path) -> None:
    path = write(tmp_path, "bootstrap:docker\nfrom:alpine\n%post\n    echo hi   \n\n\n")
    assert defkit("fmt", "--check", path).returncode == 1
    diff = defkit("fmt", "--diff", path)
    assert diff.returncode == 1 and "+Bootstrap: docker" in diff.stdout
    assert defkit("fmt", path).returncode == 0
    assert Path(path).read_text() == "Bootstrap: docker\nFrom: alpine\n\n%post\n    echo hi\n"
    assert defkit("fmt", "--check", path).returncode == 0
    bad = write(tmp_path, "Bootstrap: docker\nNope: x\n", "bad.def")
    result = defkit("fmt", bad)
    assert result.returncode == 1 and result.stderr.startswith(f"{bad}:2:1: error: ")


def test_fmt_skips_files_that_are_not_definition_files(tmp_path: Path) -> None:
    module = write(tmp_path, "LIBRARY mylib\nEXPORTS\n    func1 @1\n", "mylib.def")
    result = defkit("fmt", "--check", module)
    assert result.returncode == 0 and result.stderr == ""
    assert Path(module).read_text() == "LIBRARY mylib\nEXPORTS\n    func1 @1\n"
