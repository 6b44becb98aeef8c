"""Fixtures shared by several test directories."""

from tests.registry_fixture import auth_registry, registry, token_registry  # noqa: F401 - pytest fixtures
