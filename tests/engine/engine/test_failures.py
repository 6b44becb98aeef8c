"""Failing sections, interrupted builds and hostile %files: clear errors, nothing left behind."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from defkit.engine import trace
from defkit.engine.context import Event, StepStarted
from defkit.errors import BuildError
from tests.engine.engine.helpers import build_def, leftovers, write_def


def _error(path: pathlib.Path, **options: object) -> BuildError:
    with pytest.raises(BuildError) as caught:
        build_def(path, **options)  # type: ignore[arg-type]
    return caught.value


def test_post_failure_names_the_line_and_exit_code(project: pathlib.Path) -> None:
    path = write_def(project, """
%post
    echo one
    # a comment

    if true; then
        sh -c 'exit 2'
    fi
    echo never
""")
    error = _error(path)
    # The header takes lines 1-2, the blank line 3, `%post` line 4; `sh -c 'exit 2'` is line 9.
    assert error.format() == (
        f"{path}:9:9: error: %post failed (exit 2) at: sh -c 'exit 2'")
    assert not (project / "image.sif").exists()
    assert leftovers(project / "work") == []


def test_second_post_section_lines_are_mapped(project: pathlib.Path) -> None:
    path = write_def(project, """
%post
    true
%runscript
    echo hi
%post
    false
""")
    error = _error(path)
    assert error.span is not None and error.span.line == 9
    assert "%post failed (exit 1) at: false" in error.message


def test_trace_fallback_matches_commands_without_line_numbers() -> None:
    """dash leaves ${LINENO} empty in PS4: the traced command is matched to the script text."""
    script = trace.script_from_body("cd /tmp\nmkdir -p \"$HOME/x\"\ncd /tmp\nfalse\n", 10)
    traces = [trace.TraceLine(None, c) for c in ("cd /tmp", "mkdir -p /root/x", "cd /tmp")]
    assert trace.locate(script, traces) == 12  # the second `cd /tmp`, not the first
    assert trace.locate(script, [trace.TraceLine(None, "unknown-cmd")]) is None
    assert trace.display("+[7] echo hi") == "+ echo hi"
    assert trace.display("++[] date") == "++ date"


def test_post_failure_without_trace_points_at_the_section(project: pathlib.Path) -> None:
    path = write_def(project, """
%post -c /bin/sh
    exit 5
""")
    error = _error(path)
    assert error.span is not None and error.span.line == 4
    assert error.message.startswith("%post failed (exit 5)")


def test_failing_test_stops_the_build_and_notest_skips_it(project: pathlib.Path) -> None:
    path = write_def(project, """
%test
    echo checking
    exit 3
""")
    error = _error(path)
    # The failing line, as for %post (the test runs traced).
    assert error.message == "%test failed (exit 3) at: exit 3" and error.span is not None
    assert error.span.line == 6
    assert not (project / "image.sif").exists()
    assert leftovers(project / "work") == []
    build_def(path, notest=True)
    assert (project / "image.sif").exists()


def test_test_cannot_modify_the_image(project: pathlib.Path) -> None:
    path = write_def(project, """
%test
    touch /written-by-test
""")
    assert "%test failed" in _error(path).message


def test_keyboard_interrupt_leaves_nothing(project: pathlib.Path) -> None:
    path = write_def(project, "\n%post\n    true\n")

    def interrupt(event: Event) -> None:
        if isinstance(event, StepStarted) and event.step == "squashfs":
            raise KeyboardInterrupt

    from defkit.engine.engine import build

    with pytest.raises(KeyboardInterrupt):
        build(str(path), workdir=str(project / "work"), progress=interrupt, force=True)
    assert not (project / "image.sif").exists()
    assert leftovers(project / "work") == []


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_post_cleans_up(project: pathlib.Path, signum: int) -> None:
    marker = "29.4321" if signum == signal.SIGINT else "29.4322"
    write_def(project, f"\n%post\n    echo started\n    sleep {marker}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "defkit", "build", "--workdir", "work", "image.def"],
        cwd=project, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("+ sleep"):
            break
    time.sleep(0.3)
    # Ctrl-C reaches the whole foreground process group; a CI cancel sends SIGTERM to defkit.
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 130, rest
    assert "interrupted" in rest
    assert not (project / "image.sif").exists()
    assert leftovers(project / "work") == []
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []


# --- %files ----------------------------------------------------------------------------------


def test_files_from_host_relative_to_the_def_file(project: pathlib.Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "data").mkdir()
    (project / "data" / "a.txt").write_text("A")
    (project / "data" / "b.txt").write_text("B")
    path = write_def(project, """
%files
    data/a.txt /opt/a.txt
    data/*.txt /globbed/
    data/b.txt
""")
    monkeypatch.chdir("/")
    target = project / "sandbox"
    build_def(path, sandbox=str(target))
    assert (target / "opt" / "a.txt").read_text() == "A"
    assert sorted(os.listdir(target / "globbed")) == ["a.txt", "b.txt"]
    assert (target / "data" / "b.txt").read_text() == "B"


def test_files_from_another_stage(project: pathlib.Path) -> None:
    path = project / "multi.def"
    path.write_text("""Bootstrap: localimage
From: ./rootfs
Stage: builder

%post
    mkdir -p /out
    echo artefact > /out/result
    ln -s result /out/link

Bootstrap: localimage
From: ./rootfs
Stage: final

%files from builder
    /out/result /app/result
    /out/link /app/link

%runscript
    cat /app/link
""")
    target = project / "sandbox"
    build_def(path, sandbox=str(target))
    assert (target / "app" / "result").read_text() == "artefact\n"
    assert os.readlink(target / "app" / "link") == "result"
    assert not (target / "out").exists()
    embedded = (target / ".singularity.d" / "Singularity").read_text()
    assert "Stage: builder" in embedded and "Stage: final" in embedded


def test_files_destination_climbing_above_the_root_is_refused(project: pathlib.Path) -> None:
    (project / "payload.txt").write_text("x")
    path = write_def(project, "\n%files\n    payload.txt ../../../../../../../../tmp/"
                              "defkit-escape-dst\n")
    error = _error(path)
    assert error.span is not None and error.span.line == 5
    assert not os.path.exists("/tmp/defkit-escape-dst")
    assert leftovers(project / "work") == []


def test_files_through_a_symlink_climbing_out_stay_inside(project: pathlib.Path) -> None:
    # /evil climbs out of the rootfs: its `..` stop at the image's `/`, as in the container.
    (project / "payload.txt").write_text("x")
    outside = project / "outside"
    outside.mkdir()
    os.symlink("../../../../../../../../../../" + str(outside).lstrip("/"),
               project / "rootfs" / "evil")
    path = write_def(project, "\n%files\n    payload.txt /evil/escaped\n")
    target = project / "sandbox"
    build_def(path, sandbox=str(target))
    assert os.listdir(outside) == []
    assert (target / str(outside).lstrip("/") / "escaped").read_text() == "x"


def test_files_from_a_stage_refuses_escaping_sources(project: pathlib.Path) -> None:
    path = project / "multi.def"
    path.write_text("""Bootstrap: localimage
From: ./rootfs
Stage: one

Bootstrap: localimage
From: ./rootfs

%files from one
    ../../../../../../etc/passwd /stolen
""")
    error = _error(path)
    assert "%files from one" in error.message
    assert error.span is not None and error.span.line == 9


def test_missing_files_source_is_reported_at_its_line(project: pathlib.Path) -> None:
    error = _error(write_def(project, "\n%files\n    nothere.txt /x\n"))
    assert error.span is not None and error.span.line == 5
    assert "nothere.txt does not exist" in error.message


def test_section_gate_skips_sections(project: pathlib.Path) -> None:
    path = write_def(project, """
%setup
    touch "$APPTAINER_ROOTFS/from-setup"
%post
    touch /from-post
""")
    target = project / "sandbox"
    build_def(path, sandbox=str(target), sections=("post",))
    assert (target / "from-post").exists() and not (target / "from-setup").exists()


def test_unknown_bootstrap_fails_before_anything_runs(project: pathlib.Path) -> None:
    path = write_def(project, "\n%setup\n    touch /tmp/defkit-should-not-run\n",
                     header="Bootstrap: Docker\nFrom: alpine\n")
    error = _error(path)
    assert "invalid build source Docker" in error.message
    assert not os.path.exists("/tmp/defkit-should-not-run")
