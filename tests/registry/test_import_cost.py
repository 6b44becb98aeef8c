"""Commands that talk to no registry import no HTTP stack (httpx costs 0.2-0.5 s to import,
about 40% of it httpx's own command line, which `import httpx` loads with rich and pygments)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from defkit.engine.busybox_rootfs import make_busybox_rootfs

REPO = pathlib.Path(__file__).resolve().parents[2]
HTTP_MODULES = ("httpx", "httpcore", "h11", "defkit.registry.client")


def imported(*args: str, cwd: pathlib.Path) -> set[str]:
    """The modules `defkit ARGS` imports (from `python -X importtime`); it must succeed."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "defkit", *args],
                            capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:")}


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
