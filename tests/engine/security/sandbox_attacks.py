"""What the sandbox attack tests share: the attack program, rootfs preparation, the hostile
recipe and the reading of its "ATTACK <name> <blocked|ESCAPED> ..." lines."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from typing import Optional

ATTACK_SOURCE = pathlib.Path(__file__).with_name("attack.c")

#: Every %post attack; each must report "blocked" (mknod is only a syscall on x86-like arches).
POST_ATTACKS = {"chroot", "mknodat", "tiocsti", "fds", "proc-root", "sysfs", "proc-mount",
                "proc-sys", "sysrq-trigger", "cwd"}
TEST_ATTACKS = {"chroot", "fds", "proc-root", "cwd"}

# The shell half of the attacks (the C half is attack.c); @CANARY@ is the host canary's path.
SHELL_ATTACKS = """\
C="@CANARY@"
/attack chroot "$C" || true
/attack fds || true
for p in /proc/1/root /proc/self/root /proc/1/cwd /proc/self/cwd /proc/[0-9]*/root \\
         /proc/[0-9]*/cwd; do
    if ls "$p$C" >/dev/null 2>&1; then echo "ATTACK proc-root ESCAPED $p"; fi
done
echo "ATTACK proc-root blocked checked"
if [ "$(readlink /proc/self/cwd)" = / ] && [ "$(cd / && cd .. && pwd -P)" = / ]; then
    echo "ATTACK cwd blocked"
else
    echo "ATTACK cwd ESCAPED $(readlink /proc/self/cwd)"
fi
"""

POST_ONLY_ATTACKS = """\
/attack mknod || true
/attack tiocsti || true
hostname defkit-attack 2>/dev/null || true
mkdir -p /mnt/x
if mount -t sysfs sysfs /mnt/x 2>/dev/null; then echo "ATTACK sysfs ESCAPED"; umount /mnt/x
else echo "ATTACK sysfs blocked"; fi
if mount -t proc proc /mnt/x 2>/dev/null; then echo "ATTACK proc-mount ESCAPED"; umount /mnt/x
else echo "ATTACK proc-mount blocked"; fi
v="$(cat /proc/sys/kernel/pid_max)"
if (echo "$v" > /proc/sys/kernel/pid_max) 2>/dev/null; then echo "ATTACK proc-sys ESCAPED"
else echo "ATTACK proc-sys blocked"; fi
if (: > /proc/sysrq-trigger) 2>/dev/null; then echo "ATTACK sysrq-trigger ESCAPED"
else echo "ATTACK sysrq-trigger blocked"; fi
rmdir /mnt/x /mnt
"""


def hostile_def(canary: pathlib.Path, *, extra_post: str = "") -> str:
    """A recipe whose %post and %test try every escape against `canary`."""
    def indent(text: str) -> str:
        return "".join("    " + line + "\n" for line in text.splitlines())

    shell = SHELL_ATTACKS.replace("@CANARY@", str(canary))
    return ("%files\n    attack /attack\n\n%post\n" + indent(shell + POST_ONLY_ATTACKS + extra_post)
            + "\n%test\n" + indent(shell))


def compile_attack(directory: pathlib.Path, *, static: bool = True) -> tuple[Optional[str], str]:
    """(path of the attack binary, "") or (None, why it could not be built)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None, "no C compiler (cc): the escape needs a static binary inside the rootfs"
    out = directory / ("attack" if static else "attack-dyn")
    argv = [compiler, "-O1", *(["-static"] if static else []), "-o", str(out), str(ATTACK_SOURCE)]
    built = subprocess.run(argv, capture_output=True, text=True)
    if built.returncode != 0:
        return None, f"cannot build the attack binary ({' '.join(argv)}): {built.stderr[-300:]}"
    return str(out), ""


def copy_host_binary(rootfs: pathlib.Path, binary: str, dest: str) -> None:
    """`binary` at `dest` in the rootfs with its shared libraries at their host paths (so the
    rootfs has a glibc loader, and host fakeroot's LD_PRELOAD works there)."""
    target = rootfs / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    listed = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for word in listed.split():
        if word.startswith("/") and os.path.exists(word):
            lib = rootfs / word.lstrip("/")
            lib.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(os.path.realpath(word), lib)
            os.chmod(lib, 0o755)


def attack_results(lines: list[str]) -> dict[str, list[str]]:
    """name -> results ("blocked"/"ESCAPED" + detail) of the ATTACK lines of a step's output."""
    found: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("ATTACK "):
            _, name, result = (line.split(" ", 2) + [""])[:3]
            found.setdefault(name, []).append(result)
    return found


def assert_blocked(lines: list[str], expected: set[str]) -> None:
    results = attack_results(lines)
    escaped = {name: r for name, r in results.items() if any("ESCAPED" in x for x in r)}
    assert not escaped, f"escapes: {escaped}\n" + "\n".join(lines)
    missing = expected - results.keys()
    assert not missing, f"attacks that did not run: {sorted(missing)}\n" + "\n".join(lines)


def host_state() -> tuple[str, bytes]:
    """What a %post must not change on the host: its name and a /proc/sys value."""
    with open("/proc/sys/kernel/pid_max", "rb") as f:
        return os.uname().nodename, f.read()
