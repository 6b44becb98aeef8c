"""Crafted image layers against real `defkit build`s, as root and rootless.

Every attack plants a host canary (owned by the user the build runs as, so the attack *would*
work if the engine let it through) outside the build's tree, builds an image whose layers were
written with Python's tarfile, and asserts that the canary is untouched and that the build either
succeeded or stopped with one clear line (exit 1, no traceback, never a hang).

Builds run in three modes: as root; as nobody with an /etc/subuid range (a private mount
namespace binds one over the host's file, see tests/engine/engine/test_subuid.py); as nobody
without one (the engine then builds with fakeroot). The three archive agents (oci, oci-archive,
docker-archive) take turns.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pytest

from defkit.arch import host_arch
from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.sif.reader import read_sif
from defkit.squashfs import unsquash_cat, unsquash_list
from tests.engine.agents.helpers import docker_archive, image_config, oci_layout, tar_directory
from tests.engine.engine.test_subuid import (
    _BIND_SCRIPT,
    NOBODY,
    SETPRIV,
    SUBID_COUNT,
    SUBID_START,
    _missing_requirement,
    _nobody_python,
)
from tests.engine.security.canary import Canary

MODES = ("root", "subuid", "fakeroot")
#: Rootless builds of every attack are slow (two namespaces each): the testers' attack runs
#: rootless in every suite, the others in the e2e one.
LAB_MODES = ("root", pytest.param("subuid", marks=pytest.mark.e2e),
             pytest.param("fakeroot", marks=pytest.mark.e2e))
AGENTS = ("oci", "oci-archive", "docker-archive")


# --- crafted layers ------------------------------------------------------------------------------


@dataclass
class Entry:
    """One tar member: a file (data), directory, symlink, hard link, FIFO or device."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    target: str = ""
    mode: int = 0o644
    pax: dict[str, str] = field(default_factory=dict)


def file(name: str, data: bytes = b"x\n", mode: int = 0o644) -> Entry:
    return Entry(name, data=data, mode=mode)


def folder(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, target=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, target=target)


def layer(*entries: Entry) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.mode, info.linkname, info.mtime = (entry.kind, entry.mode,
                                                               entry.target, 1700000000)
            if entry.kind == tarfile.CHRTYPE:
                info.devmajor, info.devminor = 1, 3
            info.pax_headers = dict(entry.pax)
            if entry.kind == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def write_source(directory: pathlib.Path, agent: str, layers: Sequence[bytes]) -> str:
    """The image in `directory` for `agent`; returns the `From:` value."""
    config = image_config(host_arch())
    if agent == "docker-archive":
        docker_archive(directory / "image.tar", config, layers, "attack:latest")
        return "image.tar"
    oci_layout(directory / "layout", [(host_arch(), config, layers, "latest")])
    if agent == "oci":
        return "layout"
    tar_directory(directory / "layout", directory / "image.tar")
    shutil.rmtree(directory / "layout")
    return "image.tar"


# --- builds as root and as nobody ------------------------------------------------------------------


@dataclass
class Built:
    returncode: int
    stdout: str
    stderr: str
    image: pathlib.Path

    def error(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert self.returncode == 1, f"expected one clear error, got exit {self.returncode}:\n" \
                                     f"{self.stderr}"
        assert "Traceback" not in self.stderr and len(lines) == 1, self.stderr
        return lines[0]

    def ok(self) -> None:
        assert self.returncode == 0, self.stdout[-3000:] + self.stderr

    def read(self, path: str) -> Optional[bytes]:
        return unsquash_cat(self.image, path.lstrip("/"),
                            read_sif(self.image).partition_offset)

    def listing(self) -> dict[str, str]:
        """Container path (no leading /) -> `ls -l` mode string."""
        return {e.path: e.mode for e in unsquash_list(self.image,
                                                       read_sif(self.image).partition_offset)}


@dataclass
class Lab:
    """A build tree (`project/`) and a canary beside it (`host/canary`), both owned by the user
    the build runs as, under one world-reachable temporary directory."""

    base: pathlib.Path
    mode: str
    canary: Canary
    uid: int
    agent_turn: int = 0

    @property
    def project(self) -> pathlib.Path:
        return self.base / "project"

    @property
    def climb(self) -> str:
        """A relative path from anywhere in the build tree up to the host's `/`."""
        return "../" * 24

    def build(self, layers: Sequence[bytes], body: str = "", *, agent: Optional[str] = None,
              extra: str = "", timeout: float = 120) -> Built:
        if agent is None:
            agent = AGENTS[self.agent_turn % len(AGENTS)]
            self.agent_turn += 1
        project = self.project
        if project.exists():
            shutil.rmtree(project)
        project.mkdir()
        (project / "work").mkdir()
        source = write_source(project, agent, layers)
        body = body.replace("@AGENT@", agent).replace("@SOURCE@", source)  # later stages
        (project / "image.def").write_text(f"Bootstrap: {agent}\nFrom: {source}\n{extra}\n"
                                           f"{body}\n", encoding="utf-8")
        if self.uid:
            subprocess.run(["chown", "-R", f"{self.uid}:{self.uid}", str(project)], check=True)
        argv = ["build", "--quiet", "--workdir", "work", "--force", "-o", "image.sif",
                "image.def"]
        done = self._run(argv, timeout)
        return Built(done.returncode, done.stdout, done.stderr, project / "image.sif")

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "LC_ALL": "C"}
        if self.mode == "root":
            return subprocess.run([sys.executable, "-m", "defkit", *argv], cwd=self.project,
                                  env=env, capture_output=True, text=True, timeout=timeout)
        found = _nobody_python()
        assert found is not None
        command, nobody_env = found
        nobody_env = {**nobody_env, "SOURCE_DATE_EPOCH": "1700000000"}
        full = [*SETPRIV, *command, *argv]
        if self.mode == "subuid":
            full = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _BIND_SCRIPT,
                    "sh", str(self.base / "subuid"), str(self.base / "subgid"), *full]
        return subprocess.run(full, cwd=self.project, env=nobody_env, capture_output=True,
                              text=True, timeout=timeout)


def _lab(base: pathlib.Path, mode: str) -> Lab:
    if mode != "root":
        reason = _missing_requirement()
        if reason is not None:
            pytest.skip(reason)
        if _nobody_python() is None:
            pytest.skip("no python that nobody can run with defkit importable")
    uid = 0 if mode == "root" else NOBODY
    os.chmod(base, 0o755)
    (base / "host").mkdir()
    for name in ("subuid", "subgid"):
        (base / name).write_text(f"nobody:{SUBID_START}:{SUBID_COUNT}\n", encoding="utf-8")
    canary = Canary.plant(base / "host" / "canary", uid, uid)
    if uid:
        os.chown(base / "host", uid, uid)
    return Lab(base, mode, canary, uid)


@pytest.fixture(params=LAB_MODES)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A lab per build mode; after the test, the canary must be untouched."""
    if os.geteuid() != 0:
        pytest.skip("the attack builds need root (and setpriv for the rootless modes)")
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-attack-"))
    try:
        lab = _lab(base, str(request.param))
        yield lab
        lab.canary.assert_untouched()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_layer(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A static busybox rootfs as one layer, for the attacks that need %post."""
    if shutil.which("mksquashfs") is None or shutil.which("unshare") is None:
        pytest.skip("squashfs-tools and util-linux are needed")
    rootfs = pathlib.Path(make_busybox_rootfs(str(tmp_path_factory.mktemp("bb") / "rootfs")))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(rootfs / name, arcname=name)
    return buffer.getvalue()


# --- the testers' attack: deferred directory modes redirected through a swapped symlink ----------


@pytest.mark.parametrize("lab", MODES, indirect=True)
@pytest.mark.parametrize("agent", AGENTS)
def test_directory_mode_is_not_redirected_to_the_host(lab: Lab, agent: str) -> None:
    tool, top = str(lab.canary.binary), str(lab.canary.root)
    built = lab.build([layer(
        # A directory mode, then the directory replaced by a symlink to a host file...
        folder("d", 0o6777), symlink("d", tool),
        # ... one without u+w (applied at the end), replaced the same way ...
        folder("r", 0o4555), symlink("r", tool),
        # ... and nested directories whose parent is swapped for a symlink to a host directory.
        folder("p"), folder("p/bin", 0o4555), folder("p/dir", 0o777), symlink("p", top),
    )], agent=agent)
    built.ok()
    listing = built.listing()
    assert listing["d"].startswith("l") and listing["r"].startswith("l")


def test_directory_mode_through_a_symlink_climbing_out(lab: Lab) -> None:
    tool, inner = str(lab.canary.binary), str(lab.canary.directory)
    built = lab.build([layer(
        folder("r", 0o4555), symlink("r", lab.climb + tool.lstrip("/")),
        symlink("p2", lab.climb + inner.lstrip("/")), folder("p2/dir", 0o6777),
        folder("p2/ro", 0o4555),
    )])
    built.ok()
    assert built.listing()[inner.lstrip("/") + "/dir"] == "drwsrwsrwx"


def test_directory_then_its_whiteout_in_one_layer(lab: Lab) -> None:
    built = lab.build([layer(folder("d", 0o555), file("d/f"), file(".wh.d"),
                             folder("e", 0o500), folder("e/sub", 0o500), file("e/.wh.sub"))])
    built.ok()
    listing = built.listing()
    assert "d" not in listing and "e/sub" not in listing
    # Rootless, the builder keeps u+rwx on directories (later layers and %post write there).
    assert listing["e"] == ("dr-x------" if lab.mode == "root" else "drwx------")


@pytest.mark.parametrize("place", ["etc/hosts", ".singularity.d/labels.json",
                                   ".singularity.d/runscript", "etc/resolv.conf"])
def test_a_non_empty_directory_where_metadata_goes_is_one_error(lab: Lab, place: str) -> None:
    built = lab.build([layer(folder(place), file(f"{place}/keep"))])
    assert f"/{place}: the image has a directory there that is not empty" in built.error()


def test_special_files_where_metadata_goes_are_replaced(lab: Lab) -> None:
    secret = str(lab.canary.file)
    fifo = Entry(".singularity.d/labels.json", tarfile.FIFOTYPE)
    built = lab.build([layer(
        folder("etc/hosts"),  # an empty directory: replaced by the file
        symlink("etc/resolv.conf", secret),  # absolute: the image's own path, not the host's
        symlink(".singularity.d/runscript", lab.climb + secret.lstrip("/")),
        fifo,  # would block the build forever if it were opened
        folder(".singularity.d/env"),
        symlink(".singularity.d/env/10-docker2singularity.sh", secret),
    )], timeout=60)
    built.ok()
    listing = built.listing()
    for path in ("etc/hosts", "etc/resolv.conf", ".singularity.d/runscript",
                 ".singularity.d/labels.json", ".singularity.d/env/10-docker2singularity.sh"):
        assert listing[path].startswith("-"), (path, listing[path])
    assert json.loads(built.read(".singularity.d/labels.json") or b"") is not None


@pytest.mark.parametrize(("pax", "message"), [
    ({"mtime": "1e30"}, "mtime 1e+30 is out of range"),
    ({"uid": str(2**40)}, f"uid {2**40} is out of range"),
    ({"gid": "4294967295"}, "gid 4294967295 is out of range"),
])
def test_pax_values_no_file_can_have_are_one_error(lab: Lab, pax: dict[str, str],
                                                   message: str) -> None:
    entry = file("f")
    entry.pax = pax
    assert message in lab.build([layer(entry)]).error()


@pytest.mark.parametrize("post", ["mkfifo /.singularity.d/labels.json",
                                  "mkdir /.singularity.d/labels.json",
                                  "ln -s /proc/self/fd/0 /.singularity.d/labels.json",
                                  "mkfifo /.build.labels"])
def test_post_making_labels_json_special(lab: Lab, busybox_layer: bytes, post: str) -> None:
    built = lab.build([busybox_layer], f"%post\n    rm -f /.singularity.d/labels.json\n"
                                       f"    {post}\n", timeout=60)
    built.ok()
    assert built.listing()[".singularity.d/labels.json"].startswith("-")


def test_post_making_labels_json_a_full_directory(lab: Lab, busybox_layer: bytes) -> None:
    built = lab.build([busybox_layer], "%post\n    rm -f /.singularity.d/labels.json\n"
                                       "    mkdir -p /.singularity.d/labels.json/x\n")
    assert "labels.json: the image has a directory there that is not empty" in built.error()


# --- attacks from container-build CVEs -------------------------------------------------------------


def test_symlink_then_write_through_it(lab: Lab) -> None:
    """umoci CVE-2018-? / Docker layer symlink: a symlink to a host path, then files below it."""
    directory = str(lab.canary.directory)
    built = lab.build([
        layer(symlink("abs", directory), symlink("rel", lab.climb + directory.lstrip("/"))),
        layer(file("abs/inner", b"owned\n", 0o4777), file("rel/new", b"owned\n"),
              symlink("abs/link", "/etc/passwd"), folder("rel/sub", 0o777)),
    ])
    built.ok()
    assert built.read(directory + "/inner") == b"owned\n"


def test_hard_links_to_the_host_are_refused(lab: Lab) -> None:
    secret = str(lab.canary.file)
    for target, message in ((lab.climb + secret.lstrip("/"), "climbs above the root"),
                            (secret.lstrip("/"), "no such member")):
        built = lab.build([layer(symlink("s", "/"), hardlink("stolen", target))])
        assert message in built.error()
    # Through a symlink inside the image: resolved in the image, where there is no such file.
    built = lab.build([layer(symlink("s", str(lab.canary.root)), hardlink("h", "s/secret.txt"))])
    assert "no such member" in built.error() or "No such file" in built.error()


def test_setuid_hard_link_is_replaced_not_written_through(lab: Lab) -> None:
    built = lab.build([
        layer(file("bin/tool", b"tool\n", 0o755), hardlink("tmp/alias", "bin/tool")),
        layer(file("tmp/alias", b"evil\n", 0o4777)),
    ])
    built.ok()
    assert built.read("bin/tool") == b"tool\n"
    assert built.listing()["bin/tool"] == "-rwxr-xr-x"


@pytest.mark.parametrize("name", [".wh..", "a/.wh..", ".wh."])
def test_whiteouts_of_dot_dot_are_refused(lab: Lab, name: str) -> None:
    assert "invalid whiteout" in lab.build([layer(folder("a"), file(name))]).error()


def test_whiteouts_and_opaque_markers_through_symlinks_stay_inside(lab: Lab) -> None:
    directory = str(lab.canary.directory)
    built = lab.build([
        layer(file("keep/x"), symlink("abs", directory), symlink("up", lab.climb.rstrip("/"))),
        layer(file("abs/.wh.inner"), file("abs/.wh..wh..opq"),
              file(f"up/{directory.lstrip('/')}/.wh.inner"), file("up/.wh..wh..opq")),
    ])
    built.ok()
    assert built.read("keep/x") == b"x\n"


def test_very_long_names_and_paths_are_one_error(lab: Lab) -> None:
    assert "File name too long" in lab.build([layer(file("a" * 300))]).error()
    deep = "/".join(["d" * 200] * 25)
    assert "longer than 4096 bytes" in lab.build([layer(file(deep))]).error()


def test_many_levels_of_nesting(lab: Lab) -> None:
    depth = 1100  # deeper than Python's recursion limit
    deep = "/".join(["d"] * depth)
    built = lab.build([layer(*[folder("/".join(["d"] * n)) for n in range(1, depth + 1)],
                             file(deep + "/leaf", b"deep\n")),
                       layer(file(".wh.d")), layer(*[folder("/".join(["e"] * n))
                                                     for n in range(1, depth + 1)])])
    built.ok()
    assert "d" not in built.listing() and deep.replace("d", "e") in built.listing()
    assert os.listdir(lab.project / "work") == []  # the deep stage tree was removed too


def test_device_nodes(lab: Lab) -> None:
    built = lab.build([layer(Entry("dev/evil", tarfile.CHRTYPE, mode=0o666),
                             symlink("dev/link", str(lab.canary.file)))])
    built.ok()
    assert built.listing()["dev/evil"].startswith("c")
