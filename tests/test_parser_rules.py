"""Apptainer's parsing rules one by one (deffile.md §2-§7), and the inputs it crashes on."""

from __future__ import annotations

from typing import Any

import pytest

from defkit.apptainer_json import stage_to_json
from defkit.errors import DefParseError
from defkit.parser import parse_lenient, parse_single, parse_text


def _stage(text: str) -> dict[str, Any]:
    return stage_to_json(parse_single(text))


def _error(text: str) -> DefParseError:
    with pytest.raises(DefParseError) as caught:
        parse_text(text)
    return caught.value


def test_crlf_is_lf_and_a_lone_cr_is_not_a_line_break() -> None:
    crlf = _stage("Bootstrap: docker\r\nFrom: alpine\r\n%post\r\necho hi\r\n")
    assert crlf["header"] == {"bootstrap": "docker", "from": "alpine"}
    assert crlf["buildData"]["buildScripts"]["post"]["script"] == "echo hi\n"
    lone = _stage("Bootstrap: docker\rFrom: alpine\n")
    assert lone["header"] == {"bootstrap": "docker\rFrom: alpine"}


def test_indented_percent_line_starts_a_section_with_an_empty_name() -> None:
    error = _error("Bootstrap: docker\nFrom: a\n%post\n    echo hi\n    %wheel ALL\n")
    assert error.message == "invalid section(s) specified: "
    assert error.span is not None and (error.span.line, error.span.column) == (5, 1)


def test_heredoc_percent_line_is_a_bogus_section() -> None:
    error = _error("Bootstrap: docker\nFrom: a\n%post\ncat <<EOF\n%wheel ALL=(ALL) ALL\nEOF\n")
    assert error.message == "invalid section(s) specified: wheel"
    assert error.span is not None and error.span.line == 5


def test_section_names_double_percent_case_and_tab() -> None:
    stage = _stage("Bootstrap: docker\nFrom: a\n%%POST\necho a\n%Labels\nA b\n")
    assert stage["buildData"]["buildScripts"]["post"]["script"] == "echo a\n"
    assert stage["imageData"]["labels"] == {"A": "b"}
    assert _error("Bootstrap: docker\n%post\t-c /bin/bash\necho\n").message == (
        "invalid section(s) specified: post\t-c"
    )


def test_header_value_cut_at_hash_and_continuations() -> None:
    stage = _stage("Bootstrap: docker\nFrom: docker.io/foo#bar\nInclude: a \\\n  b\n%post\nx\n")
    assert stage["header"] == {"bootstrap": "docker", "from": "docker.io/foo", "include": "a b"}
    newline = _stage("Bootstrap: zypper\nProductPGP: line1\\n\\\nline2\n%post\nx\n")
    assert newline["header"]["productpgp"] == "line1\nline2"


def test_header_continuation_into_blank_line_is_a_clear_error_not_a_crash() -> None:
    error = _error("Bootstrap: docker\nFrom: alpine \\\n\n%post\necho\n")
    assert error.kind == "header-continuation"
    assert error.span is not None and error.span.line == 3
    assert "crashes" in error.message


def test_last_header_line_continued_is_dropped() -> None:
    assert _stage("Bootstrap: docker\nFrom: alpine \\\n%post\nx\n")["header"] == {
        "bootstrap": "docker"
    }


def test_header_keys() -> None:
    assert _stage("Bootstrap: zypper\nOtherURL12: x\n%post\nx\n")["header"]["otherurl12"] == "x"
    assert _error("Bootstrap: zypper\nMirrorURL2: x\n").message.endswith(
        "invalid header keyword found: mirrorurl2"
    )
    assert _error("Bootstrap: docker\nsome garbage\n").message.endswith(
        "header key some garbage had no val"
    )
    with pytest.raises(DefParseError, match="invalid header keyword found: confurl"):
        parse_text("Bootstrap: arch\nConfURL: x\n", flavour="singularityce")
    assert parse_text("Bootstrap: arch\nConfURL: x\n").stages[0].header_value("confurl") == "x"


def test_duplicate_sections_append_and_args_overwrite() -> None:
    stage = _stage(
        "Bootstrap: docker\nFrom: a\n%post -c /bin/bash\none\n%post\ntwo\n%post -c /bin/zsh\nthree\n"
    )
    assert stage["buildData"]["buildScripts"]["post"] == {
        "args": "-c /bin/zsh",
        "script": "one\ntwo\nthree\n",
    }


def test_files_lines_split_like_apptainer() -> None:
    stage = _stage(
        "Bootstrap: docker\nFrom: a\n%files\n\"a b\" \"c d\"\n'a b' c\nsrc dst extra\nfoo\"bar\" baz\n"
        "%files from build\n/x\n%files\n"
    )
    assert stage["buildData"]["files"] == [
        {
            "args": "",
            "files": [
                {"source": "a b", "destination": "c d"},
                {"source": "'a b", "destination": "' c"},
                {"source": "src", "destination": "dst"},
                {"source": "foo", "destination": "bar"},
            ],
        },
        {"args": "from build", "files": [{"source": "/x", "destination": ""}]},
    ]


def test_lone_quote_in_files_is_a_clear_error_not_a_crash() -> None:
    error = _error('Bootstrap: docker\nFrom: a\n%files\n  "\n')
    assert error.kind == "files-quote"
    assert error.span is not None and (error.span.line, error.span.column) == (4, 3)


def test_labels() -> None:
    stage = _stage('Bootstrap: docker\nFrom: a\n%labels\nA\tb\nB "quoted value"\nE=f\nC   spaced   value  \nB last\n')
    assert stage["imageData"]["labels"] == {"A\tb": "", "B": "last", "E=f": "", "C": "spaced   value"}


def test_multistage_split_only_at_column_zero_bootstrap_colon() -> None:
    deffile = parse_text(
        "# leading comment\nBootstrap: docker\nFrom: a\nStage: one\n%post\nx\n"
        "bootstrap: docker\nFrom: b\n%post\n  Bootstrap : not a split\n"
    )
    assert [stage.name for stage in deffile.stages] == ["one", ""]
    assert deffile.stages[1].span.line == 7
    assert deffile.stages[1].script("post") == "  Bootstrap : not a split\n"


def test_empty_files() -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        assert _error(text).message == "no stages found in definition file"
        with pytest.raises(DefParseError, match="empty definition file"):
            parse_single(text)


def test_headerless_first_section_is_trimmed() -> None:
    stage = _stage("   %help\nHello\n\n\n%post\necho\n")
    assert stage["header"] is None
    assert stage["imageData"]["imageScripts"]["help"]["script"] == "Hello"
    with pytest.raises(DefParseError, match="could not be split into section name and body"):
        parse_single("%runscript\n\n\n")


def test_app_sections() -> None:
    stage = _stage("Bootstrap: docker\nFrom: a\n%appinstall foo extra\nmake\n%apprun bar\nrun\n")
    assert stage["customData"] == {"appinstall foo": "make\n", "apprun bar": "run\n"}
    assert stage["appOrder"] == ["foo", "bar"]
    assert _error("Bootstrap: docker\n%APPINSTALL foo\nx\n").message == (
        "invalid section(s) specified: APPINSTALL foo"
    )
    assert _error("Bootstrap: docker\n%appinstall\nx\n").message == (
        "app section appinstall: could not be split into section name and app name"
    )


def test_section_over_64_kib_is_rejected() -> None:
    big = "echo " + "x" * 70000 + "\n"
    error = _error("Bootstrap: docker\nFrom: a\n%post\n" + big)
    assert error.kind == "token-too-long"
    assert error.span is not None and error.span.line == 3
    ok = "Bootstrap: docker\nFrom: a\n%post\n" + "echo x\n" * 9000
    assert len(ok.encode()) < 65535
    assert parse_text(ok).stages


def test_bom_and_invalid_utf8_are_clear_errors() -> None:
    assert "byte order mark" in _error("\ufeffBootstrap: docker\n").message
    with pytest.raises(DefParseError, match="not valid UTF-8") as caught:
        parse_text(b"Bootstrap: docker\nFrom: \xff\n")
    assert caught.value.span is not None and (caught.value.span.line, caught.value.span.column) == (2, 7)


def test_lenient_parse_keeps_going() -> None:
    deffile, errors = parse_lenient(
        "Bootstrap: docker\nFoo: x\nFrom: a\n%environments\nexport A=1\n%post\necho\n"
    )
    assert deffile is not None
    assert [e.kind for e in errors] == ["invalid-header-key", "invalid-section"]
    stage = deffile.stages[0]
    assert stage.header_value("from") == "a"
    assert [(s.name, s.is_known) for s in stage.sections] == [
        ("environments", False),
        ("post", True),
    ]
