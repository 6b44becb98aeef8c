"""The options of `defkit serve` and its tokens."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from defkit.errors import UsageError
from defkit.model import Span

#: The owner of everything made when `--no-auth` is in effect (loopback only).
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Token:
    owner: str
    secret: bytes

    def __repr__(self) -> str:  # a token never reaches a log, even through a repr
        return f"Token(owner={self.owner!r})"


@dataclass(frozen=True)
class TokenTable:
    """Tokens from `--token-file`: one a line, `token` or `name:token`; `#` comments and blank
    lines are skipped. A token without a name is owned by `token-<line number>`. Two lines with
    the same name are one owner with two tokens."""

    tokens: tuple[Token, ...] = ()

    @classmethod
    def parse(cls, text: str, path: str = "<tokens>") -> TokenTable:
        tokens: list[Token] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, colon, secret = line.partition(":")
            if not colon:
                name, secret = "", line
            name = name.strip() if colon else f"token-{number}"
            secret = secret.strip()
            where = Span(number, 1, number, len(raw) + 1)
            if not secret or not name:
                raise UsageError("an empty token or name", path=path, span=where)
            if len(secret) < 16:
                # Said without the value: the server never shows a token.
                raise UsageError("a token must have 16 characters or more", path=path,
                                 span=where)
            tokens.append(Token(name, secret.encode("utf-8")))
        return cls(tuple(tokens))

    def owner_of(self, presented: str) -> Optional[str]:
        """The owner of `presented`, compared in constant time against every token (so the
        time taken does not say which token, or how much of one, matched)."""
        candidate = presented.encode("utf-8")
        found: Optional[str] = None
        for token in self.tokens:
            if hmac.compare_digest(candidate, token.secret):
                found = token.owner
        return found


def bearer(header: Optional[str]) -> Optional[str]:
    """The token of an `Authorization: Bearer <token>` header (any case: SingularityCE sends
    `BEARER`)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def owner_dir(owner: str) -> str:
    """A directory name for an owner (any characters in a token's name stay out of paths)."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class ServeConfig:
    store: str
    tokens: TokenTable = field(default_factory=TokenTable)
    no_auth: bool = False
    workers: int = 2
    time_limit: float = 3600.0
    max_context_size: int = 1024**3
    #: A build nobody watches (no websocket, no status request) for this long is cancelled.
    idle_timeout: float = 600.0
    cache_to: Optional[str] = None
    insecure_registry: bool = False
    #: Directories whose images and trees `Bootstrap: localimage` (and the other local agents)
    #: may use as a base, besides the build's own context.
    local_bases: Sequence[str] = ()
    #: How long a finished build and an ephemeral image stay available.
    keep: float = 24 * 3600.0

    def check(self, host: str) -> None:
        if self.no_auth and not is_loopback(host):
            raise UsageError(f"--no-auth is allowed on a loopback host only, not {host}")
        if not self.no_auth and not self.tokens.tokens:
            raise UsageError("defkit serve needs --token-file with at least one token "
                             "(or --no-auth on a loopback host)")
        if self.workers < 1:
            raise UsageError("--workers must be 1 or more")
