"""Registry failures, each one line that names the image reference and never a credential."""

from __future__ import annotations

from defkit.errors import DefkitError


class RegistryError(DefkitError):
    """A registry request failed; `message` already names the image reference."""


class AuthError(RegistryError):
    """The registry refused the credentials (or wants some and has none)."""


class NotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist."""


class UnreachableError(RegistryError):
    """The registry could not be reached: DNS, refused connection, timeout or TLS failure."""


class DigestMismatchError(RegistryError):
    """Content arrived whose digest is not the one asked for."""


class UnsupportedManifestError(RegistryError):
    """A manifest of a kind defkit does not read (Docker schema 1, an unknown media type)."""


class StorageError(DefkitError):
    """A blob could not be written on this machine (a full disk): not the registry's fault, so
    no mirror is tried for it."""


class ReferenceError_(DefkitError):  # `ReferenceError` is a builtin
    """An image reference that is not valid."""
