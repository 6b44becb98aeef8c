"""defkit verify: a sound image passes; each kind of damage is reported on its own line."""

from __future__ import annotations

import pathlib
import struct
from collections.abc import Callable

import pytest

from defkit.cli import cli
from defkit.cli.errors import run_cli
from defkit.image.verify import verify_image
from defkit.sif.format import DESCRIPTOR_SIZE
from defkit.sif.writer import write_sif
from tests.sif.helpers import DEFINITION, needs_tools

pytestmark = needs_tools
PART = 4096 + 2 * DESCRIPTOR_SIZE  # the partition's slot (def file, metadata, partition)


@pytest.fixture()
def sif(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> pathlib.Path:
    out = tmp_path / "ok.sif"
    write_sif(out, definition=DEFINITION, inspect_metadata=b"{}", squashfs_path=squashfs,
              arch="amd64")  # fmt: skip
    return out


def test_sound_image(sif: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_image(sif) == []
    assert run_cli(cli, ["verify", str(sif)]) == 0
    assert capsys.readouterr().out == f"{sif}: ok\n"


def patch(offset: int, fmt: str, value: int | bytes) -> Callable[[bytearray], None]:
    def apply(raw: bytearray) -> None:
        struct.pack_into(fmt, raw, offset, value)

    return apply


def truncate(raw: bytearray) -> None:
    del raw[len(raw) // 2 :]


def smash_superblock(raw: bytearray) -> None:
    start = struct.unpack_from("<q", raw, PART + 17)[0]
    raw[start : start + 96] = bytes(96)


def smash_tables(raw: bytearray) -> None:
    # A sound superblock but garbage inode/directory tables (their offsets are at +64/+72).
    start = struct.unpack_from("<q", raw, PART + 17)[0]
    inodes, dirs = struct.unpack_from("<QQ", raw, start + 64)
    raw[start + inodes : start + dirs + 64] = b"\xff" * (dirs + 64 - inodes)


def break_json(raw: bytearray) -> None:
    raw[32176 + len(DEFINITION)] = ord("x")  # first byte of inspect-metadata.json


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (patch(32, "<10s", b"NOT_MAGIC"), "not a SIF image"),
        (patch(42, "<3s", b"02"), "unsupported SIF version"),
        (truncate, "truncated"),
        (patch(PART + 17, "<q", 32768 + 512), "not 4096-aligned"),
        (patch(PART + 17, "<q", 32176), "overlap"),
        (patch(PART + 17, "<q", 1000), "before the data section"),
        (patch(PART + 205, "<i", 1), "0 primary system partitions"),
        (patch(PART + 209, "<3s", b"04"), "differs from the partition"),  # arm64
        (patch(80, "<q", 7), "free descriptors"),
        (patch(120, "<q", 1), "unaccounted bytes"),
        (smash_superblock, "squashfs partition unreadable"),
        (smash_tables, "directory tables unreadable"),
        (break_json, "object 2 (inspect-metadata.json) is not valid JSON"),
    ],
)
def test_damage_is_reported(
    sif: pathlib.Path,
    damage: Callable[[bytearray], None],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = bytearray(sif.read_bytes())
    damage(raw)
    sif.write_bytes(bytes(raw))
    problems = verify_image(sif)
    assert any(expected in p for p in problems), problems
    assert run_cli(cli, ["verify", str(sif)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == len(problems) and "Traceback" not in err
    assert all(line.startswith(f"{sif}: error: ") for line in err.splitlines())


def test_not_images(tmp_path: pathlib.Path, squashfs: pathlib.Path) -> None:
    assert verify_image(tmp_path / "missing") == ["no such file"]
    assert verify_image(tmp_path) == ["is a directory (a sandbox), not a SIF image"]
    assert verify_image(squashfs) == ["not a SIF image (no SIF_MAGIC at offset 32)"]
