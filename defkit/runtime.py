"""`defkit run|exec|shell|test IMAGE` with Apptainer's default environment, without unpacking.

The image is mounted, not unpacked, inside the command's own namespaces (defkit.engine.sandbox,
nsinit.py): as root its squashfs partition by offset through a loop device, rootless with
`squashfuse` in the user namespace; where neither can work (no /dev/fuse for this user) an
unpacked copy cached under $DEFKIT_CACHE_DIR/runtime/sha256/<sha256 of the image> is the lower
layer, so only the first call pays. A sandbox directory is used in place. Either way an overlay
with a tmpfs upper layer holds the mount points (and the writes of `--writable-tmpfs`), so the image
is never changed; mounts, the squashfuse daemon and fakeroot's IPC objects live in namespaces that
die with the command, and the command dies with defkit (the runner's PR_SET_PDEATHSIG).

As Apptainer: the caller's uid and gid inside (root stays root; `--fakeroot` maps the caller to
root), the host's passwd/group lines for the caller added to the image's, $HOME, the current
directory and /tmp bound from the host, the working directory kept, the host environment passed
(`--cleanenv` keeps only TERM and the proxies) with APPTAINERENV_*/SINGULARITYENV_* and
`--env`/`--env-file` set inside, then the image's /.singularity.d/env scripts sourced by the
action script. What defkit does not do is refused by name (UNSUPPORTED), never ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Optional

from defkit.atomic import replacing
from defkit.engine.container_env import RunOptions, caller_home, container_env, identity
from defkit.engine.context import Bind, Mode
from defkit.engine.sandbox import MountedImage, run_image
from defkit.errors import DefkitError, UsageError
from defkit.runner import Runner, run

ACTIONS = ("run", "exec", "test", "shell")
#: Host directories Apptainer does not bind as the current directory (system paths).
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin",
               "/sys", "/usr", "/var")
#: Apptainer options defkit does not implement: refused with this reason, never ignored.
UNSUPPORTED = {
    "instance": "instances: containers left running in the background",
    "--nv": "NVIDIA GPU library binding",
    "--nvccli": "NVIDIA GPU set-up through nvidia-container-cli",
    "--rocm": "AMD ROCm GPU library binding",
    "--overlay": "persistent overlays",
    "--net": "network namespaces",
    "--network": "network namespaces",
    "--network-args": "network namespaces",
    "--writable": "writable images (use a sandbox directory and `defkit build --sandbox`)",
    "--userns": "choosing the namespace mode (defkit picks it)",
    "--security": "SELinux/AppArmor/seccomp profiles",
    "--hostname": "setting the hostname",
    "--dns": "a container DNS configuration",
}


class RuntimeError_(DefkitError):
    """The image cannot be run (not an image, extraction failed)."""


def refuse(option: str) -> UsageError:
    reason = UNSUPPORTED.get(option, "this option")
    return UsageError(f"defkit does not support Apptainer's {option} ({reason}); "
                      "run the image with Apptainer for that")


def parse_binds(specs: Sequence[str]) -> list[Bind]:
    """`src[:dst[:ro|rw]]`, several per argument separated by commas (Apptainer's --bind)."""
    binds = []
    for spec in specs:
        for item in spec.split(","):
            if not item.strip():
                continue
            parts = item.strip().split(":")
            if len(parts) > 3:
                raise UsageError(f"bad --bind {item!r}: expected src[:dst[:ro|rw]]")
            source = parts[0]
            target = parts[1] if len(parts) > 1 and parts[1] else source
            options = parts[2] if len(parts) > 2 else "rw"
            if options not in ("ro", "rw"):
                raise UsageError(f"bad --bind {item!r}: option {options!r} is not ro or rw "
                                 "(defkit supports only those)")
            if not os.path.isabs(target):
                raise UsageError(f"bad --bind {item!r}: the destination must be absolute")
            if not os.path.exists(source):
                raise UsageError(f"bad --bind {item!r}: {source} does not exist")
            binds.append(Bind(os.path.abspath(source), target, options == "ro"))
    return binds


def default_binds(options: RunOptions, cwd: str, home: str) -> tuple[list[Bind], str]:
    """Apptainer's automatic binds ($HOME, /tmp, the current directory) and the working
    directory inside. --contain/--containall: none of them, and the command starts in $HOME."""
    contained = options.contain or options.containall
    binds: list[Bind] = []
    if not contained:
        if not options.no_home and os.path.isdir(home) and home != "/":
            binds.append(Bind(home, home))
        binds.append(Bind("/tmp", "/tmp"))
        system = cwd == "/" or any(cwd == d or cwd.startswith(d + "/") for d in SYSTEM_DIRS)
        covered = any(cwd == b.target or cwd.startswith(b.target.rstrip("/") + "/")
                      for b in binds)
        if not system and not covered:
            binds.append(Bind(cwd, cwd))
    workdir = options.pwd or (home if contained else cwd)
    return binds, workdir


def runtime_mode() -> Mode:
    """Root runs as root; anyone else in a user namespace (as themselves, or as root there with
    --fakeroot: `run_image`'s as_caller)."""
    return "root" if os.geteuid() == 0 else "userns"


def _squashfs_offset(image: str) -> int:
    from defkit.sif.reader import is_sif, read_sif

    if is_sif(image):
        return read_sif(image).partition_offset
    with open(image, "rb") as f:
        if f.read(4) == b"hsqs":
            return 0
    raise RuntimeError_(f"{image} is neither a SIF image, a squashfs image nor a sandbox")


def cache_dir() -> str:
    """`runtime/` in defkit's cache directory (`$DEFKIT_CACHE_DIR`, else
    `$XDG_CACHE_HOME/defkit`)."""
    from defkit.registry.store import cache_dir as defkit_cache_dir

    return os.path.join(defkit_cache_dir(), "runtime")


def _content_hash(image: str) -> str:
    """The image's sha256, remembered by (device, inode, size, mtime) so a later call on the same
    unchanged file does not read it all again (0.2 s for 100 MiB)."""
    st = os.stat(image)
    memo = os.path.join(cache_dir(), "by-file",
                        f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}")
    try:
        with open(memo, encoding="ascii") as f:
            known = f.read().strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    from defkit.sif.oras import sha256_file

    hexdigest = sha256_file(image)[0].removeprefix("sha256:")
    os.makedirs(os.path.dirname(memo), exist_ok=True)
    with replacing(memo) as temporary, open(temporary, "w", encoding="ascii") as f:
        f.write(hexdigest)
    return hexdigest


def _copy_lock(final: str, exclusive: bool) -> Optional[int]:
    """A lock on one unpacked copy (`final` + ".lock"): shared while a command runs on it,
    exclusive for `gc_unpacked`; None when an exclusive one is refused (the copy is in use)."""
    import fcntl

    fd = os.open(final + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _layout(fakeroot: bool) -> tuple[str, list[str]]:
    """The unpacked copy's name and what unsquashfs runs under, for the namespace the command
    will run in, so that it shows the owners the SIF holds. With an /etc/subuid range the
    copy's files belong to the ids that namespace maps to the SIF's (`--fakeroot`: the build
    engine's mapping, root the caller; otherwise the caller as itself and the other ids on the
    range: sandbox.caller_id_maps), one copy for each. Without one, only the caller's own id
    can own files: everything in the copy is the caller's (see the README)."""
    from defkit.engine.sandbox import (
        caller_id_maps,
        caller_userns_prefix,
        subid_ranges,
        userns_flags,
    )

    if os.geteuid() == 0:
        return "rootfs", []
    ranges, maps = subid_ranges(), caller_id_maps()
    if ranges is None or maps is None:
        return "rootfs", ["unshare", "--map-root-user"]
    (uid_start, uid_count), (gid_start, gid_count) = ranges
    ids = f"{uid_start}-{uid_count}-{gid_start}-{gid_count}"
    if fakeroot:
        return f"rootfs-root-{ids}", ["unshare", *userns_flags("userns")]
    # unsquashfs sets owners only as root: root of that namespace (on the range) unpacks.
    return (f"rootfs-{os.getuid()}-{os.getgid()}-{ids}",
            [*caller_userns_prefix(maps), "setpriv", "--reuid=0", "--regid=0", "--clear-groups"])


def cached_rootfs(image: str, offset: int, runner: Runner = run, *, fakeroot: bool = False
                  ) -> tuple[str, int]:
    """The image unpacked once under cache_dir()/sha256/<sha256>/<layout> (unpacked into a
    staging directory and renamed, so a concurrent or interrupted call never sees half a tree),
    and a shared lock on it (close it when the command ends) so `defkit cache gc` leaves it
    alone meanwhile. A staging directory of a killed call is reclaimed by the next one."""
    final = os.path.join(cache_dir(), "sha256", _content_hash(image))
    os.makedirs(final, exist_ok=True)
    name, prefix = _layout(fakeroot)
    rootfs = os.path.join(final, name)
    lock = _copy_lock(final, exclusive=False)
    assert lock is not None
    try:
        if not os.path.isdir(rootfs):
            _reclaim_staging()
            _unpack(image, offset, rootfs, prefix, runner)
        os.utime(final)  # its last use, for `gc --max-age`
        return rootfs, lock
    except BaseException:
        os.close(lock)
        raise


def _unpack(image: str, offset: int, rootfs: str, prefix: list[str], runner: Runner) -> None:
    from defkit.engine.sandbox import remove_tree

    staging = tempfile.mkdtemp(prefix=".unpack-", dir=os.path.dirname(rootfs))
    # Held while unpacking: a staging directory nobody holds belongs to a killed call.
    held = _copy_lock(staging, exclusive=True)
    try:
        os.chmod(staging, 0o755)  # the namespace's root may be another id than its owner
        # Into the staging directory itself, renamed in the same parent: a directory that an
        # id on the subordinate range owns cannot be moved into another (its ".." changes).
        argv = [*prefix, "unsquashfs", "-f", "-n", "-no-xattrs", "-o", str(offset), "-d",
                staging, image]
        result = runner(argv, timeout=3600)
        if result.returncode != 0 and not os.path.isdir(os.path.join(staging, ".singularity.d")):
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError_(f"cannot unpack {image}: {detail[-1] if detail else 'failed'}")
        try:
            os.rename(staging, rootfs)
        except OSError:  # another call got there first
            if not os.path.isdir(rootfs):
                raise
    finally:
        if os.path.isdir(staging):
            remove_tree(staging)
        with contextlib.suppress(OSError):
            os.unlink(staging + ".lock")
        if held is not None:
            os.close(held)


def _reclaim_staging() -> None:
    """Remove the staging directories of unpacking calls that were killed (nobody holds their
    lock)."""
    from defkit.engine.sandbox import remove_tree

    base = os.path.join(cache_dir(), "sha256")
    with contextlib.suppress(FileNotFoundError):
        for image in os.listdir(base):
            with contextlib.suppress(NotADirectoryError, FileNotFoundError):
                for name in os.listdir(os.path.join(base, image)):
                    path = os.path.join(base, image, name)
                    if not name.startswith(".unpack-") or name.endswith(".lock"):
                        continue
                    lock = _copy_lock(path, exclusive=True)
                    if lock is None:  # still being unpacked
                        continue
                    try:
                        remove_tree(path)
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(path + ".lock")
                    finally:
                        os.close(lock)


def gc_unpacked(max_age: Optional[float] = None, now: Optional[float] = None) -> list[str]:
    """`defkit cache gc`'s part: remove the unpacked copies unused for longer than `max_age`
    seconds (without it, all of them), never one a running command holds, the staging
    directories of killed calls and the memos of image hashes. Returns the removed copies."""
    from defkit.engine.sandbox import remove_tree

    now = time.time() if now is None else now
    base = os.path.join(cache_dir(), "sha256")
    _reclaim_staging()
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(base)):
            path = os.path.join(base, name)
            if len(name) != 64 or not os.path.isdir(path):
                continue
            if max_age is not None and now - os.stat(path).st_mtime <= max_age:
                continue
            lock = _copy_lock(path, exclusive=True)
            if lock is None:  # a command runs on it
                continue
            try:
                remove_tree(path)
                removed.append(path)
            finally:
                os.unlink(path + ".lock")
                os.close(lock)
    if removed:
        shutil.rmtree(os.path.join(cache_dir(), "by-file"), ignore_errors=True)
    return removed


def mount_methods() -> tuple[str, ...]:
    """How this caller can mount a squashfs: the kernel with a loop device (root), squashfuse
    (when /dev/fuse is open to us)."""
    methods: list[str] = []
    if os.geteuid() == 0 and os.path.exists("/dev/loop-control"):
        methods.append("loop")
    if shutil.which("squashfuse") and os.access("/dev/fuse", os.R_OK | os.W_OK):
        methods.append("fuse")
    return tuple(methods)


@contextlib.contextmanager
def resolve_image(image: str, runner: Runner = run, *, fakeroot: bool = False
                  ) -> Iterator[MountedImage]:
    """The MountedImage for `image`: a sandbox directory, a mountable squashfs, or the cached
    unpacked copy when nothing can mount it (locked against `gc_unpacked` meanwhile)."""
    if os.path.isdir(image):
        if not os.path.isdir(os.path.join(image, ".singularity.d")) and not os.path.exists(
                os.path.join(image, "bin")):
            raise RuntimeError_(f"{image} is not a container sandbox (no /.singularity.d)")
        yield MountedImage("dir", os.path.realpath(image))
        return
    if not os.path.isfile(image):
        raise UsageError(f"{image}: no such image")
    offset = _squashfs_offset(image)
    methods = mount_methods()
    if methods:
        yield MountedImage("squashfs", os.path.realpath(image), offset, methods)
        return
    rootfs, lock = cached_rootfs(image, offset, runner, fakeroot=fakeroot)
    try:
        yield MountedImage("dir", rootfs)
    finally:
        os.close(lock)


#: Starts the action script, or (an image not built by Apptainer or defkit, without them) does
#: what it would do. Decided inside: a mounted image cannot be looked into from here.
_ACTION = """a=/.singularity.d/actions/$0
[ -x "$a" ] && exec "$a" "$@"
case $0 in
exec) exec "$@" ;;
run) [ -x /.singularity.d/runscript ] && exec /.singularity.d/runscript "$@" ;;
test) [ -x /.singularity.d/test ] && exec /.singularity.d/test "$@"; exit 0 ;;
esac
exec /bin/sh "$@"
"""


def action_argv(action: str, args: Sequence[str]) -> list[str]:
    return ["/bin/sh", "-c", _ACTION, action, *args]


def run_action(image: str, action: str, args: Sequence[str] = (), *,
               options: RunOptions = RunOptions(), environ: Optional[Mapping[str, str]] = None,
               cwd: Optional[str] = None, capture: bool = False, runner: Runner = run,
               app: Optional[str] = None) -> tuple[int, bytes]:
    """Run an action of `image`; returns (exit code, captured output when `capture`)."""
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action}")
    if action == "exec" and not args:
        raise UsageError("exec needs a command")
    if app:
        options = dataclasses.replace(options, app=app)
    environ = os.environ if environ is None else environ
    image = os.path.abspath(image)
    fakeroot = options.fakeroot and os.geteuid() != 0
    home = "/root" if fakeroot else caller_home()
    here = os.path.realpath(cwd or os.getcwd())
    bind_specs = [*[environ[k] for k in ("APPTAINER_BIND", "SINGULARITY_BIND") if environ.get(k)],
                  *options.binds]
    auto, workdir = default_binds(options, here, home)
    binds = [*auto, *parse_binds(bind_specs)]
    env = container_env(image, environ, options, home)
    env["PWD"] = workdir
    with resolve_image(image, runner, fakeroot=fakeroot) as mounted:
        result = run_image(mounted, action_argv(action, args), mode=runtime_mode(),
                           as_caller=not fakeroot, env=env, binds=binds, cwd=workdir,
                           dirs=[workdir], writable=options.writable_tmpfs,
                           identity=identity(fakeroot), capture=capture, runner=runner,
                           keep_terminal=not capture)
    code = result.returncode
    if code < 0:  # killed by a signal: the shell's convention
        code = 128 - code
    output = (result.stdout or b"") + (result.stderr or b"") if capture else b""
    return code, output
