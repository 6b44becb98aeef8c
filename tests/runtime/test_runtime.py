"""`defkit run/exec/shell/test` as Apptainer runs images: identity, binds, environment, exit codes,
the image mounted (not unpacked) and nothing left behind, as root and as nobody (with and without
an /etc/subuid range, as tests/engine/engine/test_subuid.py sets it up)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

from tests.engine.engine.test_subuid import (
    NOBODY,
    SETPRIV,
    SUBID_COUNT,
    SUBID_START,
    _as_nobody_with_subuid,
    nobody_or_skip,
)

DEFKIT = [sys.executable, "-m", "defkit"]


def defkit(*args: str, cwd: str = "/tmp", env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEFKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture()
def workdir() -> Iterator[pathlib.Path]:
    """A directory outside $HOME and /tmp's usual paths that nobody can use as its cwd."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-cwd-", dir="/srv" if os.path.isdir(
        "/srv") else None))
    os.chmod(base, 0o777)
    try:
        yield base
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_exit_codes_and_runscript_pass_through(sif: pathlib.Path) -> None:
    assert defkit("exec", str(sif), "sh", "-c", "exit 42").returncode == 42
    ran = defkit("run", str(sif), "a", "b")
    assert (ran.returncode, ran.stdout) == (0, "runscript a b\n"), ran.stderr
    assert defkit("test", str(sif)).returncode == 0
    shell = subprocess.run([*DEFKIT, "shell", str(sif)], input="echo in-shell; exit 5\n",
                           capture_output=True, text=True, timeout=60, cwd="/tmp")
    assert (shell.returncode, shell.stdout) == (5, "in-shell\n"), shell.stderr


def test_root_identity_binds_cwd_and_ownership(sif: pathlib.Path, workdir: pathlib.Path) -> None:
    (workdir / "seen").write_text("host file\n")
    done = defkit("exec", str(sif), "sh", "-c",
                  'id -u; id -g; echo "$HOME"; pwd; cat seen; stat -c %u:%g /opt/owned/file; '
                  'grep "^root:" /etc/passwd; echo "$FROM_ENV"; touch /tmp/.defkit-rt-probe',
                  cwd=str(workdir))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["0", "0", "/root", str(workdir), "host file"]
    assert lines[5] == "1000:2000"  # as the SIF holds it (the loop mount shows the real owners)
    assert lines[6].startswith("root:x:0:0:")
    assert lines[7] == "image"
    assert os.path.exists("/tmp/.defkit-rt-probe")  # /tmp is the host's
    os.unlink("/tmp/.defkit-rt-probe")


def test_bind_ro_rw_pwd_and_refusals(sif: pathlib.Path, workdir: pathlib.Path) -> None:
    (workdir / "ro").mkdir()
    (workdir / "rw").mkdir()
    done = defkit("exec", "--bind", f"{workdir}/ro:/data/ro:ro,{workdir}/rw:/data/rw",
                  "--pwd", "/data", str(sif), "sh", "-c",
                  "pwd; touch ro/x 2>/dev/null && echo wrote-ro; touch rw/x && echo wrote-rw")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["/data", "wrote-rw"]
    assert (workdir / "rw" / "x").exists() and not (workdir / "ro" / "x").exists()
    via_env = defkit("exec", str(sif), "ls", "/data/rw",
                     env={"APPTAINER_BIND": f"{workdir}/rw:/data/rw"})
    assert via_env.stdout == "x\n", via_env.stderr
    # The image itself is read-only, unless --writable-tmpfs (and then not kept).
    assert defkit("exec", str(sif), "touch", "/opt/new").returncode != 0
    assert defkit("exec", "--writable-tmpfs", str(sif), "touch", "/opt/new").returncode == 0
    assert defkit("exec", str(sif), "test", "-e", "/opt/new").returncode == 1
    for option in ("--nv", "--rocm", "--overlay=x", "--net"):
        refused = defkit("exec", option, str(sif), "true")
        assert refused.returncode == 2 and "does not support Apptainer's" in refused.stderr
        assert option.split("=")[0] in refused.stderr
    instance = defkit("instance", "start", str(sif), "name")
    assert instance.returncode == 2 and "Apptainer's instance" in instance.stderr


def test_environment_cleanenv_and_containall(sif: pathlib.Path, workdir: pathlib.Path) -> None:
    env_file = workdir / "env"
    env_file.write_text("FROM_FILE=file\n")
    script = 'echo "$HOSTVAR|$INJECTED|$FROM_FILE|$FROM_FLAG|$FROM_ENV"'
    extra = {"HOSTVAR": "host", "APPTAINERENV_INJECTED": "injected"}
    plain = defkit("exec", "--env-file", str(env_file), "--env", "FROM_FLAG=flag", str(sif),
                   "sh", "-c", script, env=extra)
    assert plain.stdout == "host|injected|file|flag|image\n", plain.stderr
    clean = defkit("exec", "--cleanenv", str(sif), "sh", "-c", script, env=extra)
    assert clean.stdout == "|injected|||image\n", clean.stderr
    (workdir / "marker").write_text("")
    contained = defkit("exec", "--containall", str(sif), "sh", "-c",
                       f'pwd; echo "$HOSTVAR"; test -e {workdir}/marker || echo no-cwd; '
                       "test -e /tmp/.X11-unix || ls -A /tmp | wc -l", cwd=str(workdir),
                       env=extra)
    assert contained.returncode == 0, contained.stderr
    assert contained.stdout.splitlines()[:3] == ["/root", "", "no-cwd"]


def test_nobody_without_subuid(sif: pathlib.Path, workdir: pathlib.Path) -> None:
    command, env = nobody_or_skip()
    env = {**env, "HOME": str(workdir), "DEFKIT_CACHE_DIR": str(workdir / "cache")}
    (workdir / "mine").mkdir()
    os.chown(workdir / "mine", NOBODY, NOBODY)
    argv = [*SETPRIV, *command, "exec", "--bind", f"{workdir}/mine:/mine", str(sif), "sh", "-c",
            'id -u; id -g; grep "^nobody:" /etc/passwd | cut -d: -f3; pwd; touch /mine/x; exit 9']
    for _ in range(2):  # the second call uses the cached copy
        done = subprocess.run(argv, cwd=workdir / "mine", capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == 9, done.stderr
        assert done.stdout.splitlines() == [str(NOBODY), str(NOBODY), str(NOBODY),
                                            f"{workdir}/mine"]
    assert (workdir / "mine" / "x").stat().st_uid == NOBODY
    assert len(os.listdir(workdir / "cache" / "runtime" / "sha256")) == 1


def test_nobody_with_subuid_and_fakeroot(sif: pathlib.Path) -> None:
    command, env = nobody_or_skip()
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-subuid-rt-"))
    try:
        os.chmod(base, 0o755)
        for name in ("subuid", "subgid"):
            (base / name).write_text(f"nobody:{SUBID_START}:{SUBID_COUNT}\n")
        run_env = {**env, "HOME": str(base), "DEFKIT_CACHE_DIR": str(base / "cache")}
        subprocess.run(["chown", f"{NOBODY}:{NOBODY}", str(base)], check=True)
        plain = _as_nobody_with_subuid(base, [*command, "exec", str(sif), "id", "-u"], run_env)
        assert (plain.returncode, plain.stdout) == (0, f"{NOBODY}\n"), plain.stderr
        root = _as_nobody_with_subuid(base, [*command, "exec", "--fakeroot", str(sif), "sh",
                                             "-c", "id -u; exit 4"], run_env)
        assert (root.returncode, root.stdout) == (4, "0\n"), root.stderr
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _session(sid: int) -> list[str]:
    """The processes of session `sid` (defkit started in its own), with their command lines."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(pid)) == sid:
                raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
                found.append(raw.replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below `root` (new sessions included)."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
            raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
        lines[int(pid)] = raw.replace(b"\0", b" ").decode(errors="replace")
    found: dict[int, str] = {}
    for child in parents:
        walk = child
        while walk > 1 and walk != root:
            walk = parents.get(walk, 0)
        if walk == root and child != root:
            found[child] = lines[child]
    return found


def _host_state() -> tuple[list[str], str]:
    """Host mounts of defkit's scratch directories and the host's SysV IPC objects."""
    mounts = [line for line in pathlib.Path("/proc/mounts").read_text().splitlines()
              if "defkit-ns-" in line or "squashfuse" in line]
    ipcs = subprocess.run(["ipcs"], capture_output=True, text=True).stdout
    return mounts, "\n".join(line for line in ipcs.splitlines() if line[:2] == "0x")


def _wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_nothing_survives_ctrl_c_or_kill_9_of_run(sif: pathlib.Path, how: int) -> None:
    before = _host_state()
    proc = subprocess.Popen([*DEFKIT, "exec", str(sif), "sleep", "1234"], cwd="/tmp",
                            start_new_session=True)
    try:
        assert _wait_for(lambda: any("sleep 1234" in p for p in _session(proc.pid)), 30)
    except AssertionError:
        proc.kill()
        raise
    if how == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    else:
        os.kill(proc.pid, signal.SIGKILL)  # defkit alone
    proc.wait(timeout=30)
    assert _wait_for(lambda: not _session(proc.pid), 10), _session(proc.pid)
    assert _host_state() == before


def test_nothing_survives_kill_9_of_a_fakeroot_build(workdir: pathlib.Path) -> None:
    """The rootless build's unshare tree dies with defkit (its IPC namespace with it)."""
    command, env = nobody_or_skip()
    from defkit.engine.busybox_rootfs import make_busybox_rootfs

    make_busybox_rootfs(str(workdir / "rootfs"))
    (workdir / "work").mkdir()
    (workdir / "image.def").write_text("Bootstrap: localimage\nFrom: ./rootfs\n\n"
                                       "%post\n    sleep 1234\n")
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(workdir)], check=True)
    before = _host_state()
    proc = subprocess.Popen([*SETPRIV, *command, "build", "--workdir", "work", "image.def"],
                            cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    # %post runs in a new session of its own (no host terminal): found as a descendant.
    try:
        assert _wait_for(lambda: "sleep 1234 " in _descendants(proc.pid).values(), 60)
        tree = _descendants(proc.pid)  # unshare, nsinit's shell, sleep (busybox: no faked here)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert _wait_for(lambda: not set(tree) & {int(p) for p in os.listdir("/proc")
                                               if p.isdigit()}, 10), tree
    assert _host_state() == before
