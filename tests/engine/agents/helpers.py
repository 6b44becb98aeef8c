"""Real inputs for the agent and layout tests: a busybox rootfs, OCI layouts, docker archives,
SIF images made with siftool, and a way to run scripts inside a rootfs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from defkit.arch import host_arch
from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.engine.context import BuildContext, Mode
from defkit.model import Stage
from defkit.parser import parse_text

_BUSYBOX_CACHE: dict[str, Path] = {}


def stage(text: str) -> Stage:
    return parse_text(text).stages[0]


def context(tmp: Path, *, mode: Mode = "root", arch: Optional[str] = None,
            force: bool = False) -> BuildContext:
    build = tmp / "build"
    build.mkdir(exist_ok=True)
    return BuildContext(def_path=str(tmp / "test.def"), def_dir=str(tmp), build_dir=str(build),
                        mode=mode, arch=arch or host_arch(), source_date_epoch=0, force=force)


def busybox_rootfs(directory: Path) -> Path:
    return make_busybox_rootfs(str(directory))


def in_rootfs(rootfs: Path, argv: Sequence[str], env: Optional[dict[str, str]] = None
              ) -> subprocess.CompletedProcess[str]:
    """Run argv chrooted into rootfs in a root-mapped user namespace (works as any user)."""
    environment = {"PATH": "/bin:/usr/bin:/sbin:/usr/sbin"}
    environment.update(env or {})
    return subprocess.run(["unshare", "--map-root-user", "chroot", str(rootfs), *argv],
                          env=environment, capture_output=True, text=True, timeout=30)


# --- tar layers --------------------------------------------------------------------------------


def tar_bytes(entries: Sequence[tuple[str, Any]], *, gz: bool = False) -> bytes:
    """A tar from (name, bytes) files, (name, None) directories, (name, "->target") symlinks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, str) and data.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:]
                tar.addfile(info)
            else:
                payload = data if isinstance(data, bytes) else data.encode()
                info.size, info.mode = len(payload), 0o755
                tar.addfile(info, io.BytesIO(payload))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


def tree_entries(root: Path) -> list[tuple[str, Any]]:
    """A directory tree as tar_bytes entries (symlinks kept)."""
    entries: list[tuple[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            entries.append((rel, None))
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(Path(dirpath) / d)]):
            path = Path(dirpath) / name
            arc = os.path.normpath(os.path.join(rel, name))
            if path.is_symlink():
                entries.append((arc, "->" + os.readlink(path)))
            else:
                entries.append((arc, path.read_bytes()))
    return entries


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(arch: str, **config: Any) -> bytes:
    return json.dumps({"architecture": arch, "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def write_blob(layout: Path, data: bytes) -> str:
    d = digest(data)
    path = layout / "blobs" / "sha256" / d.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return d


def oci_layout(layout: Path, images: Sequence[tuple[str, bytes, Sequence[bytes], Optional[str]]]
               ) -> Path:
    """An OCI layout with one manifest per (arch, config, layers, tag)."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = []
    for arch, config, layers, tag in images:
        layer_descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar"
                        + ("+gzip" if layer[:2] == b"\x1f\x8b" else ""),
                        "digest": write_blob(layout, layer), "size": len(layer)}
                       for layer in layers]
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": write_blob(layout, config), "size": len(config)},
            "layers": layer_descs}).encode()
        entry: dict[str, Any] = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                 "digest": write_blob(layout, manifest), "size": len(manifest),
                                 "platform": {"architecture": arch, "os": "linux"}}
        if tag:
            entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        manifests.append(entry)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return layout


def tar_directory(source: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for name in sorted(os.listdir(source)):
            tar.add(source / name, arcname=name)
    return out


def docker_archive(out: Path, config: bytes, layers: Sequence[bytes], tag: str) -> Path:
    """A `docker save` archive in the classic layout (<id>/layer.tar, <hex>.json)."""
    config_name = digest(config).split(":")[1] + ".json"
    layer_names = []
    with tarfile.open(out, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add(config_name, config)
        for index, layer in enumerate(layers):
            name = f"{index:064x}/layer.tar"
            add(name, layer)
            layer_names.append(name)
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [tag],
                                          "Layers": layer_names}]).encode())
    return out


def sif_with_siftool(rootfs: Path, out: Path, *, pseudo: Sequence[str] = ()) -> Path:
    """A SIF made by siftool (an independent writer) from rootfs squashed by mksquashfs."""
    sqfs = out.with_suffix(".sqfs")
    argv = ["mksquashfs", str(rootfs), str(sqfs), "-noappend", "-all-root", "-quiet",
            "-no-progress"]
    for line in pseudo:
        argv += ["-p", line]
    subprocess.run(argv, check=True, capture_output=True)
    subprocess.run(["siftool", "new", str(out)], check=True, capture_output=True)
    subprocess.run(["siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1",
                    "--partarch", "2", "--groupid", "1", str(out), str(sqfs)],
                   check=True, capture_output=True)
    sqfs.unlink()
    return out
