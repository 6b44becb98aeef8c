"""`--engine apptainer`: Apptainer cannot be installed on this machine, so these tests put a
STAND-IN `apptainer` executable first on PATH. It records its arguments and environment and writes
a sandbox (a copy of the busybox rootfs plus a runscript), which is what `apptainer build
--sandbox` would leave. What is tested for real: the flags defkit passes, and that defkit packs
the sandbox into a reproducible SIF that runs."""

from __future__ import annotations

import json
import os
import pathlib
import stat

import pytest

from defkit.engine.apptainer_engine import apptainer_argv, build_with_apptainer, find_apptainer
from defkit.runtime import run_action
from tests.engine.engine.helpers import defkit, write_def

STAND_IN = """#!/bin/sh
# Stand-in for apptainer (NOT the real one): records argv, writes the sandbox given to --sandbox.
python3 - "$@" <<'PY'
import json, os, shutil, sys
args = sys.argv[1:]
record = os.environ["STANDIN_RECORD"]
with open(record, "a") as f:
    f.write(json.dumps({"argv": args, "sde": os.environ.get("SOURCE_DATE_EPOCH")}) + "\\n")
if os.environ.get("STANDIN_FAIL"):
    print("FATAL: stand-in asked to fail", file=sys.stderr)
    sys.exit(255)
target = args[args.index("--sandbox") + 1]
shutil.copytree(os.environ["STANDIN_ROOTFS"], target, symlinks=True)
sd = os.path.join(target, ".singularity.d")
os.makedirs(os.path.join(sd, "actions"), exist_ok=True)
with open(os.path.join(sd, "runscript"), "w") as f:
    f.write("#!/bin/sh\\necho from-apptainer-sandbox \\"$@\\"\\n")
os.chmod(os.path.join(sd, "runscript"), 0o755)
with open(os.path.join(sd, "Singularity"), "w") as f:
    f.write(open(args[-1]).read())
print("INFO:    Build complete:", target)
PY
"""


@pytest.fixture()
def stand_in(project: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    bindir = project / "bin"
    bindir.mkdir()
    exe = bindir / "apptainer"
    exe.write_text(STAND_IN)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    record = project / "record.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    monkeypatch.setenv("STANDIN_ROOTFS", str(project / "rootfs"))
    return record


def test_argv_carries_the_users_flags() -> None:
    argv = apptainer_argv("apptainer", "/x/a.def", "/tmp/sb", fakeroot=True,
                          build_args={"A": "1"}, warn_unused_build_args=True,
                          sections=("post", "files"), notest=True, force=True, arch=None)
    assert argv == ["apptainer", "build", "--fakeroot", "--build-arg", "A=1",
                    "--warn-unused-build-args", "--section", "post,files", "--notest", "--force",
                    "--sandbox", "/tmp/sb", "/x/a.def"]


def test_stand_in_build_is_packed_reproducibly(project: pathlib.Path,
                                               stand_in: pathlib.Path) -> None:
    assert find_apptainer() == str(project / "bin" / "apptainer")
    path = write_def(project, "\n%post\n    true\n")
    one = build_with_apptainer(str(path), output=str(project / "one.sif"), notest=True,
                               build_args={"K": "v"}, warn_unused_build_args=True,
                               source_date_epoch=42, workdir=str(project / "work"))
    two = build_with_apptainer(str(path), output=str(project / "two.sif"), notest=True,
                               build_args={"K": "v"}, warn_unused_build_args=True,
                               source_date_epoch=42, workdir=str(project / "work"))
    assert pathlib.Path(one).read_bytes() == pathlib.Path(two).read_bytes()
    calls = [json.loads(line) for line in stand_in.read_text().splitlines()]
    argv = calls[0]["argv"]
    assert argv[:2] == ["build", "--build-arg"] or argv[:3] == ["build", "--fakeroot",
                                                                 "--build-arg"]
    assert "--notest" in argv and argv[-1] == str(path) and calls[0]["sde"] == "42"
    code, out = run_action(one, "run", ["a"], capture=True)
    assert (code, out.decode().strip()) == (0, "from-apptainer-sandbox a")
    assert os.listdir(project / "work") == []


def test_auto_picks_apptainer_and_reports_its_failure(project: pathlib.Path,
                                                      stand_in: pathlib.Path) -> None:
    write_def(project, "\n%post\n    true\n")
    built = defkit("build", "--quiet", "image.def", cwd=str(project))
    assert built.returncode == 0, built.stderr
    assert json.loads(stand_in.read_text().splitlines()[0])["argv"][0] == "build"
    failed = defkit("build", "--quiet", "--force", "-o", "other.sif", "image.def",
                    cwd=str(project), env={"STANDIN_FAIL": "1"})
    assert failed.returncode == 1
    assert "apptainer build failed (exit 255): FATAL: stand-in asked to fail" in failed.stderr
    assert not (project / "other.sif").exists()
    native = defkit("build", "--quiet", "--engine", "native", "-o", "native.sif", "image.def",
                    cwd=str(project))
    assert native.returncode == 0, native.stderr
    assert len(stand_in.read_text().splitlines()) == 2
