"""Fixtures shared by several test directories."""

import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.registry_fixture import auth_registry, registry, token_registry  # noqa: F401 - pytest fixtures


def _writable_temp_dir() -> str:
    path = tempfile.mkdtemp(prefix="defkit-test-cache-")
    os.chmod(path, 0o1777)
    return path


def pytest_configure(config: pytest.Config) -> None:
    # Module- and session-scoped fixtures build before any function fixture runs: they get a
    # cache of the run's own, never the user's.
    os.environ["DEFKIT_CACHE_DIR"] = config.stash.setdefault(_SESSION_CACHE, _writable_temp_dir())


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_SESSION_CACHE, "")
    if path:
        shutil.rmtree(path, ignore_errors=True)


_SESSION_CACHE = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def _private_cache_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """Every test gets an empty defkit cache (build cache, blob store): no test reuses what
    another built, and none writes to the user's cache. Subprocesses inherit it. Outside the
    (root-only) pytest base directory and writable by all, as /tmp is, because some tests run
    defkit as `nobody`."""
    path = pathlib.Path(_writable_temp_dir())
    monkeypatch.setenv("DEFKIT_CACHE_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)
