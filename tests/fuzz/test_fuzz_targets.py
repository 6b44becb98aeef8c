"""Fuzz targets: hostile definition files and Dockerfiles through parse, lint (with and without
ShellCheck), fmt and convert (both ways), by the library and, for a sample, by the CLI.

Every call returns or raises defkit's own error (one positioned line); anything else is a
crash (the CLI's exit 3). The profile (tests/fuzz/conftest.py) bounds the time in CI;
`DEFKIT_FUZZ=long` runs thousands of examples (`make e2e`). Each crash found so far is kept as
an `@example`, so that every run checks it again."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import example, given, settings
from hypothesis import strategies as st

from defkit.apptainer_json import iter_json_text
from defkit.cli import main
from defkit.convert import convert_deffile, convert_dockerfile
from defkit.dockerfile.parser import parse as parse_dockerfile
from defkit.errors import DefkitError
from defkit.lint.config import LintConfig
from defkit.lint.linter import lint_text
from defkit.parser import parse_lenient, parse_single, parse_text
from defkit.templating import template
from defkit.writer import format_checked
from tests.fuzz import strategies
from tests.fuzz.conftest import PROFILE

HEAD = "Bootstrap: docker\nFrom: alpine\n"
#: The crashes fuzzing found (issue #18), as definition files and Dockerfiles.
DEF_CRASHES = [
    HEAD + "%post\necho " + '"`' * 500 + "\n",
    HEAD + "%post\necho " + "$(" * 1000 + "\n",
    HEAD + "%environment\nX=" + "$a" * 16000 + "\n",
    HEAD + "%post\necho " + "${a:-" * 2048 + "}" * 2048 + "\n",
    HEAD + "%post\nchmod ," + "o" * 20000 + " /x\n",
    HEAD + "%post\necho " + "a." * 15000 + "x\n",
    HEAD + "%post\necho {" + "," * 20000 + "\n",
    HEAD + "%post\necho " + "{{ " * 10000 + "\n",
    HEAD + "%post\n# " + "{{ X }} " * 5000 + "\n%arguments\nX=1\n",
    "".join(f"Bootstrap: docker\nFrom: alpine\n%post\n  echo {i}   \n" for i in range(300)),
    HEAD + "".join(f"%appenv a{i}\n  X={i}   \n" for i in range(2000)),
]
DOCKER_CRASHES = [
    "FROM alpine\nCMD " + "[" * 1000 + "\n",
    "FROM alpine\nCMD " + "[" * 1000 + "]" * 1000 + "\n",
    "FROM alpine\nWORKDIR " + "${a:-" * 250 + "x" + "}" * 250 + "\n",
    "FROM alpine\nWORKDIR " + "${a:-" * 250 + "\n",
    "FROM alpine AS s0\n" + "".join(f"FROM s{i} AS s{i + 1}\nRUN echo {i}\n" for i in range(990)),
    'FROM alpine\nRUN ["echo", "\\ud83d"]\n',
    "FROM alpine\nFROM alpine\nCOPY --from=\u00b2 /a /b\n",
    "FROM alpine\nRUN " + "9" * 5000 + "<<EOF cat\nx\nEOF\n",
    "FROM alpine\nHEALTHCHECK --retries=" + "9" * 5000 + " CMD x\n",
]


def check_deffile(text: str, *, shellcheck: bool = False) -> None:
    """Everything the library does with a definition file: parse (three ways), lint, fmt,
    the JSON, templating and conversion to a Dockerfile."""
    for parse in (parse_text, parse_single):
        with contextlib.suppress(DefkitError):
            parse(text, "x.def")
    deffile, errors = parse_lenient(text, "x.def")
    assert deffile is not None or errors
    result = lint_text(text, "x.def", LintConfig(), shellcheck=shellcheck)
    for problem in result.problems:
        assert problem.span.line >= 1 and problem.span.column >= 1
    if deffile is None or errors:
        return
    with contextlib.suppress(DefkitError):
        format_checked(deffile)
    if len(deffile.stages) * len(text) < 20_000_000:  # the JSON repeats the file per stage
        json.loads("".join(iter_json_text(deffile)))
    with contextlib.suppress(DefkitError):
        template(deffile, {}, warn_unused=True)
    with contextlib.suppress(DefkitError):
        convert_deffile(text, "x.def")


def check_dockerfile(text: str) -> None:
    for strict in (True, False):
        with contextlib.suppress(DefkitError):
            parse_dockerfile(text, "Dockerfile", strict=strict)
    try:
        result = convert_dockerfile(text, "Dockerfile")
    except DefkitError:
        return
    result.text.encode("utf-8")  # writable: no lone surrogate reaches the .def
    with contextlib.suppress(DefkitError):
        check_deffile(result.text)


def run_cli(*args: str) -> tuple[int, str]:
    """The CLI in this process: exit code and standard error."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


def check_cli(data: bytes, name: str) -> None:
    """`parse --json`, `lint`, `fmt --diff` and `convert` on a file holding `data`."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, name)
        with open(path, "wb") as stream:
            stream.write(data)
        commands = [
            ["convert", path, "-o", os.path.join(directory, "out")],
        ]
        if name.endswith(".def"):
            commands = [
                ["parse", "--json", path], ["lint", "--no-shellcheck", "--no-cache", path],
                ["fmt", "--diff", path], *commands,
            ]  # fmt: skip
        for command in commands:
            code, err = run_cli(*command)
            assert code in (0, 1, 2), (command, code, err[-2000:])
            assert "Traceback" not in err, err[-2000:]
            for line in err.splitlines():
                if ": error: " in line:
                    assert line.startswith(path) or line.startswith("error:"), line


_Test = TypeVar("_Test", bound=Callable[..., Any])


def _examples(cases: Sequence[str | bytes]) -> Callable[[_Test], _Test]:
    def decorate(test: _Test) -> _Test:
        for case in cases:
            test = example(case)(test)
        return test

    return decorate


@settings(settings.get_profile(PROFILE))
@_examples(DEF_CRASHES)
@given(strategies.deffiles())
def test_deffiles(text: str) -> None:
    check_deffile(text)


@settings(settings.get_profile(PROFILE))
@_examples(DOCKER_CRASHES)
@given(strategies.dockerfiles())
def test_dockerfiles(text: str) -> None:
    check_dockerfile(text)


@settings(settings.get_profile(PROFILE))
@given(st.text(strategies.CHAR, max_size=2000))
def test_any_text_as_both(text: str) -> None:
    check_deffile(text)
    check_dockerfile(text)


@settings(settings.get_profile(PROFILE), max_examples=max(5, settings.get_profile(PROFILE).max_examples // 8))
@_examples(DEF_CRASHES[:3])
@given(strategies.deffiles())
def test_deffiles_with_shellcheck(text: str) -> None:
    check_deffile(text, shellcheck=True)


@settings(settings.get_profile(PROFILE), max_examples=max(5, settings.get_profile(PROFILE).max_examples // 4))
@_examples([case.encode() for case in DEF_CRASHES[:4]] + [b"Bootstrap: docker\n\xff\xfe", b"\xef\xbb\xbfBootstrap: docker\n"])
@given(st.one_of(strategies.deffiles().map(lambda text: text.encode("utf-8", "surrogatepass")), st.binary(max_size=300)))
def test_cli_deffiles(data: bytes) -> None:
    check_cli(data, "x.def")


@settings(settings.get_profile(PROFILE), max_examples=max(5, settings.get_profile(PROFILE).max_examples // 4))
@_examples([case.encode() for case in DOCKER_CRASHES])
@given(strategies.dockerfiles().map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_cli_dockerfiles(data: bytes) -> None:
    check_cli(data, "Dockerfile")
