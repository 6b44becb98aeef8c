"""Escapes from %post, %test and `defkit exec`, as root and rootless, against a host canary.

A hostile recipe (sandbox_attacks.py) copies a static attack program (attack.c, built here with
`cc -static`) in with %files and tries, from %post and %test: the double-chroot escape, the
/proc/*/root and /proc/*/cwd links, block-device mknod (mknod and mknodat), `hostname`, sysfs and
procfs mounts, writes to /proc/sys and /proc/sysrq-trigger, TIOCSTI into a terminal, descriptors
left open, a cwd outside the root. Each attack prints "ATTACK name blocked|ESCAPED"; the test
needs every one to have run and none to have escaped, the canary (owned by the build's user, so
an escape could write it) untouched, and the host's name and /proc/sys unchanged. The same code
against the old `chroot` sandbox escaped (chroot and mknod).

Modes: root (in process), fakeroot (a glibc rootfs: host chown/stat and their libraries copied
in, so fakeroot's LD_PRELOAD really runs), and user 65534 with and without a subuid range
(tests/engine/engine/test_subuid.py's private /etc/subuid).
"""

from __future__ import annotations

import json
import os
import pathlib
import pty
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from defkit.engine.context import OutputLine
from tests.engine.engine.helpers import build_def, leftovers, write_def
from tests.engine.engine.test_subuid import (
    NOBODY,
    SETPRIV,
    _as_nobody_with_subuid,
    _missing_requirement,
    _nobody_python,
    nobody_base,  # noqa: F401 - the fixture
)
from tests.engine.security.canary import Canary
from tests.engine.security.sandbox_attacks import (
    POST_ATTACKS,
    SHELL_ATTACKS,
    TEST_ATTACKS,
    assert_blocked,
    copy_host_binary,
    host_state,
    hostile_def,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plants canaries for root and nobody")


@pytest.fixture()
def world_dir() -> Iterator[pathlib.Path]:
    """A directory every user can reach (pytest's tmp_path is root's, mode 0700)."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="defkit-attack-test-"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _project(base: pathlib.Path, template: pathlib.Path, attack: pathlib.Path, canary: Canary,
             extra_post: str = "") -> pathlib.Path:
    if not (base / "rootfs").exists():
        base.mkdir()
        shutil.copytree(template, base / "rootfs", symlinks=True)
        (base / "work").mkdir()
    shutil.copy2(attack, base / "attack")
    return write_def(base, hostile_def(canary.root, extra_post=extra_post))


def _lines(events: list[object], step: str) -> list[str]:
    return [e.text for e in events if isinstance(e, OutputLine) and e.step == step]


def _json_lines(stdout: str, step: str) -> list[str]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [e["text"] for e in events if e["event"] == "output" and e["step"] == step]


def test_root_build(tmp_path: pathlib.Path, busybox_template: pathlib.Path,
                    attack_bin: pathlib.Path) -> None:
    canary = Canary.plant(tmp_path / "canary")
    before = host_state()
    path = _project(tmp_path / "project", busybox_template, attack_bin, canary)
    events: list[object] = []
    build_def(path, events=events)  # type: ignore[arg-type]
    assert_blocked(_lines(events, "%post"), POST_ATTACKS | {"mknod"})
    assert_blocked(_lines(events, "%test"), TEST_ATTACKS)
    canary.assert_untouched()
    assert host_state() == before
    assert leftovers(path.parent / "work") == []


def test_fakeroot_build(tmp_path: pathlib.Path, busybox_template: pathlib.Path,
                        attack_bin: pathlib.Path) -> None:
    if shutil.which("fakeroot") is None or shutil.which("ldd") is None:
        pytest.skip("fakeroot and ldd are needed")
    canary = Canary.plant(tmp_path / "canary")
    before = host_state()
    proof = ("/usr/local/bin/chown 1000:1000 /attack\n"
             "/usr/local/bin/stat -c 'FAKEROOT %u' /attack\n")
    path = _project(tmp_path / "project", busybox_template, attack_bin, canary, proof)
    rootfs = path.parent / "rootfs"
    for tool in ("chown", "stat"):
        copy_host_binary(rootfs, shutil.which(tool) or tool, f"/usr/local/bin/{tool}")
    events: list[object] = []
    build_def(path, events=events, fakeroot=True)  # type: ignore[arg-type]
    post = _lines(events, "%post")
    assert "FAKEROOT 1000" in post  # host fakeroot's LD_PRELOAD ran inside the sandbox
    assert_blocked(post, POST_ATTACKS)
    assert_blocked(_lines(events, "%test"), TEST_ATTACKS)
    canary.assert_untouched()
    assert host_state() == before


def _nobody_defkit() -> tuple[list[str], dict[str, str]]:
    """defkit's command line and environment as user 65534, or a skip that says why not."""
    found = _nobody_python() if _missing_requirement() is None else None
    if found is None:
        pytest.skip(_missing_requirement() or "no python that nobody can run with defkit")
    return found


@pytest.mark.parametrize("subuid", [True, False], ids=["subuid", "no-subuid"])
def test_build_as_nobody(world_dir: pathlib.Path, nobody_base: pathlib.Path,  # noqa: F811
                         attack_bin: pathlib.Path, subuid: bool) -> None:
    """test_subuid's `nobody_base` (owned by nobody, with private subuid/subgid files)."""
    command, env = _nobody_defkit()
    # The canary belongs to nobody: an escaped rootless %post could write it.
    canary = Canary.plant(world_dir / "canary", NOBODY, NOBODY)
    before = host_state()
    path = _project(nobody_base, nobody_base / "rootfs", attack_bin, canary)
    subprocess.run(["chown", f"{NOBODY}:{NOBODY}", str(path), str(path.parent / "attack")],
                   check=True)
    argv = [*command, "build", "--json", "--workdir", "work", path.name]
    env = {**env, "SOURCE_DATE_EPOCH": "1700000000"}
    if subuid:
        built = _as_nobody_with_subuid(nobody_base, argv, env)
    else:
        built = subprocess.run([*SETPRIV, *argv], cwd=nobody_base, env=env,
                               capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    assert_blocked(_json_lines(built.stdout, "%post"), POST_ATTACKS)
    assert_blocked(_json_lines(built.stdout, "%test"), TEST_ATTACKS)
    canary.assert_untouched()
    assert host_state() == before


def _runtime_script(canary: Canary) -> str:
    # The image is read-only at run time: the mknod attack uses /dev (a tmpfs, nodev).
    return (SHELL_ATTACKS.replace("@CANARY@", str(canary.root))
            + "/attack mknod /dev || true\n/attack tiocsti || true\n")


@pytest.fixture(scope="module")
def hostile_image(tmp_path_factory: pytest.TempPathFactory,
                  busybox_template: pathlib.Path,
                  attack_bin: pathlib.Path) -> pathlib.Path:
    """An image holding the attack program (built as root), readable by everyone."""
    base = tmp_path_factory.mktemp("image")
    shutil.copytree(busybox_template, base / "rootfs", symlinks=True)
    shutil.copy2(attack_bin, base / "attack")
    (base / "work").mkdir()
    path = write_def(base, "%files\n    attack /attack\n")
    sif = pathlib.Path(build_def(path))
    os.chmod(sif, 0o644)
    return sif


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_runtime_exec(world_dir: pathlib.Path, hostile_image: pathlib.Path, user: str) -> None:
    image = world_dir / "image.sif"
    shutil.copy2(hostile_image, image)
    # --contain --pwd /: by default the runtime binds $HOME, /tmp and the current directory (the
    # canary's parent) and starts there, as Apptainer does: the host is reachable there on purpose.
    command = [*_defkit_command(user), "exec", "--contain", "--pwd", "/", str(image), "/bin/sh",
               "-c"]
    canary = Canary.plant(world_dir / "canary", *((NOBODY, NOBODY) if user == "nobody"
                                                  else (0, 0)))
    before = host_state()
    ran = subprocess.run([*command, _runtime_script(canary)], cwd=world_dir, capture_output=True,
                         text=True, timeout=120, env=_defkit_env(user))
    assert ran.returncode == 0, ran.stderr
    assert_blocked(ran.stdout.splitlines(), TEST_ATTACKS | {"mknodat", "tiocsti"})
    canary.assert_untouched()
    assert host_state() == before


def _defkit_command(user: str) -> list[str]:
    if user == "root":
        return [sys.executable, "-m", "defkit"]
    return [*SETPRIV, *_nobody_defkit()[0]]


def _defkit_env(user: str) -> dict[str, str]:
    return _nobody_defkit()[1] if user == "nobody" else dict(os.environ)


@pytest.mark.parametrize("action", ["build", "exec"])
def test_no_terminal_injection(world_dir: pathlib.Path, hostile_image: pathlib.Path,
                               busybox_template: pathlib.Path,
                               attack_bin: pathlib.Path, action: str) -> None:
    """defkit runs with a terminal as its controlling tty and stdin (`setsid --ctty`); TIOCSTI
    from inside must push nothing into it (CVE-2017-5226): a build's command has no terminal at
    all (new session, stdin not the host's), `defkit exec` keeps it but seccomp refuses TIOCSTI."""
    if shutil.which("setsid") is None:
        pytest.skip("setsid (util-linux) is needed")
    if action == "build":
        canary = Canary.plant(world_dir / "canary")
        path = _project(world_dir / "project", busybox_template, attack_bin, canary)
        argv = [sys.executable, "-m", "defkit", "build", "--json", "--workdir",
                str(path.parent / "work"), str(path)]
    else:
        argv = [sys.executable, "-m", "defkit", "exec", str(hostile_image), "/attack", "tiocsti"]
    master, slave = pty.openpty()
    try:
        ran = subprocess.run(["setsid", "--ctty", *argv], stdin=slave, capture_output=True,
                             text=True, timeout=120, env={**os.environ,
                                                          "SOURCE_DATE_EPOCH": "1700000000"})
        assert ran.returncode == 0, ran.stdout + ran.stderr
        lines = (_json_lines(ran.stdout, "%post") if action == "build"
                 else ran.stdout.splitlines())
        assert_blocked(lines, {"tiocsti"})
        if action == "exec":  # the terminal was there, and refused the ioctl
            assert any(line.startswith("ATTACK tiocsti-fd0 blocked") for line in lines), lines
        os.set_blocking(slave, False)
        with pytest.raises(BlockingIOError):
            os.read(slave, 100)  # nothing was injected as input
    finally:
        os.close(master)
        os.close(slave)
