"""`defkit convert` on the command line: directions, stdin, -o, notes, exit codes."""

from __future__ import annotations

import json
import pathlib

import pytest

from defkit.cli import main

DOCKERFILE = """FROM alpine:3.20
ENV GREETING=hello
USER nobody
CMD ["sh", "-c", "echo $GREETING"]
"""


def test_dockerfile_to_def_on_stdout(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    assert main(["convert", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# Converted from")
    assert "Bootstrap: docker\nFrom: alpine:3.20\n" in out
    assert f"{path}:3:1: warning: USER nobody" in err


def test_output_file_and_json_report(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    target = tmp_path / "out.def"
    assert main(["convert", str(path), "-o", str(target), "--json-report"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert target.read_text().startswith("# Converted from")
    report = json.loads(err)
    assert report["to"] == "def" and report["stages"] == ["stage-0"]
    assert report["notes"][0]["severity"] == "info" or report["notes"][0]["line"] >= 1
    assert not list(tmp_path.glob(".defkit-*"))  # the temporary file was renamed


def test_stdin_is_sniffed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(DOCKERFILE.encode())))
    assert main(["convert", "-"]) == 0
    assert "Bootstrap: docker" in capsys.readouterr().out


def test_def_to_dockerfile_by_file_name(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "app.def"
    path.write_text("Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n    apk add curl\n")
    assert main(["convert", str(path)]) == 0
    out = capsys.readouterr().out
    assert "FROM alpine:3.20 AS stage-0" in out
    assert "RUN <<'DEFKIT_EOF'\nset -e\n    apk add curl\nDEFKIT_EOF" in out


def test_build_arg_and_target(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("ARG V=1\nFROM alpine:${V} AS a\nFROM busybox AS b\n")
    assert main(["convert", str(path), "--build-arg", "V=2", "--target", "a"]) == 0
    out = capsys.readouterr().out
    assert "From: alpine:{{ V }}" in out and "    V=2\n" in out and "busybox" not in out


def test_bad_input_is_one_positioned_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine\nRUN <<EOF\necho never terminated\n")
    assert main(["convert", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:2:") and ": error: " in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_windows_image_converts_with_a_warning(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# escape=`\nFROM mcr.microsoft.com/windows/nanoserver:1809\n"
                    "RUN echo one && `\n    echo two\n")
    assert main(["convert", "-q", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"{path}:2:1: warning: Windows base image: Apptainer runs Linux containers only; "
        "this .def documents the build but cannot be built or run by Apptainer\n"
    )
    # Windows' default SHELL gets the RUN text through a quoted here-document.
    assert "exec cmd /S /C \"$(cat <<'DEFKIT_RUN'\necho one &&     echo two\nDEFKIT_RUN\n" in (
        captured.out
    )


def test_bad_def_input_exits_1(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.def"
    path.write_text("Bootstrap: docker\nFrom: alpine\n%bogus\n")
    assert main(["convert", str(path)]) == 1
    assert ": error: " in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "--build-arg", "NOEQUALS", "Dockerfile"],
        ["convert", "--to", "yaml", "Dockerfile"],
        ["convert", "/nonexistent/Dockerfile"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str],
                             tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    assert main(argv) == 2


def test_target_options_refused_for_def_input(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.def"
    path.write_text("Bootstrap: docker\nFrom: alpine\n")
    assert main(["convert", str(path), "--target", "x"]) == 2


def test_dockerignore_from_the_context(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine\nCOPY . /src\n")
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert main(["convert", str(tmp_path / "Dockerfile")]) == 0
    out, err = capsys.readouterr()
    assert "defkit_ignore /.defkit/2.1/context ." in out and "no .dockerignore" not in err
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert main(["convert", str(tmp_path / "Dockerfile"), "--context", str(other)]) == 0
    out, err = capsys.readouterr()
    assert "defkit_ignore" not in out and "no .dockerignore given" in err


def test_quiet_hides_info_notes(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE + "EXPOSE 80\n")
    assert main(["convert", "-q", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: USER nobody" in err and "info:" not in err
