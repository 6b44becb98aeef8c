"""Checks for steps that need real root, which a rootless (`--fakeroot`) build does not have.

## What it does
Reports, depending on the `build-mode` setting:
- bootstrap agents that create a root file system with device nodes or host tools: `debootstrap`
  (known not to work under fakeroot), `yum`/`dnf`, `zypper`, `arch` and `busybox` (need root or
  subuid-based fakeroot);
- `%setup` in a root build (`build-mode: root`), where it runs as root on the build host, not in
  the container (in a fakeroot build it runs as you, in a user namespace: nothing to report);
- `%post` commands that need privileges a user namespace cannot give: `sudo`, `mount`, `mknod` of
  block or character devices, `modprobe`/`insmod`/`rmmod`, `sysctl -w`, `losetup`, `swapon`.

With `build-mode: fakeroot` (the default) kernel-level commands are errors, `sudo`, `mount`
and device nodes warnings, the bootstrap agents info; with `root` or `remote` every finding is
info.

## Why it matters
Most users build without root: `apptainer build` then implies `--fakeroot`, and these steps fail
half-way through the build (`you must be root to build with debootstrap`, `Operation not
permitted`). `sudo` is also pointless, as `%post` already runs as (fake) root.

## Default severity
Set per finding from `build-mode`. With `fakeroot` (the default): kernel-level commands are
`error` (they always fail unprivileged); `sudo`, `mount` and device nodes `warning` (commands of
the recipe that fail or misbehave under `apptainer build --fakeroot`, and `sudo` is pointless
as the build already runs as root); a root-needing bootstrap agent `info`: it is the recipe's
deliberate choice, right for a root build (the agents need their host tools anyway, and
`defkit build` builds debootstrap rootless), so it tells a rootless builder what to expect
rather than fail the file. With `root` or `remote` everything is `info`, `%setup` included (it
was a warning under fakeroot, where it is not a root-only step at all).

## Example
```
Bootstrap: debootstrap
OSVersion: jammy
MirrorURL: http://archive.ubuntu.com/ubuntu/

%post
    sudo apt-get install -y curl
```

## Use instead
```
Bootstrap: docker
From: ubuntu:22.04

%post
    apt-get install -y curl
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from defkit.lint.context import LintContext, Settings
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._common import section_name_span
from defkit.lint.rules._shell import Command

CODE = "DK204"
NAME = "root-only-step"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False
#: Each finding carries its own level (error, warning, or info for root builds): the linter
#: keeps `Problem.severity` instead of stamping SEVERITY, unless configuration overrides it.
DYNAMIC_SEVERITY = True

_ROOT_AGENTS: dict[str, tuple[Severity, str]] = {
    "debootstrap": (
        "info",
        "debootstrap needs real root with `apptainer build` (it fails under --fakeroot); "
        "`defkit build` builds it without root",
    ),
    "yum": ("info", "yum bootstrap needs root or subuid-based fakeroot"),
    "dnf": ("info", "dnf bootstrap needs root or subuid-based fakeroot"),
    "zypper": ("info", "zypper bootstrap creates device nodes: root or subuid-based fakeroot"),
    "arch": ("info", "arch bootstrap runs pacstrap on the host: it needs root"),
    "busybox": ("info", "busybox bootstrap needs root or subuid-based fakeroot"),
}
_KERNEL_COMMANDS = frozenset({"modprobe", "insmod", "rmmod", "losetup", "swapon", "swapoff"})


def _severity(settings: Settings, fakeroot_severity: Severity) -> Severity:
    return fakeroot_severity if settings.build_mode == "fakeroot" else "info"


def _privileged(command: Command) -> Optional[tuple[Severity, str]]:
    head = command.head
    if head is None:
        return None
    if head.value == "sudo":
        return "warning", "`sudo` is not needed (the build runs as root) and fails under --fakeroot"
    name = command.name
    argv = [word.value for word in command.argv]
    if name in _KERNEL_COMMANDS:
        return "error", f"`{name}` acts on the host kernel; it fails in an unprivileged build"
    if name == "sysctl" and any(arg.startswith("-w") or "=" in arg for arg in argv[1:]):
        return "error", "`sysctl` writes kernel settings; it fails in an unprivileged build"
    if name == "mknod" and any(arg in ("b", "c", "u") for arg in argv[1:]):
        return "warning", "`mknod` of a device node needs real root"
    if name == "mount" and len(argv) > 1:
        return "warning", "`mount` needs real root in most fakeroot modes"
    return None


def check(ctx: LintContext) -> Iterator[Problem]:
    if ctx.deffile is None:
        return
    settings = ctx.settings
    for stage in ctx.deffile.stages:
        bootstrap = stage.header_entry("bootstrap")
        if bootstrap is not None and bootstrap.value in _ROOT_AGENTS:
            level, message = _ROOT_AGENTS[bootstrap.value]
            yield Problem(bootstrap.value_span, message, severity=_severity(settings, level))
        for section in stage.sections:
            if section.name == "setup" and section.body.strip() and settings.build_mode == "root":
                yield Problem(
                    section_name_span(section),
                    "%setup runs on the build host as root (a root build), not in the container",
                    severity="info",
                )
            if section.name not in ("post", "appinstall"):
                continue
            for command in ctx.commands(section):
                found = _privileged(command)
                if found is not None:
                    level, message = found
                    span = command.head.span if command.head else command.words[0].span
                    yield Problem(span, message, severity=_severity(settings, level))
