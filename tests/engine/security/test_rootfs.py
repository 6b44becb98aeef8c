"""The rootfs module (`defkit.safepath.Root`) and `extract_tar` against attacks, in process,
with openat2 and with the descriptor walk that stands in where the kernel lacks it.

Each test plants a host canary beside the rootfs and asserts it is untouched. The races run a
thread that keeps swapping a directory of the rootfs for a symlink to the canary while the engine
writes below it (Docker's `cp` CVE-2018-15664 and CVE-2019-14271, BuildKit and runc symlink races):
an implementation that checks a path and then uses it by name loses such a race within a few
hundred tries; one that holds descriptors cannot lose it.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from defkit.engine import reproducible, sandbox
from defkit.engine.extract import extract_tar
from defkit.errors import BuildError
from defkit.safepath import MAX_COPY_DEPTH, Root
from tests.engine.agents.test_safepath import resolver as resolver  # both resolvers, shared
from tests.engine.security.canary import Canary
from tests.engine.security.test_layers import Entry, file, folder, hardlink, layer, symlink


@pytest.fixture()
def canary(tmp_path: pathlib.Path) -> Iterator[Canary]:
    planted = Canary.plant(tmp_path / "host" / "canary", os.geteuid(), os.getegid())
    yield planted
    planted.assert_untouched()


@pytest.fixture()
def rootfs(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    path = tmp_path / "rootfs"
    path.mkdir()
    yield path
    # Some tests leave trees 1,100 deep when they fail, and pytest's own clean-up of old tmp
    # dirs recurses once per level (it would crash a later session on Python 3.11).
    sandbox.remove_tree(path)


def extract(rootfs: pathlib.Path, *entries: Entry) -> None:
    extract_tar(io.BytesIO(layer(*entries)), rootfs, whiteouts=True)


# --- extraction --------------------------------------------------------------------------------


def test_deferred_directory_mode_never_reaches_the_host(rootfs: pathlib.Path,
                                                        canary: Canary) -> None:
    extract(rootfs, folder("d", 0o4555), symlink("d", str(canary.binary)),
            folder("p"), folder("p/bin", 0o4555), folder("p/dir", 0o6777),
            symlink("p", str(canary.root)))
    assert (rootfs / "d").is_symlink() and (rootfs / "p").is_symlink()


def test_deferred_directory_mode_applies_to_the_directory_extracted(rootfs: pathlib.Path,
                                                                    canary: Canary) -> None:
    extract(rootfs, folder("ro", 0o555), file("ro/f"), folder("ro/sub", 0o500))
    assert stat.S_IMODE(os.stat(rootfs / "ro").st_mode) == (
        0o555 if os.geteuid() == 0 else 0o755)
    assert (rootfs / "ro" / "f").read_bytes() == b"x\n"


def test_a_swapped_directory_moves_later_entries_inside_only(rootfs: pathlib.Path,
                                                             canary: Canary) -> None:
    extract(rootfs, folder("a"), file("a/one"), symlink("a", str(canary.directory)),
            file("a/two"), folder("b"), symlink("b/c", "../" * 30 + str(canary.root)[1:]),
            file("b/c/secret.txt", b"owned\n"))
    inside = rootfs / str(canary.directory)[1:]
    assert (inside / "two").exists() and not (rootfs / "a" / "one").exists()
    assert (rootfs / str(canary.root)[1:] / "secret.txt").read_bytes() == b"owned\n"


def test_hard_link_is_replaced_not_written_through(rootfs: pathlib.Path, canary: Canary) -> None:
    extract(rootfs, file("bin/tool", b"tool\n", 0o755), hardlink("alias", "bin/tool"))
    extract(rootfs, file("alias", b"evil\n", 0o4777))
    assert (rootfs / "bin" / "tool").read_bytes() == b"tool\n"
    assert stat.S_IMODE(os.stat(rootfs / "bin" / "tool").st_mode) == 0o755


def test_whiteout_and_opaque_marker_through_a_symlink(rootfs: pathlib.Path,
                                                      canary: Canary) -> None:
    extract(rootfs, symlink("s", str(canary.directory)), symlink("up", "../../../../.."))
    extract(rootfs, file("s/.wh.inner"), file("s/.wh..wh..opq"), file("up/.wh..wh..opq"))
    with pytest.raises(BuildError, match="invalid whiteout"):
        extract(rootfs, file("up/.wh.."))


def test_directory_then_its_whiteout(rootfs: pathlib.Path, canary: Canary) -> None:
    extract(rootfs, folder("d", 0o500), folder("d/e", 0o500), file("d/e/f"), file(".wh.d"))
    assert not (rootfs / "d").exists()


def test_deep_nesting_without_recursion(rootfs: pathlib.Path, canary: Canary) -> None:
    depth = 1100  # deeper than Python's recursion limit, within PATH_MAX
    extract(rootfs, *[folder("/".join(["d"] * n)) for n in range(1, depth + 1)],
            file("/".join(["d"] * depth) + "/leaf"))
    extract(rootfs, folder("d"), file("d/.wh..wh..opq"))  # an iterative opaque clear
    assert os.listdir(rootfs / "d") == []
    extract(rootfs, *[folder("/".join(["d"] * n)) for n in range(1, depth + 1)])
    extract(rootfs, file(".wh.d"))  # an iterative removal
    assert os.listdir(rootfs) == []


@pytest.mark.parametrize(("pax", "message"), [
    ({"mtime": "1e30"}, "mtime"), ({"mtime": "nan"}, "mtime"), ({"uid": str(2**40)}, "uid"),
    ({"gid": "-1"}, "gid"),
])
def test_pax_values_out_of_range(rootfs: pathlib.Path, pax: dict[str, str], message: str) -> None:
    entry = file("f")
    entry.pax = pax
    with pytest.raises(BuildError, match=f"{message} .* out of range"):
        extract(rootfs, entry)


def test_damaged_archive_is_one_error(rootfs: pathlib.Path) -> None:
    data = layer(file("a", b"x" * 5000))
    with pytest.raises(BuildError, match="damaged|cannot extract"):
        extract_tar(io.BytesIO(data[:1200]), rootfs)


# --- metadata files ----------------------------------------------------------------------------


def test_write_file_replaces_special_entries(rootfs: pathlib.Path, canary: Canary) -> None:
    (rootfs / "etc").mkdir()
    os.mkfifo(rootfs / "etc" / "fifo")
    os.symlink(str(canary.file), rootfs / "etc" / "link")
    os.link(canary.file, rootfs / "etc" / "hard")  # a hard link to a host file (made by us)
    (rootfs / "etc" / "empty").mkdir()
    (rootfs / "etc" / "full").mkdir()
    (rootfs / "etc" / "full" / "keep").write_text("k")
    with Root(rootfs) as root:
        for name in ("fifo", "link", "hard", "empty", "new/nested"):
            root.write_file(f"/etc/{name}", "metadata\n", 0o644)
            info = os.lstat(rootfs / "etc" / name)
            assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1
            assert (rootfs / "etc" / name).read_text() == "metadata\n"
        with pytest.raises(BuildError, match="/etc/full: the image has a directory there"):
            root.write_file("/etc/full", "x", 0o644)
        assert (rootfs / "etc" / "full" / "keep").read_text() == "k"
    assert not [n for n in os.listdir(rootfs / "etc") if "defkit" in n]  # no temporary left


def test_read_file_never_opens_a_fifo_or_device(rootfs: pathlib.Path) -> None:
    os.mkfifo(rootfs / "fifo")
    os.symlink("fifo", rootfs / "to-fifo")
    (rootfs / "dir").mkdir()
    with Root(rootfs) as root:
        started = time.monotonic()
        assert root.read_file("/fifo") is None and root.read_file("/to-fifo") is None
        assert root.read_file("/dir") is None and root.read_file("/missing/x") is None
        assert time.monotonic() - started < 5
        root.append_file("/fifo", "more\n", header="#!/bin/sh\n", mode=0o755)
    assert (rootfs / "fifo").read_text() == "#!/bin/sh\nmore\n"


# --- copies and globs --------------------------------------------------------------------------


def test_copy_in_deep_tree_is_one_error(rootfs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    os.symlink(".", source / "loop")  # a host loop: `cp -L` would never end
    with Root(rootfs) as root, pytest.raises(BuildError, match=f"deeper than {MAX_COPY_DEPTH}"):
        root.copy_in(source, "/dst")


def test_glob_matches_inside_the_root_only(rootfs: pathlib.Path, canary: Canary) -> None:
    os.symlink(str(canary.root), rootfs / "lnk")  # absolute: the image's own path
    os.symlink("../../../../../../../..", rootfs / "up")
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "a.conf").write_text("a")
    (rootfs / "etc" / ".hidden.conf").write_text("h")
    with Root(rootfs) as root:
        assert root.glob("/ln*/secret.txt") == []
        assert root.glob("/up/" + str(canary.root)[1:] + "/*") == []
        assert root.glob("/up/etc/*.conf") == ["/up/etc/a.conf"]
        assert root.glob("/e?c/.*.conf") == ["/etc/.hidden.conf"]
        with pytest.raises(BuildError, match="climbs above"):
            root.glob("/../*")


# --- races -----------------------------------------------------------------------------------


_SWAPPER = """
import os, sys
real, target = sys.argv[1], sys.argv[2]
link, tmp = real + ".link", real + ".swap"
while True:
    try:
        os.symlink(target, link)
        os.rename(real, tmp)
        os.rename(link, real)
        os.rename(real, link)
        os.rename(tmp, real)
        os.unlink(link)
    except OSError:
        for path in (link, tmp):
            if os.path.islink(path):
                os.unlink(path)
"""


@contextlib.contextmanager
def swapping(rootfs: pathlib.Path, target: str) -> Iterator[None]:
    """A separate process (truly in parallel) keeps swapping /d between a real directory and a
    symlink to the host's canary."""
    (rootfs / "d").mkdir()
    process = subprocess.Popen([sys.executable, "-c", _SWAPPER, str(rootfs / "d"), target])
    try:
        time.sleep(0.2)
        yield
    finally:
        process.kill()
        process.wait()


def test_a_check_then_use_loses_the_race(rootfs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The race is real: writing by name after checking the path lands on the host."""
    host = tmp_path / "host-dir"
    host.mkdir()
    deadline = time.monotonic() + 20
    with swapping(rootfs, str(host)):
        index = 0
        while not os.listdir(host) and time.monotonic() < deadline:
            index += 1
            with contextlib.suppress(OSError):
                if not os.path.islink(rootfs / "d"):
                    (rootfs / "d" / f"f{index}").write_text("x")
    assert os.listdir(host)


def test_race_swapping_a_directory_for_a_symlink(rootfs: pathlib.Path, canary: Canary,
                                                 tmp_path: pathlib.Path) -> None:
    source = tmp_path / "payload"
    source.write_text("payload\n")
    with swapping(rootfs, str(canary.directory)), Root(rootfs) as root:
        for index in range(300):
            # A BuildError: /d was away at that moment, refused, never redirected.
            with contextlib.suppress(BuildError):
                root.write_file(f"/d/inner-{index}", "x", 0o4777)
            with contextlib.suppress(BuildError):
                root.copy_in(source, f"/d/copy-{index}")
            with contextlib.suppress(BuildError):
                root.remove("/d/inner")
            with contextlib.suppress(BuildError):
                root.makedirs(f"/d/dir-{index}", 0o777)
    assert canary.changes() == []


def test_race_during_extraction(rootfs: pathlib.Path, canary: Canary) -> None:
    data = layer(*[e for n in range(300) for e in (folder(f"d/sub{n}", 0o4555),
                                                   file(f"d/f{n}", b"x", 0o4777))])
    with swapping(rootfs, str(canary.directory)):
        for _ in range(3):
            # A BuildError: a parent away for a moment, one error, nothing outside.
            with contextlib.suppress(BuildError):
                extract_tar(io.BytesIO(data), rootfs)
    assert canary.changes() == []



# --- after the last section: volatile files and sandbox times ------------------------------------


def test_volatile_files_are_handled_inside_the_rootfs(rootfs: pathlib.Path,
                                                      canary: Canary) -> None:
    (rootfs / "var").mkdir()
    os.symlink(str(canary.root), rootfs / "var" / "log")  # the image's own path, not the host's
    os.symlink(str(canary.file), rootfs / ".build.labels")
    os.mkfifo(rootfs / "fifo")
    inside = rootfs / str(canary.root)[1:]
    inside.mkdir(parents=True)
    (inside / "dpkg.log").write_text("log\n")
    assert reproducible.normalise_rootfs(str(rootfs)) == ["/var/log/dpkg.log"]
    assert (inside / "dpkg.log").read_text() == "" and os.path.islink(rootfs / ".build.labels")


def test_clamp_mtimes_is_iterative_and_never_follows(rootfs: pathlib.Path,
                                                     canary: Canary) -> None:
    fd = os.open(rootfs, os.O_RDONLY)
    for _ in range(1100):  # deeper than Python's recursion limit
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.symlink(str(canary.root), "host", dir_fd=fd)
    os.close(fd)
    reproducible.clamp_mtimes(str(rootfs), 1000)
    assert os.stat(rootfs / "d").st_mtime == 1000


def test_listing_an_image_never_changes_a_mode() -> None:
    """inspect lists sandboxes it must leave as they are: as a non-root owner, an unreadable
    directory stays 0000 (the build's own open_dir_at may open it up; listdir must not)."""
    import subprocess

    from tests.engine.engine.test_subuid import NOBODY, SETPRIV, nobody_or_skip

    command, env = nobody_or_skip()
    import tempfile

    base = pathlib.Path(tempfile.mkdtemp())  # a place nobody can reach (tmp_path is 0700)
    os.chmod(base, 0o755)
    tree = base / "sandbox"
    (tree / "locked").mkdir(parents=True)
    os.chown(tree, NOBODY, NOBODY)
    os.chown(tree / "locked", NOBODY, NOBODY)
    os.chmod(tree / "locked", 0)
    code = ("from defkit.safepath import Root\n"
            f"with Root({str(tree)!r}) as root:\n"
            "    try:\n        root.listdir('/locked')\n"
            "    except PermissionError:\n        print('refused')\n")
    done = subprocess.run([*SETPRIV, command[0], "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    try:
        assert (done.returncode, done.stdout) == (0, "refused\n"), done.stderr
        assert (tree / "locked").stat().st_mode & 0o7777 == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)
