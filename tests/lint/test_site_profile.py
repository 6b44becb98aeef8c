"""Site profiles: the YAML file, `--site` and `site:` reaching the rules, and `defkit site detect`."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import pytest

from defkit.errors import ConfigError
from defkit.lint.config_site import read_profile
from defkit.site.profile import SiteProfile, profile_yaml

CUDA_DEF = "Bootstrap: docker\nFrom: nvidia/cuda:12.4.1-runtime-ubuntu22.04\n"
OLD_DRIVER = 'gpu-driver: "470.199.02"\n'


def _defkit(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "defkit", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_profile_round_trips(tmp_path: pathlib.Path) -> None:
    profile = SiteProfile(
        arch="arm64", gpu_driver="550.54.15", mpi_family="openmpi", mpi_version="4.1.6",
        pmix="4.2.9", ucx="1.16.0", ofed="23.10", glibc="2.34", apptainer="1.3.4",
        apptainer_zstd=True,
    )  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text(profile_yaml(profile), encoding="utf-8")
    assert read_profile(str(path)) == SiteProfile(**{**profile.__dict__, "path": str(path)})


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("gpu-drivr: '550'\n", "unknown key 'gpu-drivr'; did you mean 'gpu-driver'?", 1),
        ("glibc: 2.34\n", 'glibc must be quoted ("2.34")', 1),
        ("arch: amd64\nmpi: {family: lam}\n", "unknown MPI family 'lam'", 2),
        ("apptainer: {version: '1.3', zstd: maybe}\n", "zstd must be true or false", 1),
        ("pmix: 'four'\n", "pmix 'four' is not a version number", 1),
    ],
)
def test_profile_errors_name_the_line(
    tmp_path: pathlib.Path, text: str, message: str, line: int
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_profile(str(path))
    assert message in caught.value.message
    assert caught.value.span is not None and caught.value.span.line == line


def test_lint_site_option(tmp_path: pathlib.Path) -> None:
    (tmp_path / "site.yaml").write_text(OLD_DRIVER, encoding="utf-8")
    (tmp_path / "gpu.def").write_text(CUDA_DEF, encoding="utf-8")
    args = ("lint", "--select", "DK701", "--no-shellcheck", "gpu.def")
    quiet = _defkit(*args, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    found = _defkit(*args, "--site", "site.yaml", cwd=tmp_path)
    assert found.returncode == 1
    assert "gpu.def:2:7" in found.stdout and "DK701" in found.stdout


def test_site_in_configuration_is_relative_to_it(tmp_path: pathlib.Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cluster.yaml").write_text(OLD_DRIVER, encoding="utf-8")
    (tmp_path / ".defkit.yaml").write_text("site: profiles/cluster.yaml\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "gpu.def").write_text(CUDA_DEF, encoding="utf-8")
    done = _defkit("lint", "--select", "DK701", "--no-shellcheck", "sub/gpu.def", cwd=tmp_path)
    assert done.returncode == 1 and "DK701" in done.stdout


def test_missing_site_in_configuration(tmp_path: pathlib.Path) -> None:
    (tmp_path / ".defkit.yaml").write_text("arch: amd64\nsite: nowhere.yaml\n", encoding="utf-8")
    (tmp_path / "gpu.def").write_text(CUDA_DEF, encoding="utf-8")
    done = _defkit("lint", "gpu.def", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(".defkit.yaml:2:1: error: site profile 'nowhere.yaml' not found")


def test_the_site_arch_is_the_target(tmp_path: pathlib.Path) -> None:
    (tmp_path / "site.yaml").write_text("arch: aarch64\n", encoding="utf-8")
    (tmp_path / "x86.def").write_text("Bootstrap: docker\nFrom: amd64/ubuntu:22.04\n")
    args = ("lint", "--select", "DK203", "--no-shellcheck", "--arch", "amd64", "x86.def")
    assert _defkit(*args, cwd=tmp_path).returncode == 0
    found = _defkit(*args[:-3], "--site", "site.yaml", "x86.def", cwd=tmp_path)
    assert found.returncode == 1 and "the target is arm64" in found.stdout
    explicit = _defkit(*args[:-1], "--site", "site.yaml", "x86.def", cwd=tmp_path)
    assert explicit.returncode == 0, explicit.stdout


def test_bad_site_file_is_one_line(tmp_path: pathlib.Path) -> None:
    (tmp_path / "site.yaml").write_text("glibc: [2]\n", encoding="utf-8")
    (tmp_path / "gpu.def").write_text(CUDA_DEF, encoding="utf-8")
    done = _defkit("lint", "--site", "site.yaml", "gpu.def", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("error: glibc must be a string")
    assert done.stderr.count("\n") == 1 and "site.yaml:1:1" in done.stderr


def _tool(directory: pathlib.Path, name: str, output: str) -> None:
    script = directory / name
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_detect_reads_the_tools(tmp_path: pathlib.Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    _tool(tools, "nvidia-smi", "550.54.15\n550.54.15")
    _tool(tools, "ompi_info", "Open MPI v4.1.6\n\nhttps://www.open-mpi.org/community/help/")
    _tool(tools, "pmix_info", "pmix_info (PMIx) 4.2.9")
    _tool(tools, "ucx_info", "# Library version: 1.16.0\n# Version 1.16.0")
    _tool(tools, "apptainer", "apptainer version 1.3.4-1.el9")
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    done = _defkit("site", "detect", "-o", "site.yaml", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    profile = read_profile(str(tmp_path / "site.yaml"))
    assert (profile.gpu_driver, profile.mpi_family, profile.mpi_version) == (
        "550.54.15", "openmpi", "4.1.6",
    )
    assert (profile.pmix, profile.ucx, profile.apptainer) == ("4.2.9", "1.16.0", "1.3.4")
    assert profile.glibc is not None  # ldd of this machine
    assert profile.ofed is None  # no ofed_info: the key is left out


def test_detect_without_tools(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    done = _defkit("site", "detect", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "gpu-driver" not in done.stdout and "arch:" in done.stdout
