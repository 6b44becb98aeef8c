from __future__ import annotations

import pathlib

import pytest

from tests.engine.engine.conftest import busybox_template, project  # noqa: F401 - fixtures
from tests.engine.security.sandbox_attacks import compile_attack


@pytest.fixture(scope="session")
def attack_bin(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The static attack program (attack.c), or a skip that says why it cannot be built."""
    path, why = compile_attack(tmp_path_factory.mktemp("attack"))
    if path is None:
        pytest.skip(why)
    return pathlib.Path(path)
