"""`defkit build --push REF`: the built SIF into a registry, in the form the reference asks for.

`oras://HOST/REPO:TAG` pushes the SIF as `defkit push` does (Apptainer's ORAS layout, what
`Bootstrap: oras` and `apptainer pull oras://` read). `docker://HOST/REPO:TAG` pushes an OCI
image that `Bootstrap: docker` reads: one uncompressed tar layer of the SIF's root file system
(owners, modes, symlinks, times kept), and the image config the SIF carries (`oci-config.json`,
when it was built from a registry image) or a PATH alone. Unpacking a squashfs with its owners
takes root (without it unsquashfs would make every file the builder's), so the `docker://` form
refuses to run rootless rather than push an image with the wrong owners.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Optional

from defkit.errors import BuildError, UsageError
from defkit.runner import Runner, run

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Published:
    reference: str  # with its scheme, as given
    digest: str  # the manifest's


def push_target(text: str) -> tuple[str, Any]:
    """(`oras` or `docker`, the ImageRef) of a `--push` value; a UsageError for anything else
    (a tag or digest is needed: a pushed image is found by it)."""
    from defkit.registry.reference import parse_reference

    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("oras", "docker"):
        raise UsageError(f"--push {text}: expected oras://HOST/REPO:TAG or docker://HOST/REPO:TAG")
    return scheme, parse_reference(rest)


def publish(sif: str, target: str, *, insecure: bool = False, workdir: Optional[str] = None,
            runner: Runner = run) -> Published:
    """Push the SIF `sif` to `target` (`oras://` or `docker://`)."""
    from defkit.registry.client import RegistryClient

    scheme, ref = push_target(target)
    with RegistryClient(insecure=insecure) as client:
        if scheme == "oras":
            from defkit.sif.oras import push_sif

            return Published(target, push_sif(client, sif, ref).digest)
        return Published(target, _push_image(client, sif, ref, workdir, runner))


def _push_image(client: Any, sif: str, ref: Any, workdir: Optional[str], runner: Runner) -> str:
    from defkit.registry.client import OCI_MANIFEST
    from defkit.sif.format import DataType, FsType
    from defkit.sif.oras import sha256_file
    from defkit.sif.reader import read_sif

    if os.geteuid() != 0:
        raise BuildError(f"--push docker://{ref}: making an OCI image from the SIF keeps its "
                         "owners only as root; push oras:// (Bootstrap: oras) instead")
    image = read_sif(sif)
    partition = image.primary_partition()
    if partition is None or partition.partition is None \
            or partition.partition[0] != FsType.SQUASHFS:
        raise BuildError(f"{sif}: no squashfs root file system to push as docker://{ref}")
    found = image.find(DataType.GENERIC_JSON, "oci-config.json")
    settings: dict[str, Any] = {"Env": [_PATH]}
    if found is not None:
        settings = json.loads(image.read_small(found))
    scratch = tempfile.mkdtemp(prefix=".defkit-push-", dir=workdir)
    try:
        rootfs, layer = os.path.join(scratch, "rootfs"), os.path.join(scratch, "layer.tar")
        _checked(runner(["unsquashfs", "-f", "-n", "-o", str(partition.offset), "-d", rootfs,
                         sif], timeout=None), "unsquashfs", sif)
        _checked(runner(["tar", "--create", "--format=posix", "--numeric-owner",
                         "--one-file-system", "--file", layer, "--directory", rootfs, "."],
                        timeout=None), "tar", sif)
        layer_digest, layer_size = sha256_file(layer)
        config = json.dumps({"architecture": image.arch, "os": "linux", "config": settings,
                             "rootfs": {"type": "layers", "diff_ids": [layer_digest]}},
                            separators=(",", ":")).encode()
        config_path = os.path.join(scratch, "config.json")
        with open(config_path, "wb") as f:
            f.write(config)
        config_digest, config_size = sha256_file(config_path)
        client.push_blob(ref, layer, layer_digest, layer_size)
        client.push_blob(ref, config_path, config_digest, config_size)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest,
                        "size": layer_size}],
        }, separators=(",", ":")).encode()
        digest: str = client.put_manifest(ref, OCI_MANIFEST, manifest)
        return digest
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _checked(done: Any, tool: str, sif: str) -> None:
    if done.returncode != 0:
        lines = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise BuildError(f"{sif}: {tool} failed (exit {done.returncode})"
                         + (f": {lines[-1]}" if lines else ""))


__all__ = ["Published", "publish", "push_target"]
