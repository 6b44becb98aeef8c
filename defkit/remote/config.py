"""Which remote builder a `defkit build --remote` talks to, and with which token.

The remote, first found: `--remote URL`; `$DEFKIT_REMOTE`; the active remote of defkit's own
file (`$XDG_CONFIG_HOME/defkit/remote.yaml`, written by `defkit remote login URL`); the active
remote of SingularityCE's `~/.singularity/remote.yaml` (`Active:`, `Remotes: {NAME: {URI,
Token, Insecure}}`, the URI without a scheme: `https://`, or `http://` when `Insecure`).

The token, first found: `$DEFKIT_REMOTE_TOKEN`; defkit's file, for that remote; SingularityCE's
file, for a remote of the same host. defkit's file holds tokens, so it is written with mode 0600
through `defkit.atomic`. A token is a secret: it lives in `Remote.token` (kept out of `repr`) and
in request headers only, never in a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

from defkit.errors import ConfigError, UsageError

ENV_REMOTE = "DEFKIT_REMOTE"
ENV_TOKEN = "DEFKIT_REMOTE_TOKEN"
#: The public Sylabs service SingularityCE uses when no remote is configured (not a default
#: here: building there needs an account, and a build must never go somewhere unasked).
SYLABS_CLOUD = "https://cloud.sylabs.io"


@dataclass(frozen=True)
class Remote:
    """A remote as configured: its URL (with scheme) and the token to use there."""

    url: str
    token: str = field(default="", repr=False)
    source: str = ""  # where the remote was named (for messages): "--remote", a file...
    token_source: str = ""  # where the token came from ("" when there is none)


def normalise_url(text: str, *, insecure: bool = False) -> str:
    """`host[:port][/path]` or `http(s)://...` -> a URL with a scheme and no trailing `/`."""
    value = text.strip()
    if not value:
        raise UsageError("the remote's URL is empty")
    if "://" not in value:
        value = ("http://" if insecure else "https://") + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{text}: not an http(s) URL of a remote builder")
    if parts.username or parts.password:
        raise UsageError(f"{parts.hostname}: put the token in DEFKIT_REMOTE_TOKEN or "
                         "`defkit remote login`, not in the URL")
    if parts.query or parts.fragment:
        raise UsageError(f"{text}: a remote's URL has no query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def config_path(env: Optional[Mapping[str, str]] = None) -> str:
    """defkit's own remote file: `$XDG_CONFIG_HOME/defkit/remote.yaml` (~/.config by default)."""
    env = os.environ if env is None else env
    home = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(home, "defkit", "remote.yaml")


def singularity_path(env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".singularity", "remote.yaml")


def _read_yaml(path: str) -> Optional[Any]:
    """The document of a YAML file, or None when there is no such file."""
    from defkit.yamlfile import load_yaml

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path) from None
    data, _ = load_yaml(text, path)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError("the remote file must be a mapping", path=path)
    return data


def _text(value: Any, what: str, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string", path=path)
    return value.strip()


@dataclass(frozen=True)
class DefkitFile:
    """defkit's remote file: `active: URL` and `remotes: {URL: {token: ...}}`."""

    path: str
    active: str = ""
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, path: str) -> DefkitFile:
        data = _read_yaml(path)
        if data is None:
            return cls(path)
        remotes = data.get("remotes") or {}
        if not isinstance(remotes, dict):
            raise ConfigError("remotes must be a mapping of URL to settings", path=path)
        tokens = {}
        for url, settings in remotes.items():
            if not isinstance(settings, dict):
                raise ConfigError(f"remotes: {url}: must be a mapping", path=path)
            tokens[normalise_url(str(url))] = _text(settings.get("token"), "token", path)
        active = _text(data.get("active"), "active", path)
        return cls(path, normalise_url(active) if active else "", tokens)

    def with_login(self, url: str, token: str) -> DefkitFile:
        return DefkitFile(self.path, url, {**self.tokens, url: token})

    def write(self) -> None:
        """Write the file (mode 0600: it holds tokens) through `defkit.atomic`."""
        from io import StringIO

        from ruamel.yaml import YAML

        from defkit.atomic import replacing

        document: dict[str, Any] = {"active": self.active,
                                    "remotes": {url: {"token": token}
                                                for url, token in sorted(self.tokens.items())}}
        text = StringIO()
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        yaml.dump(document, text)
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            # The temporary file is made 0600 by mkstemp: the token is never readable by
            # others, not even before the rename.
            with replacing(self.path, mode=0o600) as temporary, \
                    open(temporary, "w", encoding="utf-8") as out:
                out.write("# defkit remote builders (written by `defkit remote login`)\n")
                out.write(text.getvalue())
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror or exc}", path=self.path) from None


@dataclass(frozen=True)
class SingularityRemote:
    url: str
    token: str = field(repr=False)


def singularity_remotes(path: str) -> tuple[Optional[str], dict[str, SingularityRemote]]:
    """SingularityCE's remote.yaml: the active remote's name and every remote by name."""
    data = _read_yaml(path)
    if data is None:
        return None, {}
    remotes: dict[str, SingularityRemote] = {}
    listed = data.get("Remotes") or {}
    if not isinstance(listed, dict):
        raise ConfigError("Remotes must be a mapping", path=path)
    for name, settings in listed.items():
        if not isinstance(settings, dict):
            continue
        uri = _text(settings.get("URI"), f"Remotes: {name}: URI", path)
        if not uri:
            continue
        insecure = settings.get("Insecure") is True
        remotes[str(name)] = SingularityRemote(normalise_url(uri, insecure=insecure),
                                               _text(settings.get("Token"), "Token", path))
    active = _text(data.get("Active"), "Active", path) or None
    return active, remotes


def _same_host(a: str, b: str) -> bool:
    return urlsplit(a).netloc.lower() == urlsplit(b).netloc.lower()


def resolve(url: Optional[str] = None, *, env: Optional[Mapping[str, str]] = None) -> Remote:
    """The remote to build on and its token (see the module's docstring for the order)."""
    env = os.environ if env is None else env
    ours = DefkitFile.read(config_path(env))
    theirs_path = singularity_path(env)
    active_name, theirs = singularity_remotes(theirs_path)
    if url:
        chosen, source = normalise_url(url), "--remote"
    elif env.get(ENV_REMOTE, "").strip():
        chosen, source = normalise_url(env[ENV_REMOTE]), ENV_REMOTE
    elif ours.active:
        chosen, source = ours.active, ours.path
    elif active_name and active_name in theirs:
        chosen, source = theirs[active_name].url, theirs_path
    else:
        raise UsageError("no remote builder: give --remote URL, set DEFKIT_REMOTE, or run "
                         "`defkit remote login URL`")
    token, token_source = env.get(ENV_TOKEN, "").strip(), ENV_TOKEN
    if not token:
        token, token_source = ours.tokens.get(chosen, ""), ours.path
    if not token:
        # SingularityCE names remotes, defkit by URL: a remote of the same host is the same.
        for remote in theirs.values():
            if remote.token and _same_host(remote.url, chosen):
                token, token_source = remote.token, theirs_path
                break
    return Remote(chosen, token, source, token_source if token else "")


def token_for(url: str, *, env: Optional[Mapping[str, str]] = None) -> str:
    """The token for a server at `url` that was not chosen as the remote (a `Library:` of a
    `Bootstrap: library`): `$DEFKIT_REMOTE_TOKEN`, else one stored for a remote of its host."""
    env = os.environ if env is None else env
    token = env.get(ENV_TOKEN, "").strip()
    if token:
        return token
    ours = DefkitFile.read(config_path(env))
    _, theirs = singularity_remotes(singularity_path(env))
    candidates = [*ours.tokens.items(), *((r.url, r.token) for r in theirs.values())]
    for remote_url, remote_token in candidates:
        if remote_token and _same_host(remote_url, url):
            return remote_token
    return ""


__all__ = ["DefkitFile", "ENV_REMOTE", "ENV_TOKEN", "Remote", "config_path", "normalise_url",
           "resolve", "singularity_path", "singularity_remotes", "token_for"]
