"""Each command imports what it uses and not the rest of defkit (start-up is most of what a user
waits for in `defkit parse`, `convert`, `lint` and a cached `build`): the modules are read from
`python -X importtime` of the real command."""

from __future__ import annotations

import pathlib

import pytest

from defkit.engine.busybox_rootfs import make_busybox_rootfs
from tests.shared import imported

#: No command loads Lark: the parser generated from the grammar at build time holds what a
#: parse needs.
EVERY_COMMAND = {"lark"}


def _loaded(modules: set[str], unwanted: set[str]) -> list[str]:
    """The modules of `unwanted` (packages with their submodules) that were imported."""
    return sorted(
        name for name in modules if any(name == u or name.startswith(f"{u}.") for u in unwanted)
    )


def test_parse_imports_no_linter_converter_engine_or_hashing(tmp_path: pathlib.Path) -> None:
    (tmp_path / "app.def").write_text("Bootstrap: docker\nFrom: alpine\n\n%post\n    echo hi\n")
    modules = imported("parse", "app.def", cwd=tmp_path)
    assert "defkit.parser" in modules
    unwanted = EVERY_COMMAND | {"defkit.lint", "defkit.convert", "defkit.engine", "hashlib"}
    assert _loaded(modules, unwanted) == []


def test_convert_imports_the_one_direction_and_no_linter_or_engine(tmp_path: pathlib.Path) -> None:
    (tmp_path / "Dockerfile").write_text('FROM alpine:3.20\nRUN echo hi\nCMD ["sh"]\n')
    modules = imported("convert", "Dockerfile", cwd=tmp_path)
    assert "defkit.parser" in modules  # the self-check reads the .def back
    unwanted = EVERY_COMMAND | {
        "defkit.convert.to_dockerfile",
        "defkit.lint",
        "defkit.engine",
        "hashlib",
        "rich",
    }
    assert _loaded(modules, unwanted) == []


def test_lint_imports_no_converter_or_engine(tmp_path: pathlib.Path) -> None:
    (tmp_path / "app.def").write_text("Bootstrap: docker\nFrom: alpine\n\n%post\n    echo hi\n")
    modules = imported("lint", "--no-fail", "--no-shellcheck", "app.def", cwd=tmp_path)
    assert "defkit.lint.rules" in modules
    unwanted = EVERY_COMMAND | {"defkit.convert", "defkit.dockerfile", "defkit.engine", "rich"}
    assert _loaded(modules, unwanted) == []


def test_a_cached_build_imports_neither_the_stages_machinery_nor_the_many_recipes_pool(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    make_busybox_rootfs(str(tmp_path / "rootfs"))
    (tmp_path / "local.def").write_text("Bootstrap: localimage\nFrom: rootfs\n")
    build = ("build", "--quiet", "--engine", "native", "-F", "local.def")
    assert "defkit.engine.pack" in imported(*build, cwd=tmp_path)  # built: a cache miss
    modules = imported(*build, cwd=tmp_path)
    unwanted = EVERY_COMMAND | {
        "defkit.engine.pack",  # a hit copies the cached image: nothing is packed
        "defkit.engine.sandbox",
        "concurrent.futures",  # `defkit build` of several recipes only
        "defkit.convert",
        "defkit.lint",
        "rich",
    }
    assert _loaded(modules, unwanted) == []
