"""The /etc/subuid mode of a rootless build, end to end, without touching the host's files.

As root, a private mount namespace (`unshare --mount --propagation private`) gets temporary files
bound over /etc/subuid and /etc/subgid that give `nobody` (65534) the range 200000:65536; inside
it, `setpriv` drops to nobody and runs `defkit build`. newuidmap/newgidmap are setuid root and
read the files visible in their mount namespace, so the engine maps the full range exactly as on a
machine configured for it. Outside that namespace the host's /etc/subuid never changes.

Only the full-range mapping lets `%post` `chown 1000:1000` a file in a static busybox rootfs
(EINVAL in a root-mapped namespace, spec §7.2; fakeroot cannot help, busybox is static), so the
file owned 1000:1000 in the image proves the mode; the JSON log says which mode was chosen.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import site
import stat
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from defkit.sif.reader import read_sif
from defkit.squashfs import unsquash_list
from tests.engine.engine.helpers import write_def

NOBODY = 65534
SUBID_START, SUBID_COUNT = 200000, 65536
SETPRIV = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

OWNED = """
%post
    echo owned > /owned
    chown 1000:1000 /owned
    mkdir /data
    chown 1000:2000 /data
    chmod 0750 /data

%test
    test "$(stat -c %u:%g /owned)" = 1000:1000
    test "$(stat -c %u:%g /data)" = 1000:2000
"""

# Bind the private files over the host's, then run the rest of the command line.
_BIND_SCRIPT = ('mount --bind "$1" /etc/subuid && mount --bind "$2" /etc/subgid && shift 2 && '
                'exec "$@"')


def _missing_requirement() -> str | None:
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (for the private mount namespace and to become nobody with setpriv)"
    for tool in ("newuidmap", "newgidmap", "setpriv", "unshare", "mksquashfs", "unsquashfs"):
        path = shutil.which(tool)
        if path is None:
            return f"{tool} is not installed (uidmap, util-linux, squashfs-tools)"
        if tool.startswith("new") and not os.stat(path).st_mode & stat.S_ISUID:
            return f"{path} is not setuid root"
    for name in ("/etc/subuid", "/etc/subgid"):
        if not os.path.isfile(name):
            return f"{name} does not exist (a private file is bound over it, not created)"
    return None


def _nobody_python() -> tuple[list[str], dict[str, str]] | None:
    """A python (the venv's, else the system's) that nobody can run with defkit and its
    dependencies importable through PYTHONPATH (the venv may live under /root)."""
    paths = [str(pathlib.Path(__file__).resolve().parents[3]), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": ":".join(paths), "HOME": "/tmp", "LC_ALL": "C"}
    env.pop("SOURCE_DATE_EPOCH", None)
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run([*SETPRIV, python, "-c", "import click, rich, lark, defkit"],
                               env=env, capture_output=True)
        if probe.returncode == 0:
            return [python, "-m", "defkit"], env
    return None


@pytest.fixture()
def nobody_base(busybox_template: pathlib.Path) -> Any:
    """A world-reachable directory (pytest's tmp_path is root's, mode 0700) owned by nobody with a
    busybox rootfs, a work directory and the private subuid/subgid files."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-subuid-test-"))
    try:
        os.chmod(base, 0o755)
        shutil.copytree(busybox_template, base / "rootfs", symlinks=True)
        (base / "work").mkdir()
        for name in ("subuid", "subgid"):
            (base / name).write_text(f"nobody:{SUBID_START}:{SUBID_COUNT}\n", encoding="utf-8")
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(base)], check=True)
        for name in ("subuid", "subgid"):  # as on a real machine: root's, world-readable
            os.chown(base / name, 0, 0)
        yield base
    finally:
        # Files owned by subordinate ids (if a build left any) are root-removable.
        shutil.rmtree(base, ignore_errors=True)


def _as_nobody_with_subuid(base: pathlib.Path, command: list[str], env: dict[str, str]
                           ) -> subprocess.CompletedProcess[str]:
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _BIND_SCRIPT, "sh",
            str(base / "subuid"), str(base / "subgid"), *SETPRIV, *command]
    return subprocess.run(argv, cwd=base, env=env, capture_output=True, text=True, timeout=120)


def nobody_or_skip() -> tuple[list[str], dict[str, str]]:
    """(command, env) to run defkit as nobody, or skip the test saying why it cannot run."""
    reason = _missing_requirement()
    if reason is not None:
        pytest.skip(reason)
    found = _nobody_python()
    if found is None:
        pytest.skip("no python that nobody can run with defkit importable")
    return found


def test_subuid_build_maps_the_full_range(nobody_base: pathlib.Path) -> None:
    command, env = nobody_or_skip()
    base = nobody_base
    write_def(base, OWNED)
    os.chown(base / "image.def", NOBODY, NOBODY)
    # What the namespace sees (the bind works, nobody reads it) and what the host keeps.
    host_subuid = pathlib.Path("/etc/subuid").read_bytes()
    seen = _as_nobody_with_subuid(base, ["cat", "/etc/subuid"], env)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout == f"nobody:{SUBID_START}:{SUBID_COUNT}\n"

    built = _as_nobody_with_subuid(
        base, [*command, "build", "--json", "--workdir", "work", "image.def"],
        {**env, "SOURCE_DATE_EPOCH": "1700000000"})
    assert built.returncode == 0, built.stdout + built.stderr
    events = [json.loads(line) for line in built.stdout.splitlines() if line.startswith("{")]
    started = [e for e in events if e["event"] == "build-started"]
    assert len(started) == 1 and started[0]["mode"] == "userns"
    notices = [e["message"] for e in events if e["event"] == "notice"]
    assert any("/etc/subuid range" in message for message in notices), notices
    post = [e["text"] for e in events if e["event"] == "output" and e["step"] == "%post"]
    assert "+ chown 1000:1000 /owned" in post
    assert any(e["event"] == "step-finished" and e["step"] == "%test" for e in events)

    sif = base / "image.sif"
    entries = {e.path: e for e in unsquash_list(sif, read_sif(sif).partition_offset)}
    assert (entries["owned"].uid, entries["owned"].gid) == (1000, 1000)
    assert (entries["data"].uid, entries["data"].gid, entries["data"].mode) == (
        1000, 2000, "drwxr-x---")
    # The caller is root inside: everything else belongs to 0:0, as with Apptainer --fakeroot.
    others = {(e.uid, e.gid) for path, e in entries.items() if path not in ("owned", "data")}
    assert others == {(0, 0)}
    # The stage's tree (files owned by subordinate ids on the host) was removed by the build.
    assert os.listdir(base / "work") == []
    assert pathlib.Path("/etc/subuid").read_bytes() == host_subuid
