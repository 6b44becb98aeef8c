"""Commands that talk to no registry import no HTTP stack (httpx costs 0.2-0.5 s to import,
about 40% of it httpx's own command line, which `import httpx` loads with rich and pygments)."""

from __future__ import annotations

import pathlib

from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.sif.oras import push_sif
from defkit.sif.writer import write_sif
from tests.registry_fixture import RunningRegistry
from tests.shared import imported

HTTP_MODULES = ("httpx", "httpcore", "h11", "defkit.registry.client")


def test_parse_and_a_localimage_build_import_no_http_stack(tmp_path: pathlib.Path) -> None:
    (tmp_path / "docker.def").write_text("Bootstrap: docker\nFrom: ubuntu:22.04\n\n"
                                         "%post\n    echo hi\n")
    make_busybox_rootfs(str(tmp_path / "rootfs"))
    (tmp_path / "local.def").write_text("Bootstrap: localimage\nFrom: rootfs\n\n"
                                        "%runscript\n    echo hi\n")
    parse = imported("parse", "docker.def", cwd=tmp_path)
    build = imported("build", "--quiet", "local.def", cwd=tmp_path)
    assert (tmp_path / "local.sif").is_file()
    assert any(name.startswith("defkit.") for name in parse)  # the log was read
    for modules in (parse, build):
        assert not modules & set(HTTP_MODULES), sorted(modules & set(HTTP_MODULES))


def test_a_localimage_build_imports_only_its_own_agent(tmp_path: pathlib.Path) -> None:
    make_busybox_rootfs(str(tmp_path / "rootfs"))
    (tmp_path / "local.def").write_text("Bootstrap: localimage\nFrom: rootfs\n")
    build = imported("build", "--quiet", "--engine", "native", "--no-cache", "local.def",
                     cwd=tmp_path)
    assert (tmp_path / "local.sif").is_file()
    assert "defkit.engine.pack" in build  # it built (importtime does not list the agent itself:
    # importlib.import_module bypasses its log)
    unwanted = {"jinja2", "defkit.engine.agents.docker", "defkit.engine.agents.debootstrap"}
    assert not build & unwanted, sorted(build & unwanted)


def test_pull_does_not_import_httpx_command_line(registry: RunningRegistry,
                                                 tmp_path: pathlib.Path) -> None:
    """httpx's own CLI (httpx._main, which imports rich and pygments) is not loaded by
    `defkit pull` (importtime still lists the refused attempt, at no cost)."""
    sif = tmp_path / "small.sif"
    write_sif(sif, definition=b"Bootstrap: scratch\n", inspect_metadata=b"{}",
              squashfs_path=_payload(tmp_path), arch="amd64", deterministic_from=b"t")
    with registry.client() as client:
        push_sif(client, str(sif), registry.ref("imports/small:1"))
    pull = imported("pull", "-q", f"oras://{registry.host}/imports/small:1", "-o", "out.sif",
                    cwd=tmp_path)
    assert (tmp_path / "out.sif").read_bytes() == sif.read_bytes()
    assert "httpx" in pull
    assert not pull & {"rich", "pygments"}, sorted(pull & {"rich", "pygments"})
    # Nor the OCI archive reader's tarfile (a tenth of the command's imports): pull picks a
    # platform with defkit.registry.platforms only.
    assert "defkit.registry.platforms" in pull and "tarfile" not in pull


def _payload(directory: pathlib.Path) -> pathlib.Path:
    payload = directory / "payload.sqfs"
    payload.write_bytes(b"\0" * 4096)
    return payload
