"""Run commands inside a rootfs (or host commands) in fresh namespaces made by `unshare`.

Every run gets private mount, PID, UTS and IPC namespaces (`unshare -m -p -u -i -f
--kill-child`), plus a root-mapped user namespace (`-r`, or the /etc/subuid range) unless the
build runs as real root. The mounts therefore exist only in the namespace: when the command ends,
is killed or the build is interrupted, they vanish and nothing stays mounted on the host.
`--kill-child` takes the whole PID namespace down with `unshare`, so killing the one process we
started stops everything the section started.

A rootfs run (`run_in_rootfs`: %post, %test, `defkit run`) does not chroot: the host side here
checks paths, creates mount points and stages files, then `nsinit.py` (the namespace's first
process) mounts, `pivot_root`s into the rootfs with the host's tree detached, narrows
capabilities, installs a seccomp filter and execs the command; its docstring has the details.

Mount points that we must create inside the rootfs (an empty /etc/hosts, the fakeroot directory)
are removed afterwards, so the image holds only what the recipe put there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import marshal
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Callable, Optional

from defkit.engine.context import Bind, Command, Mode
from defkit.errors import BuildError
from defkit.runner import Runner, run, run_streaming
from defkit.safepath import Root, StrPath, remove_at

#: Host device nodes bound into the rootfs's (tmpfs) /dev, as Apptainer and spec §7.2 do.
DEV_NODES = ("null", "zero", "random", "urandom", "tty", "full")
#: Where host fakeroot's files appear inside the rootfs during %post (removed afterwards).
FAKEROOT_DIR = ".defkit-fakeroot"
FAKEROOT_FILES = {  # name inside FAKEROOT_DIR -> candidates on the host
    "fakeroot": ("/usr/bin/fakeroot-sysv", "/usr/bin/fakeroot"),
    "faked": ("/usr/bin/faked-sysv", "/usr/bin/faked"),
    "libfakeroot.so": (
        "/usr/lib/*/libfakeroot/libfakeroot-sysv.so",
        "/usr/lib/libfakeroot/libfakeroot-sysv.so",
        "/usr/lib*/libfakeroot/libfakeroot-0.so",
    ),
    "getopt": ("/usr/bin/getopt",),
}
#: The container's first process (a script: run without importing defkit, see nsinit_argv).
NSINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nsinit.py")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _subid_range(path: str, user: str, uid: int) -> Optional[tuple[int, int]]:
    """The first `user:start:count` range of /etc/subuid or /etc/subgid for this user."""
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in (user, str(uid)):
                with contextlib.suppress(ValueError):
                    start, count = int(parts[1]), int(parts[2])
                    if count > 0:
                        return start, count
    return None


@functools.lru_cache(maxsize=1)
def subid_ranges() -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
    """(subuid range, subgid range) when the user has both and newuidmap/newgidmap exist."""
    if os.geteuid() == 0 or not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return None
    user = current_user()
    uids = _subid_range("/etc/subuid", user, os.getuid())
    gids = _subid_range("/etc/subgid", user, os.getuid())
    return (uids, gids) if uids is not None and gids is not None else None


def userns_flags(mode: Mode) -> list[str]:
    """How `unshare` maps users for `mode`. Real root: no user namespace. Otherwise the caller is
    root inside, and with an /etc/subuid entry ids 1..N map to the subordinate range, as
    Apptainer's --fakeroot does (chown to any id works; setgroups allowed); without one, only
    the caller is mapped (`--map-root-user`)."""
    if mode == "root":
        return []
    ranges = subid_ranges()
    if ranges is None:
        return ["--map-root-user"]
    (uid_start, uid_count), (gid_start, gid_count) = ranges
    return ["--map-user=0", "--map-group=0", f"--map-users={uid_start},1,{uid_count}",
            f"--map-groups={gid_start},1,{gid_count}"]


def caller_userns_flags() -> list[str]:
    """A user namespace where the caller keeps its own uid and gid (Apptainer's default for an
    unprivileged user). `--keep-caps` lets nsinit, not root there, still mount and pivot; it
    clears the ambient set before the command runs, which then has no capability."""
    return [f"--map-user={os.getuid()}", f"--map-group={os.getgid()}", "--keep-caps"]


IdMap = list[tuple[int, int, int]]  # (inside, outside, count) ranges


def _around(own: int, start: int, count: int) -> IdMap:
    """The caller's own id as itself and the ids 0..count-1 but that one on the subordinate
    range (`start + id`): ids of an image keep their number inside."""
    ranges = [(own, own, 1)]
    if min(own, count) > 0:
        ranges.append((0, start, min(own, count)))
    if own + 1 < count:
        ranges.append((own + 1, start + own + 1, count - own - 1))
    return ranges


def caller_id_maps() -> Optional[tuple[IdMap, IdMap]]:
    """With an /etc/subuid range: the (uid, gid) maps of a user namespace where the caller keeps
    its ids and every other id up to the range's size is mapped too, so files of other owners
    (an image's root, a user made in %post) show as themselves, not as the overflow id."""
    ranges = subid_ranges()
    if ranges is None:
        return None
    (uid_start, uid_count), (gid_start, gid_count) = ranges
    return (_around(os.getuid(), uid_start, uid_count),
            _around(os.getgid(), gid_start, gid_count))


def _map_words(ranges: IdMap) -> str:
    return " ".join(f"{inside} {outside} {count}" for inside, outside, count in ranges)


def caller_userns_prefix(maps: tuple[IdMap, IdMap]) -> list[str]:
    """Runs what follows in a user namespace mapped by `maps`, with every capability kept
    (nsinit's --userns: util-linux's unshare maps only one range besides the caller)."""
    return [*nsinit_argv(), "--userns", _map_words(maps[0]), _map_words(maps[1]), "--"]


def unshare_argv(mode: Mode, *, as_caller: bool = False) -> list[str]:
    """The `unshare` prefix for `mode`: private mount, PID, UTS (`hostname` stays inside) and IPC
    (fakeroot's SysV queues) namespaces, plus a user namespace unless real root (`as_caller`:
    one keeping the caller's ids, and with an /etc/subuid range every other id). `--kill-child`
    so the namespace dies with `unshare`; the runner makes `unshare` (or nsinit before it) die
    with us (PR_SET_PDEATHSIG), even on `kill -9`: no process, mount or IPC object of the
    namespace outlives defkit."""
    namespaces = ["--mount", "--pid", "--uts", "--ipc", "--fork", "--kill-child",
                  "--propagation", "private"]
    if as_caller and mode != "root":
        maps = caller_id_maps()
        if maps is not None:
            return [*caller_userns_prefix(maps), "unshare", *namespaces]
        return ["unshare", *caller_userns_flags(), *namespaces]
    return ["unshare", *userns_flags(mode), *namespaces]


def remove_in_userns(path: str) -> None:
    """Remove a tree holding files owned by subordinate ids (only removable from inside)."""
    if os.path.lexists(path) and subid_ranges() is not None:
        run(["unshare", *userns_flags("userns"), "rm", "-rf", "--", path])


def remove_tree(path: StrPath) -> None:
    """`rm -rf path` for a host path (a build's own tree): through descriptors, any depth,
    read-only directories included; a symlink is removed itself, never followed. What only a
    user namespace can remove (files of subordinate ids) is removed there. BuildError when
    something is left."""
    path = os.path.abspath(path)
    head, name = os.path.split(path)
    failure: Optional[OSError] = None
    try:
        dirfd = os.open(head or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            remove_at(dirfd, name)
        finally:
            os.close(dirfd)
    except OSError as exc:
        failure = exc
    if os.path.lexists(path):
        remove_in_userns(path)
    if os.path.lexists(path):
        reason = failure.strerror if failure is not None and failure.strerror else "unknown"
        raise BuildError(f"cannot remove {path}: {reason}")


def has_glibc(rootfs: str) -> bool:
    """Whether the rootfs has a glibc dynamic loader: host fakeroot (LD_PRELOAD + a glibc faked)
    only works there; a static busybox rootfs ignores it (spec §7.2)."""
    patterns = ("lib*/ld-linux*.so*", "usr/lib*/ld-linux*.so*", "lib/*/ld-linux*.so*",
                "usr/lib/*/ld-linux*.so*")
    try:
        with Root(rootfs) as root:  # never a host directory
            return any(root.glob(pattern) for pattern in patterns)
    except OSError:
        return False


def fakeroot_available() -> bool:
    return all(_host_file(candidates) is not None for candidates in FAKEROOT_FILES.values())


def current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _host_file(candidates: Sequence[str]) -> Optional[str]:
    for pattern in candidates:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return path
    return None


def _inside(rootfs: str, path: str) -> Optional[str]:
    """`path` (container-absolute) under `rootfs`, or None when it, or a parent, is a symlink or
    would resolve outside the rootfs: a mount there could land on a host path."""
    root = os.path.realpath(rootfs)
    target = os.path.join(root, path.lstrip("/"))
    probe = root
    for part in path.strip("/").split("/"):
        probe = os.path.join(probe, part)
        if os.path.islink(probe):
            return None
    if os.path.commonpath([root, os.path.realpath(target)]) != root:
        return None
    return target


class _MountPoints:
    """Creates missing mount points and removes the ones it created (if still empty)."""

    def __init__(self) -> None:
        self.created: list[tuple[str, bool]] = []  # (path, is_dir), creation order

    def ensure(self, path: str, is_dir: bool) -> bool:
        if os.path.lexists(path):
            return os.path.isdir(path) == is_dir
        parent = os.path.dirname(path)
        if not os.path.isdir(parent) and not self.ensure(parent, True):
            return False
        if is_dir:
            os.mkdir(path, 0o755)
        else:
            with open(path, "wb"):
                pass
        self.created.append((path, is_dir))
        return True

    def cleanup(self) -> None:
        for path, is_dir in reversed(self.created):
            with contextlib.suppress(OSError):
                if is_dir:
                    os.rmdir(path)
                elif os.path.getsize(path) == 0:
                    os.unlink(path)
        self.created.clear()


SCRATCH_PREFIX = "defkit-ns-"
#: A scratch directory younger than this is never reclaimed: its maker may not have locked it yet.
SCRATCH_GRACE = 10.0


@contextlib.contextmanager
def _scratch_dir() -> Iterator[str]:
    """A private temporary directory for one run (the plan, staged files), locked (flock on the
    directory) while the run lasts. `kill -9` skips the removal at the end: the next run removes
    the scratch directories of ours that nobody holds."""
    import fcntl

    _reclaim_scratch()
    path = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
    held = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(held)


def _reclaim_scratch() -> None:
    import fcntl
    import time

    base = tempfile.gettempdir()
    try:
        names = [name for name in os.listdir(base) if name.startswith(SCRATCH_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if info.st_uid != os.geteuid() or time.time() - info.st_mtime < SCRATCH_GRACE:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # held: a live run's
            continue
        finally:
            os.close(fd)


def _stage_host_file(src: str, scratch: str, name: str) -> str:
    """A private copy of a host file (with Apptainer's extra newline), so a %post writing to
    /etc/resolv.conf can never change the host's."""
    dst = os.path.join(scratch, name)
    data = b""
    with contextlib.suppress(OSError), open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data + b"\n")
    return dst


def _execute(
    argv: list[str],
    *,
    env: Optional[Mapping[str, str]],
    cwd: Optional[str],
    capture: bool,
    on_line: Optional[Callable[[str], None]],
    runner: Runner,
    stdin_from_host: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    if on_line is not None:  # stdin is /dev/null there
        return run_streaming(argv, on_line, cwd=cwd, env=env, stderr_to_stdout=True)
    return runner(argv, cwd=cwd, env=env, capture=capture,
                  input=None if stdin_from_host else b"")


def run_in_rootfs(
    rootfs: str,
    command: Command,
    *,
    mode: Mode,
    env: Optional[Mapping[str, str]] = None,
    binds: Sequence[Bind] = (),
    cwd: str = "/",
    fakeroot_state: Optional[str] = None,
    capture: bool = True,
    on_line: Optional[Callable[[str], None]] = None,
    read_only: bool = False,
    runner: Runner = run,
    keep_terminal: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """See `defkit.engine.context.run_in_rootfs`. The namespaces come from `unshare`; inside them
    `defkit/engine/nsinit.py` mounts, pivots into the rootfs, drops privileges and execs `command`
    (its docstring has the sequence). `keep_terminal` (the runtime) hands the caller's stdin and
    session to the command; otherwise (builds) stdin is empty and the command gets a new session,
    so it has no host terminal to push input into (TIOCSTI, CVE-2017-5226)."""
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise BuildError(f"rootfs {rootfs} does not exist")
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    clean_env = {"PATH": CONTAINER_PATH, "HOME": "/root", "TERM": "dumb"}
    clean_env.update(env or {})
    points = _MountPoints()
    with _scratch_dir() as scratch:
        try:
            proc = _inside(rootfs, "/proc")
            dev = _inside(rootfs, "/dev")
            plan: dict[str, object] = {
                "root": rootfs, "read_only": read_only, "privileged": mode == "root",
                "new_session": not keep_terminal, "cwd": cwd or "/",
                "proc": proc is not None and points.ensure(proc, True),
                "dev": dev is not None and points.ensure(dev, True),
                "dev_nodes": [node for node in DEV_NODES if os.path.exists(f"/dev/{node}")],
            }
            mounts: list[tuple[str, str, bool]] = []
            for name in ("resolv.conf", "hosts"):
                target = _inside(rootfs, f"/etc/{name}")
                if target is not None and points.ensure(target, False):
                    mounts.append((_stage_host_file(f"/etc/{name}", scratch, name), target, False))
            for bind in binds:
                target = _inside(rootfs, bind.target)
                if target is None or not points.ensure(target, os.path.isdir(bind.source)):
                    raise BuildError(f"cannot bind {bind.source} on {bind.target} in the rootfs")
                mounts.append((os.path.realpath(bind.source), target, bind.readonly))
            inner = argv
            if mode == "fakeroot" and has_glibc(rootfs):
                inner, frdir = _fakeroot_setup(rootfs, scratch, fakeroot_state, argv, points)
                mounts.append((frdir, os.path.join(rootfs, FAKEROOT_DIR), False))
                clean_env["FAKEROOTDONTTRYCHOWN"] = "1"
                clean_env["PATH"] = clean_env["PATH"] + ":/" + FAKEROOT_DIR
            plan.update(binds=mounts, argv=inner, env=clean_env)
            result = _launch(plan, scratch, unshare_argv(mode), capture=capture,
                             on_line=on_line, runner=runner, keep_terminal=keep_terminal)
            if mode == "fakeroot" and fakeroot_state is not None:
                state = os.path.join(scratch, "fakeroot", "state")
                if os.path.exists(state):
                    shutil.copyfile(state, fakeroot_state + ".tmp")
                    os.replace(fakeroot_state + ".tmp", fakeroot_state)
            return result
        finally:
            points.cleanup()


@dataclasses.dataclass(frozen=True)
class MountedImage:
    """An image for `run_image`: a directory (`kind` "dir") or a squashfs at `offset` in
    `source` (`kind` "squashfs"), mounted by the first of `methods` ("loop", "fuse") that works."""

    kind: str
    source: str
    offset: int = 0
    methods: tuple[str, ...] = ()


def run_image(
    image: MountedImage,
    argv: Sequence[str],
    *,
    mode: Mode,
    as_caller: bool,
    env: Mapping[str, str],
    binds: Sequence[Bind] = (),
    cwd: str = "/",
    dirs: Sequence[str] = (),
    writable: bool = False,
    identity: Optional[Mapping[str, object]] = None,
    capture: bool = True,
    on_line: Optional[Callable[[str], None]] = None,
    runner: Runner = run,
    keep_terminal: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` in `image` without unpacking it: nsinit mounts it under an overlay whose upper
    layer is a tmpfs (so the image is never written; `writable` is `--writable-tmpfs`), makes
    the mount points and `dirs`, adds `identity`'s passwd/group lines, binds `binds` (targets
    inside the container) and pivots. Otherwise as `run_in_rootfs`."""
    with _scratch_dir() as scratch:
        root, session = os.path.join(scratch, "root"), os.path.join(scratch, "session")
        os.mkdir(root)
        os.mkdir(session)
        # The namespace's user may be the caller without being its owner (setpriv'd tests).
        os.chmod(scratch, 0o755)
        points: list[tuple[str, bool]] = [("/proc", True), ("/dev", True)]
        points += [("/" + os.path.normpath(d).strip("/"), True) for d in dirs]
        mounts: list[tuple[str, str, bool]] = []
        for name in ("resolv.conf", "hosts"):
            points.append((f"/etc/{name}", False))
            mounts.append((_stage_host_file(f"/etc/{name}", scratch, name),
                           os.path.join(root, "etc", name), False))
        for bind in binds:
            source = os.path.realpath(bind.source)
            if not os.path.exists(source):
                raise BuildError(f"bind source {bind.source} does not exist")
            target = "/" + os.path.normpath(bind.target).strip("/")
            points.append((target, os.path.isdir(source)))
            mounts.append((source, os.path.join(root, target.lstrip("/")), bind.readonly))
        plan: dict[str, object] = {
            "root": root, "read_only": not writable, "privileged": mode == "root",
            "new_session": not keep_terminal, "cwd": cwd or "/", "proc": True, "dev": True,
            "dev_nodes": [node for node in DEV_NODES if os.path.exists(f"/dev/{node}")],
            "image": {"kind": image.kind, "source": os.path.realpath(image.source),
                      "offset": image.offset, "methods": list(image.methods),
                      "session": session, "writable": writable},
            "points": points, "binds": mounts, "argv": list(argv), "env": dict(env),
            "identity": dict(identity) if identity else None,
        }
        return _launch(plan, scratch, [*unshare_argv(mode, as_caller=as_caller)],
                       capture=capture, on_line=on_line, runner=runner,
                       keep_terminal=keep_terminal)


def _launch(plan: Mapping[str, object], scratch: str, prefix: list[str], *, capture: bool,
            on_line: Optional[Callable[[str], None]], runner: Runner, keep_terminal: bool
            ) -> subprocess.CompletedProcess[bytes]:
    """Write the plan and start nsinit on it under `prefix` (the `unshare` command line)."""
    plan_path = os.path.join(scratch, "plan")
    with open(plan_path, "wb") as f:
        # Version 4 (plain dicts, lists, strings, bools) reads in every Python 3.4+, in
        # case nsinit runs under another interpreter (see _interpreter).
        marshal.dump(dict(plan), f, 4)
    full = [*prefix, *nsinit_argv(), plan_path]
    host_env = {"PATH": os.environ.get("PATH", CONTAINER_PATH), "LC_ALL": "C"}
    return _execute(full, env=host_env, cwd="/", capture=capture, on_line=on_line,
                    runner=runner, stdin_from_host=keep_terminal)


def nsinit_argv() -> list[str]:
    """How to start the container's first process: an interpreter, isolated (-I: no PYTHONPATH,
    no user site; -S: no site-packages: nsinit imports only the standard library), on the file
    itself, which stays outside the container."""
    return [_interpreter(), "-I", "-S", NSINIT]


@functools.lru_cache(maxsize=1)
def _interpreter() -> str:
    """This interpreter when the user can run it again (a process that changed uid may run one it
    cannot reach: setpriv keeps the capabilities until exec), else a python3 from PATH."""
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BuildError("no python3 that this user can run (needed to start the sandbox)")


def _bind_line(source: str, target: str, readonly: bool) -> str:
    line = f"mount --rbind {shlex.quote(source)} {shlex.quote(target)}"
    if readonly:
        line += f" && mount -o remount,bind,ro {shlex.quote(target)}"
    return line


def _fakeroot_setup(
    rootfs: str, scratch: str, state: Optional[str], argv: list[str], points: _MountPoints
) -> tuple[list[str], str]:
    """Copy host fakeroot into a scratch dir (returned) to bind at /FAKEROOT_DIR; the state file
    is copied in and out (faked keys it by device and inode, not by path, so a copy is as good).
    Copies, so a %post that overwrites them changes nothing on the host."""
    frdir = os.path.join(scratch, "fakeroot")
    os.mkdir(frdir)
    for name, candidates in FAKEROOT_FILES.items():
        src = _host_file(candidates)
        if src is None:
            raise BuildError("fakeroot is not installed (needed for a rootless %post); "
                             "install the Debian package fakeroot")
        shutil.copy2(src, os.path.join(frdir, name))
    inner_state = f"/{FAKEROOT_DIR}/state"
    fr = [f"/{FAKEROOT_DIR}/fakeroot", "-f", f"/{FAKEROOT_DIR}/faked",
          "-l", f"/{FAKEROOT_DIR}/libfakeroot.so"]
    if state is not None:
        if os.path.exists(state):
            shutil.copyfile(state, os.path.join(frdir, "state"))
            fr += ["-i", inner_state]
        fr += ["-s", inner_state]
    points.ensure(os.path.join(rootfs, FAKEROOT_DIR), True)
    return [*fr, "--", *argv], frdir


def run_in_namespace(
    command: Sequence[str],
    *,
    mode: Mode,
    env: Optional[Mapping[str, str]] = None,
    binds: Sequence[Bind] = (),
    cwd: Optional[str] = None,
    fakeroot_state: Optional[str] = None,
    capture: bool = True,
    on_line: Optional[Callable[[str], None]] = None,
    runner: Runner = run,
) -> subprocess.CompletedProcess[bytes]:
    """See `defkit.engine.context.run_in_namespace`."""
    points = _MountPoints()
    try:
        lines = ["set -e"]
        for bind in binds:
            if not points.ensure(bind.target, os.path.isdir(bind.source)):
                raise BuildError(f"cannot bind {bind.source} on {bind.target}")
            lines.append(_bind_line(bind.source, bind.target, bind.readonly))
        lines.append('exec "$@"')
        inner = list(command)
        run_env = dict(os.environ if env is None else env)
        if fakeroot_state is not None:
            fr = ["fakeroot"]
            if os.path.exists(fakeroot_state):
                fr += ["-i", fakeroot_state]
            inner = [*fr, "-s", fakeroot_state, "--", *inner]
            run_env["FAKEROOTDONTTRYCHOWN"] = "1"
        full = [*unshare_argv(mode), "/bin/sh", "-c", "\n".join(lines), "sh", *inner]
        return _execute(full, env=run_env, cwd=cwd, capture=capture, on_line=on_line,
                        runner=runner)
    finally:
        points.cleanup()
