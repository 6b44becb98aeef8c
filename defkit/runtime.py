"""A minimal rootless runtime: `defkit run|exec|test IMAGE`, as Apptainer runs its action scripts.

The image's squashfs is extracted (`unsquashfs -o OFFSET`) into a temporary directory, removed
afterwards; a sandbox directory is used in place, mounted read-only. The command runs in the same
sandbox as a build's %post (`defkit.build.sandbox`): a root-mapped user namespace when not root
(then with no_new_privs), private mount, PID, UTS and IPC namespaces, `pivot_root` into the
rootfs (mounted nodev, so a device node in an image cannot be opened), /proc with Docker's masks,
/dev nodes, the host's /etc/resolv.conf and /etc/hosts, the same capability and seccomp limits.
It keeps the caller's terminal and session (an interactive `defkit run` of a shell needs job
control); the seccomp filter refuses TIOCSTI/TIOCLINUX, so it cannot push input into it.
Inside, `/.singularity.d/actions/{run,exec,test}` source the image's environment files and start
the runscript, the command or the test, with the caller's arguments.

What it does not do (yet): bind $HOME and the current directory, instances, overlays, GPUs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Optional

from defkit.build.context import Mode
from defkit.errors import DefkitError, UsageError
from defkit.runner import Runner, run

ACTIONS = ("run", "exec", "test", "shell")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Host variables Apptainer does not pass into a container (they describe the host).
HOST_ONLY = ("PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PS1", "PROMPT_COMMAND", "SHLVL", "OLDPWD",
             "PWD", "_")


class RuntimeError_(DefkitError):
    """The image cannot be run (not an image, extraction failed)."""


def runtime_mode() -> Mode:
    return "root" if os.geteuid() == 0 else "userns"


def container_env(image: str, environ: Mapping[str, str], app: Optional[str] = None
                  ) -> dict[str, str]:
    """Apptainer's default (not --cleanenv) environment: the host's, minus what describes the
    host, plus the APPTAINER_*/SINGULARITY_* variables the action scripts read."""
    env = {k: v for k, v in environ.items()
           if k not in HOST_ONLY and not k.startswith(("APPTAINER_", "SINGULARITY_"))}
    name = os.path.basename(image.rstrip("/"))
    env.update({"PATH": DEFAULT_PATH, "PWD": "/",
                # $HOME is not bound into the container, so the host's path would not exist.
                "HOME": "/root",
                "APPTAINER_CONTAINER": image, "SINGULARITY_CONTAINER": image,
                "APPTAINER_NAME": name, "SINGULARITY_NAME": name,
                "APPTAINER_ENVIRONMENT": "/.singularity.d/env/91-environment.sh",
                "SINGULARITY_ENVIRONMENT": "/.singularity.d/env/91-environment.sh",
                "SINGULARITY_SHELL": "/bin/sh"})
    if app:
        env["SINGULARITY_APPNAME"] = env["APPTAINER_APPNAME"] = app
    return env


@contextlib.contextmanager
def open_rootfs(image: str, *, runner: Runner = run, workdir: Optional[str] = None
                ) -> Iterator[tuple[str, bool]]:
    """(rootfs, read_only): a sandbox directory itself, or a SIF/squashfs extracted to a
    temporary directory that is removed when the block ends (also on Ctrl-C)."""
    if os.path.isdir(image):
        if not os.path.isdir(os.path.join(image, ".singularity.d")) and not os.path.exists(
            os.path.join(image, "bin")
        ):
            raise RuntimeError_(f"{image} is not a container sandbox (no /.singularity.d)")
        yield os.path.abspath(image), True
        return
    if not os.path.isfile(image):
        raise UsageError(f"{image}: no such image")
    offset = _squashfs_offset(image)
    base = tempfile.mkdtemp(prefix="defkit-run-", dir=workdir)
    try:
        rootfs = os.path.join(base, "rootfs")
        argv = ["unsquashfs", "-n", "-no-xattrs", "-o", str(offset), "-d", rootfs, image]
        if os.geteuid() != 0:
            # In a root-mapped namespace the files come out owned by us, not by nobody; device
            # nodes cannot be created (the runtime binds /dev anyway).
            argv = ["unshare", "--map-root-user", *argv]
        result = runner(argv)
        if not os.path.isdir(rootfs) or (result.returncode != 0 and not os.path.isdir(
                os.path.join(rootfs, ".singularity.d"))):
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError_(f"cannot extract {image}: {detail[-1] if detail else 'failed'}")
        yield rootfs, False
    finally:
        from defkit.build.safepath import remove_tree

        remove_tree(base)


def _squashfs_offset(image: str) -> int:
    from defkit.sif.reader import is_sif, read_sif

    if is_sif(image):
        return read_sif(image).partition_offset
    with open(image, "rb") as f:
        if f.read(4) == b"hsqs":
            return 0
    raise RuntimeError_(f"{image} is neither a SIF image, a squashfs image nor a sandbox")


def action_argv(rootfs: str, action: str, args: Sequence[str]) -> list[str]:
    script = f"/.singularity.d/actions/{action}"
    if os.path.isfile(os.path.join(rootfs, script.lstrip("/"))):
        return [script, *args]
    # No action scripts (not an Apptainer image): do what the action would do, directly.
    if action == "exec":
        return list(args)
    name = {"run": "runscript", "test": "test"}.get(action)
    if name and os.path.isfile(os.path.join(rootfs, ".singularity.d", name)):
        return [f"/.singularity.d/{name}", *args]
    if action == "test":
        return ["/bin/sh", "-c", "true"]
    return ["/bin/sh", *args]


def run_action(image: str, action: str, args: Sequence[str] = (), *,
               environ: Optional[Mapping[str, str]] = None, app: Optional[str] = None,
               capture: bool = False, runner: Runner = run) -> tuple[int, bytes]:
    """Run an action of `image`; returns (exit code, captured output when `capture`)."""
    from defkit.build.sandbox import run_in_rootfs

    if action not in ACTIONS:
        raise UsageError(f"unknown action {action}")
    if action == "exec" and not args:
        raise UsageError("exec needs a command")
    image = os.path.abspath(image)
    env = container_env(image, os.environ if environ is None else environ, app)
    with open_rootfs(image, runner=runner) as (rootfs, read_only):
        result = run_in_rootfs(rootfs, action_argv(rootfs, action, args), mode=runtime_mode(),
                               env=env, read_only=read_only, capture=capture, runner=runner,
                               keep_terminal=not capture)
    code = result.returncode
    if code < 0:  # killed by a signal: the shell's convention
        code = 128 - code
    output = (result.stdout or b"") + (result.stderr or b"") if capture else b""
    return code, output
