"""Whole builds through the native engine from each OCI-style source: the SIF holds the image
config (`oci-config.json`), the runscript comes from ENTRYPOINT/CMD unless %runscript is given,
and inherited labels win over %labels."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from defkit.arch import host_arch
from defkit.engine.engine import build
from defkit.sif.format import DataType
from defkit.sif.reader import read_sif
from defkit.squashfs import unsquash_cat
from tests.engine.agents.helpers import (
    busybox_rootfs,
    docker_archive,
    image_config,
    oci_layout,
    tar_bytes,
    tar_directory,
    tree_entries,
)

ARCH = host_arch()


def make_sources(tmp: Path) -> None:
    layers = [tar_bytes(tree_entries(busybox_rootfs(tmp / "bb")), gz=True),
              tar_bytes([("etc/motd", b"layered\n")])]
    config = image_config(ARCH, Env=["WHO=image"], Entrypoint=["/bin/echo", "hi"],
                          Labels={"vendor": "image"})
    oci_layout(tmp / "layout", [(ARCH, config, layers, "latest")])
    tar_directory(tmp / "layout", tmp / "oci.tar")
    docker_archive(tmp / "docker.tar", config, layers, "example/hi:latest")


def test_oci_sources_build_sifs(tmp_path: Path) -> None:
    make_sources(tmp_path)
    sources = {"oci": "layout:latest", "oci-archive": "oci.tar", "docker-archive": "docker.tar"}
    listing_sizes = set()
    for agent, source in sources.items():
        definition = tmp_path / f"{agent}.def"
        definition.write_text(f"Bootstrap: {agent}\nFrom: {source}\n\n%labels\n    vendor def\n"
                              "    own yes\n\n%post\n    echo built >> /etc/motd\n")
        result = build(str(definition), mode="userns", source_date_epoch=0)
        image = read_sif(result.output)
        names = [d.name_str for d in image.descriptors if d.datatype == DataType.GENERIC_JSON]
        assert names == ["inspect-metadata.json", "oci-config.json"]
        offset = image.partition_offset
        labels = json.loads(unsquash_cat(result.output, ".singularity.d/labels.json", offset)
                            or b"")
        assert labels["vendor"] == "image" and labels["own"] == "yes"
        assert unsquash_cat(result.output, "etc/motd", offset) == b"layered\nbuilt\n"
        runscript = unsquash_cat(result.output, ".singularity.d/runscript", offset) or b""
        assert runscript.startswith(b"#!/bin/sh\nOCI_ENTRYPOINT='\"/bin/echo\" \"hi\"'\n")
        assert subprocess.run(["siftool", "list", result.output], capture_output=True
                              ).returncode == 0
        listing_sizes.add(subprocess.run(["unsquashfs", "-o", str(offset), "-lln", result.output],
                                   capture_output=True).stdout.count(b"\n"))
    assert len(listing_sizes) == 1  # the same tree from all three sources


def test_localimage_from_a_defkit_sif_keeps_history_and_labels(tmp_path: Path) -> None:
    busybox_rootfs(tmp_path / "busybox-rootfs")
    first = tmp_path / "first.def"
    first.write_text("Bootstrap: localimage\nFrom: busybox-rootfs\n\n%labels\n    layer first\n\n"
                     "%runscript\n    echo first\n")
    build(str(first), mode="userns", source_date_epoch=0)
    second = tmp_path / "second.def"
    second.write_text("Bootstrap: localimage\nFrom: first.sif\n\n%labels\n    layer second\n"
                      "    added yes\n\n%post\n    test -f /.singularity.d/Singularity\n")
    result = build(str(second), mode="userns", source_date_epoch=0)
    offset = read_sif(result.output).partition_offset

    def cat(path: str) -> bytes:
        return unsquash_cat(result.output, path, offset) or b""

    assert cat(".singularity.d/bootstrap_history/Apptainer0") == first.read_bytes()
    assert cat(".singularity.d/Singularity") == second.read_bytes()
    labels = json.loads(cat(".singularity.d/labels.json"))
    assert labels["layer"] == "first" and labels["added"] == "yes"
    assert cat(".singularity.d/runscript") == b"#!/bin/sh\n\n    echo first\n\n"
