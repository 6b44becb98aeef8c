"""Fixtures shared by several test directories."""

import pathlib

import pytest

from tests.registry_fixture import auth_registry, registry, token_registry  # noqa: F401 - pytest fixtures


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """Every test gets an empty defkit cache (build cache, blob store): no test reuses what
    another built, and none writes to the user's cache. Subprocesses inherit it."""
    path = tmp_path_factory.mktemp("defkit-cache")
    monkeypatch.setenv("DEFKIT_CACHE_DIR", str(path))
    return path
