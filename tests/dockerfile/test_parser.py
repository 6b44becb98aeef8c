"""The Dockerfile parser: BuildKit's line rules, typed commands, positions and errors."""

from __future__ import annotations

import pathlib

import pytest

from defkit.dockerfile import DockerfileParseError, parse, parse_file
from defkit.dockerfile.ast import (
    ArgCommand,
    CommandLine,
    CopyCommand,
    EnvCommand,
    ExposeCommand,
    FromCommand,
    HealthcheckCommand,
    KeyValue,
    LabelCommand,
    MaintainerCommand,
    OnbuildCommand,
    RunCommand,
    StopsignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from defkit.dockerfile.dump import dump


def _error(text: str, *, strict: bool = True) -> str:
    with pytest.raises(DockerfileParseError) as raised:
        parse(text, "Dockerfile", strict=strict)
    return raised.value.format()


# -- parser directives -------------------------------------------------------------------------


def test_escape_directive_makes_backtick_the_continuation_character() -> None:
    parsed = parse("# escape=`\nFROM x\nRUN dir C:\\ `\n  /w\n")
    assert parsed.escape == "`"
    assert parsed.directives == {"escape": "`"}
    assert parsed.instructions[1].args == ("dir C:\\   /w",)


def test_directives_stop_at_the_first_other_line() -> None:
    after_comment = parse("# hello\n# escape=`\nFROM x\nRUN a `\nRUN b\n")
    assert after_comment.escape == "\\"
    assert after_comment.directives == {}
    assert [i.keyword for i in after_comment.instructions] == ["FROM", "RUN", "RUN"]
    after_blank = parse("\n# escape=`\nFROM x\n")
    assert after_blank.escape == "\\"


def test_syntax_and_check_directives_are_recorded() -> None:
    parsed = parse("# syntax=docker/dockerfile:1.7\n#check = skip=all\nFROM x\n")
    assert parsed.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=all"}


def test_directive_errors_are_positioned() -> None:
    assert _error("# escape=x\nFROM a\n") == (
        "Dockerfile:1:1: error: invalid escape token 'x' does not match ` or \\"
    )
    assert _error("# syntax=a\n# SYNTAX=b\nFROM a\n") == (
        "Dockerfile:2:1: error: only one syntax parser directive can be used"
    )


# -- logical lines -------------------------------------------------------------------------------


def test_comments_and_blank_lines_inside_a_continuation_are_dropped() -> None:
    parsed = parse("FROM x\nRUN a \\\n# note\n\n   \n  && b\nRUN c\n")
    run = parsed.instructions[1]
    assert run.args == ("a   && b",)
    assert (run.span.line, run.span.end_line) == (2, 6)
    assert parsed.instructions[2].span.line == 7


def test_escaped_escape_at_end_of_line_does_not_continue() -> None:
    parsed = parse("FROM x\nENV C trailing\\\\\nENV D d\n")
    assert [i.args for i in parsed.instructions[1:]] == [
        ("C", "trailing\\\\", ""),
        ("D", "d", ""),
    ]


def test_continuation_at_end_of_file() -> None:
    assert parse("FROM x\nRUN a \\").instructions[1].args == ("a",)


def test_lower_case_keywords_tabs_crlf_and_bom() -> None:
    parsed = parse("\ufefffrom\tbusybox AS Build\r\nrun  echo hi\r\n")
    first, second = parsed.instructions
    assert first.keyword == "FROM"
    assert first.command == FromCommand("busybox", "build", None)
    assert second.keyword == "RUN" and second.args == ("echo hi",)
    assert parsed.stages[0].name == "build"


def test_spans_are_one_based_with_exclusive_end_column() -> None:
    parsed = parse("FROM x\n  RUN a \\\n    b\n")
    span = parsed.instructions[1].span
    assert (span.line, span.column, span.end_line, span.end_column) == (2, 3, 3, 6)


# -- JSON (exec) form ----------------------------------------------------------------------------


def test_exec_form_and_fallback_to_shell_form() -> None:
    parsed = parse(
        'FROM x\nCMD ["a", "b c"]\nCMD [\'a\']\nENTRYPOINT ["a" \nCMD ["a"] trailing\nRUN []\n'
    )
    commands = [i.command for i in parsed.instructions[1:]]
    assert commands == [
        CommandLine("CMD", None, ("a", "b c")),
        CommandLine("CMD", "['a']", None),
        CommandLine("ENTRYPOINT", '["a"', None),
        CommandLine("CMD", '["a"] trailing', None),
        RunCommand(None, (), (), None, None, ()),
    ]


def test_json_array_of_non_strings_is_an_error() -> None:
    assert _error('FROM x\nCMD ["a", ["b"]]\n') == (
        "Dockerfile:2:1: error: when using JSON array syntax, arrays must be comprised of "
        "strings only"
    )


def test_shell_requires_json() -> None:
    parsed = parse('FROM x\nSHELL ["/bin/bash", "-c"]\n')
    assert parsed.instructions[1].command == CommandLine("SHELL", None, ("/bin/bash", "-c"))
    assert "SHELL requires the arguments to be in JSON form" in _error("FROM x\nSHELL bash\n")


# -- heredocs ------------------------------------------------------------------------------------


def test_heredocs() -> None:
    text = (
        "FROM x\n"
        "RUN <<EOF\necho $HOME\nEOF\n"
        "COPY <<one <<'two' /dst/\nfirst\none\nsecond $X\ntwo\n"
        "RUN <<-EOT bash\n\tindented\n\tEOT\n"
        'RUN 3<<"E F" cat\nbody\nE F\n'
        'RUN ["<<EOF"]\n'
        "ONBUILD RUN <<EOF\nlater\nEOF\n"
    )
    parsed = parse(text)
    run, copy, chomped, quoted, json_run, onbuild = parsed.instructions[1:]
    assert [(h.name, h.content, h.expand) for h in run.heredocs] == [("EOF", "echo $HOME\n", True)]
    assert (run.span.line, run.span.end_line) == (2, 4)
    assert isinstance(copy.command, CopyCommand)
    assert copy.command.sources == ("<<one", "<<'two'") and copy.command.dest == "/dst/"
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == [
        ("one", "first\n", True),
        ("two", "second $X\n", False),
    ]
    assert [(h.content, h.chomp) for h in chomped.heredocs] == [("indented\n", True)]
    assert isinstance(chomped.command, RunCommand) and chomped.command.shell == "<<-EOT bash"
    assert [(h.name, h.file_descriptor, h.expand) for h in quoted.heredocs] == [("E F", 3, False)]
    assert json_run.heredocs == ()
    assert [h.content for h in onbuild.heredocs] == ["later\n"]
    assert parsed.instructions[-1].span.end_line == 19


def test_unterminated_heredoc() -> None:
    assert _error("FROM x\nRUN <<EOF\necho\n") == "Dockerfile:2:1: error: unterminated heredoc"


def test_heredoc_is_not_a_destination() -> None:
    assert "COPY cannot accept a heredoc as a destination" in _error(
        "FROM x\nCOPY a <<EOF\nx\nEOF\n"
    )


# -- flags ---------------------------------------------------------------------------------------


def test_copy_and_add_flags() -> None:
    parsed = parse(
        "FROM x\n"
        "COPY --from=build --chown=1:1 --chmod=0755 --link --exclude=*.md --exclude=t a b /d/\n"
        "COPY --parents --link=false a /d\n"
        "ADD --checksum=sha256:ab --keep-git-dir=true --unpack=false https://e/x.tgz /d\n"
        'COPY ["a b", "/d"]\n'
    )
    copy, parents, add, json_copy = (i.command for i in parsed.instructions[1:])
    assert isinstance(copy, CopyCommand)
    assert (copy.from_, copy.chown, copy.chmod, copy.link) == ("build", "1:1", "0755", True)
    assert copy.exclude == ("*.md", "t") and copy.sources == ("a", "b") and copy.dest == "/d/"
    assert isinstance(parents, CopyCommand) and parents.parents and not parents.link
    assert isinstance(add, CopyCommand)
    assert (add.keyword, add.checksum, add.keep_git_dir, add.unpack) == (
        "ADD",
        "sha256:ab",
        True,
        False,
    )
    assert isinstance(json_copy, CopyCommand)
    assert json_copy.json_form and json_copy.sources == ("a b",)
    flag = parsed.instructions[1].flag("chown")
    assert flag is not None and (flag.name, flag.value, flag.raw) == ("chown", "1:1", "--chown=1:1")


def test_run_flags_and_mounts() -> None:
    parsed = parse(
        "FROM x\nRUN --mount=type=cache,target=/root/.cache,sharing=locked "
        "--mount=type=secret,id=tok --mount=target=/src --network=none --security=insecure "
        "pip install x\n"
    )
    run = parsed.instructions[1].command
    assert isinstance(run, RunCommand)
    assert run.shell == "pip install x"
    assert [m.type for m in run.mounts] == ["cache", "secret", "bind"]
    assert run.mounts[0].get("target") == "/root/.cache"
    assert run.mounts[1].get("id") == "tok"
    assert (run.network, run.security) == ("none", "insecure")


def test_from_platform_and_quoted_flag_values() -> None:
    parsed = parse('FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nLABEL "a b"="c d"\n')
    assert parsed.instructions[0].command == FromCommand("golang:1.22", "build", "$BUILDPLATFORM")
    parsed = parse('FROM x\nCOPY --chown="app user" a /b\n')
    assert parsed.instructions[1].flags[0].value == "app user"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("COPY --user=me a b", "unknown flag: --user"),
        ("COPY --from a b", "missing a value on flag: --from"),
        ("COPY --from=a --from=b a b", "duplicate flag specified: --from"),
        ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
        ("RUN --mount", "missing a value on flag: --mount"),
        ("CMD --doit x", "unknown flag: --doit"),
    ],
)
def test_flag_errors_in_strict_mode(line: str, message: str) -> None:
    assert _error(f"FROM x\n{line}\n") == f"Dockerfile:2:1: error: {message}"
    lenient = parse(f"FROM x\n{line}\n", strict=False)
    assert lenient.instructions[1].command is None


def test_double_dash_ends_flags() -> None:
    parsed = parse("FROM x\nCOPY -- --weird /d\n")
    assert parsed.instructions[1].args == ("--weird", "/d")
    assert parsed.instructions[1].flags == ()


# -- typed commands ------------------------------------------------------------------------------


def test_env_arg_label_pairs_keep_words_as_written() -> None:
    parsed = parse(
        "ARG V=1.0\nFROM x\n"
        "ENV A=1 B=\"x y\" C='q' D=x\\ y\n"
        "ENV LEGACY a b  c\n"
        'LABEL org.opencontainers.image.title="My app" version=$V\n'
        "ARG BARE OTHER=\n"
    )
    env, legacy, label, arg = (i.command for i in parsed.instructions[2:])
    assert env == EnvCommand(
        (KeyValue("A", "1"), KeyValue("B", '"x y"'), KeyValue("C", "'q'"), KeyValue("D", "x\\ y")),
        legacy=False,
    )
    assert legacy == EnvCommand((KeyValue("LEGACY", "a b  c"),), legacy=True)
    assert label == LabelCommand(
        (KeyValue("org.opencontainers.image.title", '"My app"'), KeyValue("version", "$V"))
    )
    assert arg == ArgCommand((KeyValue("BARE", None), KeyValue("OTHER", "")))


def test_other_instructions() -> None:
    parsed = parse(
        "FROM x\nWORKDIR /app dir\nUSER app:app\nEXPOSE 80 53/udp\nVOLUME /a /b\n"
        'VOLUME ["/c"]\nSTOPSIGNAL SIGTERM\nMAINTAINER Jane <j@e.org>\n'
        "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n"
        'HEALTHCHECK CMD ["true"]\nHEALTHCHECK NONE\nONBUILD COPY . /src\n'
        "ENTRYPOINT exec app\n"
    )
    commands = [i.command for i in parsed.instructions[1:]]
    assert commands[:7] == [
        WorkdirCommand("/app dir"),
        UserCommand("app:app"),
        ExposeCommand(("80", "53/udp")),
        VolumeCommand(("/a", "/b")),
        VolumeCommand(("/c",)),
        StopsignalCommand("SIGTERM"),
        MaintainerCommand("Jane <j@e.org>"),
    ]
    assert commands[7] == HealthcheckCommand(
        "CMD", CommandLine("CMD", "curl -f http://localhost/", None), "5s", None, None, None, "3"
    )
    assert commands[8] == HealthcheckCommand(
        "CMD", CommandLine("CMD", None, ("true",)), None, None, None, None, None
    )
    assert commands[9] == HealthcheckCommand("NONE", None, None, None, None, None, None)
    onbuild = commands[10]
    assert isinstance(onbuild, OnbuildCommand)
    assert onbuild.instruction.keyword == "COPY"
    assert isinstance(onbuild.instruction.command, CopyCommand)
    assert commands[11] == CommandLine("ENTRYPOINT", "exec app", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM x\nFOO bar\n", "2:1: error: unknown instruction: FOO"),
        ("RUN x\nFROM y\n", "1:1: error: no build stage in current context"),
        ("FROM a b\n", "1:1: error: FROM requires either one or three arguments"),
        ("FROM a AS 1x\n", 'invalid name for build stage: "1x"'),
        ("FROM x\nCOPY a\n", "COPY requires at least two arguments"),
        ("FROM x\nENV PATH\n", "2:1: error: ENV must have two arguments"),
        ("FROM x\nENV a=1 b\n", 'can\'t find = in "b"'),
        ("FROM x\nWORKDIR\n", "WORKDIR requires exactly one argument"),
        ("FROM x\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
        ("FROM x\nHEALTHCHECK TCP 1\n", 'Unknown type "TCP" in HEALTHCHECK (try CMD)'),
        ("FROM x\nHEALTHCHECK --interval=5 CMD a\n", 'time: invalid duration "5"'),
        ("FROM x\nONBUILD ONBUILD RUN a\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM x\nONBUILD FROM y\n", "FROM isn't allowed as an ONBUILD trigger"),
        ("# only a comment\n\n", "2:1: error: file with no instructions"),
        ("", "error: file with no instructions"),
    ],
)
def test_errors_are_one_positioned_line(text: str, message: str) -> None:
    formatted = _error(text)
    assert formatted.startswith("Dockerfile:")
    assert message in formatted
    assert "\n" not in formatted


def test_too_long_line() -> None:
    assert "greater than max allowed size of 65535" in _error("FROM x\nLABEL a=" + "b" * 65535)


# -- stages and round trip -----------------------------------------------------------------------


def test_stages_and_global_args() -> None:
    parsed = parse(
        "ARG BASE=alpine\nARG TAG\nFROM $BASE:${TAG:-3} AS Build\nRUN make\n"
        "FROM scratch\nCOPY --from=build /out /\n"
    )
    assert [i.span.line for i in parsed.global_args] == [1, 2]
    first, second = parsed.stages
    assert (first.index, first.name, first.base.image) == (0, "build", "$BASE:${TAG:-3}")
    assert [i.keyword for i in first.instructions] == ["RUN"]
    assert (second.index, second.name, second.base.image) == (1, None, "scratch")


def test_dump_reads_like_buildkit(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text('FROM x\nONBUILD RUN ["a"]\nCOPY --link a b\nENV k=v\n', encoding="utf-8")
    assert dump(parse_file(path)) == (
        '(from "x")\n(onbuild (run "a"))\n(copy ["--link"] "a" "b")\n(env "k" "v" "=")\n'
    )


def test_deeply_nested_onbuild_is_an_error_not_a_crash() -> None:
    text = "FROM x\n" + "ONBUILD " * 1000 + "RUN x\n"
    assert "ONBUILD nested more than" in _error(text, strict=False)
    parsed = parse("FROM x\nONBUILD ONBUILD RUN x\n", strict=False)
    assert dump(parsed).splitlines()[1] == '(onbuild (onbuild (run "x")))'


def test_empty_continuation_lines_are_dropped_with_a_warning() -> None:
    parsed = parse("FROM x\nRUN a \\\n\n  b\nRUN c \\\n# comment\n  d\n")
    assert [i.args for i in parsed.instructions[1:]] == [("a   b",), ("c   d",)]
    assert [(w.message, w.span.line) for w in parsed.warnings] == [
        ("Empty continuation line found in: RUN a   b", 3)
    ]
