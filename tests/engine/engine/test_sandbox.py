"""The namespace layer: user mapping choices, mount points that do not leak into the rootfs."""

from __future__ import annotations

import os
import pathlib

import pytest

from defkit.engine import sandbox
from defkit.engine.context import Bind, run_in_rootfs


def test_userns_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "subid_ranges", lambda: None)
    assert sandbox.userns_flags("root") == []
    assert sandbox.userns_flags("fakeroot") == ["--map-root-user"]
    monkeypatch.setattr(sandbox, "subid_ranges", lambda: ((200000, 65536), (300000, 65536)))
    assert sandbox.userns_flags("userns") == [
        "--map-user=0", "--map-group=0", "--map-users=200000,1,65536",
        "--map-groups=300000,1,65536"]


def test_subid_file_parsing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\n1001:165536:1000\nbroken\n")
    assert sandbox._subid_range(str(path), "alice", 1000) == (100000, 65536)
    assert sandbox._subid_range(str(path), "bob", 1001) == (165536, 1000)
    assert sandbox._subid_range(str(path), "carol", 1002) is None


@pytest.mark.parametrize("mode", ["root", "fakeroot"])
def test_mounts_do_not_leak_into_the_rootfs(project: pathlib.Path, mode: str) -> None:
    rootfs = project / "rootfs"
    before = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    done = run_in_rootfs(str(rootfs), "ls /dev/null /proc/1/status && cat /etc/resolv.conf "
                         "> /dev/null && echo ok > /dev/null", mode=mode)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    after = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    assert after == before
    assert not os.path.exists(rootfs / "etc" / "hosts")


def test_writes_to_resolv_conf_do_not_reach_the_host(project: pathlib.Path) -> None:
    with open("/etc/resolv.conf", "rb") as f:
        host = f.read()
    rootfs = project / "rootfs"
    (rootfs / "etc" / "resolv.conf").write_text("")
    done = run_in_rootfs(str(rootfs), "echo 'nameserver 192.0.2.1' > /etc/resolv.conf",
                         mode="root")
    assert done.returncode == 0
    with open("/etc/resolv.conf", "rb") as f:
        assert f.read() == host


def test_every_run_gets_its_own_uts_and_ipc_namespaces() -> None:
    argv = sandbox.unshare_argv("root")
    assert {"--mount", "--pid", "--uts", "--ipc", "--fork", "--kill-child"} <= set(argv)


def test_exec_inside_the_rootfs_as_a_shell_would(project: pathlib.Path) -> None:
    """The command is found with the container's PATH, in the new root; a file without `#!` runs
    with /bin/sh (glibc's execvp, as `chroot ROOTFS CMD` did); failures exit 127/126/1."""
    rootfs = project / "rootfs"
    (rootfs / "usr" / "local" / "bin").mkdir(parents=True, exist_ok=True)
    script = rootfs / "usr" / "local" / "bin" / "plain"
    script.write_text('echo "plain $1 in $(pwd)"\n')
    script.chmod(0o755)
    done = run_in_rootfs(str(rootfs), ["plain", "arg"], mode="userns", cwd="/etc")
    assert (done.returncode, done.stdout) == (0, b"plain arg in /etc\n"), done.stderr
    missing = run_in_rootfs(str(rootfs), ["/no/such/tool"], mode="userns")
    assert missing.returncode == 127
    assert b"cannot run /no/such/tool: No such file or directory" in missing.stderr
    (rootfs / "notexec").write_text("")
    assert run_in_rootfs(str(rootfs), ["/notexec"], mode="userns").returncode == 126
    assert run_in_rootfs(str(rootfs), ["true"], mode="userns", cwd="/nowhere").returncode == 1


def test_binds_are_writable_or_read_only_as_asked(project: pathlib.Path,
                                                  tmp_path: pathlib.Path) -> None:
    """The host tree is read-only inside the namespace; an engine bind is writable again unless
    it asked to be read-only."""
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    binds = [Bind(str(rw), "/mnt/rw"), Bind(str(ro), "/mnt/ro", readonly=True)]
    done = run_in_rootfs(str(project / "rootfs"), "echo in > /mnt/rw/file && "
                         "! touch /mnt/ro/file 2>/dev/null", mode="userns", binds=binds)
    assert done.returncode == 0, done.stderr
    assert (rw / "file").read_text() == "in\n"
    assert os.listdir(ro) == []
    assert not (project / "rootfs" / "mnt").exists()  # mount points created for it are gone


@pytest.mark.parametrize("mode", ["root", "userns"])
def test_commands_start_with_default_signal_dispositions(project: pathlib.Path, mode: str) -> None:
    """SIGPIPE and SIGXFSZ are not inherited as ignored from the Python that set up the sandbox:
    `yes | head` ends (it ran forever when `yes` got EPIPE instead of the signal)."""
    rootfs = project / "rootfs"
    # busybox `timeout` bounds the test itself if the bug comes back.
    command = "timeout 30 sh -c 'yes | head -n 3' && grep '^SigIgn:' /proc/self/status"
    done = run_in_rootfs(str(rootfs), command, mode=mode)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[:3] == ["y", "y", "y"]
    ignored = int(next(line for line in lines if line.startswith("SigIgn:")).split()[1], 16)
    assert not ignored & (1 << (13 - 1) | 1 << (25 - 1)), lines  # SIGPIPE, SIGXFSZ
