"""The SIF writer, checked with Debian's siftool as an independent reader."""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import struct
import uuid

import pytest

from defkit.errors import BuildError
from defkit.sif.format import DESCRIPTOR_SIZE, GO_ZERO_TIME, HEADER_FORMAT
from defkit.sif.writer import write_sif
from tests.sif.helpers import DEFINITION, needs_tools, siftool

pytestmark = needs_tools
META = b'{"data":{"attributes":{}},"type":"container"}'


def _write(out: pathlib.Path, squashfs: pathlib.Path, **kw: object) -> pathlib.Path:
    args: dict[str, object] = dict(
        definition=DEFINITION, inspect_metadata=META, squashfs_path=squashfs, arch="amd64"
    )
    args.update(kw)
    write_sif(out, **args)  # type: ignore[arg-type]
    return out


def test_siftool_reads_every_object(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    sif = _write(tmp_path / "a.sif", squashfs)
    header = siftool("header", str(sif)).stdout.decode()
    assert "Launch Script:        #!/usr/bin/env run-singularity" in header
    assert re.search(r"Primary Architecture:\s+amd64", header)
    assert re.search(r"Descriptors Free:\s+45", header)
    assert re.search(r"Descriptors Total:\s+48", header)
    assert re.search(r"Descriptors Offset:\s+4096", header)
    assert re.search(r"Data Offset:\s+32176", header)
    listing = siftool("list", str(sif)).stdout.decode()
    rows = [ln for ln in listing.splitlines() if re.match(r"^\d+\s+\|", ln)]
    assert [r.split("|")[-1].strip() for r in rows] == [
        "Def.FILE",
        "JSON.Generic",
        "FS (Squashfs/*System/amd64)",
    ]
    assert all(r.split("|")[1].strip() == "1" for r in rows)  # group 1, as Apptainer
    info = siftool("info", "2", str(sif)).stdout.decode()
    assert "inspect-metadata.json" in info
    assert siftool("dump", "1", str(sif)).stdout == DEFINITION
    assert siftool("dump", "2", str(sif)).stdout == META
    assert siftool("dump", "3", str(sif)).stdout == squashfs.read_bytes()


def test_layout_matches_the_spec_numbers(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    raw = _write(tmp_path / "a.sif", squashfs).read_bytes()
    h = struct.unpack(HEADER_FORMAT, raw[:128])
    assert h[0] == b"#!/usr/bin/env run-singularity\n\0"
    assert (h[1], h[2], h[3]) == (b"SIF_MAGIC\0", b"01\0", b"02\0")
    assert h[5] == h[6] == GO_ZERO_TIME
    assert h[7:] == (45, 48, 4096, 28080, 32176, len(raw) - 32176)
    assert raw[128:4096] == bytes(4096 - 128)
    offsets = []
    for slot in range(3):
        d = raw[4096 + slot * DESCRIPTOR_SIZE : 4096 + (slot + 1) * DESCRIPTOR_SIZE]
        dtype, used, oid, group, link, off, size, padded = struct.unpack("<i?III3q", d[:41])
        assert (used, oid, group, link) == (True, slot + 1, 0xF0000001, 0)
        offsets.append((dtype, off, size, padded))
    assert offsets[0] == (0x4001, 32176, len(DEFINITION), len(DEFINITION))
    assert offsets[1][:2] == (0x4006, 32176 + len(DEFINITION))
    part_type, part_off, part_size, part_padded = offsets[2]
    assert part_type == 0x4004 and part_off % 4096 == 0 and part_off == 32768
    assert part_off + part_size == len(raw)  # no trailing padding
    assert part_padded == part_off - (offsets[1][1] + offsets[1][2]) + part_size
    extra = raw[4096 + 2 * DESCRIPTOR_SIZE + 201 :][:11]
    assert extra == struct.pack("<ii3s", 1, 2, b"02")
    assert raw[4096 + 3 * DESCRIPTOR_SIZE : 32176] == bytes(32176 - 4096 - 3 * DESCRIPTOR_SIZE)


def test_byte_identical_and_content_uuid(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    a = _write(tmp_path / "a.sif", squashfs).read_bytes()
    b = _write(tmp_path / "b.sif", squashfs).read_bytes()
    assert a == b
    raw_uuid = uuid.UUID(bytes=a[48:64])
    assert raw_uuid.variant == uuid.RFC_4122 and (raw_uuid.int >> 76) & 0xF == 8
    c = _write(tmp_path / "c.sif", squashfs, definition=DEFINITION + b"# changed\n").read_bytes()
    assert c[48:64] != a[48:64]
    d = _write(tmp_path / "d.sif", squashfs, deterministic_from=b"x").read_bytes()
    e = _write(tmp_path / "e.sif", squashfs, deterministic_from=b"x", arch="arm64").read_bytes()
    assert d[48:64] == e[48:64] != a[48:64]


def test_generic_json_sorted_by_name(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    sif = _write(tmp_path / "o.sif", squashfs, oci_config=b'{"Env":[]}')
    assert "oci-config.json" in siftool("info", "3", str(sif)).stdout.decode()
    assert siftool("dump", "3", str(sif)).stdout == b'{"Env":[]}'
    assert siftool("dump", "4", str(sif)).stdout == squashfs.read_bytes()
    bare = _write(tmp_path / "bare.sif", squashfs, inspect_metadata=None)
    assert siftool("dump", "2", str(bare)).stdout == squashfs.read_bytes()


def test_mode_follows_umask_and_replaces(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    out = tmp_path / "m.sif"
    out.write_text("old")
    old = os.umask(0o027)
    try:
        _write(out, squashfs, arch="arm64")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o750
    assert "arm64" in siftool("header", str(out)).stdout.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sif"]


def test_missing_squashfs_leaves_nothing(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    with pytest.raises(BuildError, match="cannot read squashfs"):
        _write(tmp_path / "x.sif", tmp_path / "missing.sqfs")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BuildError, match="cannot write .*No such file or directory"):
        _write(tmp_path / "no" / "such" / "dir.sif", squashfs)


def test_large_squashfs_is_streamed(tmp_path: pathlib.Path) -> None:
    # Not a real squashfs: the writer copies bytes, and 9 MiB spans several copy chunks.
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(9 * 1024 * 1024 + 7))
    sif = _write(tmp_path / "big.sif", blob)
    dumped = siftool("dump", "3", str(sif)).stdout
    assert hashlib.sha256(dumped).digest() == hashlib.sha256(blob.read_bytes()).digest()


def test_copy_fallback_gives_the_same_bytes(
    tmp_path: pathlib.Path, squashfs: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _write(tmp_path / "fast.sif", squashfs).read_bytes()

    def no_copy_file_range(*args: object) -> int:
        raise OSError(18, "Invalid cross-device link")  # EXDEV, as across file systems

    monkeypatch.setattr("defkit.sif.stream.os.copy_file_range", no_copy_file_range)
    assert _write(tmp_path / "slow.sif", squashfs).read_bytes() == fast
