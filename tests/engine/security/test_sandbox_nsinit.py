"""The sandbox's first process (defkit/engine/nsinit.py), piece by piece: the seccomp program on
every architecture it knows (run here by a small classic-BPF interpreter, so the aarch64 and
compat tables are checked on any machine), the capabilities and no_new_privs each mode ends with,
descriptors and a cwd inherited from the caller, device nodes inside the rootfs, and the host
interpreter reached through /proc/self/exe (CVE-2019-5736)."""

from __future__ import annotations

import errno
import os
import pathlib
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Optional

import pytest

from defkit.engine import nsinit
from defkit.engine.context import run_in_rootfs
from defkit.engine.sandbox import run_in_rootfs as sandbox_run_in_rootfs
from tests.engine.security.canary import Canary
from tests.engine.security.sandbox_attacks import assert_blocked, copy_host_binary

ALLOW = nsinit.SECCOMP_RET_ALLOW
EPERM = nsinit.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = nsinit.SECCOMP_RET_ERRNO | errno.ENOSYS
X86_64, I386, AARCH64, ARM = 0xC000003E, 0x40000003, 0xC00000B7, 0x40000028
BLK, CHR, FIFO = stat.S_IFBLK | 0o600, stat.S_IFCHR | 0o600, stat.S_IFIFO | 0o600

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="root mode needs root")


def run_bpf(program: Sequence[tuple[int, int, int, int]], nr: int, arch: int,
            args: Sequence[int] = ()) -> int:
    """The kernel's classic-BPF semantics for the instructions nsinit emits."""
    words = [value & (2**64 - 1) for value in [*args, 0, 0, 0, 0, 0, 0][:6]]  # as u64
    data = struct.pack("<iIQ6Q", nr, arch, 0, *words)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == nsinit.BPF_LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == nsinit.BPF_ALU_AND_K:
            acc &= k
        elif code in (nsinit.BPF_JEQ_K, nsinit.BPF_JGE_K):
            taken = acc == k if code == nsinit.BPF_JEQ_K else acc >= k
            pc += jt if taken else jf
        elif code == nsinit.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


@pytest.mark.parametrize(("machine", "arch", "nr", "args", "expected"), [
    ("x86_64", X86_64, 259, (-100, 0, BLK, 0x800), EPERM),  # mknodat
    ("x86_64", X86_64, 133, (0, BLK, 0x800), EPERM),  # mknod
    ("x86_64", X86_64, 259, (-100, 0, CHR, 0x103), ALLOW),
    ("x86_64", X86_64, 133, (0, FIFO, 0), ALLOW),
    ("x86_64", X86_64, 16, (0, 0x5412, 0), EPERM),  # ioctl TIOCSTI
    ("x86_64", X86_64, 16, (0, 0xFFFF_FFFF_0000_5412, 0), EPERM),  # high bits ignored
    ("x86_64", X86_64, 16, (0, 0x541C, 0), EPERM),  # TIOCLINUX
    ("x86_64", X86_64, 16, (0, 0x5401, 0), ALLOW),  # TCGETS
    ("x86_64", X86_64, 0, (), ALLOW),  # read
    ("x86_64", X86_64, 0x40000000 | 259, (-100, 0, BLK, 0), ENOSYS),  # x32
    ("x86_64", I386, 14, (0, BLK, 0), EPERM),
    ("x86_64", I386, 297, (-100, 0, BLK, 0), EPERM),
    ("x86_64", I386, 54, (0, 0x5412, 0), EPERM),
    ("x86_64", I386, 297, (-100, 0, CHR, 0), ALLOW),
    ("x86_64", AARCH64, 33, (-100, 0, BLK, 0), ENOSYS),  # a foreign arch
    ("aarch64", AARCH64, 33, (-100, 0, BLK, 0), EPERM),
    ("aarch64", AARCH64, 33, (-100, 0, FIFO, 0), ALLOW),
    ("aarch64", AARCH64, 29, (0, 0x5412, 0), EPERM),
    ("aarch64", AARCH64, 133, (0, BLK, 0), ALLOW),  # rt_sigsuspend there, not mknod
    ("aarch64", ARM, 14, (0, BLK, 0), EPERM),
    ("aarch64", ARM, 324, (-100, 0, BLK, 0), EPERM),
    ("aarch64", ARM, 54, (0, 0x5412, 0), EPERM),
    ("aarch64", X86_64, 259, (-100, 0, BLK, 0), ENOSYS),
])
def test_seccomp_program(machine: str, arch: int, nr: int, args: tuple[int, ...],
                         expected: int) -> None:
    program = nsinit.seccomp_program(machine)
    assert program is not None
    assert run_bpf(program, nr, arch, args) == expected


def test_no_seccomp_table_for_other_machines() -> None:
    assert nsinit.seccomp_program("riscv64") is None


def _status(rootfs: pathlib.Path, mode: str) -> dict[str, str]:
    done = run_in_rootfs(str(rootfs), "cat /proc/self/status", mode=mode)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    return dict(line.split(":\t", 1) for line in done.stdout.decode().splitlines()
                if ":\t" in line)


@pytest.mark.parametrize("mode", [pytest.param("root", marks=needs_root), "userns"])
def test_capabilities_no_new_privs_and_seccomp(project: pathlib.Path, mode: str) -> None:
    status = _status(project / "rootfs", mode)
    bounding = int(status["CapBnd"], 16)
    held = {name for name, bit in nsinit.CAPS.items() if bounding & (1 << bit)}
    if mode == "root":
        assert held.isdisjoint(nsinit.ROOT_DROPPED)
        assert {"CHOWN", "DAC_OVERRIDE", "SETUID", "MKNOD", "SYS_CHROOT", "SYS_PTRACE"} <= held
        assert status["NoNewPrivs"].strip() == "0"  # setuid programs keep working as root
    else:
        assert held == set(nsinit.USERNS_KEPT)
        assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapInh"], 16) == 0 and int(status["CapAmb"], 16) == 0
    assert status["Seccomp"].strip() == "2"


@pytest.mark.parametrize("mode", [pytest.param("root", marks=needs_root), "userns"])
def test_inherited_descriptors_and_cwd_stay_outside(project: pathlib.Path,
                                                    attack_bin: pathlib.Path, mode: str) -> None:
    """CVE-2024-21626 class: whoever starts the sandbox leaks a descriptor of a host directory
    and starts it with a host cwd; the command sees neither."""
    rootfs = project / "rootfs"
    shutil.copy2(attack_bin, rootfs / "attack")
    canary = Canary.plant(project / "canary")
    leaked = os.open(canary.root, os.O_RDONLY | os.O_DIRECTORY)

    def leaky_runner(argv: Sequence[str], *, cwd: Optional[str] = None,
                     env: Optional[Mapping[str, str]] = None, input: Optional[bytes] = None,
                     capture: bool = True, check: bool = False,
                     timeout: Optional[float] = None,
                     memory: Optional[int] = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(argv), cwd=canary.root, env=env, input=input,
                              capture_output=True, pass_fds=(leaked,), timeout=60)

    try:
        script = ("/attack fds; echo \"ATTACK cwd $(readlink /proc/self/cwd)\"; "
                  f"ls /proc/self/fd/{leaked}/ 2>/dev/null && echo 'ATTACK fd-walk ESCAPED'; "
                  "echo 'ATTACK fd-walk blocked'")
        done = sandbox_run_in_rootfs(str(rootfs), script, mode=mode,  # type: ignore[arg-type]
                                     runner=leaky_runner)
    finally:
        os.close(leaked)
    lines = done.stdout.decode().splitlines()
    assert_blocked(lines, {"fds", "fd-walk"})
    assert "ATTACK cwd /" in lines
    canary.assert_untouched()


@needs_root
def test_device_nodes_in_the_rootfs_do_not_open(project: pathlib.Path) -> None:
    """A device node that an image or a recipe left in the rootfs (here /dev/null's numbers under
    /tmp, made on the host) is on a nodev mount; the bound /dev/null still works."""
    rootfs = project / "rootfs"
    os.mknod(rootfs / "tmp" / "node", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    done = run_in_rootfs(str(rootfs), "echo x > /dev/null && echo bound-ok; "
                         "cat /tmp/node || echo node-refused", mode="root")
    assert done.stdout.decode().split() == ["bound-ok", "node-refused"], done.stderr
    assert b"Permission denied" in done.stderr


PAYLOAD = """#!/proc/self/exe
import os
print("payload ran as", os.readlink("/proc/self/exe"))
if os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY:
    print("ATTACK exe-mount blocked read-only")
else:
    print("ATTACK exe-mount ESCAPED writable")
try:
    os.close(os.open("/proc/self/exe", os.O_WRONLY))  # no O_TRUNC: never damages it
    print("ATTACK exe-open ESCAPED")
except OSError as exc:
    print("ATTACK exe-open blocked", exc.strerror)
"""


@pytest.mark.parametrize("mode", [pytest.param("root", marks=needs_root), "userns"])
def test_host_interpreter_cannot_be_written(project: pathlib.Path, mode: str) -> None:
    """CVE-2019-5736 class: a file whose `#!` is /proc/self/exe makes the kernel run the process
    that execs it, here the host interpreter of nsinit, on recipe-controlled code. The rootfs
    gets that interpreter's libraries and encodings (what an image with the same Python has) so
    it starts; its /proc/self/exe must then be on a read-only mount."""
    if shutil.which("ldd") is None:
        pytest.skip("ldd is needed to copy the interpreter's libraries")
    rootfs = project / "rootfs"
    interpreter = os.path.realpath(sys.executable)
    copy_host_binary(rootfs, interpreter, interpreter)
    stdlib = pathlib.Path(os.path.dirname(os.__file__))
    inside = rootfs / str(stdlib).lstrip("/")
    shutil.copytree(stdlib / "encodings", inside / "encodings")
    shutil.copy2(stdlib / "os.py", inside / "os.py")
    (rootfs / "pwn").write_text(PAYLOAD)
    os.chmod(rootfs / "pwn", 0o755)
    before = os.stat(interpreter)
    done = run_in_rootfs(str(rootfs), ["/pwn"], mode=mode)  # type: ignore[arg-type]
    lines = done.stdout.decode().splitlines()
    assert any(line.startswith("payload ran as") for line in lines), done.stderr.decode()
    assert_blocked(lines, {"exe-mount", "exe-open"})
    after = os.stat(interpreter)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
