"""The base /.singularity.d: files, modes, symlinks, and the action scripts really run under a
static busybox sh (chrooted in a user namespace)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from defkit.engine import layout
from defkit.engine.layout_meta import append_environment, shebang_script
from tests.engine.agents.helpers import busybox_rootfs, in_rootfs


@pytest.fixture()
def rootfs(tmp_path: Path) -> Path:
    root = busybox_rootfs(tmp_path / "rootfs")
    layout.make_base_env(str(root), overwrite=True)
    return root


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o7777


def test_base_files_dirs_and_links(rootfs: Path) -> None:
    sd = rootfs / ".singularity.d"
    for name in ("exec", "run", "shell", "start", "test"):
        assert mode(sd / "actions" / name) == 0o755
    for name in ("01-base.sh", "90-environment.sh", "95-apps.sh", "99-base.sh",
                 "99-runtimevars.sh"):
        assert mode(sd / "env" / name) == 0o755
    assert (rootfs / "etc" / "hosts").read_bytes() == b""
    assert mode(rootfs / "etc" / "resolv.conf") == 0o644
    for name in ("dev", "proc", "root", "var/tmp", "tmp", "sys", "home", ".singularity.d/libs"):
        assert (rootfs / name).is_dir()
    assert os.readlink(rootfs / "singularity") == ".singularity.d/runscript"
    assert os.readlink(rootfs / "environment") == ".singularity.d/env/90-environment.sh"
    assert os.readlink(rootfs / ".shell") == ".singularity.d/actions/shell"


def test_overwrite_false_keeps_the_image_files(rootfs: Path) -> None:
    runscript = rootfs / ".singularity.d" / "runscript"
    runscript.write_text("#!/bin/sh\necho custom\n")
    os.unlink(rootfs / ".run")
    os.unlink(rootfs / ".exec")
    os.symlink("elsewhere", rootfs / ".exec")
    layout.make_base_env(str(rootfs), overwrite=False)
    assert runscript.read_text() == "#!/bin/sh\necho custom\n"
    assert os.readlink(rootfs / ".run") == ".singularity.d/actions/run"
    assert os.readlink(rootfs / ".exec") == ".singularity.d/actions/exec"
    layout.make_base_env(str(rootfs), overwrite=True)
    assert "There is no runscript" in runscript.read_text()


def test_resolv_conf_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    os.symlink("/../../../../tmp/host-resolv", root / "etc" / "resolv.conf")
    layout.make_base_env(str(root), overwrite=True)
    assert not (root / "etc" / "resolv.conf").is_symlink()
    assert not Path("/tmp/host-resolv").exists()


def test_default_runscript_and_run_action(rootfs: Path) -> None:
    out = in_rootfs(rootfs, ["/.singularity.d/actions/run"])
    assert out.returncode == 0 and "There is no runscript defined" in out.stdout
    os.unlink(rootfs / ".singularity.d" / "runscript")
    out = in_rootfs(rootfs, ["/.singularity.d/actions/run", "-c", "echo fallback"])
    assert out.stdout == "No Apptainer runscript found, executing /bin/sh\nfallback\n"


def test_run_passes_arguments_and_environment(rootfs: Path) -> None:
    append_environment(str(rootfs), '    export GREETING="Hello"\n    export WHO=${WHO:-nobody}')
    (rootfs / ".singularity.d" / "runscript").write_text(
        shebang_script('for a in "$@"; do echo "$GREETING [$a] $WHO"; done', ""))
    out = in_rootfs(rootfs, ["/.singularity.d/actions/run", "a b", "", "c*"])
    assert out.stdout == "Hello [a b] nobody\nHello [] nobody\nHello [c*] nobody\n"


def test_test_and_exec_actions(rootfs: Path) -> None:
    out = in_rootfs(rootfs, ["/.singularity.d/actions/test"])
    assert out.returncode == 0
    assert out.stdout == "No test found in container, executing /bin/sh -c true\n"
    test = rootfs / ".singularity.d" / "test"
    test.write_text(shebang_script("exit 3", ""))
    os.chmod(test, 0o755)
    assert in_rootfs(rootfs, ["/.singularity.d/actions/test"]).returncode == 3
    out = in_rootfs(rootfs, ["/.singularity.d/actions/exec", "/bin/sh", "-c",
                             'echo "$LD_LIBRARY_PATH|$PS1"'])
    assert out.stdout == "/.singularity.d/libs|Apptainer> \n"


def test_runtime_path_variables(rootfs: Path) -> None:
    out = in_rootfs(rootfs, ["/.singularity.d/actions/exec", "/bin/sh", "-c",
                             'echo "$PATH|${SING_USER_DEFINED_PREPEND_PATH-gone}"'],
                    env={"SING_USER_DEFINED_PREPEND_PATH": "/first",
                         "SING_USER_DEFINED_APPEND_PATH": "/last"})
    assert out.stdout == "/first:/bin:/usr/bin:/sbin:/usr/sbin:/last|gone\n"


def test_shell_action_uses_requested_shell(rootfs: Path) -> None:
    out = in_rootfs(rootfs, ["/.singularity.d/actions/shell", "-c", 'echo "$SHELL"'])
    assert out.stdout == "/bin/sh\n"
    out = in_rootfs(rootfs, ["/.singularity.d/actions/shell", "-c", "echo custom"],
                    env={"APPTAINER_SHELL": "/bin/ash"})
    assert out.stdout == "custom\n"


def test_start_action_runs_the_startscript(rootfs: Path) -> None:
    start = rootfs / ".singularity.d" / "startscript"
    start.write_text(shebang_script("echo started", ""))
    # PID 1 of a fresh PID namespace is the action itself: `kill -CONT 1` is harmless.
    out = subprocess.run(["unshare", "--map-root-user", "--pid", "--fork", "chroot", str(rootfs),
                          "/.singularity.d/actions/start"], capture_output=True, text=True,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, timeout=30)
    assert out.stdout == "started\n"
