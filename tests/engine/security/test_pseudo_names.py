"""File names handed to mksquashfs in pseudo-file lines (ownership and device nodes a rootless build
could not apply) cannot add lines of their own.

A layer's file names are chosen by whoever made the image. mksquashfs 4.5.1 reads a pseudo file
line by line (pseudo.c): a name ends at white space unless double-quoted, `\\` makes the next byte
literal, and an `f` entry runs its command on the host. Every name is therefore quoted and its
backslashes, quotes and control bytes escaped; a newline cannot be escaped at all, so such a name
is refused. Each character class is proven to round-trip through a real mksquashfs and
`unsquashfs -lln`, and a rootless build (as nobody) from a hostile docker archive leaves a host
canary untouched.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator

import pytest

from defkit.engine.agents.base import BootstrapResult, DeviceNode
from defkit.engine.pack import pseudo_lines
from defkit.errors import BuildError
from defkit.sif.reader import read_sif
from defkit.squashfs import (
    make_squashfs,
    pseudo_line,
    pseudo_name,
    unsquash_cat,
    unsquash_list,
)
from tests.engine.agents.helpers import docker_archive, image_config
from tests.engine.engine.test_subuid import NOBODY, SETPRIV, _nobody_python
from tests.engine.security.canary import Canary

# One name per character class; invalid UTF-8 arrives from tarfile as surrogate escapes.
NAMES = {
    "tab": "tab\there",
    "cr": "cr\rhere",
    "c0": "c0\x01\x1b[31m\x1fend",
    "c1": "c1\u0085\u009bend",
    "del": "del\x7fend",
    "backslash": "back\\slash",
    "trailing-backslash": "trail\\",
    "double-quote": 'dq"end',
    "single-quote": "sq'end",
    "space": "sp ace",
    "hash": "#hash",
    "non-ascii": "é漢\u2028end",
    "invalid-utf8": os.fsdecode(b"bad\xff\xfe\xc3end"),
    "fake-entry": 'x" m 4777 0 0 "y',
    "tab-injection": "a\tm\t755\t0\t0",
}

# A name that, written raw, becomes two pseudo lines; the second one runs a command on the host.
INJECTION = "a\tm\t755\t0\t0\nb\tf\t755\t0\t0\ttouch\t{target}\t#"


def test_names_are_always_quoted_and_escaped() -> None:
    assert pseudo_name("/plain") == b'"plain"'
    assert pseudo_name("") == b'""'  # the image root
    assert pseudo_name('a"b\\c') == b'"a\\"b\\\\c"'
    assert pseudo_name("t\tr\rd\x7f") == b'"t\\\tr\\\rd\\\x7f"'
    assert pseudo_name(os.fsdecode(b"x\xff")) == b'"x\xff"'
    assert pseudo_line("/a b", "m 755 1 2") == b'"a b" m 755 1 2\n'


@pytest.mark.parametrize("name", ["new\nline", "a/../b", "a/./b", "nul\x00"])
def test_names_that_cannot_be_written_are_refused_in_one_line(name: str) -> None:
    with pytest.raises(BuildError) as info:
        pseudo_line(name, "m 644 1000 1000")
    message = info.value.format()
    assert "\n" not in message and "\x00" not in message
    assert "cannot give" in message


def test_injected_lines_are_refused_before_mksquashfs(tmp_path: pathlib.Path) -> None:
    owned = BootstrapResult(ownership=((INJECTION.format(target=tmp_path / "x"), 0o644, 1000,
                                        1000),))
    with pytest.raises(BuildError, match="newline"):
        pseudo_lines(owned)
    devices = BootstrapResult(devices=(DeviceNode("/dev/a\nb", "c", 0o666, 0, 0, 1, 3),))
    with pytest.raises(BuildError, match="newline"):
        pseudo_lines(devices)


@pytest.fixture(scope="module")
def odd_squashfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, str]]]:
    """A real squashfs whose files (one per class) and device nodes (one per class) got their
    owners and types from pseudo lines; maps each name to (uid, listed mode)."""
    if shutil.which("mksquashfs") is None:
        pytest.skip("squashfs-tools is not installed")
    base = tmp_path_factory.mktemp("pseudo")
    root = base / "root"
    (root / "dev").mkdir(parents=True)
    ownership = []
    devices = []
    for index, name in enumerate(NAMES.values()):
        (root / os.fsencode(name).decode("utf-8", "surrogateescape")).write_bytes(b"x")
        ownership.append(("/" + name, 0o640, 1000 + index, 2000 + index))
        devices.append(DeviceNode("/dev/" + name, "c", 0o600, 3000 + index, 0, 1, index))
    lines, excludes = pseudo_lines(BootstrapResult(ownership=tuple(ownership),
                                                   devices=tuple(devices)))
    pseudo = base / "pseudo"
    pseudo.write_bytes(b"".join(lines))
    out = base / "out.sqfs"
    make_squashfs(root, out, source_date_epoch=0, all_root=False, pseudo_file=str(pseudo),
                  excludes=excludes)
    yield {e.path: (e.uid, e.mode) for e in unsquash_list(out)}


@pytest.mark.parametrize("kind", list(NAMES))
def test_each_character_class_round_trips(odd_squashfs: dict[str, tuple[int, str]],
                                          kind: str) -> None:
    index = list(NAMES).index(kind)
    name = NAMES[kind]
    assert odd_squashfs[name] == (1000 + index, "-rw-r-----")
    assert odd_squashfs["dev/" + name] == (3000 + index, "crw-------")


def test_nothing_but_the_named_entries(odd_squashfs: dict[str, tuple[int, str]]) -> None:
    # No entry made from a fragment of a name (`y`, `a`, `b`...), nothing else given an owner.
    expected = {"", "dev", *NAMES.values(), *("dev/" + n for n in NAMES.values())}
    assert set(odd_squashfs) == expected


# --- end to end: a rootless build from a hostile docker archive ---------------------------------


def _layer(names: dict[str, int]) -> bytes:
    """A layer of files `data/NAME` owned by the given uid (gid the same)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("data")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for name, uid in names.items():
            info = tarfile.TarInfo("data/" + name)
            info.size, info.mode, info.uid, info.gid = 2, 0o644, uid, uid
            tar.addfile(info, io.BytesIO(b"x\n"))
    return buffer.getvalue()


@pytest.fixture()
def nobody_dir() -> Iterator[pathlib.Path]:
    """A directory nobody owns and can reach (pytest's tmp_path is root's, mode 0700)."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-pseudo-test-"))
    try:
        os.chmod(base, 0o755)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _build_as_nobody(base: pathlib.Path, names: dict[str, int]
                     ) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("mksquashfs") is None:
        pytest.skip("needs root, setpriv and squashfs-tools (the build runs as nobody)")
    found = _nobody_python()
    if found is None:
        pytest.skip("no python that nobody can run with defkit importable")
    command, env = found
    docker_archive(base / "hostile.tar", image_config("amd64"), [_layer(names)], "hostile:1")
    (base / "image.def").write_text("Bootstrap: docker-archive\nFrom: hostile.tar\n")
    (base / "work").mkdir()
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(base)], check=True)
    return subprocess.run(
        [*SETPRIV, *command, "build", "--json", "--workdir", "work", "image.def"], cwd=base,
        env={**env, "SOURCE_DATE_EPOCH": "1700000000"}, capture_output=True, text=True,
        timeout=120)


def test_rootless_build_refuses_an_injected_pseudo_line(nobody_dir: pathlib.Path) -> None:
    canary = Canary.plant(nobody_dir / "canary", NOBODY, NOBODY)
    names = {INJECTION.format(target=canary.file): 1000,
             INJECTION.format(target=canary.directory / "made"): 1000}
    built = _build_as_nobody(nobody_dir, names)
    canary.assert_untouched()
    assert built.returncode != 0
    errors = [json.loads(line) for line in built.stdout.splitlines()
              if line.startswith('{"event": "error"')]
    assert len(errors) == 1, built.stdout + built.stderr
    assert "newline" in errors[0]["message"] and "\n" not in errors[0]["message"]
    assert built.stderr.strip().splitlines() == [errors[0]["message"]]
    assert not (nobody_dir / "image.sif").exists()


def test_rootless_build_keeps_odd_names_with_their_owners(nobody_dir: pathlib.Path) -> None:
    canary = Canary.plant(nobody_dir / "canary", NOBODY, NOBODY)
    names = {name: 1000 for name in NAMES.values()}
    # Owned by root, a name with a newline needs no pseudo line: it is kept as it is.
    root_owned = "root-owned\nb\tf\t755\t0\t0\ttouch\t" + str(canary.file)
    names[root_owned] = 0
    built = _build_as_nobody(nobody_dir, names)
    canary.assert_untouched()
    assert built.returncode == 0, built.stdout + built.stderr
    sif = nobody_dir / "image.sif"
    listed = {e.path: e for e in unsquash_list(sif, read_sif(sif).partition_offset)}
    for name in NAMES.values():
        entry = listed["data/" + name]
        assert (entry.uid, entry.gid, entry.mode) == (1000, 1000, "-rw-r--r--"), name
    assert unsquash_cat(sif, "data/" + root_owned, read_sif(sif).partition_offset) == b"x\n"
