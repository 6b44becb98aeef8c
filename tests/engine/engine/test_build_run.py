"""Build busybox images for real, then inspect, run and test them (as root and rootless)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import pytest

from defkit.engine.context import Notice, Warning
from defkit.runtime import run_action
from defkit.sif.reader import read_sif
from tests.engine.engine.helpers import build_def, defkit, write_def

HELLO = """
%help
    Greets.

%labels
    Author defkit
    Version 1.0

%environment
    export GREETING="Hello"
    export FROM_ENV=yes

%post
    mkdir -p /opt/hello
    echo "stamp" > /opt/hello/stamp
    echo "org.example.post from-post" >> "$APPTAINER_LABELS"
    echo 'export POST_ENV=written' >> "$APPTAINER_ENVIRONMENT"

%runscript
    echo "$GREETING: $# args:"
    for a in "$@"; do echo "[$a]"; done

%test
    test -f /opt/hello/stamp
"""


def test_build_inspect_run_test_as_root(project: pathlib.Path) -> None:
    sif = build_def(write_def(project, HELLO))
    assert sif == str(project / "image.sif")
    image = read_sif(sif)
    assert image.arch == "amd64"
    code, out = run_action(sif, "run", ["a b", "c"], capture=True)
    assert code == 0
    assert out.decode().splitlines() == ["Hello: 2 args:", "[a b]", "[c]"]
    code, out = run_action(sif, "exec", ["sh", "-c", 'echo "$FROM_ENV $POST_ENV"; exit 3'],
                           capture=True)
    assert (code, out.decode().strip()) == (3, "yes written")
    assert run_action(sif, "test", capture=True)[0] == 0
    inspected = defkit("inspect", "--json", sif)
    assert inspected.returncode == 0, inspected.stderr
    labels = json.loads(inspected.stdout)["data"]["attributes"]["labels"]
    assert labels["Author"] == "defkit"
    assert labels["org.example.post"] == "from-post"


@pytest.mark.skipif(shutil.which("siftool") is None, reason="siftool (Debian) not installed")
def test_siftool_reads_the_image(project: pathlib.Path) -> None:
    sif = build_def(write_def(project, HELLO))
    listed = subprocess.run(["siftool", "list", sif], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "Def.FILE" in listed.stdout and "FS (Squashfs/*System/amd64)" in listed.stdout
    info = subprocess.run(["siftool", "info", "3", sif], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "Squashfs" in info.stdout


def test_two_builds_are_byte_identical(project: pathlib.Path) -> None:
    path = write_def(project, HELLO)
    first = pathlib.Path(build_def(path, output=str(project / "one.sif")))
    # Touch the inputs: new mtimes must not change the image.
    os.utime(project / "rootfs" / "bin" / "busybox")
    second = pathlib.Path(build_def(path, output=str(project / "two.sif")))
    assert first.read_bytes() == second.read_bytes()


def test_rootless_fakeroot_build_equals_root_build(project: pathlib.Path) -> None:
    path = write_def(project, HELLO)
    events: list[object] = []
    rootless = build_def(path, output=str(project / "rootless.sif"), fakeroot=True,
                         events=events)  # type: ignore[arg-type]
    root = build_def(path, output=str(project / "root.sif"))
    assert pathlib.Path(rootless).read_bytes() == pathlib.Path(root).read_bytes()
    assert any(isinstance(e, Notice) and "glibc" in e.message for e in events)


def _unprivileged_python() -> tuple[list[str], dict[str, str]] | None:
    """A python and PYTHONPATH user 65534 can use (the venv's python may live under /root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    import site
    import sys

    paths = [str(pathlib.Path(__file__).resolve().parents[3]), *site.getsitepackages()]
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c",
             "import click, rich, lark, defkit"],
            env={**os.environ, "PYTHONPATH": ":".join(paths)}, capture_output=True)
        if probe.returncode == 0:
            return (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m",
                     "defkit"], {**os.environ, "PYTHONPATH": ":".join(paths), "HOME": "/tmp"})
    return None


def test_build_and_run_as_an_unprivileged_user(busybox_template: pathlib.Path) -> None:
    """Really unprivileged (spec §7.2 tip): setpriv to nobody, fakeroot chosen automatically."""
    found = _unprivileged_python()
    if found is None:
        pytest.skip("needs root (to become nobody with setpriv) and a python nobody can run")
    command, env = found
    import tempfile

    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-rootless-test-"))
    try:
        os.chmod(base, 0o777)
        shutil.copytree(busybox_template, base / "rootfs", symlinks=True)
        subprocess.run(["chown", "-R", "65534:65534", str(base)], check=True)
        write_def(base, HELLO)
        (base / "work").mkdir()
        os.chown(base / "work", 65534, 65534)
        built = subprocess.run([*command, "build", "--workdir", "work", "image.def"], cwd=base, capture_output=True,
                               text=True, timeout=120,
                               env={**env, "SOURCE_DATE_EPOCH": "1700000000"})
        assert built.returncode == 0, built.stderr
        assert "building rootless with --fakeroot" in built.stderr
        ran = subprocess.run([*command, "run", "image.sif", "x"], cwd=base, capture_output=True,
                             text=True, timeout=60, env=env)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines() == ["Hello: 1 args:", "[x]"]
        tested = subprocess.run([*command, "test", "image.sif"], cwd=base, capture_output=True,
                                timeout=60, env=env)
        assert tested.returncode == 0
        # The builder's files are root's in the image, as with Apptainer --fakeroot.
        from defkit.squashfs import unsquash_list

        entries = unsquash_list(base / "image.sif", read_sif(base / "image.sif").partition_offset)
        assert entries and {(e.uid, e.gid) for e in entries} == {(0, 0)}
        assert os.listdir(base / "work") == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_sandbox_output_runs(project: pathlib.Path) -> None:
    target = project / "sandbox"
    build_def(write_def(project, HELLO), sandbox=str(target))
    assert (target / "opt" / "hello" / "stamp").read_text() == "stamp\n"
    assert (target / ".singularity.d" / "runscript").exists()
    code, out = run_action(str(target), "run", ["z"], capture=True)
    assert code == 0 and out.decode().splitlines()[-1] == "[z]"
    assert not list(project.glob(".sandbox.*"))


def test_cli_build_run_exit_codes(project: pathlib.Path) -> None:
    write_def(project, HELLO + "\n%startscript\n    true\n")
    built = defkit("build", "--quiet", "image.def", cwd=str(project),
                   env={"SOURCE_DATE_EPOCH": "1"})
    assert built.returncode == 0, built.stderr
    assert built.stderr == ""
    again = defkit("build", "--quiet", "image.def", cwd=str(project))
    assert again.returncode == 2 and "--force" in again.stderr
    ran = defkit("run", "image.sif", "--flag", "x", cwd=str(project))
    assert ran.returncode == 0 and ran.stdout.splitlines() == ["Hello: 2 args:", "[--flag]",
                                                               "[x]"]
    failed = defkit("exec", "image.sif", "sh", "-c", "exit 42", cwd=str(project))
    assert failed.returncode == 42
    missing = defkit("run", "nope.sif", cwd=str(project))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_cli_json_log(project: pathlib.Path) -> None:
    write_def(project, HELLO)
    built = defkit("build", "--json", "--force", "image.def", cwd=str(project))
    assert built.returncode == 0, built.stderr
    records = [json.loads(line) for line in built.stdout.splitlines()]
    kinds = [r["event"] for r in records]
    assert kinds[0] == "build-started" and kinds[-1] == "build-finished"
    assert {"stage-started", "step-started", "step-finished", "output"} <= set(kinds)
    steps = [r["step"] for r in records if r["event"] == "step-started"]
    assert steps == ["bootstrap", "%post", "metadata", "%test", "squashfs", "sif"]


def test_plain_progress_when_not_a_tty(project: pathlib.Path) -> None:
    write_def(project, HELLO)
    built = defkit("build", "--force", "image.def", cwd=str(project))
    assert built.returncode == 0
    assert "==> stage 1/1 (Bootstrap: localimage)" in built.stderr
    assert "--> %post" in built.stderr and "+ mkdir -p /opt/hello" in built.stderr
    assert "defkit: built" in built.stderr


def test_setup_runs_on_the_host_with_a_warning(project: pathlib.Path) -> None:
    events: list[object] = []
    path = write_def(project, """
%setup
    touch "$APPTAINER_ROOTFS/from-setup"
    test "$SINGULARITY_ROOTFS" = "$APPTAINER_ROOTFS"
    test "$APPTAINER_ENVIRONMENT" = /.singularity.d/env/91-environment.sh
""")
    sif = build_def(path, events=events)  # type: ignore[arg-type]
    assert any(isinstance(e, Warning) and "runs on the host" in e.message for e in events)
    assert run_action(sif, "exec", ["test", "-f", "/from-setup"], capture=True)[0] == 0


def test_post_with_another_shell(project: pathlib.Path) -> None:
    sif = build_def(write_def(project, """
%post -c /bin/sh
    false
    echo "survived" > /shell-was
"""))
    # `/bin/sh -ex -c "/bin/sh /.post.script"`: the inner shell has no -e (spec §9).
    code, out = run_action(sif, "exec", ["cat", "/shell-was"], capture=True)
    assert out.decode().strip() == "survived"


def test_build_args_are_substituted_and_not_logged(project: pathlib.Path) -> None:
    events: list[object] = []
    path = write_def(project, """
%post
    echo "{{ TOKEN }}" > /token
""")
    sif = build_def(path, events=events, build_args={"TOKEN": "s3cr3t-value"})  # type: ignore[arg-type]
    assert "s3cr3t-value" not in repr(events)
    code, out = run_action(sif, "exec", ["cat", "/token"], capture=True)
    assert out.decode().strip() == "s3cr3t-value"
