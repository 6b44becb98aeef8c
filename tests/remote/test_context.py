"""The build context archive of a remote build: what goes in, and that it is deterministic."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pathlib
import socket
import tarfile

import pytest

from defkit.errors import BuildError
from defkit.parser import parse_text
from defkit.remote.context import ContextArchive, build_context
from defkit.remote_build import context_sources


def _archive(project: pathlib.Path, files: str) -> ContextArchive:
    text = f"Bootstrap: scratch\n\n%files\n{files}\n"
    def_path = project / "image.def"
    def_path.write_text(text)
    deffile = parse_text(text, str(def_path))
    archive = build_context(context_sources(deffile, str(project)), str(def_path),
                            str(project.parent))
    return archive


def _members(archive: ContextArchive) -> dict[str, tarfile.TarInfo]:
    # tarfile drops a directory's trailing "/" when it reads: put it back.
    with tarfile.open(archive.path, "r:gz") as tar:
        return {member.name + ("/" if member.isdir() else ""): member
                for member in tar.getmembers()}


def _content(archive: ContextArchive, name: str) -> bytes:
    with tarfile.open(archive.path, "r:gz") as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


@pytest.fixture()
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "project"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "a.txt").write_text("a")
    (root / "data" / "sub" / "b.txt").write_text("b")
    (root / "one.cfg").write_text("one")
    (root / "two.cfg").write_text("two")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o755)
    return root


def test_paths_are_absolute_without_the_leading_slash(project: pathlib.Path) -> None:
    archive = _archive(project, "    one.cfg /etc/one.cfg")
    base = str(project).lstrip("/")
    assert archive.entries == (f"{base}/one.cfg",)
    assert _content(archive, f"{base}/one.cfg") == b"one"


def test_globs_are_expanded_and_directories_walked(project: pathlib.Path) -> None:
    archive = _archive(project, "    *.cfg /etc/\n    data /opt/data")
    base = str(project).lstrip("/")
    assert archive.entries == (
        f"{base}/data/", f"{base}/data/a.txt", f"{base}/data/sub/", f"{base}/data/sub/b.txt",
        f"{base}/one.cfg", f"{base}/two.cfg")
    members = _members(archive)
    assert members[f"{base}/data/sub/"].isdir()
    # As written in the tar header: the directory's name ends in "/".
    assert f"{base}/data/sub/\0".encode() in gzip.decompress(
        pathlib.Path(archive.path).read_bytes())
    assert members[f"{base}/data/a.txt"].isfile()


def test_modes_are_kept_times_and_owners_are_not(project: pathlib.Path) -> None:
    os.chown(project / "run.sh", 1234, 5678) if os.geteuid() == 0 else None
    archive = _archive(project, "    run.sh /run.sh")
    member = next(iter(_members(archive).values()))
    assert member.mode == 0o755
    assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")


def test_symlinks_are_followed(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    outside = tmp_path / "outside"
    (outside / "tree").mkdir(parents=True)
    (outside / "tree" / "x").write_text("x")
    (outside / "file").write_text("pointed at")
    os.symlink(outside / "file", project / "data" / "link")
    os.symlink(outside / "tree", project / "data" / "dirlink")
    archive = _archive(project, "    data /data")
    base = str(project).lstrip("/")
    members = _members(archive)
    assert members[f"{base}/data/link"].isfile()
    assert _content(archive, f"{base}/data/link") == b"pointed at"
    assert members[f"{base}/data/dirlink/"].isdir()
    assert _content(archive, f"{base}/data/dirlink/x") == b"x"
    assert not any(member.issym() or member.islnk() for member in members.values())


def test_a_dangling_symlink_is_refused_at_its_line(project: pathlib.Path) -> None:
    os.symlink(project / "missing", project / "data" / "dangling")
    with pytest.raises(BuildError) as caught:
        _archive(project, "    data /data")
    assert "dangling" in caught.value.message
    assert caught.value.span is not None and caught.value.span.line == 4


def test_a_fifo_or_a_socket_is_refused(project: pathlib.Path) -> None:
    os.mkfifo(project / "data" / "pipe")
    with pytest.raises(BuildError, match="pipe is not a regular file or a directory"):
        _archive(project, "    data /data")
    os.unlink(project / "data" / "pipe")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(project / "sock"))
        with pytest.raises(BuildError, match="sock is not a regular file or a directory"):
            _archive(project, "    sock /sock")
    finally:
        server.close()


def test_a_missing_source_is_an_error_at_its_line(project: pathlib.Path) -> None:
    with pytest.raises(BuildError) as caught:
        _archive(project, "    one.cfg /x\n    nothing-here /y")
    assert "nothing-here does not exist" in caught.value.message
    assert caught.value.span is not None and caught.value.span.line == 5


def test_duplicates_are_stored_once(project: pathlib.Path) -> None:
    archive = _archive(project, "    data /a\n    data/a.txt /b\n    data/*.txt /c\n"
                                f"    {project}/one.cfg /d\n    one.cfg /e")
    assert len(archive.entries) == len(set(archive.entries)) == 5


def test_stage_copies_and_nothing_else_are_left_out(tmp_path: pathlib.Path) -> None:
    text = ("Bootstrap: scratch\nStage: one\n\n%files\n    a /a\n\n"
            "Bootstrap: scratch\n\n%files from one\n    /a /b\n")
    (tmp_path / "a").write_text("a")
    sources = context_sources(parse_text(text, str(tmp_path / "x.def")), str(tmp_path))
    assert [source.path for source in sources] == [str(tmp_path / "a")]


def test_the_same_inputs_give_the_same_checksum(project: pathlib.Path) -> None:
    first = _archive(project, "    data /data\n    *.cfg /etc/")
    data = pathlib.Path(first.path).read_bytes()
    # New times, a new owner and another run: the same bytes.
    for path in (project / "data" / "a.txt", project / "one.cfg"):
        os.utime(path, (1, 1))
    second = _archive(project, "    data /data\n    *.cfg /etc/")
    assert pathlib.Path(second.path).read_bytes() == data
    assert first.checksum == second.checksum == "sha256." + hashlib.sha256(data).hexdigest()
    assert first.size == len(data)
    # The gzip header has no time and no file name.
    assert data[4:8] == b"\0\0\0\0" and not data[3] & 0x08
    with gzip.open(io.BytesIO(data)) as unzipped:
        assert unzipped.read()


def test_a_changed_file_changes_the_checksum(project: pathlib.Path) -> None:
    first = _archive(project, "    data /data")
    (project / "data" / "a.txt").write_text("changed")
    assert _archive(project, "    data /data").checksum != first.checksum
    os.chmod(project / "data" / "a.txt", 0o600)
    assert _archive(project, "    data /data").checksum != first.checksum
