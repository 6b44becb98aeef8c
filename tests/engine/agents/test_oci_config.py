"""The runscript and environment an OCI image config becomes, run under busybox sh."""

from __future__ import annotations

from pathlib import Path

import pytest

from defkit.engine import layout
from defkit.engine.agents.base import ImageConfig
from defkit.engine.oci_config import env_script, runscript, write_image_config
from tests.engine.agents.helpers import busybox_rootfs, in_rootfs


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = busybox_rootfs(tmp_path_factory.mktemp("oci") / "rootfs")
    layout.make_base_env(str(root), overwrite=True)
    return root


def run(rootfs: Path, config: ImageConfig, *args: str, no_eval: bool = False) -> str:
    write_image_config(str(rootfs), config)
    env = {"SINGULARITY_NO_EVAL": "1"} if no_eval else {}
    out = in_rootfs(rootfs, ["/.singularity.d/actions/run", *args], env=env)
    return out.stdout


@pytest.mark.parametrize("no_eval", [False, True])
def test_entrypoint_and_cmd_combinations(rootfs: Path, no_eval: bool) -> None:
    ep = ImageConfig(entrypoint=("/bin/echo", "it's"))
    assert run(rootfs, ep, no_eval=no_eval) == "it's\n"
    assert run(rootfs, ep, "a  b", no_eval=no_eval) == "it's a  b\n"
    cmd = ImageConfig(cmd=("/bin/echo", "default"))
    assert run(rootfs, cmd, no_eval=no_eval) == "default\n"
    assert run(rootfs, cmd, "/bin/echo", "over", no_eval=no_eval) == "over\n"
    both = ImageConfig(entrypoint=("/bin/echo", "ep"), cmd=("one two",))
    assert run(rootfs, both, no_eval=no_eval) == "ep one two\n"
    assert run(rootfs, both, "x", no_eval=no_eval) == "ep x\n"


def test_eval_mode_expands_variables_and_no_eval_keeps_them(rootfs: Path) -> None:
    config = ImageConfig(entrypoint=("/bin/echo",), env=("NAME=container",))
    assert run(rootfs, config, "$NAME") == "container\n"
    assert run(rootfs, config, "$NAME", no_eval=True) == "$NAME\n"


def test_runscript_text_matches_apptainer_shape() -> None:
    text = runscript(ImageConfig(entrypoint=("/bin/sh", "-c"), cmd=("echo 'hi'",)))
    assert text.startswith("#!/bin/sh\nOCI_ENTRYPOINT='\"/bin/sh\" \"-c\"'\n"
                           "OCI_CMD='\"echo '\"'\"'hi'\"'\"'\"'\n")
    # The last argument is prepended first, so "$@" ends up as the entrypoint's own order.
    assert "set -- '-c' \"$@\"\nset -- '/bin/sh' \"$@\"\n" in text
    assert text.endswith('exec "$@"\n')
    empty = runscript(ImageConfig())
    assert "OCI_ENTRYPOINT=''\nOCI_CMD=''\n" in empty


def test_env_script_defaults_and_exact_values(rootfs: Path) -> None:
    env = ("PATH=/opt/bin:/bin", "TRICKY=a$b `x` \"q\" \\ end", "DEFAULTED=image", "BARE")
    assert env_script(env).splitlines()[:2] == ["#!/bin/sh", 'export PATH="/opt/bin:/bin"']
    write_image_config(str(rootfs), ImageConfig(env=env))
    out = in_rootfs(rootfs, ["/.singularity.d/actions/exec", "/bin/sh", "-c",
                             'echo "$PATH|$TRICKY|$DEFAULTED|${BARE-unset}"'],
                    env={"DEFAULTED": "user", "PATH": "/usr/sbin:/usr/bin:/bin"})
    assert out.stdout == '/opt/bin:/bin|a$b `x` "q" \\ end|user|\n'
