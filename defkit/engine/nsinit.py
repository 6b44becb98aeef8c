"""The container's first process: mounts, `pivot_root` into the rootfs, privilege drops, exec.

`defkit.engine.sandbox` starts this file (not the module: it must import nothing but the standard
library, so it runs with `python -I -S` and whatever `sys.path` the caller had does not matter)
inside fresh user (rootless), mount, PID, UTS and IPC namespaces made by `unshare`. It reads a
plan (a file, so the environment never shows in `ps`; marshal, not JSON: importing json and re
took half of this process's start-up) and then, as runc's init does:

1. makes every mount inherited from the host read-only in this namespace (`mount_setattr`), so a
   reference to a host file that survives the pivot (the interpreter as `/proc/self/exe`, the
   CVE-2019-5736 class) cannot be written through;
2. binds the rootfs on itself and mounts /proc (with Docker's read-only and masked paths), a tmpfs
   /dev with the host's harmless device nodes, the staged files and the engine's binds;
3. remounts the rootfs `nodev` (and read-only for %test and images): a device node that an image
   or a recipe made cannot be opened;
4. `pivot_root(".", ".")` and a lazy unmount of the old root: the host's tree is no longer in the
   namespace at all (no chroot escape, no /proc/1/root trick);
5. installs a seccomp filter (block-device mknod, TIOCSTI/TIOCLINUX terminal injection), narrows
   the capability bounding set, sets no_new_privs when rootless, starts a new session without a
   terminal for builds, closes every descriptor above 2 (CVE-2024-21626 class) and execs.

An image run (`defkit run/exec/shell/test`, plan key "image") first builds the rootfs in a tmpfs
session directory: the image (a directory, a squashfs mounted by a loop device as root, or by
`squashfuse` rootless) is the lower layer of an overlay whose upper layer is in the tmpfs, so
missing mount points ($HOME, binds) can be made without writing to the image, and
`--writable-tmpfs` is that overlay left writable. The user's /etc/passwd and /etc/group lines
are added to the image's copies (in the tmpfs). Everything lives in this mount namespace, and a
squashfuse daemon in this PID namespace: both vanish with the command.

Nothing from the recipe has run yet while this runs, so the plan's paths are the engine's own.
Errors go to stderr as one line and the exit status is 125 (126/127 when the command cannot run,
as a shell reports it).
"""

from __future__ import annotations

import ctypes
import errno
import marshal
import os
import signal
import struct
import subprocess
import sys
from typing import Any, Optional

PROG = "defkit-sandbox"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 1
#: statvfs flags that a bind remount must repeat (the kernel refuses to clear locked ones).
_KEPT_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
               (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
               (os.ST_RELATIME, MS_RELATIME))

PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 22, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Capability numbers (linux/capability.h).
CAPS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}
#: Root builds keep Apptainer's privileged %post (apt, dnf, chown, mknod of char devices, setuid
#: programs, ptrace) but lose what acts on the host beyond the namespaces we made: kernel modules,
#: raw I/O and /dev/mem, reboot/kexec, the clock, open_by_handle_at ("shocker"), the kernel log,
#: LSM policy, the host network (shared: NET_ADMIN configures it, NET_RAW sniffs it), accounting
#: and audit, BPF and perf, and SYS_ADMIN: with it a %post could mount a fresh procfs or sysfs
#: (writable /proc/sys, /sys/kernel/uevent_helper), a cgroup v1 hierarchy (release_agent), unmount
#: the masks, or swapon. Docker and BuildKit run every RUN step without SYS_ADMIN, so apt, dnf,
#: pip and `make install` do not need it. LINUX_IMMUTABLE: `chattr +i` would make the build tree
#: impossible to remove on the host.
ROOT_DROPPED = ("SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME", "DAC_READ_SEARCH", "SYSLOG",
                "MAC_ADMIN", "MAC_OVERRIDE", "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PACCT",
                "AUDIT_CONTROL", "AUDIT_READ", "BPF", "PERFMON", "SYS_TTY_CONFIG", "WAKE_ALARM",
                "BLOCK_SUSPEND", "CHECKPOINT_RESTORE", "LINUX_IMMUTABLE")
#: Rootless (user namespace) runs keep Docker's default set, what a package install needs (chown
#: to the subuid range, setuid to apt's _apt, chroot for dpkg --root), minus NET_RAW (useless: the
#: network namespace is the host's). No SYS_ADMIN: no mounts, so no new procfs or sysfs views.
USERNS_KEPT = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
               "SETPCAP", "SETFCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE")

#: Docker's read-only and masked /proc paths (moby oci/defaults.go).
PROC_READ_ONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger")
PROC_MASKED = ("acpi", "asound", "kcore", "keys", "latency_stats", "timer_list", "timer_stats",
               "sched_debug", "scsi")

#: pivot_root has no glibc wrapper; the syscall numbers (asm/unistd_64.h, asm-generic/unistd.h).
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
MOUNT_SETATTR = 442  # the same on every architecture (added after the numbering was unified)

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)}")


def _mount(source: Optional[str], target: str, fstype: Optional[str], flags: int,
           data: Optional[str] = None) -> None:
    result = _libc.mount(source.encode() if source else None, target.encode(),
                         fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                         data.encode() if data else None)
    _check(result, f"mount {source or fstype} on {target}")


def _remount(target: str, flags: int) -> None:
    """Change a bind mount's flags, repeating the ones the kernel locked (user namespace)."""
    current = os.statvfs(target).f_flag
    kept = sum(ms for st, ms in _KEPT_FLAGS if current & st)
    if not kept & (MS_NOATIME | MS_RELATIME):
        kept |= MS_STRICTATIME
    _mount(None, target, None, MS_REMOUNT | MS_BIND | kept | flags)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _host_read_only() -> None:
    """Every mount of this namespace's copy of the host tree read-only (not the host's own)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    result = _libc.syscall(MOUNT_SETATTR, -100, b"/", AT_RECURSIVE, ctypes.byref(attr),
                           ctypes.sizeof(attr))
    if result != 0 and ctypes.get_errno() == errno.ENOSYS:  # before Linux 5.12: the top only
        _remount("/", MS_RDONLY)
        return
    _check(result, "mount_setattr / read-only")


def _safe_target(path: str) -> str:
    """A mount target exactly as planned: no symlink anywhere in it (a mount would follow one)."""
    if os.path.realpath(path) != path:
        raise SetupError(f"mount target {path} is not where it was planned (a symlink?)")
    return path


def _bind(source: str, target: str, readonly: bool) -> None:
    _mount(source, _safe_target(target), None, MS_BIND | MS_REC)
    # The copy of the host tree is read-only (step 1): a writable bind says so again.
    _remount(target, MS_RDONLY if readonly else 0)


def _mount_proc(root: str) -> None:
    proc = _safe_target(os.path.join(root, "proc"))
    _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:
        path = os.path.join(proc, name)
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _remount(path, MS_RDONLY)
    for name in PROC_MASKED:
        path = os.path.join(proc, name)
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        elif os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND)


def _mount_dev(root: str, nodes: list[str]) -> None:
    """A tmpfs /dev (nodev: only the bound host nodes open) with the host's harmless nodes."""
    dev = _safe_target(os.path.join(root, "dev"))
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    for node in nodes:
        target = os.path.join(dev, node)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
        try:
            _bind(f"/dev/{node}", target, False)
        except SetupError:
            os.unlink(target)
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    os.chmod(os.path.join(dev, "shm"), 0o1777)
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                       ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(link, os.path.join(dev, name))
    # apt wants a pty for its logs: a private devpts instance (not the host's ptys).
    try:
        _mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666")
    except SetupError:
        return
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))


def _pivot(root: str) -> None:
    """runc's `pivot_root(".", ".")`: the old root ends up on top of the new one, and a lazy
    unmount takes it (and every host mount under it) out of the namespace."""
    number = PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise SetupError(f"pivot_root: unknown syscall number on {os.uname().machine}")
    os.chdir(root)
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


# --- seccomp ------------------------------------------------------------------------------------
#
# Written by hand: the library binding (python3-seccomp) is a Debian package that a venv cannot
# import, and PyPI's pyseccomp (a 2021 ctypes shim) still needs libseccomp.so and runs `ldconfig`
# twice on import, in every %post. The filter is a dozen classic-BPF instructions over a stable
# kernel ABI (linux/seccomp.h, linux/filter.h).

BPF_LD_W_ABS, BPF_ALU_AND_K, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x54, 0x15, 0x35, 0x06
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
S_IFMT, S_IFBLK = 0o170000, 0o060000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
X32_SYSCALL_BIT = 0x40000000
#: audit arch -> (mknod, mknodat, ioctl) syscall numbers; mknod None where only mknodat exists.
#: x86_64: asm/unistd_64.h; i386 (compat on x86_64): asm/unistd_32.h; aarch64: asm-generic;
#: 32-bit ARM (compat on aarch64): arch/arm/tools/syscall.tbl.
SECCOMP_ARCHES = {
    "x86_64": ((0xC000003E, (133, 259, 16)), (0x40000003, (14, 297, 54))),
    "aarch64": ((0xC00000B7, (None, 33, 29)), (0x40000028, (14, 324, 54))),
}
_ARG = 16  # offsetof(struct seccomp_data, args); little-endian: the low word is first


Insn = tuple[int, int, int, int]  # struct sock_filter: code, jt, jf, k


def seccomp_program(machine: str) -> Optional[list[Insn]]:
    """The filter for `machine` as sock_filter instructions, or None when it is not in the table.

    For each known audit arch: mknod/mknodat of a block device and the TIOCSTI/TIOCLINUX ioctls
    fail with EPERM; on x86_64 the x32 ABI (another numbering) gets ENOSYS, and so does any other
    arch. Jumps are written as labels and resolved at the end (classic BPF jumps forward only).
    """
    arches = SECCOMP_ARCHES.get(machine)
    if arches is None:
        return None
    program: list[tuple[str, int, int, str, str]] = []  # label, code, k, jump-if-true, -if-false

    def emit(code: int, k: int, jt: str = "", jf: str = "", label: str = "") -> None:
        program.append((label, code, k, jt, jf))

    emit(BPF_LD_W_ABS, 4)  # seccomp_data.arch
    for index, (audit_arch, _) in enumerate(arches):
        emit(BPF_JEQ_K, audit_arch, jt=f"arch{index}")
    emit(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    for index, (_, (mknod, mknodat, ioctl)) in enumerate(arches):
        emit(BPF_LD_W_ABS, 0, label=f"arch{index}")  # seccomp_data.nr
        if index == 0 and machine == "x86_64":
            emit(BPF_JGE_K, X32_SYSCALL_BIT, jt="nosys")
        if mknod is not None:
            emit(BPF_JEQ_K, mknod, jt="mknod")
        emit(BPF_JEQ_K, mknodat, jt="mknodat")
        emit(BPF_JEQ_K, ioctl, jt="ioctl")
        emit(BPF_RET_K, SECCOMP_RET_ALLOW)
    for label, arg in (("mknod", 1), ("mknodat", 2)):  # mknod(path, mode, dev), mknodat(dirfd, ..)
        emit(BPF_LD_W_ABS, _ARG + 8 * arg, label=label)
        emit(BPF_ALU_AND_K, S_IFMT)
        emit(BPF_JEQ_K, S_IFBLK, jt="eperm", jf="allow")
    # ioctl(fd, cmd, arg): the kernel takes cmd as an unsigned int, so the low word decides.
    emit(BPF_LD_W_ABS, _ARG + 8, label="ioctl")
    emit(BPF_JEQ_K, TIOCSTI, jt="eperm")
    emit(BPF_JEQ_K, TIOCLINUX, jt="eperm", jf="allow")
    emit(BPF_RET_K, SECCOMP_RET_ALLOW, label="allow")
    emit(BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM, label="eperm")
    emit(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS, label="nosys")
    where = {label: index for index, (label, *_) in enumerate(program) if label}

    def jump(at: int, label: str) -> int:
        return where[label] - at - 1 if label else 0

    return [(code, jump(at, jt), jump(at, jf), k)
            for at, (_, code, k, jt, jf) in enumerate(program)]


def _install_seccomp() -> None:
    program = seccomp_program(os.uname().machine)
    if program is None:  # no table for this architecture: the nodev mounts still hold
        return
    raw = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
           "seccomp")


# --- capabilities -------------------------------------------------------------------------------


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(CAPS.values())


def _narrow_capabilities(dropped: set[int]) -> None:
    """Drop from the bounding set (what an exec can ever hold again), the inheritable set (root's
    exec adds it back) and the ambient set."""
    for cap in sorted(dropped):
        result = _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
        if result != 0 and ctypes.get_errno() != errno.EINVAL:  # EINVAL: unknown to this kernel
            _check(result, f"drop capability {cap}")
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    for word in data:
        word.inheritable = 0
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps")


def dropped_capabilities(privileged: bool, last_cap: int) -> set[int]:
    if privileged:
        return {CAPS[name] for name in ROOT_DROPPED}
    kept = {CAPS[name] for name in USERNS_KEPT}
    return set(range(last_cap + 1)) - kept


# --- the whole sequence ------------------------------------------------------------------------


# --- images: the rootfs as an overlay on a mounted image -----------------------------------------


def _mount_lower(image: dict[str, Any], lower: str) -> None:
    """The image, read-only, on `lower`: a directory bound, or a squashfs mounted by the first
    method that works (the kernel with a loop device as root; squashfuse in a user namespace)."""
    if image["kind"] == "dir":
        _mount(image["source"], lower, None, MS_BIND | MS_REC)
        _remount(lower, MS_RDONLY)
        return
    failures = []
    for method in image["methods"]:
        if method == "loop":
            # util-linux's mount sets up the loop device with autoclear: it is freed when the
            # mount goes, that is when this namespace ends.
            argv = ["mount", "-n", "-t", "squashfs", "-o", f"ro,loop,offset={image['offset']}",
                    image["source"], lower]
        else:
            argv = ["squashfuse", "-o", f"ro,offset={image['offset']}", image["source"], lower]
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        if done.returncode == 0:
            return
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        failures.append(f"{argv[0]}: {detail[-1] if detail else 'failed'}")
    raise SetupError("cannot mount the image (" + "; ".join(failures) + ")")


def _ensure_point(root: str, path: str, is_dir: bool) -> None:
    """Create the mount point `path` (container-absolute) in the overlay, never through a
    symlink: a mount on one would land wherever the image points it."""
    current = root
    parts = [p for p in path.split("/") if p]
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        last = index == len(parts) - 1
        if os.path.islink(current):
            raise SetupError(f"mount point {path} is a symlink in the image")
        if os.path.lexists(current):
            continue
        if last and not is_dir:
            os.close(os.open(current, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
        else:
            os.mkdir(current, 0o755)


def _merged_lines(existing: str, added: list[str], replaced: set[str], field: int) -> str:
    """The image's passwd/group text without the lines whose `field` is in `replaced`, plus
    `added` (Apptainer's "config passwd/group": the caller is known inside)."""
    kept = [line for line in existing.splitlines()
            if line.split(":")[field:field + 1] and line.split(":")[field] not in replaced]
    return "".join(line + "\n" for line in [*kept, *added])


def _read_image_file(root: str, path: str) -> str:
    full = os.path.join(root, path)
    if os.path.islink(full) or not os.path.isfile(full):
        return ""
    with open(full, "rb") as f:
        return f.read(1 << 20).decode("utf-8", "replace")


def _identity_files(root: str, session: str, identity: dict[str, Any]) -> list[
        tuple[str, str, bool]]:
    """Staged /etc/passwd and /etc/group (in the session tmpfs) and where to bind them."""
    binds = []
    for name, field, added, replaced in (
            ("passwd", 2, identity["passwd"], {str(identity["uid"])}),
            ("group", 2, identity["groups"], {str(gid) for gid in identity["gids"]})):
        text = _merged_lines(_read_image_file(root, f"etc/{name}"), added, replaced, field)
        staged = os.path.join(session, name)
        with open(staged, "w", encoding="utf-8") as f:
            f.write(text)
        _ensure_point(root, f"/etc/{name}", False)
        binds.append((staged, os.path.join(root, "etc", name), False))
    return binds


def _mount_image(root: str, image: dict[str, Any], points: list[tuple[str, bool]]) -> None:
    """The rootfs on `root`: an overlay of a tmpfs on the image, with the mount points made."""
    session = _safe_target(image["session"])
    _mount("tmpfs", session, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    lower, upper, work = (os.path.join(session, name) for name in ("lower", "upper", "work"))
    for path in (lower, upper, work):
        os.mkdir(path, 0o755)
    _mount_lower(image, lower)
    try:
        _mount("overlay", root, "overlay", 0,
               f"lowerdir={lower},upperdir={upper},workdir={work}")
    except SetupError:
        if image["writable"] or points:
            raise
        _mount(lower, root, None, MS_BIND | MS_REC)  # nothing to add: the image as it is
    for path, is_dir in points:
        _ensure_point(root, path, is_dir)


def setup(plan: dict[str, Any]) -> None:
    root: str = plan["root"]
    last_cap = _last_cap()  # read now: the host's /proc is gone after the pivot
    _host_read_only()
    image: Optional[dict[str, Any]] = plan.get("image")
    binds = list(plan["binds"])
    if image is not None:
        _mount_image(root, image, plan.get("points", []))
        if plan.get("identity"):
            binds += _identity_files(root, image["session"], plan["identity"])
    _mount(root, _safe_target(root), None, MS_BIND | MS_REC)
    if plan["proc"]:
        _mount_proc(root)
    if plan["dev"]:
        _mount_dev(root, plan["dev_nodes"])
    for source, target, readonly in binds:
        _bind(source, target, readonly)
    _remount(root, MS_NODEV | (MS_RDONLY if plan["read_only"] else 0))
    _pivot(root)
    privileged: bool = plan["privileged"]
    if not privileged:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _install_seccomp()  # root: still holds CAP_SYS_ADMIN here, which seccomp needs without NNP
    _narrow_capabilities(dropped_capabilities(privileged, last_cap))
    if plan["new_session"]:
        os.setsid()


def _execvp(argv: list[str], env: dict[str, str]) -> OSError:
    """execvp as glibc does it, with the command's PATH, inside the new root: a file without a
    `#!` line runs with /bin/sh (as `chroot ROOTFS CMD` did). Returns only on failure."""
    name = argv[0]
    paths = [name] if "/" in name else [
        os.path.join(d or ".", name) for d in env.get("PATH", os.defpath).split(":")]
    failure: OSError = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    for path in paths:
        try:
            os.execve(path, argv, env)
        except OSError as exc:
            if exc.errno == errno.ENOEXEC:
                try:
                    os.execve("/bin/sh", ["/bin/sh", path, *argv[1:]], env)
                except OSError as shell_exc:
                    return shell_exc
            if exc.errno == errno.EACCES:  # glibc: remember, try the rest of PATH
                failure = exc
            elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                return exc
    return failure


def _exec(argv: list[str], env: dict[str, str], cwd: str) -> int:
    try:
        os.chdir(cwd)
    except OSError as exc:
        print(f"{PROG}: cannot enter {cwd}: {exc.strerror}", file=sys.stderr)
        return 1
    # Nothing of ours may leak into the container (CVE-2024-21626: an fd of a host directory).
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    # Python starts with SIGPIPE and SIGXFSZ ignored, and an ignored signal stays ignored across
    # exec: `yes | head` in a %post would then never end (`yes` gets EPIPE, not the signal).
    for number in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(number, signal.SIG_DFL)
    failure = _execvp(argv, env)
    print(f"{PROG}: cannot run {argv[0]}: {failure.strerror}", file=sys.stderr)
    return 127 if failure.errno == errno.ENOENT else 126


def main(args: list[str]) -> int:
    try:
        with open(args[0], "rb") as f:
            plan = marshal.load(f)
        setup(plan)
    except Exception as exc:  # one line, never a traceback
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 125
    return _exec(plan["argv"], plan["env"], plan["cwd"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
