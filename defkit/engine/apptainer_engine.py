"""The Apptainer engine: a real `apptainer build --sandbox` does the stages, defkit packs the SIF.

Apptainer's own SIFs are not reproducible (random UUID, build times); its sandboxes are fine. So
defkit runs `apptainer build [--fakeroot] --sandbox TMP FILE.def` with the user's flags, then
squashes and writes the SIF itself with the same reproducible packer as the native engine.
`SOURCE_DATE_EPOCH` is exported so Apptainer's labels (build date) are deterministic too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Optional

from defkit.engine import reproducible
from defkit.engine.context import (
    BuildContext,
    BuildFinished,
    BuildStarted,
    OutputLine,
    ProgressCallback,
    StepFinished,
    StepStarted,
    ignore_event,
)
from defkit.engine.redact import Redactor, secret_names
from defkit.errors import BuildError, DefkitError, ToolMissingError
from defkit.runner import Runner, run, run_streaming

NAMES = ("apptainer", "singularity")


def find_apptainer() -> Optional[str]:
    for name in NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def apptainer_argv(binary: str, def_path: str, sandbox_dir: str, *, fakeroot: bool,
                   build_args: Mapping[str, str], warn_unused_build_args: bool,
                   sections: Sequence[str], notest: bool, force: bool,
                   arch: Optional[str]) -> list[str]:
    argv = [binary, "build"]
    if fakeroot:
        argv.append("--fakeroot")
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if warn_unused_build_args:
        argv.append("--warn-unused-build-args")
    if tuple(sections) not in ((), ("all",)):
        argv += ["--section", ",".join(sections)]
    if notest:
        argv.append("--notest")
    if force:
        argv.append("--force")
    if arch:
        argv += ["--arch", arch]
    return [*argv, "--sandbox", sandbox_dir, def_path]


def build_with_apptainer(
    def_path: str,
    *,
    output: Optional[str] = None,
    sandbox: Optional[str] = None,
    fakeroot: bool = False,
    arch: Optional[str] = None,
    build_args: Optional[Mapping[str, str]] = None,
    secret_args: Collection[str] = (),
    warn_unused_build_args: bool = False,
    sections: Sequence[str] = ("all",),
    notest: bool = False,
    force: bool = False,
    workdir: Optional[str] = None,
    source_date_epoch: Optional[int] = None,
    progress: ProgressCallback = ignore_event,
    runner: Runner = run,
) -> str:
    """Build with Apptainer; returns the output path. The image embeds the definition as written
    (placeholders unexpanded), as with the native engine; a secret that the image would store is
    refused before Apptainer runs."""
    from defkit.engine.engine import checked_target, load_definition
    from defkit.engine.pack import pack_sif
    from defkit.engine.sandbox import remove_tree

    binary = find_apptainer()
    if binary is None:
        raise ToolMissingError("apptainer is not installed (needed for --engine apptainer); "
                               "use --engine native")
    started = time.monotonic()
    def_path, target = checked_target(def_path, output, sandbox, force=force)
    args = dict(build_args or {})
    redactor = Redactor(args.values())
    progress = redactor.wrap(progress)
    try:
        embedded = load_definition(def_path, args, warn_unused=True,
                                   secrets=secret_names(args, secret_args)).embedded
    except DefkitError as exc:
        redactor.error(exc)
        raise
    rootless = fakeroot or os.geteuid() != 0
    if source_date_epoch is None:
        source_date_epoch = reproducible.source_date_epoch(def_path, runner=runner)
    base = tempfile.mkdtemp(prefix="defkit-apptainer-", dir=workdir)
    try:
        rootfs = os.path.join(base, "rootfs")
        progress(BuildStarted(def_path, target, "fakeroot" if rootless else "root", "apptainer",
                              0, source_date_epoch))
        progress(StepStarted("", "apptainer"))
        argv = apptainer_argv(binary, def_path, rootfs, fakeroot=rootless, build_args=args,
                              warn_unused_build_args=warn_unused_build_args, sections=sections,
                              notest=notest, force=force, arch=arch)
        env = dict(os.environ)
        env.update({"SOURCE_DATE_EPOCH": str(source_date_epoch), "APPTAINER_TMPDIR": base})
        tail: list[str] = []

        def on_line(line: str) -> None:
            tail[:] = [*tail[-19:], line]
            progress(OutputLine("apptainer", line))

        done = run_streaming(argv, on_line, cwd=os.path.dirname(def_path), env=env,
                             stderr_to_stdout=True)
        if done.returncode != 0:
            last = tail[-1] if tail else ""
            raise BuildError(f"apptainer build failed (exit {done.returncode}): {last}",
                             path=def_path)
        if not os.path.isdir(rootfs):
            raise BuildError(f"apptainer build did not write the sandbox {rootfs}",
                             path=def_path)
        progress(StepFinished("", "apptainer", time.monotonic() - started))
        from defkit.sif.arch import elf_arch

        ctx = BuildContext(def_path=def_path, def_dir=os.path.dirname(def_path), build_dir=base,
                           mode="fakeroot" if rootless else "root", arch=arch or elf_arch(rootfs),
                           source_date_epoch=source_date_epoch, build_args=args,
                           sections=tuple(sections), notest=notest, force=force,
                           progress=progress, runner=runner)
        _replace_definition(rootfs, embedded)
        if sandbox is not None:
            from defkit.engine.engine import _finish_sandbox

            _finish_sandbox(rootfs, target, ctx)
            size = 0
        else:
            pack_sif(rootfs, target, ctx, definition=embedded, fakeroot_state=None,
                     bootstrap=None, work=base)
            size = os.path.getsize(target)
        progress(BuildFinished(target, size, time.monotonic() - started))
        return target
    except DefkitError as exc:
        redactor.error(exc)
        raise
    finally:
        remove_tree(base)


def _replace_definition(rootfs: str, embedded: str) -> None:
    """Apptainer stored the templated definition in the sandbox: the one written replaces it."""
    from defkit.engine.layout import write_file

    if os.path.lexists(os.path.join(rootfs, ".singularity.d", "Singularity")):
        write_file(rootfs, "/.singularity.d/Singularity", embedded, 0o644)
