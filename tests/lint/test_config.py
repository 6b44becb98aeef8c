"""Configuration files: discovery, every key, positioned errors with did-you-mean, CLI overrides."""

from __future__ import annotations

import pathlib

import pytest

from defkit.errors import ConfigError
from defkit.lint.config import (
    LintConfig,
    Overrides,
    config_for,
    find_config_file,
    load_config,
    merge,
)
from defkit.lint.config_file import read_config
from tests.lint.helpers import lint, own, positions


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key(tmp_path: pathlib.Path) -> None:
    config = read_config(
        str(
            write(
                tmp_path / ".defkit.yaml",
                """\
select: [DK0, unknown-section]
extend-select: [unused-ignore]
ignore: DK003, unknown-section
severity: {DK001: warning, SC2086: ignore}
per-file-ignores:
  "legacy/*.def": [DK002]
options: {}
arch: aarch64
build-mode: root
flavour: singularityce
trusted-registries: ["docker.io", "*.example.org"]
required-labels: [Author]
fail-on: error
inline-ignores: false
shellcheck:
  enabled: true
  exclude: [SC2034]
  severity: warning
  extended-analysis: false
  enable: [require-variable-braces]
""",
            )
        )
    )
    assert config.select == ("DK0", "unknown-section")
    assert config.extend_select == ("unused-ignore",)
    assert config.ignore == ("DK003", "unknown-section")
    assert config.severity == {"DK001": "warning", "SC2086": "ignore"}
    assert config.settings.arch == "arm64"
    assert config.settings.build_mode == "root"
    assert config.settings.flavour == "singularityce"
    assert config.settings.trusted_registries == ("docker.io", "*.example.org")
    assert config.settings.required_labels == ("Author",)
    assert config.fail_on == "error"
    assert config.inline_ignores is False
    assert config.shellcheck.exclude == ("SC2034",)
    assert config.shellcheck.severity == "warning"
    assert config.shellcheck.extended_analysis is False
    assert config.ignores_for(str(tmp_path / "legacy" / "old.def"))[-1] == "DK002"
    assert "DK002" not in config.ignores_for(str(tmp_path / "new.def"))


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("selct: [DK001]\n", 1, 1, "unknown key 'selct'; did you mean 'select'?"),
        ("ignore:\n  - DK001\n  - unknown-sectoin\n", 3, 5, "did you mean 'unknown-section'?"),
        ("fail-on: warn\n", 1, 1, "invalid fail-on 'warn'; did you mean 'warning'?"),
        ("arch: sparc\n", 1, 1, "unknown arch 'sparc'"),
        ("shellcheck:\n  exlude: [SC2086]\n", 2, 3, "did you mean 'exclude'?"),
        ("severity: {DK001: fatal}\n", 1, 12, "invalid DK001 'fatal'"),
        ("select: [DK001\n", 2, 1, "invalid YAML"),
        ("- DK001\n", None, None, "must be a mapping"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: pathlib.Path, text: str, line: int | None, column: int | None, message: str
) -> None:
    path = write(tmp_path / ".defkit.yaml", text)
    with pytest.raises(ConfigError) as caught:
        read_config(str(path))
    error = caught.value
    assert error.exit_code == 2
    assert message in error.message
    assert error.path == str(path)
    if line is not None:
        assert error.span is not None and (error.span.line, error.span.column) == (line, column)
    assert error.format().startswith(str(path))


def test_pyproject_table_and_discovery(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.defkit]\nignore = ["DK002"]\n'
    )
    nested = write(tmp_path / "a" / "b" / "Singularity", "Bootstrap: docker\n")
    assert find_config_file(str(nested)) == str(tmp_path / "pyproject.toml")
    assert config_for(str(nested)).ignore == ("DK002",)


def test_pyproject_error_points_at_the_key(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[tool.defkit]\nfail-on = "error"\nignre = []\n')
    with pytest.raises(ConfigError) as caught:
        read_config(str(path))
    assert caught.value.span is not None and caught.value.span.line == 3
    assert "did you mean 'ignore'" in caught.value.message


def test_nearest_file_wins_and_pyproject_without_table_is_skipped(tmp_path: pathlib.Path) -> None:
    write(tmp_path / ".defkit.yaml", "fail-on: error\n")
    write(tmp_path / "sub" / "pyproject.toml", '[project]\nname = "x"\n')
    inner = write(tmp_path / "sub" / "deeper" / ".defkit.yml", "fail-on: style\n")
    assert find_config_file(str(tmp_path / "sub" / "x.def")) == str(tmp_path / ".defkit.yaml")
    assert find_config_file(str(inner.parent / "x.def")) == str(inner)


def test_empty_file_gives_defaults(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / ".defkit.yaml", "# nothing yet\n")
    assert load_config(str(path)).fail_on == LintConfig().fail_on


def test_command_line_overrides_the_file() -> None:
    config = own(select=("DK0",), ignore=("DK002",), fail_on="error", severity={"DK001": "info"})
    merged = merge(
        config,
        Overrides(
            ignore=("DK003",),
            extend_ignore=("DK004",),
            fail_on="style",
            severity={"DK001": "error"},
            arch="arm64",
            shellcheck=False,
        ),
    )
    assert merged.select == ("DK0",)
    assert merged.ignore == ("DK003", "DK004")
    assert merged.fail_on == "style"
    assert merged.severity["DK001"] == "error"
    assert merged.settings.arch == "arm64"
    assert merged.shellcheck.enabled is False


def test_selection_and_severity_change_the_findings() -> None:
    text = """\
    Bootsrap: docker
    %lables
        a b
    """
    framework = ("DK0",)  # the framework's rules only, so new rules do not change this test
    assert {c for c, _, _ in positions(lint(text, own(select=framework)))} == {"DK002", "DK003"}
    assert {c for c, _, _ in positions(lint(text, own(select=("DK002",))))} == {"DK002"}
    assert {
        c for c, _, _ in positions(lint(text, own(select=framework, ignore=("DK00",))))
    } == set()
    levels = {"unknown-section": "info", "DK0": "style"}
    relevelled = lint(text, own(select=framework, severity=levels))
    assert {p.code: p.severity for p in relevelled.problems} == {"DK002": "info", "DK003": "style"}
    dropped = lint(text, own(select=framework, severity={"DK003": "ignore"}))
    assert {c for c, _, _ in positions(dropped)} == {"DK002"}


def test_standalone_toml_file(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "lint.toml", 'ignore = ["DK002"]\n\n[shellcheck]\nenabled = false\n')
    config = read_config(str(path))
    assert config.ignore == ("DK002",) and config.shellcheck.enabled is False
    write(tmp_path / "bad.toml", 'fail-on = "error"\nsellect = []\n')
    with pytest.raises(ConfigError) as caught:
        read_config(str(tmp_path / "bad.toml"))
    assert caught.value.span is not None and caught.value.span.line == 2
