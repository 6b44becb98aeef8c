"""`defkit lint`, `defkit rules`, `defkit rule` through the real CLI entry point."""

from __future__ import annotations

import json
import pathlib

import pytest

from defkit.cli import main
from defkit.lint.rules import RULES

CLEAN = "Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n    echo hello\n"
INFO_ONLY = "Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n    echo hello\n"  # no %test: info
TYPO = "Bootstrap: docker\nFrom: alpine:3.20\n\n%lables\n    a b\n"
# Only the framework's rules and ShellCheck, so that new rules do not change these expectations.
OWN = ["--select", "DK0,SC"]
WITH_INFO = ["--select", "DK0,SC,missing-test"]  # and one rule that is info by default


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI caches ShellCheck results: keep them out of the user's cache directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def put(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_exit_codes_follow_the_threshold(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean, info = put(tmp_path, "clean.def", CLEAN), put(tmp_path, "info.def", INFO_ONLY)
    assert main(["lint", *OWN, clean]) == 0
    assert "No problems found in 1 file." in capsys.readouterr().out
    assert main(["lint", *WITH_INFO, info]) == 0  # default threshold: warning
    assert main(["lint", *WITH_INFO, "--fail-on", "info", info]) == 1
    assert main(["lint", *WITH_INFO, "--fail-on", "style", "--severity", "DK604=ignore", info]) == 0


def test_parse_errors_always_fail(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = put(tmp_path, "typo.def", TYPO)
    assert main(["lint", *OWN, "--fail-on", "none", typo]) == 1
    assert main(["lint", *OWN, "--fail-on", "none", "--severity", "DK002=style", typo]) == 1
    out = capsys.readouterr().out
    assert (
        f"{typo}:4:2: DK002 [unknown-section] unknown section %lables; did you mean %labels?" in out
    )
    assert "    4 | %lables\n      |  ^^^^^^" in out


def test_text_output_has_colour_only_when_asked(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = put(tmp_path, "typo.def", TYPO)
    main(["lint", *OWN, typo])
    assert "\x1b[" not in capsys.readouterr().out
    main(["lint", *OWN, "--color", typo])
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("FORCE_COLOR", "1")
    main(["lint", *OWN, typo])
    assert "\x1b[" in capsys.readouterr().out
    main(["lint", *OWN, "--no-color", typo])
    assert "\x1b[" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--extend-ignore", "unknown-sectoin"], "did you mean 'unknown-section'?"),
        (["--severity", "DK002"], "expected RULE=LEVEL"),
        (["--arch", "sparc"], "--arch 'sparc'"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["lint", *OWN, *args, put(tmp_path, "clean.def", CLEAN)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file_and_bad_config_exit_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", *OWN, str(tmp_path / "nope.def")]) == 2
    assert "no such file" in capsys.readouterr().err
    put(tmp_path, "proj/.defkit.yaml", "fail_on: error\n")
    target = put(tmp_path, "proj/x.def", CLEAN)
    assert main(["lint", *OWN, target]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"{tmp_path}/proj/.defkit.yaml:1:1: error: unknown key 'fail_on'; did you mean 'fail-on'?"
    )


def test_rule_crash_is_an_internal_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from defkit.lint.rules import dk002_unknown_section

    def broken(ctx: object) -> object:
        raise ValueError("boom")

    monkeypatch.setattr(dk002_unknown_section, "check", broken)
    assert main(["lint", *OWN, put(tmp_path, "typo.def", TYPO)]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "DK002" in err


def test_fix_writes_and_diff_does_not(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = put(tmp_path, "typo.def", TYPO)
    assert main(["lint", *OWN, "--diff", typo]) == 1
    out = capsys.readouterr().out
    assert "-%lables\n+%labels\n" in out
    assert pathlib.Path(typo).read_text() == TYPO
    assert main(["lint", *OWN, "--fix", typo]) == 0
    assert pathlib.Path(typo).read_text() == TYPO.replace("%lables", "%labels")
    assert "applied 1 fix" in capsys.readouterr().err
    assert main(["lint", *OWN, "--diff", typo]) == 0


def test_statistics_output_file_and_formats(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo, info = put(tmp_path, "a/typo.def", TYPO), put(tmp_path, "a/Singularity", INFO_ONLY)
    put(tmp_path, "a/notes.txt", "%lables\n")  # not a definition file name: not searched
    assert main(["lint", *WITH_INFO, "--statistics", str(tmp_path / "a")]) == 1
    out = capsys.readouterr().out
    assert "     1  DK002   unknown-section  [*]" in out and "DK604" in out
    report = tmp_path / "report.json"
    assert main(["lint", *WITH_INFO, "-f", "json", "-o", str(report), typo, info]) == 1
    assert capsys.readouterr().out == ""
    findings = json.loads(report.read_text())
    assert {f["code"] for f in findings} == {"DK002", "DK604"}
    assert set(findings[0]) == {
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "code",
        "name",
        "severity",
        "message",
        "fixable",
    }


def test_windows_module_definition_is_skipped(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = put(tmp_path, "mylib.def", 'LIBRARY "mylib"\nEXPORTS\n    init @1\n')
    assert main(["lint", *OWN, module]) == 0
    assert "No problems found in 0 files." in capsys.readouterr().out


def test_rules_and_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for listed in RULES:
        assert listed.CODE in out and listed.NAME in out
    assert main(["rules", "-f", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(RULES)
    assert main(["rules", "-f", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert all(f"## {listed.NAME}\n\n`{listed.CODE}`" in markdown for listed in RULES)
    assert "\n### What it does\n" in markdown
    assert main(["rule", "unknown-section"]) == 0
    assert "## Why it matters" in capsys.readouterr().out
    assert main(["rule", "dk002"]) == 0
    assert capsys.readouterr().out.startswith("DK002 unknown-section (error, fixable)")
    assert main(["rule", "unknown-sections"]) == 2
    assert "did you mean 'unknown-section'?" in capsys.readouterr().err
    assert main(["rule", "SC2086"]) == 0
    assert "shellcheck.net/wiki/SC2086" in capsys.readouterr().out


def test_no_fail_and_standard_input(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    typo = put(tmp_path, "typo.def", TYPO)
    assert main(["lint", *OWN, "--no-fail", typo]) == 0
    capsys.readouterr()
    stdin = io.TextIOWrapper(io.BytesIO(TYPO.encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["lint", *OWN, "--no-source", "--stdin-filename", "Singularity", "-"]) == 1
    assert capsys.readouterr().out.startswith("Singularity:4:2: DK002 [unknown-section]")


def test_library_api_uses_each_files_configuration(tmp_path: pathlib.Path) -> None:
    from defkit.lint import LintOptions, lint_paths
    from defkit.lint.config import Overrides

    put(tmp_path, "quiet/.defkit.yaml", "ignore: [unknown-section]\n")
    loud, quiet = put(tmp_path, "loud/a.def", TYPO), put(tmp_path, "quiet/a.def", TYPO)
    results = lint_paths(
        [loud, quiet], LintOptions(overrides=Overrides(select=("DK0",)), shellcheck=False)
    )
    assert [[p.code for p in r.problems] for r in results] == [["DK002"], []]


def test_unwritable_output_is_one_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = put(tmp_path, "typo.def", TYPO)
    missing_dir = tmp_path / "no" / "such" / "dir" / "report.json"
    assert main(["lint", *OWN, "-f", "json", "-o", str(missing_dir), typo]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {missing_dir}: cannot write") and "\n" not in err


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("empty.def", b"", "1:1: DK001 [parse-error] no stages found in definition file"),
        ("notes.def", b"# only\n# comments\n", "1:1: DK001 [parse-error] no stages found in "
         "definition file"),
        ("Dockerfile", b"FROM ubuntu:22.04\nRUN ls\n", "1:1: DK003 [unknown-header-key] not a "
         "`Key: value` header line (Apptainer reads the key as 'FROM ubuntu')"),
        ("blob.def", b"\x7fELF\x02\x01\x01\x00\xd0\xff\x1b[31m", "1:9: DK001 [parse-error] the "
         "file is not valid UTF-8 (byte 0xd0)"),
    ],
)
def test_files_that_are_not_definition_files_get_the_one_parse_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, error: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["lint", str(path)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if "DK" in line or "SC" in line]
    assert len(problems) == 1 and problems[0].endswith(error[error.index("DK"):])
    assert f"{name}:{error.split(':')[0]}:{error.split(':')[1]}:" in problems[0]
    assert "\x1b" not in out and "\ufffd" not in out and "ELF" not in out  # bytes never shown


def test_a_failing_run_is_decided_by_the_results(tmp_path: pathlib.Path) -> None:
    from defkit.lint import LintOptions, lint_paths
    from defkit.lint.config import Overrides
    from defkit.report import Report

    warning = put(tmp_path, "w.def", "Bootstrap: docker\nFrom: alpine\n%labels\n  Author: me\n")
    loud = lint_paths([warning], LintOptions(overrides=Overrides(select=("DK403",))))
    quiet = lint_paths(
        [warning], LintOptions(overrides=Overrides(select=("DK403",), fail_on="error"))
    )
    assert [r.failed for r in loud] == [True] and Report(loud).failed
    assert [r.failed for r in quiet] == [False] and not Report(quiet).failed


@pytest.mark.parametrize("text", ["\ud800", "Bootstrap: docker\nFrom: x\ud800y\n", "\udcff\udfff"])
def test_lint_text_with_any_surrogate_reports_invalid_utf8(text: str) -> None:
    # Text from the API may hold surrogates surrogateescape never makes (the fuzz target found
    # '\ud800' crashing the linter); it is reported as invalid UTF-8 like undecodable bytes.
    from defkit.lint.config import LintConfig
    from defkit.lint.linter import lint_text

    result = lint_text(text, "x.def", LintConfig(), shellcheck=False)
    assert [(p.code, p.message) for p in result.problems] == [
        ("DK001", "the file is not valid UTF-8 (byte 0xed)")
    ]
