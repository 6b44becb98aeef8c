"""The cache key: pinned for fixed inputs, changed by each input, blind to mtime, owner and the
checkout's path, and never holding a secret in clear."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
from typing import Any

import pytest

from defkit.cache import tree
from defkit.cache.key import CacheKey, KeyInputs, canonical, compute_key, secret_digest
from defkit.model import Stage
from defkit.parser import parse_file
from defkit.templating import template

DEF = """\
Bootstrap: localimage
From: ./base.img

%files
    data /opt/data
    tool.sh /usr/local/bin/tool

%post
    echo {{ GREETING }} > /greeting
"""


def _project(root: pathlib.Path, text: str = DEF) -> pathlib.Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "base.img").write_bytes(b"hsqs" + b"\0" * 60)
    (root / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "data" / "a.txt").write_text("alpha\n")
    (root / "data" / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (root / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    os.chmod(root / "tool.sh", 0o755)
    os.chmod(root / "data" / "a.txt", 0o644)
    os.chmod(root / "data" / "sub" / "b.bin", 0o644)
    os.chmod(root / "data", 0o755)
    os.chmod(root / "data" / "sub", 0o755)
    (root / "image.def").write_text(text)
    return root / "image.def"


def _inputs(def_path: pathlib.Path, **changes: Any) -> KeyInputs:
    args = changes.pop("build_args", {"GREETING": "hello"})
    deffile = template(parse_file(str(def_path)), args).deffile
    base = KeyInputs(
        def_path=str(def_path), deffile=deffile, build_args=args, secrets=frozenset(),
        arch="amd64", mode="root", engine="native", engine_version="0.1.0",
        sections=("all",), notest=False, source_date_epoch=1700000000,
        mksquashfs={"version": "mksquashfs version 4.5.1", "flags": ["-comp", "gzip"]},
        output_kind="sif",
    )
    return dataclasses.replace(base, **changes)


def _key(def_path: pathlib.Path, **changes: Any) -> CacheKey:
    return compute_key(_inputs(def_path, **changes))


def test_golden_key_for_fixed_inputs(tmp_path: pathlib.Path) -> None:
    # If this changes, the key schema changed: bump KEY_SCHEMA so old entries are not reused.
    key = _key(_project(tmp_path / "p"))
    assert key.key == GOLDEN
    assert key.tag == f"sha256-{GOLDEN}"
    assert key.document["schema"] == "defkit-key/v1"


GOLDEN = "376bf5b9655c71e8646e81030d37d3647f0df8ea538917148f98717e516d2b6f"


@pytest.mark.parametrize("change", [
    "def text", "file content", "file mode", "new file", "file renamed", "base image",
    "build arg", "arch", "mode", "engine version", "mksquashfs version", "mksquashfs flags",
    "source date epoch", "notest", "section", "force",
])
def test_each_input_changes_the_key(tmp_path: pathlib.Path, change: str) -> None:
    def_path = _project(tmp_path / "p")
    before = _key(def_path)
    root = def_path.parent
    options: dict[str, Any] = {}
    if change == "def text":
        def_path.write_text(DEF.replace("> /greeting", "> /greeting2"))
    elif change == "file content":
        (root / "data" / "sub" / "b.bin").write_bytes(b"other")
    elif change == "file mode":
        os.chmod(root / "data" / "a.txt", 0o600)
    elif change == "new file":
        (root / "data" / "c.txt").write_text("")
    elif change == "file renamed":
        (root / "data" / "a.txt").rename(root / "data" / "z.txt")
    elif change == "base image":
        (root / "base.img").write_bytes(b"hsqs" + b"\1" * 60)
    elif change == "build arg":
        options["build_args"] = {"GREETING": "bye"}
    elif change == "arch":
        options["arch"] = "arm64"
    elif change == "mode":
        options["mode"] = "fakeroot"
    elif change == "engine version":
        options["engine_version"] = "0.2.0"
    elif change == "mksquashfs version":
        options["mksquashfs"] = {"version": "mksquashfs version 4.6", "flags": ["-comp", "gzip"]}
    elif change == "mksquashfs flags":
        options["mksquashfs"] = {"version": "mksquashfs version 4.5.1", "flags": ["-comp", "xz"]}
    elif change == "source date epoch":
        options["source_date_epoch"] = 1700000001
    elif change == "notest":
        options["notest"] = True
    elif change == "section":
        options["sections"] = ("post",)
    elif change == "force":
        options["force"] = True
    assert _key(def_path, **options).key != before.key


def test_symlink_target_content_is_hashed_as_copied(tmp_path: pathlib.Path) -> None:
    # Host copies follow symlinks (cp -L): what the link points to is what goes in the image.
    def_path = _project(tmp_path / "p")
    root = def_path.parent
    (root / "elsewhere").write_text("one")
    (root / "data" / "link").symlink_to("../elsewhere")
    before = _key(def_path).key
    (root / "elsewhere").write_text("two")
    assert _key(def_path).key != before


def test_mtime_owner_and_checkout_path_do_not_change_the_key(tmp_path: pathlib.Path) -> None:
    def_path = _project(tmp_path / "p")
    before = _key(def_path).key
    for path in (def_path.parent / "data").rglob("*"):
        os.utime(path, (1, 1))
        os.lchown(path, 4242, 4242)
    assert _key(def_path).key == before
    moved = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(def_path.parent, moved.parent / "checkout", symlinks=True)
    assert _key(moved / "image.def").key == before


def test_a_secret_is_only_a_digest_in_the_document(tmp_path: pathlib.Path) -> None:
    def_path = _project(tmp_path / "p")
    secret = "s3cr3t-t0ken-value"
    one = _key(def_path, build_args={"GREETING": secret}, secrets=frozenset({"GREETING"}))
    text = canonical(one.document).decode()
    assert secret not in text
    assert secret_digest(secret) in text
    two = _key(def_path, build_args={"GREETING": secret + "x"}, secrets=frozenset({"GREETING"}))
    assert two.key != one.key


def test_stage_keys_chain_from_the_stages_copied_from(tmp_path: pathlib.Path) -> None:
    text = ("Bootstrap: localimage\nFrom: ./base.img\nStage: one\n\n%post\n    echo 1\n\n"
            "Bootstrap: localimage\nFrom: ./base.img\nStage: two\n\n%files from one\n"
            "    /x /x\n\n%post\n    echo 2\n")
    def_path = _project(tmp_path / "p", text)
    first = _key(def_path, build_args={})
    def_path.write_text(text.replace("echo 2", "echo 3"))
    second = _key(def_path, build_args={})
    assert second.stage_keys[0] == first.stage_keys[0]
    assert second.stage_keys[1] != first.stage_keys[1]
    def_path.write_text(text.replace("echo 1", "echo 0"))
    third = _key(def_path, build_args={})
    assert third.stage_keys[0] != first.stage_keys[0]
    assert third.stage_keys[1] != first.stage_keys[1]  # chained from stage one's key


def test_registry_base_is_keyed_by_its_digest(tmp_path: pathlib.Path) -> None:
    def_path = _project(tmp_path / "p", "Bootstrap: docker\nFrom: alpine:3.19\n")
    digests = iter(["sha256:" + "a" * 64, "sha256:" + "b" * 64])

    def resolve(stage: Stage, agent: str) -> dict[str, str]:
        return {"reference": "docker.io/library/alpine:3.19", "digest": next(digests)}

    one = compute_key(_inputs(def_path, build_args={}), resolve_registry=resolve)
    two = compute_key(_inputs(def_path, build_args={}), resolve_registry=resolve)
    assert one.key != two.key
    assert one.base_digests == {"docker.io/library/alpine:3.19": "sha256:" + "a" * 64}


def test_impure_inputs_are_named_and_can_expire(tmp_path: pathlib.Path) -> None:
    text = ("Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: http://deb.debian.org/debian\n"
            "\n%setup\n    touch $APPTAINER_ROOTFS/x\n\n%post\n    apt-get update\n")
    def_path = _project(tmp_path / "p", text)
    key = _key(def_path, build_args={})
    assert any("debootstrap" in reason for reason in key.impure)
    assert any("%setup" in reason for reason in key.impure)
    assert any("network" in reason and "apt-get update" in reason for reason in key.impure)
    day = 86400
    a = _key(def_path, build_args={}, ttl_seconds=day, now=10 * day + 5)
    b = _key(def_path, build_args={}, ttl_seconds=day, now=10 * day + 500)
    c = _key(def_path, build_args={}, ttl_seconds=day, now=11 * day + 5)
    assert a.key == b.key != c.key
    pure = _project(tmp_path / "q")
    assert _key(pure).impure == []


def test_unchanged_files_are_not_read_again(tmp_path: pathlib.Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree, "_RACY_SECONDS", 0.0)
    def_path = _project(tmp_path / "p")
    cache_file = str(tmp_path / "stat-cache.json")
    first = tree.StatCache(cache_file)
    key = compute_key(_inputs(def_path), stat_cache=first)
    first.save()
    reads: list[str] = []
    real_open = open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    again = compute_key(_inputs(def_path), stat_cache=tree.StatCache(cache_file))
    assert again.key == key.key
    assert not [path for path in reads if "data" in path or path.endswith("tool.sh")]
    # A changed file is read (its inode's ctime moved), and changes the key.
    (def_path.parent / "data" / "a.txt").write_text("beta\n")
    reads.clear()
    changed = compute_key(_inputs(def_path), stat_cache=tree.StatCache(cache_file))
    assert changed.key != key.key
    assert any(path.endswith("a.txt") for path in reads)


@pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="needs mksquashfs")
def test_mksquashfs_version_is_run_once_per_binary(tmp_path: pathlib.Path) -> None:
    """A cache hit does not start `mksquashfs -version` again: the version is remembered under
    the binary's identity, and a different binary (a new package) is asked again."""
    from defkit.cache.hook import _mksquashfs
    from defkit.runner import run

    calls: list[list[str]] = []

    def recording(argv: Any, **options: Any) -> Any:
        calls.append(list(argv))
        return run(argv, **options)

    cache = tree.StatCache(str(tmp_path / "stat-cache.json"))
    first = _mksquashfs(recording, cache)
    cache.save()
    again = _mksquashfs(recording, tree.StatCache(str(tmp_path / "stat-cache.json")))
    assert str(first["version"]).startswith("mksquashfs version")
    assert again == first
    assert calls == [["mksquashfs", "-version"]]
    # Another binary on PATH (same content, another inode) is a new identity.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    copy = bin_dir / "mksquashfs"
    shutil.copy2(str(shutil.which("mksquashfs")), copy)
    os.utime(copy, (1_000_000_000, 1_000_000_000))
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}:{old_path}"
    try:
        _mksquashfs(recording, tree.StatCache(str(tmp_path / "stat-cache.json")))
    finally:
        os.environ["PATH"] = old_path
    assert len(calls) == 2


def test_a_dockerfile_base_is_keyed_by_its_context_and_dockerfile(tmp_path: pathlib.Path) -> None:
    """`Bootstrap: dockerfile`: the context's files and the Dockerfile are the base's identity."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /a.txt\n")
    (context / "a.txt").write_text("one\n")
    def_path = tmp_path / "image.def"
    def_path.write_text("Bootstrap: dockerfile\nFrom: ctx\n")
    first = compute_key(_inputs(def_path, build_args={})).key
    assert compute_key(_inputs(def_path, build_args={})).key == first
    (context / "a.txt").write_text("two\n")
    second = compute_key(_inputs(def_path, build_args={})).key
    (context / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /b.txt\n")
    third = compute_key(_inputs(def_path, build_args={})).key
    assert len({first, second, third}) == 3
    # A Dockerfile build's context directory stands in for the def file's directory.
    moved = tmp_path / "elsewhere" / "image.def"
    moved.parent.mkdir()
    moved.write_text("Bootstrap: dockerfile\nFrom: ctx\n")
    assert compute_key(_inputs(moved, build_args={}, context_dir=str(tmp_path))).key == third


def test_files_root_content_is_what_absolute_sources_hash(tmp_path: pathlib.Path) -> None:
    # With files_root (a remote build's context) /srv/data.txt is read under it, not on the host.
    def_path = _project(tmp_path / "p", DEF.replace("data /opt/data", "/srv/data.txt /opt/d"))
    files_root = tmp_path / "context"
    (files_root / "srv").mkdir(parents=True)
    (files_root / "srv" / "data.txt").write_text("one\n")
    before = _key(def_path, files_root=str(files_root))
    (files_root / "srv" / "data.txt").write_text("two\n")
    after = _key(def_path, files_root=str(files_root))
    assert after.key != before.key
    # A symlink in the root is hashed as the link the build copies, never followed out of it.
    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    (files_root / "srv" / "data.txt").unlink()
    (files_root / "srv" / "data.txt").symlink_to(outside)
    linked = _key(def_path, files_root=str(files_root))
    outside.write_text("changed\n")
    assert _key(def_path, files_root=str(files_root)).key == linked.key
    # Without files_root: the host's /srv/data.txt (not there), as before.
    assert _key(def_path).key not in (before.key, after.key, linked.key)
