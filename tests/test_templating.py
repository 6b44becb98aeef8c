"""Build-time templating as `apptainer build` does it (deffile.md §1, §7)."""

from __future__ import annotations

import pathlib

import pytest

from defkit.errors import DefParseError
from defkit.parser import parse_text
from defkit.templating import parse_build_arg, read_build_arg_file, template


def _post(text: str, **args: str) -> str:
    return template(parse_text(text), args, warn_unused=True).deffile.stages[0].script("post")


HEAD = "Bootstrap: docker\nFrom: alpine\n"


def test_build_args_beat_defaults_and_defaults_are_per_stage() -> None:
    text = (
        "Bootstrap: docker\nFrom: {{ IMG }}\nStage: one\n%arguments\nIMG=alpine\nV=1\n%post\necho {{V}}\n"
        "Bootstrap: docker\nFrom: {{ IMG }}\n%arguments\nIMG=debian\n"
    )
    result = template(parse_text(text), {"V": "2"})
    assert [s.header_value("from") for s in result.deffile.stages] == ["alpine", "debian"]
    assert result.deffile.stages[0].script("post") == "echo 2\n"
    assert result.text.startswith("Bootstrap: docker\nFrom: alpine\n")
    with pytest.raises(DefParseError, match="build var V is not defined"):
        template(parse_text(text.replace("echo {{V}}", "echo ok") + "%post\necho {{ V }}\n"), {})


def test_commented_placeholders_are_skipped() -> None:
    body = HEAD + '%post\necho "issue #1 {{ X }}"\n# {{ X }}\necho {{ A }} # {{ B }}\necho hi #{{ A }}\n'
    assert _post(body, A="a") == 'echo "issue #1 {{ X }}"\n# {{ X }}\necho a # {{ B }}\necho hi #a\n'


def test_shebang_is_not_a_comment_and_placeholders_span_lines() -> None:
    assert _post(HEAD + "%post\n#!/bin/{{ SH }}\necho {{\nX }}\n", SH="bash", X="y") == (
        "#!/bin/bash\necho y\n"
    )


def test_nested_placeholders_in_values() -> None:
    text = HEAD + "%arguments\nBASE=/opt\nDIR={{ BASE }}/app\n%post\necho {{ DIR }} {{ OTHER }}\n"
    # Values are substituted once; an unknown name inside a value stays literal.
    assert _post(text, OTHER="{{ NOPE }}-{{ BASE }}") == "echo /opt/app {{ NOPE }}-/opt\n"


def test_hash_in_templated_header_value_truncates_it() -> None:
    result = template(parse_text("Bootstrap: docker\nFrom: {{ IMG }}\n"), {"IMG": "alpine#x"})
    assert result.deffile.stages[0].header_value("from") == "alpine"


def test_unused_build_args_are_fatal_unless_allowed() -> None:
    deffile = parse_text(HEAD + "%post\necho hi\n")
    with pytest.raises(DefParseError, match="unused build args: X"):
        template(deffile, {"X": "1"})
    assert template(deffile, {"X": "1"}, warn_unused=True).used == frozenset()


def test_undefined_placeholder_is_positioned() -> None:
    with pytest.raises(DefParseError) as caught:
        template(parse_text(HEAD + "%post\n  echo {{ MISSING }}\n"), {})
    assert caught.value.span is not None and (caught.value.span.line, caught.value.span.column) == (4, 8)


def test_build_arg_parsing(tmp_path: pathlib.Path) -> None:
    assert parse_build_arg("A= x=y ") == ("A", "x=y")
    with pytest.raises(DefParseError):
        parse_build_arg("novalue")
    arg_file = tmp_path / "args"
    arg_file.write_text("A=1\nbad line\nB = two\n")
    args, warnings = read_build_arg_file(arg_file)
    assert args == {"A": "1", "B": "two"}
    assert warnings == [f"Skipping line 2 of build arg file {arg_file}: not a key=value pair"]
    with pytest.raises(DefParseError) as caught:
        parse_build_arg("=hunter2")
    assert "hunter2" not in caught.value.format()
