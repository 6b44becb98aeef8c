"""The content-addressed blob store, filled from a real registry."""

from __future__ import annotations

import hashlib
import os
import pathlib
import threading
from typing import NamedTuple

import pytest

from defkit.registry.errors import DigestMismatchError
from defkit.registry.reference import ImageRef
from defkit.registry.store import BlobStore, default_root, default_store
from tests.registry_fixture import RunningRegistry, push_bytes


def _blob_gets(registry: RunningRegistry, digest: str, since: int) -> int:
    return sum(1 for r in registry.request_log()[since:]
               if r.method == "GET" and r.path.endswith(f"/blobs/{digest}"))


class Pushed(NamedTuple):
    """A blob in the registry, an empty store, and where the registry's log stood."""

    digest: str
    data: bytes
    store: BlobStore
    ref: ImageRef
    log_start: int


@pytest.fixture()
def pushed(registry: RunningRegistry, tmp_path: pathlib.Path) -> Pushed:
    data = os.urandom(300_000)
    ref = registry.ref("store/blob:x")
    with registry.client() as client:
        digest = push_bytes(client, ref, data, tmp_path)
    return Pushed(digest, data, BlobStore(str(tmp_path / "store")), ref,
                  len(registry.request_log()))


def test_second_ensure_downloads_nothing(registry: RunningRegistry, tmp_path: pathlib.Path,
                                         pushed: Pushed) -> None:
    digest, data, store, ref, before = pushed
    with registry.client() as client:
        path = store.ensure(client, ref, digest, len(data))
        assert path == store.path(digest) == str(tmp_path / "store" / "sha256" / digest[7:])
        assert store.ensure(client, ref, digest, len(data)) == path
    assert pathlib.Path(path).read_bytes() == data
    assert _blob_gets(registry, digest, before) == 1
    assert store.has(digest) and store.has(digest, len(data)) and not store.has(digest, 1)
    with store.open(digest) as reader:
        assert reader.read() == data


def test_corrupt_entry_is_discarded_and_fetched_again(registry: RunningRegistry,
                                                      tmp_path: pathlib.Path,
                                                      pushed: Pushed) -> None:
    digest, data, store, ref, before = pushed
    with registry.client() as client:
        path = pathlib.Path(store.ensure(client, ref, digest))
        path.write_bytes(b"X" + data[1:])  # same size, one byte changed
        with store.open(digest) as reader, pytest.raises(DigestMismatchError, match="corrupt"):
            reader.read()
        assert not store.has(digest)  # reading it to the end removed it
        path.write_bytes(b"X" + data[1:])
        assert not store.verify(digest) and not store.has(digest)
        path.write_bytes(b"X" + data[1:])
        assert store.ensure(client, ref, digest, len(data)) == str(path)
    assert path.read_bytes() == data
    assert _blob_gets(registry, digest, before) == 2


def test_concurrent_ensure_fetches_once(registry: RunningRegistry, tmp_path: pathlib.Path,
                                        pushed: Pushed) -> None:
    digest, data, store, ref, before = pushed
    results: list[str] = []
    barrier = threading.Barrier(4)

    def build() -> None:
        with registry.client() as client:  # one client each, as separate builds would have
            barrier.wait()
            results.append(store.ensure(client, ref, digest, len(data)))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [store.path(digest)] * 4
    assert _blob_gets(registry, digest, before) == 1


def test_bad_blob_from_the_registry_leaves_nothing_in_the_store(
        registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    data = b"store me " * 5000
    ref = registry.ref("store/corrupt:x")
    with registry.client() as client:
        digest = push_bytes(client, ref, data, tmp_path)
        registry.blob_data_path("store/corrupt", digest).write_bytes(data.upper())
        store = BlobStore(str(tmp_path / "store"))
        with pytest.raises(DigestMismatchError, match=str(ref)):
            store.ensure(client, ref, digest, len(data))
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and
                 not p.name.endswith(".lock")]
    assert leftovers == []


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("DEFKIT_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_root() == str(tmp_path / "explicit" / "blobs")
    assert default_store().root == default_root()
    monkeypatch.delenv("DEFKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == str(tmp_path / "xdg" / "defkit" / "blobs")


def test_digest_names_are_checked(tmp_path: pathlib.Path) -> None:
    store = BlobStore(str(tmp_path))
    from defkit.registry.errors import ReferenceError_

    for bad in ("sha256:../../etc/passwd", "md5:" + "a" * 32, "sha256:" + "A" * 64):
        with pytest.raises(ReferenceError_):
            store.path(bad)
    digest = "sha256:" + hashlib.sha256(b"").hexdigest()
    assert not store.has(digest) and not store.verify(digest)


def test_put_checks_the_digest_and_writes_whole_entries(tmp_path: pathlib.Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    data = b'{"schemaVersion": 2}'
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = store.put(digest, data)
    assert path == store.path(digest) and pathlib.Path(path).read_bytes() == data
    assert store.has(digest, len(data)) and store.verify(digest)
    assert store.put(digest, data) == path  # again: the same entry
    other = "sha256:" + hashlib.sha256(b"other").hexdigest()
    with pytest.raises(DigestMismatchError, match=f"{other}.*hashes to {digest}"):
        store.put(other, data)
    assert not store.has(other)
    assert sorted(p.name for p in (tmp_path / "store" / "sha256").iterdir()) == [digest[7:]]


def test_put_waits_for_the_lock_ensure_holds(tmp_path: pathlib.Path) -> None:
    import filelock

    store = BlobStore(str(tmp_path / "store"))
    data = b"config"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    os.makedirs(store.root)
    lock = filelock.FileLock(os.path.join(store.root, f".{digest.replace(':', '-')}.lock"))
    with lock:  # as a concurrent ensure() of the same digest holds it
        writer = threading.Thread(target=store.put, args=(digest, data))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and not store.has(digest)
    writer.join(timeout=10)
    assert not writer.is_alive() and store.verify(digest)
