"""What every build step shares: the options of one build, its progress events, and the sandbox API.

The engine creates one `BuildContext` per build and hands it to each bootstrap agent and step.
Events are plain frozen dataclasses sent to `ctx.progress`; library code never prints, the CLI
renders them (rich live display, plain lines, or JSON lines).

The sandbox API (`run_in_rootfs`, `run_in_namespace`, `Bind`) is implemented in
`defkit.engine.sandbox`; it is re-exported here so agents depend on this small module only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Literal, Optional, Union

from defkit.runner import Runner, run

#: "root": real root on the host, pivot_root'ed into the rootfs in private mount, PID, UTS and IPC
#: namespaces, without the capabilities that act on the host (see defkit/engine/nsinit.py).
#: "fakeroot": root-mapped user namespace (`unshare -r`) plus host `fakeroot` around %post (glibc
#: rootfs), its state file carried into mksquashfs so ownership such as root:shadow survives.
#: "userns": user namespace only (root-mapped, or the full /etc/subuid range when the user has one).
Mode = Literal["root", "fakeroot", "userns"]
MODES: tuple[Mode, ...] = ("root", "fakeroot", "userns")

#: Apptainer's `--section` names; "all" (the default) and "none" are special.
SECTION_GATES = ("all", "none", "setup", "post", "files", "environment", "test", "labels",
                 "runscript", "startscript", "help", "pre", "appinstall")


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Base class; `kind` names the event in the JSON-lines log."""

    kind: ClassVar[str] = "event"


@dataclass(frozen=True)
class BuildStarted(Event):
    kind: ClassVar[str] = "build-started"
    def_path: str
    output: str  # the SIF path, or the sandbox directory
    mode: str
    engine: str
    stages: int
    source_date_epoch: int


@dataclass(frozen=True)
class StageStarted(Event):
    kind: ClassVar[str] = "stage-started"
    index: int  # 1-based
    total: int
    name: str  # the `Stage:` header, "" when absent
    bootstrap: str


@dataclass(frozen=True)
class StepStarted(Event):
    """A step of a stage: "bootstrap", "%setup", "%files", "%post", "metadata", "%test",
    "squashfs", "sif", "apptainer"."""

    kind: ClassVar[str] = "step-started"
    stage: str
    step: str


@dataclass(frozen=True)
class StepFinished(Event):
    kind: ClassVar[str] = "step-finished"
    stage: str
    step: str
    seconds: float


@dataclass(frozen=True)
class StepProgress(Event):
    """Percentage of a long step (squashfs), 0-100."""

    kind: ClassVar[str] = "step-progress"
    step: str
    percent: int


@dataclass(frozen=True)
class OutputLine(Event):
    """One line a section's commands wrote (stdout and stderr merged)."""

    kind: ClassVar[str] = "output"
    step: str
    text: str


@dataclass(frozen=True)
class Notice(Event):
    kind: ClassVar[str] = "notice"
    message: str


@dataclass(frozen=True)
class CacheStatus(Event):
    """The build cache's answer: "hit" (the image was placed from the cache), "miss" (built,
    then "stored"), or "not-stored" (built; the cache could not keep it: `message` says why)."""

    kind: ClassVar[str] = "cache"
    key: str
    status: str
    message: str = ""


@dataclass(frozen=True)
class Warning(Event):  # the event's name in the log; shadows nothing we use
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class BuildFinished(Event):
    kind: ClassVar[str] = "build-finished"
    output: str
    size: int  # bytes (0 for a sandbox)
    seconds: float


ProgressCallback = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """The default progress callback: drop everything."""


# --- the build context ------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildContext:
    """The options of one build, shared by every step and agent."""

    def_path: str  # absolute path of the .def file
    def_dir: str  # its directory: relative %files sources and local `From:` paths resolve here
    build_dir: str  # the work directory of this build (removed at the end); one rootfs per stage
    mode: Mode
    arch: str  # Go arch name ("amd64", "arm64", ...)
    source_date_epoch: int
    build_args: Mapping[str, str] = field(default_factory=dict)
    build_labels: Mapping[str, str] = field(default_factory=dict)  # e.g. recorded build args
    sections: tuple[str, ...] = ("all",)  # the --section gate
    notest: bool = False
    force: bool = False
    insecure: bool = False  # registries over plain HTTP / unverified TLS (--nohttps)
    # Registry reference -> the digest the cache key names: the build fetches that digest, so
    # the tag cannot move between keying and building.
    base_digests: Mapping[str, str] = field(default_factory=dict)
    # Where absolute %files/%appfiles sources are read (`/a/b` from `<files_root>/a/b`, confined
    # there); None: from the host's `/`. A remote build's unpacked context.
    files_root: Optional[str] = None
    progress: ProgressCallback = ignore_event
    runner: Runner = run

    def emit(self, event: Event) -> None:
        self.progress(event)

    def section_enabled(self, name: str) -> bool:
        """Apptainer's `--section` gate: "all" runs everything, "none" nothing but the bootstrap."""
        if "all" in self.sections:
            return True
        return name in self.sections

    @property
    def rootless(self) -> bool:
        return self.mode != "root"


# --- the sandbox API (implemented in defkit.engine.sandbox) -------------------------------------


@dataclass(frozen=True)
class Bind:
    """A bind mount: host `source` on `target`. For `run_in_rootfs`, `target` is a path inside the
    rootfs (created if missing); for `run_in_namespace`, an absolute host path."""

    source: str
    target: str
    readonly: bool = False


Command = Union[str, Sequence[str]]  # a str is a shell script run with `/bin/sh -c`


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
) -> subprocess.CompletedProcess[bytes]:
    """Run `command` inside `rootfs` (pivot_root, the host tree detached) in private mount, PID, UTS
    and IPC namespaces (plus a user namespace unless `mode == "root"`), with /proc mounted, /dev
    nodes, /etc/resolv.conf and /etc/hosts bound. `env` is the whole environment (clean otherwise).
    With `mode == "fakeroot"` the command runs under host fakeroot (FAKEROOTDONTTRYCHOWN=1) with
    `fakeroot_state` loaded if it exists and saved on exit. `on_line` streams merged stdout/stderr
    lines (then nothing is captured). `read_only` mounts the rootfs read-only (%test). Never raises
    for a non-zero exit: callers look at `returncode`."""
    from defkit.engine import sandbox

    return sandbox.run_in_rootfs(
        rootfs, command, mode=mode, env=env, binds=binds, cwd=cwd, fakeroot_state=fakeroot_state,
        capture=capture, on_line=on_line, read_only=read_only, runner=runner,
    )


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
    """Run a host `command` (no pivot_root) in private mount, PID, UTS and IPC namespaces, in a
    root-mapped user namespace unless `mode == "root"`, after the `binds` (host paths, e.g.
    libfakeroot into a debootstrap target). With `fakeroot_state` it runs under `fakeroot -s STATE`
    (and `-i STATE` when the file exists). Mounts vanish with the namespace, so an interrupted
    command leaves none."""
    from defkit.engine import sandbox

    return sandbox.run_in_namespace(
        command, mode=mode, env=env, binds=binds, cwd=cwd, fakeroot_state=fakeroot_state,
        capture=capture, on_line=on_line, runner=runner,
    )


def fakeroot_state_path(rootfs: str) -> str:
    """Where a stage's fakeroot state lives (next to its rootfs, never inside it). An agent that
    runs under fakeroot (debootstrap) saves its state here; %post loads and extends it; mksquashfs
    reads it (`wrapper=["unshare", "-r", "fakeroot", "-i", STATE, "--"]`, without -all-root)."""
    return rootfs.rstrip("/") + ".fakeroot-state"
