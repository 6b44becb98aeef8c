"""Image references as Docker normalises them (`ubuntu` is `docker.io/library/ubuntu:latest`).

Written by hand: the grammar is Docker's `distribution/reference` (a few regular expressions);
the Python packages that implement it pull in a whole registry client with them."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

from defkit.registry.errors import ReferenceError_

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# distribution/reference's grammar.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_SCHEMES = ("docker://", "oras://")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "docker.io" for Docker Hub, else the host[:port] as written
    repository: str
    tag: Optional[str]
    digest: Optional[str]

    def __str__(self) -> str:
        if not self.repository:
            return self.registry  # the registry itself (a login check)
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def endpoint(self) -> str:
        """The host[:port] to send requests to."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after `/manifests/`: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageRef:
        check_digest(digest, str(self))
        return replace(self, digest=digest)

    def with_tag(self, tag: Optional[str]) -> ImageRef:
        if tag is not None and not _TAG.fullmatch(tag):
            raise ReferenceError_(f"{self.registry}/{self.repository}: invalid tag {tag!r}")
        return replace(self, tag=tag)


def check_digest(digest: str, where: str) -> str:
    """`digest` when it is `algorithm:hex` of a known algorithm, else a ReferenceError_."""
    algorithm, _, encoded = digest.partition(":")
    length = _HEX_LENGTH.get(algorithm)
    if length is None or not re.fullmatch(rf"[a-f0-9]{{{length}}}", encoded):
        raise ReferenceError_(f"{where}: invalid digest {digest!r} (expected sha256:<64 hex>)")
    return digest


def normalise_registry(text: str) -> str:
    """A registry as written for `registry login` (`docker://ghcr.io`, `oras://host:5000/`,
    `index.docker.io`) -> its ImageRef.registry form."""
    host = text.strip()
    for scheme in (*_SCHEMES, "https://", "http://"):
        if host.startswith(scheme):
            host = host[len(scheme) :]
    host = host.split("/", 1)[0]
    if not _DOMAIN.fullmatch(host):
        raise ReferenceError_(f"invalid registry {text!r} (expected a host name, like ghcr.io)")
    return DOCKER_HUB if host in _HUB_ALIASES else host


def parse_reference(
    text: str, *, registry: Optional[str] = None, namespace: Optional[str] = None
) -> ImageRef:
    """Parse `[registry/]repository[:tag][@digest]` the way Docker does.

    `registry` and `namespace` are a def file's `Registry:` and `Namespace:` header values:
    Apptainer prefixes them to `From:` as `registry/namespace/from` before parsing.
    """
    original = text.strip()
    value = original
    for scheme in _SCHEMES:
        if value.startswith(scheme):
            value = value[len(scheme) :]
    if namespace:
        value = f"{namespace.strip().strip('/')}/{value}"
    if registry:
        value = f"{registry.strip().strip('/')}/{value}"
    if not value or any(char.isspace() or not char.isprintable() for char in value):
        raise ReferenceError_(f"invalid image reference {original!r}")

    digest: Optional[str] = None
    if "@" in value:
        value, digest = value.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ReferenceError_(f"invalid image reference {original!r}: bad digest")
        check_digest(digest, original)

    domain, slash, remainder = value.partition("/")
    # Docker's rule: the first component is a host when it has a dot or a port, is
    # `localhost`, or has upper-case letters (repositories are lower case).
    looks_like_host = (
        "." in domain or ":" in domain or domain == "localhost" or domain != domain.lower()
    )
    if not slash or not looks_like_host:
        domain, remainder = DOCKER_HUB, value
    if not _DOMAIN.fullmatch(domain):
        raise ReferenceError_(f"invalid image reference {original!r}: bad registry {domain!r}")
    if domain in _HUB_ALIASES:
        domain = DOCKER_HUB

    tag: Optional[str] = None
    name, colon, maybe_tag = remainder.rpartition(":")
    if colon and "/" not in maybe_tag:
        remainder, tag = name, maybe_tag
        if not _TAG.fullmatch(tag):
            raise ReferenceError_(f"invalid image reference {original!r}: bad tag {tag!r}")
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    if not _REPOSITORY.fullmatch(remainder) or len(remainder) > 255:
        hint = " (repository names are lower case)" if remainder != remainder.lower() else ""
        raise ReferenceError_(
            f"invalid image reference {original!r}: bad repository {remainder!r}{hint}"
        )
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(domain, remainder, tag, digest)
