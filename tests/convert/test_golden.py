"""Golden cases: tests/convert/cases/<case>/Dockerfile -> expected.def (+ expected-notes.txt).

Each expected.def was reviewed against Docker's semantics (see the case names). The spec's list of
spython failure modes (dockerfile-conversion.md §4) and where each is shown done right:

| failure mode (spec §4)                                   | case(s)                              |
|----------------------------------------------------------|--------------------------------------|
| crash (ENV IndexError, FROM<TAB>)                        | env-forms, escape-directive          |
| bad From: (--platform, unresolved $VAR, stage as image)  | from-args, multistage-replay         |
| stages merged/lost                                       | multistage-replay, scratch-copy-from |
| ENV not exported before RUN                              | env-forms, arg-scoping               |
| %post rejected by sh -n (comment in continuation)        | run-forms                            |
| instruction/flag leak (SHELL, ONBUILD, JSON RUN, --mount, lower case) | run-forms, run-mounts, metadata, escape-directive |
| heredoc emitted line by line                             | run-forms, copy-add, unsafe-lines    |
| --chown/--chmod/heredoc marker as a %files path          | copy-add                             |
| relative COPY dst after WORKDIR                          | workdir                              |
| COPY after RUN reordered                                 | copy-add, workdir                    |
| COPY --from=<index or image> dropped                     | multistage-replay, copy-from-image   |
| USER -> su                                               | metadata                             |
| CMD only -> exec /bin/bash <cmd>                         | cmd-only, metadata                   |
| ENTRYPOINT+CMD: CMD hard-wired                           | entrypoint-cmd, entrypoint-shell     |
| no ENTRYPOINT/CMD -> forced /bin/bash runscript          | no-entrypoint                        |
| ARG without default skipped                              | arg-scoping                          |
| %labels in KEY=VALUE form                                | labels                               |
| JSON element with spaces/metachars unquoted              | json-quoting                         |
| HEALTHCHECK copied into %test                            | metadata                             |
"""

from __future__ import annotations

import pathlib
import shlex
import subprocess

import pytest

from defkit.convert import convert_dockerfile
from defkit.errors import DefkitError
from defkit.parser import parse_text
from defkit.templating import template

CASES = pathlib.Path(__file__).parent / "cases"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "Dockerfile").is_file())


def options(case: pathlib.Path) -> dict[str, object]:
    build_args: dict[str, str] = {}
    target = None
    words = shlex.split((case / "options").read_text()) if (case / "options").exists() else []
    while words:
        flag = words.pop(0)
        value = words.pop(0)
        if flag == "--build-arg":
            key, _, val = value.partition("=")
            build_args[key] = val
        elif flag == "--target":
            target = value
        else:
            raise AssertionError(f"unknown option {flag} in {case}/options")
    return {"build_args": build_args, "target": target, "arch": "amd64"}


def read(path: pathlib.Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.parametrize("name", NAMES)
def test_golden(name: str) -> None:
    case = CASES / name
    text = (case / "Dockerfile").read_text(encoding="utf-8")
    expected_error = read(case / "expected-error.txt")
    if expected_error:
        with pytest.raises(DefkitError) as info:
            convert_dockerfile(text, "Dockerfile", **options(case))  # type: ignore[arg-type]
        assert info.value.format() == "Dockerfile:" + expected_error.strip()
        return
    result = convert_dockerfile(text, "Dockerfile", **options(case))  # type: ignore[arg-type]
    assert result.text == read(case / "expected.def")
    notes = "".join(note.format("").lstrip(":") + "\n" for note in result.notes)
    assert notes == read(case / "expected-notes.txt")


@pytest.mark.parametrize("name", [n for n in NAMES if (CASES / n / "expected.def").exists()])
def test_golden_output_is_valid(name: str) -> None:
    text = read(CASES / name / "expected.def")
    deffile = template(parse_text(text, f"{name}/expected.def"), {}).deffile
    for stage in deffile.stages:
        for section in ("post", "runscript", "environment"):
            body = stage.script(section)
            if body:
                check = subprocess.run(["sh", "-n"], input=body.encode(), capture_output=True)
                assert check.returncode == 0, (name, section, check.stderr.decode())
