"""Blob transfers that must survive a dropped connection and keep memory flat."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from defkit.registry.errors import NotFoundError
from defkit.registry.reference import parse_reference
from tests.registry.cutting_proxy import CuttingProxy
from tests.registry_fixture import RunningRegistry, push_bytes

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ignore_range", [False, True], ids=["range", "range-ignored"])
def test_dropped_connection_mid_blob_is_resumed(registry: RunningRegistry,
                                                tmp_path: pathlib.Path, ignore_range: bool) -> None:
    # Cut after several of the client's 256 KiB hand-over batches: when the server ignores the
    # Range, bytes already hashed and written must be forgotten for its whole answer.
    data = os.urandom(3 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with registry.client() as client:
        push_bytes(client, registry.ref("resume/blob:x"), data, tmp_path)
    before = len(registry.request_log())
    with (CuttingProxy(registry.host, cut_after=1536 * 1024, ignore_range=ignore_range) as proxy,
          registry.client() as client):
        ref = parse_reference(f"{proxy.host}/resume/blob:x")
        client.fetch_blob(ref, digest, str(tmp_path / "out"), size=len(data))
        assert proxy.cuts == 1
    assert (tmp_path / "out").read_bytes() == data
    gets = [r for r in registry.request_log()[before:] if r.method == "GET"]
    # The first GET was cut; the second asked for the rest with Range and got 206 (or,
    # from a server that ignores Range, the whole blob again).
    assert [r.status for r in gets] == [200, 200 if ignore_range else 206]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", digest.replace(":", "-")]


@pytest.mark.parametrize("ignore_range", [False, True], ids=["range", "range-ignored"])
def test_in_place_fills_the_callers_file_without_a_rename(
        registry: RunningRegistry, tmp_path: pathlib.Path, ignore_range: bool) -> None:
    """`in_place`: the bytes go into the caller's own temporary (same inode: no second
    temporary renamed over it, which on ext4 forces the whole file's write-back), resumed as
    usual; a failure leaves the file to the caller and nothing beside it."""
    data = os.urandom(3 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with registry.client() as client:
        push_bytes(client, registry.ref("inplace/blob:x"), data, tmp_path)
    target = tmp_path / "target"
    target.write_bytes(b"stale bytes the download replaces")
    inode = target.stat().st_ino
    with (CuttingProxy(registry.host, cut_after=1536 * 1024, ignore_range=ignore_range) as proxy,
          registry.client() as client):
        ref = parse_reference(f"{proxy.host}/inplace/blob:x")
        client.fetch_blob(ref, digest, str(target), size=len(data), in_place=True)
        assert proxy.cuts == 1
    assert target.read_bytes() == data and target.stat().st_ino == inode
    wrong = "sha256:" + "0" * 64
    with registry.client() as client, pytest.raises(NotFoundError):
        client.fetch_blob(registry.ref("inplace/blob:x"), wrong, str(target), in_place=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [digest.replace(":", "-"), "target"]


MEASURE = textwrap.dedent('''
    import hashlib, os, resource, sys
    from defkit.registry.client import RegistryClient
    from defkit.registry.reference import parse_reference

    host, directory = sys.argv[1], sys.argv[2]
    source = os.path.join(directory, "big")
    piece = os.urandom(1024 * 1024)
    hasher = hashlib.sha256()
    with open(source, "wb") as out:
        for index in range(256):
            block = index.to_bytes(4, "big") + piece[4:]
            hasher.update(block)
            out.write(block)
    digest = "sha256:" + hasher.hexdigest()
    ref = parse_reference(host + "/memory/blob:x")
    with RegistryClient(credentials=lambda host: None) as client:
        client.blob_exists(ref, digest)  # warm up: imports, connection pool
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        client.push_blob(ref, source, digest, 256 * 1024 * 1024)
        client.fetch_blob(ref, digest, os.path.join(directory, "back"), size=256 * 1024 * 1024)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((peak - baseline) // 1024)
''')


def test_memory_stays_flat_for_a_256_mib_blob(registry: RunningRegistry,
                                              tmp_path: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, "-c", MEASURE, registry.host, str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    growth_mib = int(result.stdout.strip())
    print(f"peak RSS growth: {growth_mib} MiB")
    assert growth_mib < 64, f"peak RSS grew by {growth_mib} MiB moving a 256 MiB blob"
    assert (tmp_path / "back").stat().st_size == 256 * 1024 * 1024
    assert (tmp_path / "back").read_bytes()[:4] == (0).to_bytes(4, "big")


def test_hashing_writer_writes_and_hashes_every_piece(tmp_path: pathlib.Path) -> None:
    """Pieces of any size and number (thousands of 1-byte pieces exceed one writev's limit)
    land in order; restart() empties the file and the hash."""
    from defkit.registry.client import _HashingWriter

    pieces = [bytes([n % 251]) for n in range(5000)] + [os.urandom(100_000) for _ in range(40)]
    path = tmp_path / "blob"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with _HashingWriter(fd, "sha256") as sink:
            sink.write(b"thrown away" * 50_000)
            sink.restart()
            for piece in pieces:
                sink.write(piece)
            digest = sink.finish()
    finally:
        os.close(fd)
    expected = b"".join(pieces)
    assert path.read_bytes() == expected
    assert digest == "sha256:" + hashlib.sha256(expected).hexdigest()
