"""`defkit run/exec/shell/test` as Apptainer runs images: identity, binds, environment, exit codes,
the image mounted (not unpacked) and nothing left behind, as root and as nobody (with and without
an /etc/subuid range, as tests/engine/engine/test_subuid.py sets it up)."""

from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator

import pytest

from tests.engine.engine.test_subuid import (
    _BIND_SCRIPT,
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


#: One command checking Apptainer's defaults and options inside, for the rootless matrix.
_MATRIX = ('id -u; id -g; echo "$HOME"; pwd; cat /ro/seen; touch /ro/x 2>/dev/null || echo ro; '
           'touch /rw/x && echo rw; echo "${HOSTVAR:-unset}|$INJECTED|$FROM_FLAG"; '
           'test -e /tmp/.defkit-matrix-$MARK && echo host-tmp; exit 7')


def _matrix(run: Callable[[list[str], dict[str, str]], subprocess.CompletedProcess[str]],
            command: list[str], env: dict[str, str], sif: pathlib.Path, base: pathlib.Path
            ) -> None:
    """identity, $HOME, the cwd and /tmp bound, --bind ro/rw, env passing, --pwd, --cleanenv,
    --containall and the exit code, run by `run` (as nobody, with or without a subuid range)."""
    for name in ("ro", "rw"):
        (base / name).mkdir(exist_ok=True)
    (base / "ro" / "seen").write_text("host file\n")
    mark = str(os.getpid())
    pathlib.Path(f"/tmp/.defkit-matrix-{mark}").write_text("")
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(base / "ro"), str(base / "rw")],
                   check=True)
    env = {**env, "HOSTVAR": "host", "MARK": mark,
           "APPTAINERENV_INJECTED": "injected"}
    binds = ["--bind", f"{base}/ro:/ro:ro,{base}/rw:/rw"]
    home = pwd.getpwuid(NOBODY).pw_dir  # Apptainer's $HOME: the passwd entry's, not $HOME's
    try:
        plain = run([*command, "exec", *binds, "--env", "FROM_FLAG=flag", str(sif), "sh", "-c",
                     _MATRIX], env)
        assert plain.returncode == 7, plain.stderr
        assert plain.stdout.splitlines() == [
            str(NOBODY), str(NOBODY), home, str(base), "host file", "ro", "rw",
            "host|injected|flag", "host-tmp"]
        moved = run([*command, "exec", *binds, "--pwd", "/ro", "--cleanenv", str(sif), "sh",
                     "-c", _MATRIX], env)
        assert moved.returncode == 7, moved.stderr
        assert moved.stdout.splitlines()[2:] == [
            home, "/ro", "host file", "ro", "rw", "unset|injected|"]
        contained = run([*command, "exec", *binds, "--containall", str(sif), "sh", "-c",
                         _MATRIX], env)
        assert contained.returncode == 7, contained.stderr
        assert contained.stdout.splitlines()[2:] == [
            home, home, "host file", "ro", "rw", "unset|injected|"]
    finally:
        os.unlink(f"/tmp/.defkit-matrix-{mark}")


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
    assert len([name for name in os.listdir(workdir / "cache" / "runtime" / "sha256")
                if not name.endswith(".lock")]) == 1

    def as_nobody(argv: list[str], run_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SETPRIV, *argv], cwd=workdir, capture_output=True, text=True,
                              env=run_env, timeout=120)

    _matrix(as_nobody, command, env, sif, workdir)
    # Without a subuid range only the caller's id can own files in the unpacked copy: every
    # file shows as the caller's (the README says so; Apptainer would show the overflow id).
    owners = as_nobody([*command, "exec", str(sif), "stat", "-c", "%u:%g", "/opt/owned/file",
                        "/bin/busybox"], env)
    assert owners.stdout.splitlines() == [f"{NOBODY}:{NOBODY}"] * 2, owners.stderr


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
        # The unpacked copies (one for each namespace layout) show the owners the SIF holds.
        for options in ([], ["--fakeroot"]):
            owners = _as_nobody_with_subuid(
                base, [*command, "exec", *options, str(sif), "stat", "-c", "%u:%g",
                       "/opt/owned/file", "/bin/busybox", "/opt"], run_env)
            assert owners.stdout.splitlines() == ["1000:2000", "0:0", "0:0"], owners.stderr
        copies = list((base / "cache" / "runtime" / "sha256").glob("*/rootfs-*"))
        assert len(copies) == 2, copies

        def with_subuid(argv: list[str], env: dict[str, str]
                        ) -> subprocess.CompletedProcess[str]:
            return _as_nobody_with_subuid(base, argv, env)

        _matrix(with_subuid, command, run_env, sif, base)
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
        assert _wait_for(lambda: _scratch_of(_session(proc.pid)) != "", 30)
        assert _wait_for(lambda: "sleep 1234 " in _session(proc.pid), 30)
        scratch = _scratch_of(_session(proc.pid))
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
    _next_run_reclaims(scratch, sif)


def _scratch_of(command_lines: Iterable[str]) -> str:
    """The run's scratch directory (the plan nsinit reads is in it), or ""."""
    for line in command_lines:
        for word in line.split():
            if "/defkit-ns-" in word and word.endswith("/plan"):
                return os.path.dirname(word)
    return ""


def _next_run_reclaims(scratch: str, sif: pathlib.Path) -> None:
    """kill -9 skips the removal of the run's scratch directory: the next run removes it (once
    it is older than the grace period, made so here)."""
    if os.path.exists(scratch):
        os.utime(scratch, (time.time() - 60, time.time() - 60))
    assert defkit("exec", str(sif), "true").returncode == 0
    assert not os.path.exists(scratch)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_nothing_survives_ctrl_c_or_kill_9_of_a_fakeroot_build(
        sif: pathlib.Path, workdir: pathlib.Path, how: int) -> None:
    """`defkit build --fakeroot` on a rootfs with glibc runs %post under fakeroot, so `faked`
    (SysV message queues and semaphores) runs: after Ctrl-C or kill -9 nothing of it is left on
    the host (processes, mounts, IPC objects)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for --fakeroot to choose fakeroot (rootless picks /etc/subuid)")
    from defkit.engine.busybox_rootfs import make_busybox_rootfs
    from defkit.engine.sandbox import FAKEROOT_FILES, _host_file

    if _host_file(FAKEROOT_FILES["faked"]) is None:
        pytest.skip("fakeroot is not installed")
    rootfs = workdir / "rootfs"
    make_busybox_rootfs(str(rootfs))
    loader = pathlib.Path("/lib64/ld-linux-x86-64.so.2")
    libc = pathlib.Path(f"/lib/{os.uname().machine}-linux-gnu/libc.so.6")
    if not loader.exists() or not libc.exists():
        pytest.skip("needs the host's x86_64 glibc to give the rootfs one")
    for path in (loader, libc):  # faked and getopt are dynamic: they need the loader and libc
        (rootfs / path.parent.relative_to("/")).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path.resolve(), rootfs / path.relative_to("/"))
    (workdir / "work").mkdir()
    (workdir / "image.def").write_text("Bootstrap: localimage\nFrom: ./rootfs\n\n"
                                       "%post\n    sleep 1234\n")
    before = _host_state()
    argv = [*DEFKIT, "build", "--fakeroot", "--workdir", "work", "image.def"]
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert _wait_for(lambda: "sleep 1234 " in _descendants(proc.pid).values(), 60)
        tree = _descendants(proc.pid)
        assert any("faked" in line for line in tree.values()), tree
        scratch = _scratch_of(tree.values())
        assert scratch
    finally:
        if how == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.kill()
        proc.wait(timeout=30)
    assert _wait_for(lambda: not set(tree) & {int(p) for p in os.listdir("/proc")
                                               if p.isdigit()}, 10), tree
    assert _host_state() == before
    _next_run_reclaims(scratch, sif)


@pytest.mark.parametrize("subuid", [False, True])
def test_nothing_survives_kill_9_of_a_rootless_run(sif: pathlib.Path, subuid: bool) -> None:
    """As nobody (with an /etc/subuid range: the user namespace made by nsinit --userns before
    `unshare`), kill -9 of defkit takes the whole container down."""
    command, env = nobody_or_skip()
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-kill-rt-"))
    try:
        os.chmod(base, 0o755)
        prefix: list[str] = []
        if subuid:
            for name in ("subuid", "subgid"):
                (base / name).write_text(f"nobody:{SUBID_START}:{SUBID_COUNT}\n")
            prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      _BIND_SCRIPT, "sh", str(base / "subuid"), str(base / "subgid")]
        subprocess.run(["chown", f"{NOBODY}:{NOBODY}", str(base)], check=True)
        run_env = {**env, "HOME": str(base), "DEFKIT_CACHE_DIR": str(base / "cache")}
        before = _host_state()
        proc = subprocess.Popen([*prefix, *SETPRIV, *command, "exec", str(sif), "sleep", "1234"],
                                cwd=base, env=run_env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:  # unshare, sh and setpriv exec: proc.pid ends up being defkit itself
            assert _wait_for(lambda: "sleep 1234 " in _session(proc.pid), 60)
            tree = _descendants(proc.pid)
            # nsinit --userns made the user namespace and exec'd unshare without user flags.
            unshare = [line for line in tree.values() if line.startswith("unshare ")]
            assert len(unshare) == 1 and ("--map-user" not in unshare[0]) == subuid, tree
        finally:
            proc.kill()
            proc.wait(timeout=30)
        assert _wait_for(lambda: not _session(proc.pid), 10), _session(proc.pid)
        assert _host_state() == before
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_cache_gc_removes_unused_unpacked_copies(sif: pathlib.Path) -> None:
    from defkit import runtime
    from defkit.sif.reader import read_sif

    offset = read_sif(str(sif)).partition_offset
    rootfs, lock = runtime.cached_rootfs(str(sif), offset)
    assert os.path.isfile(os.path.join(rootfs, "opt", "owned", "file"))
    base = pathlib.Path(runtime.cache_dir()) / "sha256"
    killed = pathlib.Path(rootfs).parent / ".unpack-killed"  # what a killed unpack leaves
    (killed / "etc").mkdir(parents=True)
    try:
        in_use = defkit("cache", "gc")
        assert in_use.returncode == 0, in_use.stderr
        assert "0 unpacked images" in in_use.stdout
        assert os.path.isdir(rootfs) and not killed.exists()
    finally:
        os.close(lock)
    assert "0 unpacked images" in defkit("cache", "gc", "--max-age", "1d").stdout
    done = defkit("cache", "gc")
    assert "1 unpacked images" in done.stdout, done.stdout + done.stderr
    assert not os.path.exists(rootfs) and os.listdir(base) == []


def _fuse_for_nobody() -> tuple[list[str], str]:
    """A prefix that runs a command where nobody can open /dev/fuse (a private node of the same
    device bound over it in a private mount namespace: the host's /dev/fuse stays 0600), or
    the reason it cannot."""
    if not os.path.exists("/dev/fuse") or subprocess.run(["which", "squashfuse"],
                                                         capture_output=True).returncode:
        return [], "needs /dev/fuse and squashfuse (Debian package squashfuse)"
    device = os.stat("/dev/fuse").st_rdev
    script = ("mount -t tmpfs -o mode=755 tmpfs \"$1\" && "
              f"mknod -m 666 \"$1/fuse\" c {os.major(device)} {os.minor(device)} && "
              'mount --bind "$1/fuse" /dev/fuse && shift && exec "$@"')
    scratch = tempfile.mkdtemp(prefix="defkit-fuse-")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            scratch], ""


@pytest.mark.parametrize("subuid", [False, True])
def test_nobody_with_squashfuse(sif: pathlib.Path, workdir: pathlib.Path, subuid: bool) -> None:
    """Rootless with /dev/fuse usable: squashfuse mounts the image in the user namespace (no
    unpacked copy). Without a subuid range owners the namespace does not map show as the
    overflow id, as under Apptainer; with one the SIF's owners show, also with --fakeroot."""
    command, env = nobody_or_skip()
    prefix, reason = _fuse_for_nobody()
    if reason:
        pytest.skip(reason)
    if subuid:
        for name in ("subuid", "subgid"):
            (workdir / name).write_text(f"nobody:{SUBID_START}:{SUBID_COUNT}\n")
        prefix += ["sh", "-c", _BIND_SCRIPT, "sh", str(workdir / "subuid"),
                   str(workdir / "subgid")]
    env = {**env, "HOME": str(workdir), "DEFKIT_CACHE_DIR": str(workdir / "cache")}
    overflow = pathlib.Path("/proc/sys/kernel/overflowuid").read_text().strip()
    owners = ["1000:2000", "0:0"] if subuid else [f"{overflow}:{overflow}"] * 2
    for options, uid in (([], NOBODY), (["--fakeroot"], 0)):
        argv = [*prefix, *SETPRIV, *command, "exec", *options, str(sif), "sh", "-c",
                "id -u; stat -c %u:%g /opt/owned/file /bin/busybox; "
                "grep -c squashfuse /proc/mounts; exit 3"]
        done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, env=env,
                              timeout=120)
        if done.returncode == 125 and "fuse" in done.stderr:
            pytest.skip(f"squashfuse cannot mount in a user namespace here: {done.stderr}")
        assert done.returncode == 3, done.stderr
        expected = [str(uid), *owners, "1"]
        if options and not subuid:  # root-mapped: the SIF's root files are root's
            expected = ["0", f"{overflow}:{overflow}", "0:0", "1"]
        assert done.stdout.splitlines() == expected, done.stderr
    assert not (workdir / "cache" / "runtime" / "sha256").exists()  # nothing unpacked
