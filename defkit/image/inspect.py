"""Read what an image says about itself: labels, def file, environment, scripts, arch, descriptors.

For a SIF, `inspect-metadata.json` is used when present; otherwise (images from other builders)
the files are read out of the squashfs partition with `unsquashfs -o OFFSET -cat`, which writes
nothing to disk. A sandbox directory is read in place, with paths kept inside it.
"""

from __future__ import annotations

import dataclasses
import os
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Union

from defkit.errors import DefkitError
from defkit.image.tree import SquashTree
from defkit.metadata import (
    METADATA_JSON,
    DirTree,
    JsonDepthError,
    MetadataError,
    check_metadata,
    collect_metadata,
    parse_json,
)
from defkit.printable import printable
from defkit.sif.arch import elf_arch
from defkit.sif.format import GO_ZERO_TIME, DataType, FsType, PartType
from defkit.sif.reader import SifFormatError, SifImage, is_sif, read_sif

PathLike = Union[str, "os.PathLike[str]"]

#: Attribute names in Apptainer's order; each maps to an `ImageInfo` field.
ATTRIBUTES = ("labels", "deffile", "runscript", "test", "startscript", "helpfile", "environment")
_FS: dict[int, str] = {FsType.SQUASHFS: "squashfs", FsType.EXT3: "ext3", FsType.RAW: "raw",
       FsType.IMMUTABLE_OBJECTS: "objects", FsType.ENCRYPTED_SQUASHFS: "encrypted-squashfs",
       FsType.GOCRYPTFS_SQUASHFS: "gocryptfs-squashfs"}  # fmt: skip
_PART: dict[int, str] = {PartType.SYSTEM: "system", PartType.PRIMARY_SYSTEM: "primary",
         PartType.DATA: "data", PartType.OVERLAY: "overlay"}  # fmt: skip


@dataclass(frozen=True)
class DescriptorInfo:
    id: int
    datatype: str  # e.g. "DEFFILE", "GENERIC_JSON", "PARTITION"
    name: str
    offset: int
    size: int
    group: int
    partition: str | None  # "squashfs primary amd64" for partitions


@dataclass(frozen=True)
class ImageInfo:
    path: str
    kind: str  # "sif" or "sandbox"
    arch: str
    labels: dict[str, str]
    deffile: str | None
    runscript: str | None
    test: str | None
    startscript: str | None
    helpfile: str | None
    environment: dict[str, str]  # env file path -> content
    apps: dict[str, Any]
    descriptors: tuple[DescriptorInfo, ...] = ()
    source: str = "files"  # "inspect-metadata.json" or "files"
    uuid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def attributes(self, only: str | None = None) -> dict[str, Any]:
        """Apptainer's `data.attributes`: non-empty values, or just `only` (kept even if empty)."""
        out: dict[str, Any] = {}
        names = (only,) if only is not None else (*ATTRIBUTES, "apps")
        for name in names:
            value = getattr(self, name)
            if value or name == only:
                out[name] = value if value is not None else ""
        return out

    def to_json(self, only: str | None = None) -> dict[str, Any]:
        """Apptainer's inspect JSON shape plus defkit's `image` record (arch, uuid, descriptors)."""
        image: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "arch": self.arch,
            "metadata_source": self.source,
        }
        if self.kind == "sif":
            image["uuid"] = self.uuid
            image["descriptors"] = [dataclasses.asdict(d) for d in self.descriptors]
        return {"data": {"attributes": self.attributes(only)}, "type": "container", "image": image}


def inspect_image(path: PathLike) -> ImageInfo:
    """Inspect a SIF file or a sandbox directory. DefkitError for anything else."""
    name = os.fspath(path)
    if os.path.isdir(name):
        meta = collect_metadata(DirTree(name), None)
        return _info(name, "sandbox", elf_arch(name), meta, "files")
    if not os.path.exists(name):
        raise DefkitError("no such file or directory", path=name)
    if not is_sif(name):
        raise DefkitError("not a SIF image or sandbox directory", path=name)
    try:
        return _inspect_sif(read_sif(name))
    except DefkitError as exc:
        # unsquashfs and the reader can quote names from the image: never raw on the terminal.
        exc.message = printable(exc.message)
        raise


def _inspect_sif(image: SifImage) -> ImageInfo:
    from defkit.image.verify import object_problems

    damage = object_problems(image)  # nothing is read from a table that points anywhere
    if damage:
        raise SifFormatError(f"damaged SIF image: {damage[0]}", path=image.path)
    meta: dict[str, Any] | None = None
    source = "files"
    desc = image.find(DataType.GENERIC_JSON, METADATA_JSON)
    if desc is not None:
        raw = image.read_small(desc)
        try:
            loaded = parse_json(raw)
        except JsonDepthError as exc:
            raise MetadataError(f"{METADATA_JSON}: {exc}", path=image.path) from None
        except ValueError:
            loaded = None  # damaged metadata: fall back to the files, as Apptainer does
        if loaded is not None:
            try:
                meta, source = check_metadata(loaded), METADATA_JSON
            except MetadataError as exc:
                exc.path = image.path
                raise
    deffile_desc = image.find(DataType.DEFFILE)
    deffile = None
    if deffile_desc is not None:
        deffile = image.read_small(deffile_desc).decode("utf-8", "replace")
    if meta is None:
        part = image.primary_partition()
        if part is None or part.partition is None or part.partition[0] != FsType.SQUASHFS:
            meta = {"data": {"attributes": {"deffile": deffile} if deffile else {}}}
        else:
            image.read_object(part, limit=0)  # raises if the partition lies outside the file
            meta = collect_metadata(SquashTree(image.path, part.offset), deffile)
    else:
        attributes = meta.setdefault("data", {}).setdefault("attributes", {})
        if deffile and not attributes.get("deffile"):
            attributes["deffile"] = deffile.rstrip("\n")
    info = _info(image.path, "sif", image.arch, meta, source)
    raw_uuid = image.header.uuid
    uuid_text = str(uuidlib.UUID(bytes=raw_uuid)) if any(raw_uuid) else None
    times = {image.header.created, image.header.modified}
    return dataclasses.replace(
        info,
        descriptors=tuple(_descriptor_infos(image)),
        uuid=uuid_text,
        extra={"deterministic_times": times == {GO_ZERO_TIME}},
    )


def _descriptor_infos(image: SifImage) -> list[DescriptorInfo]:
    out = []
    for d in image.descriptors:
        part = d.partition
        text = None
        if part is not None:
            fs = _FS.get(part[0], str(part[0]))  # IntEnum keys compare equal to plain ints
            kind = _PART.get(part[1], str(part[1]))
            text = f"{fs} {kind} {part[2]}"
        out.append(
            DescriptorInfo(d.id, d.datatype_name, d.name_str, d.offset, d.size, d.group_id, text)
        )
    return out


def _info(path: str, kind: str, arch: str, meta: dict[str, Any], source: str) -> ImageInfo:
    attrs = meta.get("data", {}).get("attributes", {})
    if not isinstance(attrs, dict):
        attrs = {}

    def text(key: str) -> str | None:
        value = attrs.get(key)
        return value if isinstance(value, str) and value else None

    def mapping(key: str) -> dict[str, Any]:
        value = attrs.get(key)
        return dict(value) if isinstance(value, dict) else {}

    return ImageInfo(
        path=path,
        kind=kind,
        arch=arch,
        labels={str(k): str(v) for k, v in mapping("labels").items()},
        deffile=text("deffile"),
        runscript=text("runscript"),
        test=text("test"),
        startscript=text("startscript"),
        helpfile=text("helpfile"),
        environment={str(k): str(v) for k, v in mapping("environment").items()},
        apps=mapping("apps"),
        source=source,
    )
