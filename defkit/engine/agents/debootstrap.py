"""`Bootstrap: debootstrap`: a Debian/Ubuntu minbase tree from `MirrorURL` (`OSVersion`,
`Include`), as Apptainer runs it.

As root: plain `debootstrap`. Rootless (`--fakeroot`): debootstrap needs uid 0 and mknod, so it
runs in a root-mapped user namespace under host `fakeroot -s STATE`, with the host's libfakeroot
directory bind-mounted at the same path inside the target, so one LD_LIBRARY_PATH serves both
the host side (tar, dpkg-deb) and the chroot (dpkg, maintainer scripts) — the recipe of
sif-and-build.md §7.6. The STATE file (faked's ownership and device database) is returned so
%post and mksquashfs go on with `fakeroot -i STATE`. A plain user namespace cannot do it
(`mknod` and chown to other uids fail), so that mode is refused up front.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections import deque

from defkit.arch import host_arch
from defkit.engine import layout
from defkit.engine.agents.base import BootstrapResult, require_keys
from defkit.engine.context import (
    Bind,
    BuildContext,
    OutputLine,
    fakeroot_state_path,
    run_in_namespace,
)
from defkit.engine.sandbox import fakeroot_available
from defkit.errors import BuildError, DefkitError, ToolMissingError
from defkit.model import Stage
from defkit.safepath import Root

REQUIRED_KEYS: tuple[str, ...] = ("osversion", "mirrorurl")
#: Apptainer leaves these out of every debootstrap (not needed in a container, or failing there).
EXCLUDE = "openssl,udev,debconf-i18n,e2fsprogs"
#: Go arch -> Debian arch.
DEB_ARCH = {"amd64": "amd64", "arm64": "arm64", "386": "i386", "arm": "armhf",
            "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64",
            "mips64le": "mips64el", "mipsle": "mipsel", "loong64": "loong64"}
LIBFAKEROOT_DIRS = ("/usr/lib/*/libfakeroot", "/usr/lib/libfakeroot")


def check(stage: Stage, ctx: BuildContext) -> None:
    require_keys(stage, "debootstrap", REQUIRED_KEYS)
    if shutil.which("debootstrap") is None:
        raise ToolMissingError("debootstrap is not installed (needed for Bootstrap: debootstrap); "
                               "install the Debian package debootstrap")
    if ctx.arch not in DEB_ARCH:
        raise BuildError(f"Bootstrap: debootstrap: no Debian architecture for {ctx.arch}")
    if ctx.arch != host_arch():
        raise BuildError(f"Bootstrap: debootstrap cannot build {ctx.arch} on a {host_arch()} "
                         "host (no foreign-architecture bootstrap); build on that architecture")
    if ctx.mode == "userns":
        raise BuildError("Bootstrap: debootstrap needs root or --fakeroot: in a plain user "
                         "namespace mknod and chown to other uids fail")
    if ctx.mode == "fakeroot" and (not fakeroot_available() or libfakeroot_dir() is None):
        raise BuildError("Bootstrap: debootstrap without root needs the host's fakeroot: "
                         "install the Debian package fakeroot, or build as root")


def libfakeroot_dir() -> str | None:
    for pattern in LIBFAKEROOT_DIRS:
        for path in sorted(glob.glob(pattern)):
            if os.path.isdir(path):
                return path
    return None


def debootstrap_argv(stage: Stage, rootfs: str, arch: str) -> list[str]:
    """Apptainer's debootstrap command line for this stage."""
    include = ",".join(["apt", *(stage.header_value("include") or "").split()])
    return [
        "debootstrap", "--variant=minbase", f"--exclude={EXCLUDE}", f"--include={include}",
        f"--arch={DEB_ARCH[arch]}", (stage.header_value("osversion") or "").strip(), rootfs,
        (stage.header_value("mirrorurl") or "").strip(),
    ]


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    check(stage, ctx)
    os.makedirs(rootfs, exist_ok=True)
    argv = debootstrap_argv(stage, rootfs, ctx.arch)
    state = None
    binds: list[Bind] = []
    if ctx.mode != "root":
        state = fakeroot_state_path(rootfs)
        libdir = libfakeroot_dir()
        assert libdir is not None  # check() made sure
        binds.append(Bind(libdir, os.path.join(rootfs, libdir.lstrip("/")), True))
    recent: deque[str] = deque(maxlen=20)

    def on_line(line: str) -> None:
        recent.append(line)
        ctx.emit(OutputLine("bootstrap", line))

    # Also as root: in private mount and PID namespaces, the /proc and /sys debootstrap mounts
    # in the target vanish with it, even when the build is interrupted.
    result = run_in_namespace(argv, mode=ctx.mode, binds=binds, fakeroot_state=state,
                              on_line=on_line, runner=ctx.runner)
    if result.returncode != 0:
        raise BuildError(f"debootstrap failed (exit {result.returncode}): "
                         f"{_reason(rootfs, list(recent))}")
    layout.make_base_env(rootfs, overwrite=True)
    layout.write_file(rootfs, "/.singularity.d/runscript", "#!/bin/sh\n", 0o755)
    return BootstrapResult(fakeroot_state=state)


def _reason(rootfs: str, output: list[str]) -> str:
    """The last useful line: debootstrap's own log says more than its output."""
    lines: list[str] = []
    with contextlib.suppress(DefkitError, OSError):  # a log too large to read says nothing useful
        with Root(rootfs) as root:
            log = root.read_file("/debootstrap/debootstrap.log")
        text = log.decode("utf-8", "replace") if log is not None else ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines += [line.strip() for line in output if line.strip()]
    return lines[-1] if lines else "no output"
