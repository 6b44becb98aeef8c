"""Fixtures the cache tests share with the engine tests."""

from tests.engine.engine.conftest import busybox_template, project  # noqa: F401 - pytest fixtures
