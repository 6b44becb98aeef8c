"""`Bootstrap: localimage`: start from a SIF image, a bare squashfs, or a sandbox directory.

A SIF's primary squashfs partition is extracted in place with `unsquashfs -o OFFSET`; without
root, unsquashfs runs in a root-mapped user namespace so files owned by root in the image come
out owned by "root" (the builder) instead of failing; device nodes and other owners, which
cannot be made there, are returned for the image writer (mksquashfs pseudo files). A sandbox
directory is copied with modes,
times, symlinks (and, as root, ownership) kept. The base `/.singularity.d` is then added without
overwriting what the image already has, as Apptainer does.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from defkit.engine import layout
from defkit.engine.agents.base import BootstrapResult, DeviceNode, require_keys, resolve_from
from defkit.engine.context import BuildContext, run_in_namespace
from defkit.errors import BuildError
from defkit.model import Stage
from defkit.safepath import read_host_head
from defkit.sif.format import DataType, FsType
from defkit.sif.reader import is_sif, read_sif
from defkit.squashfs import unsquash_list

REQUIRED_KEYS: tuple[str, ...] = ("from",)
SQUASHFS_MAGIC = b"hsqs"


def check(stage: Stage, ctx: BuildContext) -> None:
    require_keys(stage, "localimage", REQUIRED_KEYS)
    source = resolve_from(stage, ctx)
    if not os.path.exists(source):
        raise BuildError(f"Bootstrap: localimage: {source} does not exist")
    if not os.path.isdir(source) and not is_sif(source) and not _is_squashfs(source):
        raise BuildError(
            f"Bootstrap: localimage: {source} is neither a SIF image, a squashfs image nor a "
            "sandbox directory"
        )


def bootstrap(stage: Stage, rootfs: str, ctx: BuildContext) -> BootstrapResult:
    check(stage, ctx)
    warnings: list[str] = []
    if (stage.header_value("fingerprints") or "").strip():
        warnings.append("Fingerprints: signatures are not verified by defkit's native engine")
    return unpack_image(resolve_from(stage, ctx), rootfs, ctx, warnings=tuple(warnings))


def unpack_image(source: str, rootfs: str, ctx: BuildContext, *,
                 warnings: tuple[str, ...] = ()) -> BootstrapResult:
    """Fill `rootfs` from a SIF, a squashfs image or a sandbox directory (also the `oras`
    agent's second half, on the SIF it pulled)."""
    os.makedirs(rootfs, exist_ok=True)
    oci_config = None
    special = _Special((), ())
    if os.path.isdir(source):
        _copy_sandbox(source, rootfs, ctx)
    else:
        offset = 0
        if is_sif(source):
            image = read_sif(source)
            desc = image.primary_partition()
            if desc is None or desc.partition is None:
                raise BuildError(f"{source}: the SIF image has no primary system partition")
            if desc.partition[0] != FsType.SQUASHFS:
                raise BuildError(f"{source}: only squashfs SIF partitions can be extracted")
            offset = desc.offset
            found = image.find(DataType.GENERIC_JSON, "oci-config.json")
            if found is not None:
                oci_config = image.read_small(found)
        special = _unsquash(source, offset, rootfs, ctx)
    layout.make_base_env(rootfs, overwrite=False)
    return BootstrapResult(oci_config_json=oci_config, devices=special.devices,
                           ownership=special.ownership, warnings=warnings)


def _is_squashfs(path: str) -> bool:
    return read_host_head(path, 4) == SQUASHFS_MAGIC  # a FIFO named here must not block


def _unsquash(image: str, offset: int, rootfs: str, ctx: BuildContext) -> _Special:
    argv = ["unsquashfs", "-f", "-n", "-o", str(offset), "-d", rootfs, image]
    if ctx.mode == "root":
        result = ctx.runner(argv)
        special = _Special((), ())
    else:
        # In a root-mapped user namespace only uid/gid 0 exist and no device node can be made:
        # unsquashfs reports those as non-fatal (exit 2); we keep them for the image writer.
        argv.insert(1, "-user-xattrs")
        result = run_in_namespace(argv, mode=ctx.mode, runner=ctx.runner)
        special = _special_entries(image, offset)
    if result.returncode != 0 and not (result.returncode == 2 and ctx.mode != "root"
                                       and _only_expected_errors(result.stderr)):
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BuildError(
            f"unsquashfs could not extract {image}: {detail[-1] if detail else 'failed'}"
        )
    return special


#: unsquashfs messages that are expected when extracting without privileges.
_EXPECTED = ("failed to change uid and gids", "device", "mknod", "xattr")


def _only_expected_errors(stderr: bytes) -> bool:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return all(any(text in line for text in _EXPECTED) for line in lines)


class _Special(NamedTuple):
    devices: tuple[DeviceNode, ...]
    ownership: tuple[tuple[str, int, int, int], ...]


def _special_entries(image: str, offset: int) -> _Special:
    devices = []
    ownership = []
    for entry in unsquash_list(image, offset):
        kind = entry.mode[:1]
        mode = _mode_bits(entry.mode)
        if kind in ("c", "b") and "," in entry.size:
            major, minor = entry.size.split(",", 1)
            devices.append(DeviceNode("/" + entry.path, kind, mode, entry.uid, entry.gid,
                                      int(major), int(minor)))
        elif kind != "l" and (entry.uid or entry.gid) and entry.path:
            ownership.append(("/" + entry.path, mode, entry.uid, entry.gid))
    return _Special(tuple(devices), tuple(ownership))


def _mode_bits(text: str) -> int:
    """Permission bits of an `ls -l` mode string such as `crw-rw-rw-`."""
    bits = 0
    for char in text[1:10]:
        bits = (bits << 1) | (char not in "-ST")
    if text[3] in "sS":
        bits |= 0o4000
    if text[6] in "sS":
        bits |= 0o2000
    if text[9] in "tT":
        bits |= 0o1000
    return bits


def _copy_sandbox(source: str, rootfs: str, ctx: BuildContext) -> None:
    # The rootfs is empty, so nothing in it can redirect cp; `-a` keeps symlinks, modes, times,
    # hard links and (as root) ownership.
    argv = ["cp", "-a", "--", os.path.join(source, "."), rootfs]
    result = ctx.runner(argv)
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BuildError(f"cannot copy sandbox {source}: {detail[-1] if detail else 'cp failed'}")
