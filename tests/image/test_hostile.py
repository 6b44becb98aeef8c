"""inspect/verify on crafted SIF files: one `IMAGE: error: ...` line and exit 1 for each kind of
damage, never a traceback, a hang, raw bytes on the terminal or a read of what a descriptor
merely claims; a hypothesis fuzz over the bytes of a real image keeps it that way."""

from __future__ import annotations

import contextlib
import os
import pathlib
import resource
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from defkit.cli import cli
from defkit.cli.errors import run_cli
from defkit.errors import DefkitError
from defkit.image.inspect import inspect_image
from defkit.image.verify import verify_image
from defkit.sif.format import DESCRIPTOR_SIZE, DESCRIPTORS_OFFSET, DataType, FsType
from tests.sif.crafted import METADATA_NAME, Crafted, Obj, metadata, partition
from tests.sif.helpers import needs_tools

pytestmark = needs_tools
DEEP = 200_000


@pytest.fixture(scope="module")
def sqfs(squashfs: pathlib.Path) -> bytes:
    return squashfs.read_bytes()


def _meta(value: object) -> Callable[[bytes], Crafted]:
    return lambda sq: Crafted([metadata(value), partition(sq)])


CASES: dict[str, tuple[Callable[[bytes], Crafted], str]] = {
    "attributes-list": (_meta({"data": {"attributes": [1, 2]}}),
                        "data.attributes is a list, not an object"),
    "attributes-string": (_meta({"data": {"attributes": "x"}}),
                          "data.attributes is a string, not an object"),
    "data-null": (_meta({"data": None}), "data is null, not an object"),
    "type-number": (_meta({"type": 1}), "type is a number, not a string"),
    "document-list": (_meta([1]), "the document is a list, not an object"),
    "labels-list": (_meta({"data": {"attributes": {"labels": ["a"]}}}),
                    "data.attributes.labels is a list, not an object"),
    "label-value-object": (_meta({"data": {"attributes": {"labels": {"a": {"b": 1}}}}}),
                           "data.attributes.labels.a is an object, not a string"),
    "env-value-number": (_meta({"data": {"attributes": {"environment": {"/e": 1}}}}),
                         "data.attributes.environment./e is a number, not a string"),
    "runscript-bool": (_meta({"data": {"attributes": {"runscript": True}}}),
                       "data.attributes.runscript is a boolean, not a string"),
    "app-not-object": (_meta({"data": {"attributes": {"apps": {"x": 5}}}}),
                       "data.attributes.apps.x is a number, not an object"),
    "app-labels-list": (_meta({"data": {"attributes": {"apps": {"x": {"labels": []}}}}}),
                        "data.attributes.apps.x.labels is a list, not an object"),
    "deep-array": (_meta(b"[" * DEEP + b"]" * DEEP), "nested deeper than 32 levels"),
    "deep-labels": (_meta(b'{"data":{"attributes":{"labels":' + b'{"a":' * DEEP + b"1"
                          + b"}" * DEEP + b"}}}"), "nested deeper than 32 levels"),
    "partition-huge-offset": (lambda sq: Crafted([metadata({}), partition(sq, offset=2**62,
                                                                          size=2**62)]),
                              "past the end of the file"),
    "partition-negative": (lambda sq: Crafted([metadata({}), partition(sq, offset=-5, size=-9)]),
                           "lies before the data section"),
    "metadata-claims-2^60": (lambda sq: Crafted([Obj(DataType.GENERIC_JSON, b"{}", METADATA_NAME,
                                                     size=2**60), partition(sq)]),
                             "past the end of the file"),
    "partition-overlaps": (lambda sq: Crafted([Obj(DataType.DEFFILE, b"x" * 5000),
                                               partition(sq, offset=DESCRIPTORS_OFFSET
                                                         + 4 * DESCRIPTOR_SIZE + 10)]),
                           "overlap"),
    "millions-of-descriptors": (lambda sq: Crafted([partition(sq)],
                                                   header={"descriptors_total": 5_000_000}),
                                "5000000 slots"),
    "negative-descriptor-count": (lambda sq: Crafted([partition(sq)],
                                                     header={"descriptors_total": -1}),
                                  "-1 slots"),
    "table-offset-2^63": (lambda sq: Crafted([partition(sq)],
                                             header={"descriptors_offset": 2**63 - 1}),
                          "descriptor table ends at"),
    "garbage-partition": (lambda sq: Crafted([partition(bytes(range(256)) * 40)]),
                          "valid SQUASHFS superblock"),
    "damaged-squashfs": (lambda sq: Crafted([partition(sq[:96] + bytes(len(sq) - 96))]),
                         "squashfs"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_one_error_line_and_exit_1(
    case: str, command: str, sqfs: bytes, tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    make, expected = CASES[case]
    image = tmp_path / "crafted.sif"
    image.write_bytes(make(sqfs).build())
    assert run_cli(cli, [command, str(image)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    assert lines and all(line.startswith(f"{image}: error: ") for line in lines), lines
    assert any(expected in line for line in lines), lines
    if command == "inspect":
        assert len(lines) == 1 and captured.out == ""


def test_truncated_anywhere(sqfs: bytes, tmp_path: pathlib.Path) -> None:
    whole = Crafted([metadata({}), partition(sqfs)]).build()
    image = tmp_path / "cut.sif"
    for size in (0, 40, 127, 200, DESCRIPTORS_OFFSET + 100, len(whole) - 4096, len(whole) - 1):
        image.write_bytes(whole[:size])
        with pytest.raises(DefkitError):
            inspect_image(image)
        assert verify_image(image), size


def test_invalid_utf8_and_escapes_are_shown_escaped(
    sqfs: bytes, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "names.sif"
    name = b"\xff\xfe\x1b[31m\xe2\x80\xae"  # not UTF-8, an escape sequence, a bidi override
    labels = b'{"data":{"attributes":{"labels":{"k\\u001b[2J\\ud800":"v\\u0007"}}}}'
    image.write_bytes(Crafted([Obj(DataType.GENERIC_JSON, b"{}", name), metadata(labels),
                               partition(sqfs)]).build())
    assert run_cli(cli, ["inspect", str(image)]) == 0
    out = capsys.readouterr().out
    assert "GENERIC_JSON \\xff\\xfe\\x1b[31m\\u202e" in out
    assert "k\\x1b[2J\\ud800: v\\x07" in out
    assert not any(ord(c) < 32 and c not in "\n" for c in out) and "\u202e" not in out
    assert run_cli(cli, ["inspect", "--json", str(image)]) == 0
    assert capsys.readouterr().out.isascii()


def test_a_fifo_is_not_waited_for(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "image.sif"
    os.mkfifo(fifo)
    assert verify_image(fifo) == ["cannot read: not a regular file"]
    with pytest.raises(DefkitError, match="not a SIF image"):
        inspect_image(fifo)


def test_memory_stays_bounded(sqfs: bytes, tmp_path: pathlib.Path) -> None:
    """A descriptor claiming most of a 3 GiB sparse file is refused, not read: inspect and verify
    run under a 512 MiB address-space limit."""
    image = tmp_path / "sparse.sif"
    body = Crafted([Obj(DataType.GENERIC_JSON, b"{}", METADATA_NAME, size=3 << 30),
                    Obj(DataType.DEFFILE, b"x", size=3 << 30), partition(sqfs)]).build()
    with open(image, "wb") as f:
        f.write(body)
        f.truncate(len(body) + (3 << 30))
    for command in ("inspect", "verify"):
        code = (
            "import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({512 << 20}, {512 << 20}))\n"
            "from defkit.cli import cli\nfrom defkit.cli.errors import run_cli\n"
            f"sys.exit(run_cli(cli, [{command!r}, {str(image)!r}]))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
        err = done.stderr.decode()
        assert done.returncode == 1 and "Traceback" not in err and "MemoryError" not in err, err
    assert resource.getrlimit(resource.RLIMIT_AS)  # the limit was only in the children


def test_non_squashfs_partition_is_reported_by_verify(sqfs: bytes, tmp_path: pathlib.Path) -> None:
    image = tmp_path / "ext3.sif"
    image.write_bytes(Crafted([partition(b"x" * 10, fstype=FsType.EXT3)]).build())
    assert "primary partition has file system type 2, not squashfs" in verify_image(image)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_images_never_crash(data: st.DataObject, sqfs: bytes,
                                   tmp_path: pathlib.Path) -> None:
    """Random overwrites of a real image's header, descriptor table and metadata (and random
    truncation): inspect and verify end in a DefkitError or a result, nothing else."""
    whole = bytearray(Crafted([Obj(DataType.DEFFILE, b"Bootstrap: scratch\n"),
                               metadata({"data": {"attributes": {"labels": {"a": "b"}}}}),
                               partition(sqfs)]).build())
    limit = DESCRIPTORS_OFFSET + 4 * DESCRIPTOR_SIZE + 200  # header, table, small objects
    for _ in range(data.draw(st.integers(1, 12))):
        at = data.draw(st.integers(0, limit - 8))
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        whole[at:at + len(chunk)] = chunk
    if data.draw(st.booleans()):
        del whole[data.draw(st.integers(0, len(whole))):]
    image = tmp_path / "fuzz.sif"
    image.write_bytes(bytes(whole))
    with contextlib.suppress(DefkitError):
        inspect_image(image)
    assert isinstance(verify_image(image), list)


def test_a_huge_file_in_the_squashfs_is_not_read(tmp_path: pathlib.Path) -> None:
    """Without inspect-metadata.json the files are read from the partition: a (sparse) runscript
    past the read limit is an error, not 16 MiB+ through a pipe into memory."""
    from defkit.safepath import MAX_READ
    from defkit.squashfs import make_squashfs

    root = tmp_path / "root"
    (root / ".singularity.d").mkdir(parents=True)
    with open(root / ".singularity.d" / "runscript", "wb") as f:
        f.truncate(MAX_READ + 1)
    make_squashfs(root, tmp_path / "sq", source_date_epoch=0)
    image = tmp_path / "big.sif"
    image.write_bytes(Crafted([partition((tmp_path / "sq").read_bytes())]).build())
    with pytest.raises(DefkitError, match=f"runscript in the image is larger than {MAX_READ}"):
        inspect_image(image)
