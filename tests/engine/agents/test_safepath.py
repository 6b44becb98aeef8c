"""Root (resolution, copies) and extract_tar against each way out of a rootfs, with openat2 and
with the descriptor walk."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from pathlib import Path
from typing import Literal

import pytest

from defkit import safepath
from defkit.engine.extract import extract_tar
from defkit.errors import BuildError
from defkit.safepath import Root


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]],
             mode: Literal["w", "w:gz"] = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def reg(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def directory(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    return info


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "usr" / "lib").mkdir(parents=True)
    return rootfs


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    victim = tmp_path / "outside"
    victim.mkdir()
    return victim


# --- resolution (both implementations: openat2 and the descriptor walk) -----------------------


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with openat2 and with the walk that stands in where the kernel lacks it."""
    if request.param == "openat2":
        monkeypatch.setattr(safepath, "openat2_available", None)
        if not safepath._has_openat2():
            pytest.skip("this kernel has no openat2")
    else:
        monkeypatch.setattr(safepath, "openat2_available", False)
    return str(request.param)


def where(root: Path, cpath: str, *, follow: bool = True) -> Path:
    """The host path container path `cpath` reaches (read back from the held descriptor)."""
    with Root(root) as held:
        dirfd, name = held.resolve(cpath) if follow else held.parent(cpath)
        try:
            return Path(os.readlink(f"/proc/self/fd/{dirfd}")) / name
        finally:
            os.close(dirfd)


def test_the_walk_is_used_when_forced(root: Path, resolver: str) -> None:
    with Root(root) as held:
        assert held.openat2 is (resolver == "openat2")


def test_absolute_paths_start_at_the_root(root: Path) -> None:
    assert where(root, "/etc/hosts") == root.resolve() / "etc" / "hosts"
    assert where(root, "etc//./hosts") == root.resolve() / "etc" / "hosts"


def test_dotdot_inside_is_fine_above_is_refused(root: Path) -> None:
    assert where(root, "/usr/lib/../../etc/x") == root.resolve() / "etc" / "x"
    with Root(root) as held, pytest.raises(BuildError, match="climbs above"):
        held.makedirs("/etc/../../outside")


def test_absolute_symlink_is_resolved_inside_the_root(root: Path) -> None:
    os.symlink("/etc", root / "conf")
    assert where(root, "/conf/passwd") == root.resolve() / "etc" / "passwd"
    os.symlink("/", root / "top")
    assert where(root, "/top/top/etc/x") == root.resolve() / "etc" / "x"


def test_relative_symlink_climbing_out_stays_at_the_root(root: Path, outside: Path) -> None:
    # As in the container itself (and RESOLVE_IN_ROOT): `..` at `/` is `/`.
    os.symlink("../../../../outside", root / "usr" / "out")
    with Root(root) as held:
        held.write_file("/usr/out/file", "x", 0o644)
    assert where(root, "/usr/out/file") == root.resolve() / "outside" / "file"
    assert not os.listdir(outside)
    assert (root / "outside" / "file").read_text() == "x"


def test_final_symlink_kept_when_asked(root: Path) -> None:
    os.symlink("/etc", root / "conf")
    assert where(root, "/conf", follow=False) == root.resolve() / "conf"


def test_symlink_loop_is_refused(root: Path) -> None:
    os.symlink("/b", root / "a")
    os.symlink("/a", root / "b")
    with Root(root) as held, pytest.raises(OSError) as caught:
        held.open_dir("/a/x")
    assert caught.value.errno == errno.ELOOP


# --- copies ----------------------------------------------------------------------------------


def test_copy_follows_host_symlinks_and_stays_inside(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "data").write_text("data")
    os.symlink("sub/data", src / "alias")
    # A symlink in the rootfs pointing at the host's directory must not redirect the copy.
    os.symlink(str(outside), root / "opt")
    with Root(root) as held:
        held.copy_in(src, "/opt/app")
    assert not os.listdir(outside)
    copied = where(root, "/opt/app")
    assert (copied / "sub" / "data").read_text() == "data"
    assert (copied / "alias").read_text() == "data" and not (copied / "alias").is_symlink()


def test_copy_into_existing_dir_and_trailing_slash(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_text("hi")
    with Root(root) as held:
        held.copy_in(src, "/etc")
        held.copy_in(src, "/new/dir/")
        held.copy_in(src, "/renamed.txt")
    assert (root / "etc" / "hello.txt").read_text() == "hi"
    assert (root / "new" / "dir" / "hello.txt").read_text() == "hi"
    assert (root / "renamed.txt").read_text() == "hi"


def test_stage_copy_keeps_symlinks(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "bin").mkdir(parents=True)
    (other / "bin" / "busybox").write_text("bb")
    os.symlink("busybox", other / "bin" / "sh")
    with Root(root) as held, Root(other) as source:
        held.copy_in("/bin", "/bin", source=source)
    assert os.readlink(root / "bin" / "sh") == "busybox"


def test_copy_destination_dotdot_refused(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    with Root(root) as held, pytest.raises(BuildError):
        held.copy_in(src, "../../f")


# --- extract_tar: attacks --------------------------------------------------------------------


def test_absolute_member_refused(root: Path, tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "a.tar", [(reg("/etc/evil"), b"x")])
    with pytest.raises(BuildError, match="absolute"):
        extract_tar(tar, root)


def test_dotdot_member_refused(root: Path, outside: Path, tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "a.tar", [(reg("etc/../../outside/evil"), b"x")])
    with pytest.raises(BuildError, match="climbs"):
        extract_tar(tar, root)
    assert not os.listdir(outside)


def test_write_through_escaping_symlink_stays_inside(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    tar = make_tar(
        tmp_path / "a.tar",
        [(link("escape", "../outside"), b""), (reg("escape/evil"), b"x")],
    )
    extract_tar(tar, root)
    assert not os.listdir(outside)
    assert (root / "outside" / "evil").read_bytes() == b"x"


def test_write_through_absolute_symlink_stays_inside(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    tar = make_tar(
        tmp_path / "a.tar",
        [(link("escape", str(outside)), b""), (reg("escape/evil"), b"x")],
    )
    extract_tar(tar, root)
    assert not os.listdir(outside)
    assert (root.resolve() / str(outside).lstrip("/") / "evil").read_bytes() == b"x"


def test_hard_link_escape_refused(root: Path, outside: Path, tmp_path: Path) -> None:
    (outside / "secret").write_text("s")
    hard = tarfile.LNKTYPE
    tar = make_tar(tmp_path / "a.tar", [(link("stolen", "../outside/secret", hard), b"")])
    with pytest.raises(BuildError, match="climbs"):
        extract_tar(tar, root)
    tar = make_tar(tmp_path / "b.tar", [(link("stolen", str(outside / "secret"), hard), b"")])
    with pytest.raises(BuildError):
        extract_tar(tar, root)
    assert not (root / "stolen").exists()


def test_hard_link_inside_and_symlink_replaced_not_followed(root: Path, tmp_path: Path) -> None:
    (root / "etc" / "passwd").write_text("keep")
    tar = make_tar(
        tmp_path / "a.tar",
        [
            (reg("bin/busybox", 0o4755), b"BB"),
            (link("bin/sh", "bin/busybox", tarfile.LNKTYPE), b""),
            (link("p", "/etc/passwd"), b""),
            (reg("p"), b"new"),
        ],
        "w:gz",
    )
    report = extract_tar(tar, root)
    assert report.members == 4
    assert os.stat(root / "bin" / "sh").st_ino == os.stat(root / "bin" / "busybox").st_ino
    assert (root / "etc" / "passwd").read_text() == "keep"
    assert (root / "p").read_text() == "new" and not (root / "p").is_symlink()
    assert os.stat(root / "bin" / "busybox").st_mode & 0o7777 == 0o4755


def test_whiteouts_and_opaque_dirs(root: Path, tmp_path: Path) -> None:
    lower = make_tar(
        tmp_path / "l1.tar",
        [(reg("a/old"), b"1"), (reg("a/gone"), b"2"), (reg("b/x"), b"3"), (reg("b/y"), b"4"),
         (reg("b/sub/old"), b"7")],
    )
    upper = make_tar(
        tmp_path / "l2.tar",
        [
            (reg("a/.wh.gone"), b""),
            (directory("b"), b""),
            (reg("b/new"), b"5"),
            (reg("b/sub/deep"), b"6"),
            (reg("b/.wh..wh..opq"), b""),
        ],
    )
    extract_tar(lower, root, whiteouts=True)
    extract_tar(upper, root, whiteouts=True)
    assert sorted(os.listdir(root / "a")) == ["old"]
    assert sorted(os.listdir(root / "b")) == ["new", "sub"]
    assert sorted(os.listdir(root / "b" / "sub")) == ["deep"]  # lower content hidden below too


def test_whiteouts_are_plain_files_unless_asked(root: Path, tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "a.tar", [(reg("a/.wh.x"), b"")])
    extract_tar(tar, root)
    assert (root / "a" / ".wh.x").exists()


def test_zstd_layer(root: Path, tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "a.tar", [(reg("hello"), b"zstd")])
    from defkit.runner import run

    assert run(["zstd", "-q", str(tar), "-o", str(tmp_path / "a.tar.zst")]).returncode == 0
    extract_tar(tmp_path / "a.tar.zst", root)
    assert (root / "hello").read_bytes() == b"zstd"


def test_device_node_recorded_when_not_creatable(root: Path, tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dev/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor, dev.mode = 1, 3, 0o666
    tar = make_tar(tmp_path / "a.tar", [(dev, b"")])
    report = extract_tar(tar, root)
    if os.geteuid() == 0:
        assert os.major(os.stat(root / "dev" / "null").st_rdev) == 1
    else:
        found = [(e.path, e.kind, e.major, e.minor) for e in report.special]
        assert found == [("/dev/null", "c", 1, 3)]
