"""read_sif: what it returns for a good image and the one-line errors for bad files."""

from __future__ import annotations

import pathlib

import pytest

from defkit.sif.format import DataType
from defkit.sif.reader import SifFormatError, is_sif, read_sif
from defkit.sif.writer import write_sif
from tests.sif.helpers import DEFINITION, needs_tools

pytestmark = needs_tools


@pytest.fixture()
def sif(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> pathlib.Path:
    out = tmp_path / "a.sif"
    write_sif(out, definition=DEFINITION, inspect_metadata=b"{}", squashfs_path=squashfs,
              arch="arm64")  # fmt: skip
    return out


def test_reads_header_descriptors_and_objects(sif: pathlib.Path, squashfs: pathlib.Path) -> None:
    image = read_sif(sif)
    assert image.arch == "arm64"
    assert [d.datatype for d in image.descriptors] == [
        DataType.DEFFILE, DataType.GENERIC_JSON, DataType.PARTITION,
    ]  # fmt: skip
    assert image.partition_offset == 32768
    part = image.primary_partition()
    assert part is not None and part.partition == (1, 2, "arm64")
    deffile = image.find(DataType.DEFFILE)
    assert deffile is not None and image.read_object(deffile) == DEFINITION
    meta = image.find(DataType.GENERIC_JSON, "inspect-metadata.json")
    assert meta is not None and image.read_object(meta) == b"{}"
    assert image.read_object(part, limit=4) == b"hsqs"  # squashfs magic
    assert image.read_object(part) == squashfs.read_bytes()
    assert is_sif(sif) and not is_sif(squashfs)


@pytest.mark.parametrize(
    ("cut", "message"),
    [(0, "not a SIF image"), (40, "not a SIF image"), (100, "header cut short"),
     (5000, "descriptor table ends at 32176")],
)  # fmt: skip
def test_truncated_files(sif: pathlib.Path, tmp_path: pathlib.Path, cut: int, message: str) -> None:
    short = tmp_path / "short.sif"
    short.write_bytes(sif.read_bytes()[:cut])
    with pytest.raises(SifFormatError, match=message) as info:
        read_sif(short)
    assert info.value.format().startswith(f"{short}: error: ")


def test_object_past_the_end(sif: pathlib.Path, tmp_path: pathlib.Path) -> None:
    short = tmp_path / "short.sif"
    short.write_bytes(sif.read_bytes()[:40000])
    image = read_sif(short)  # header and table are intact
    part = image.primary_partition()
    assert part is not None
    with pytest.raises(SifFormatError, match="outside the file"):
        image.read_object(part)


def test_not_a_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SifFormatError, match="no such file"):
        read_sif(tmp_path / "missing.sif")
    with pytest.raises(SifFormatError, match="directory"):
        read_sif(tmp_path)
    text = tmp_path / "x.def"
    text.write_text("Bootstrap: scratch\n" * 10)
    with pytest.raises(SifFormatError, match="not a SIF image"):
        read_sif(text)
