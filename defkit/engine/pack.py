"""Pack a finished rootfs into a SIF: squashfs (reproducible flags) + the pure-Python SIF writer.

Ownership in the squashfs depends on how the rootfs was built:
- real root: the files' real owners (mksquashfs as root, no -all-root);
- rootless: mksquashfs runs in a root-mapped user namespace (`unshare -r`), so files the user owns
  appear as 0:0, plus `fakeroot -i STATE` when %post (or debootstrap) ran under fakeroot, so what
  fakeroot recorded (root:shadow, device nodes) is what the image holds (spec §7.3);
- ownership and device nodes an agent could not apply are added as mksquashfs pseudo-file lines
  (`"path" m MODE UID GID`, `"path" c MODE UID GID MAJ MIN`, spec §7.4), every name quoted
  and escaped (`squashfs.pseudo_name`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Optional

from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import BuildContext, StepFinished, StepProgress, StepStarted
from defkit.errors import BuildError
from defkit.squashfs import pseudo_line


def pseudo_lines(bootstrap: Optional[BootstrapResult]) -> tuple[list[bytes], list[str]]:
    """mksquashfs pseudo definitions and the paths to exclude so the definitions apply.

    Names come from layers and archives, so anyone who made the image chose them: each is quoted
    by `pseudo_line` (a name that cannot be written safely is refused with a BuildError)."""
    if bootstrap is None:
        return [], []
    lines: list[bytes] = []
    excludes: list[str] = []
    for path, mode, uid, gid in bootstrap.ownership:
        lines.append(pseudo_line(path, f"m {mode & 0o7777:o} {int(uid)} {int(gid)}"))
    for node in bootstrap.devices:
        if node.kind not in ("b", "c"):
            raise BuildError(f"{ascii(node.path)}: unknown device type {node.kind!r}")
        lines.append(pseudo_line(node.path, f"{node.kind} {node.mode & 0o7777:o} {int(node.uid)} "
                                            f"{int(node.gid)} {int(node.major)} {int(node.minor)}"))
        excludes.append(node.path.strip("/"))
    return lines, excludes


def squash_wrapper(ctx: BuildContext, fakeroot_state: Optional[str]) -> list[str]:
    from defkit.engine.sandbox import userns_flags

    if not ctx.rootless:
        return []
    # Own PID and IPC namespaces that die with us (the runner's pdeathsig, --kill-child): an
    # interrupted or killed build leaves no faked, mksquashfs or SysV message queue behind.
    wrapper = ["unshare", *userns_flags(ctx.mode), "--ipc",
               "--pid", "--fork", "--kill-child"]
    if fakeroot_state is not None and os.path.exists(fakeroot_state):
        wrapper += ["fakeroot", "-i", fakeroot_state, "--"]
    return wrapper


def make_image_squashfs(rootfs: str, out: str, ctx: BuildContext, *,
                        fakeroot_state: Optional[str], bootstrap: Optional[BootstrapResult],
                        work: str) -> None:
    from defkit.squashfs import make_squashfs

    lines, excludes = pseudo_lines(bootstrap)
    pseudo: Optional[str] = None
    if lines:
        pseudo = os.path.join(work, "pseudo.defs")
        with open(pseudo, "wb") as f:
            f.write(b"".join(lines))
    existing: Sequence[str] = [e for e in excludes if os.path.lexists(os.path.join(rootfs, e))]

    def progress(percent: float) -> None:
        ctx.emit(StepProgress("squashfs", int(percent)))

    make_squashfs(rootfs, out, source_date_epoch=ctx.source_date_epoch, all_root=False,
                  pseudo_file=pseudo, excludes=existing,
                  wrapper=squash_wrapper(ctx, fakeroot_state), progress=progress)


def pack_sif(rootfs: str, target: str, ctx: BuildContext, *, definition: str,
             fakeroot_state: Optional[str], bootstrap: Optional[BootstrapResult],
             work: str) -> None:
    """Squash `rootfs` and write the SIF `target` (atomically: the writer renames at the end)."""
    from defkit.metadata import inspect_metadata_json
    from defkit.sif.arch import elf_arch
    from defkit.sif.writer import write_sif

    squashfs = os.path.join(work, "rootfs.squashfs")
    started = time.monotonic()
    ctx.emit(StepStarted("", "squashfs"))
    make_image_squashfs(rootfs, squashfs, ctx, fakeroot_state=fakeroot_state,
                        bootstrap=bootstrap, work=work)
    ctx.emit(StepFinished("", "squashfs", time.monotonic() - started))
    started = time.monotonic()
    ctx.emit(StepStarted("", "sif"))
    write_sif(
        target,
        definition=definition.encode("utf-8"),
        inspect_metadata=inspect_metadata_json(rootfs, definition),
        squashfs_path=squashfs,
        arch=elf_arch(rootfs),
        oci_config=bootstrap.oci_config_json if bootstrap is not None else None,
    )
    os.unlink(squashfs)
    ctx.emit(StepFinished("", "sif", time.monotonic() - started))
