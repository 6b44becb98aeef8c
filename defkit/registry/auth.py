"""Registry credentials, found where Apptainer looks for them, and `login`/`logout`.

Order (the first that has an entry for the host wins): `APPTAINER_DOCKER_USERNAME`/
`APPTAINER_DOCKER_PASSWORD` (then the `SINGULARITY_DOCKER_` names), which apply to every host as
in Apptainer; `~/.apptainer/docker-config.json` (what `apptainer registry login` and
`defkit registry login` write); `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`) with
`auths` entries and `credHelpers`/`credsStore` programs (`docker-credential-NAME get`).

Written by hand: the Docker config format is a small JSON file; the libraries that read it come
with their own HTTP clients (docker, oras), which defkit does not otherwise need.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from defkit.atomic import replacing
from defkit.errors import ConfigError
from defkit.registry.reference import DOCKER_HUB
from defkit.runner import Runner
from defkit.runner import run as default_run

#: The key Docker (and Apptainer, through Docker's library) uses for Docker Hub.
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_KEYS = (DOCKER_HUB_CONFIG_KEY, "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = ""  # where they came from, for messages ("APPTAINER_DOCKER_USERNAME", a path)

    def __str__(self) -> str:
        return f"credentials of {self.username!r} from {self.source or 'the caller'}"


#: Looks up the credentials for a registry host ("docker.io", "ghcr.io", "127.0.0.1:5000").
CredentialLookup = Callable[[str], Optional[Credentials]]


def apptainer_config_path(home: Optional[str] = None) -> str:
    return os.path.join(home or os.path.expanduser("~"), ".apptainer", "docker-config.json")


def docker_config_path(env: Mapping[str, str], home: Optional[str] = None) -> str:
    directory = env.get("DOCKER_CONFIG") or os.path.join(
        home or os.path.expanduser("~"), ".docker"
    )
    return os.path.join(directory, "config.json")


def _host_keys(host: str) -> tuple[str, ...]:
    return _HUB_KEYS if host in _HUB_KEYS else (host,)


def _normalise_key(key: str) -> str:
    # `auths` keys are written as "host", "https://host", or "https://host/v1/".
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0]


def _matching_keys(auths: dict[str, Any], host: str) -> list[str]:
    wanted = {_normalise_key(key) for key in _host_keys(host)}
    return [key for key in auths if _normalise_key(str(key)) in wanted]


def _read_config(path: str) -> Optional[dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
        raise ConfigError(f"cannot read registry credentials: {reason}", path=path) from None
    if not isinstance(data, dict):
        raise ConfigError("cannot read registry credentials: not a JSON object", path=path)
    return data


def _from_auths(config: dict[str, Any], host: str, path: str) -> Optional[Credentials]:
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    for key in _matching_keys(auths, host):
        entry = auths[key]
        if not isinstance(entry, dict):
            continue
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                username, colon, password = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                # The value is a secret: say where it is, never what it is.
                raise ConfigError(f"the `auth` entry for {key} is not base64 of user:password",
                                  path=path) from None
            if colon:
                return Credentials(username, password, path)
        plain_user, plain_password = entry.get("username"), entry.get("password")
        if isinstance(plain_user, str) and isinstance(plain_password, str) and plain_user:
            return Credentials(plain_user, plain_password, path)
    return None


def _from_helper(
    config: dict[str, Any], host: str, path: str, runner: Runner
) -> Optional[Credentials]:
    helpers = config.get("credHelpers")
    helper: Any = None
    if isinstance(helpers, dict):
        helper = next((helpers[key] for key in _host_keys(host) if key in helpers), None)
    if helper is None:
        helper = config.get("credsStore")
    if not isinstance(helper, str) or not helper:
        return None
    server = DOCKER_HUB_CONFIG_KEY if host in _HUB_KEYS else host
    result = runner([f"docker-credential-{helper}", "get"], input=server.encode(), timeout=60)
    if result.returncode != 0:
        return None  # helpers exit non-zero for "no credentials for this server"
    try:
        answer = json.loads(result.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"docker-credential-{helper} gave an unreadable answer",
                          path=path) from None
    if not isinstance(username, str) or not isinstance(secret, str):
        return None
    return Credentials(username, secret, f"docker-credential-{helper}")


def find_credentials(
    host: str,
    *,
    env: Optional[Mapping[str, str]] = None,
    home: Optional[str] = None,
    runner: Runner = default_run,
) -> Optional[Credentials]:
    """The credentials for `host` (as in ImageRef.registry), or None for anonymous access."""
    env = os.environ if env is None else env
    home = home or env.get("HOME") or None
    for prefix in ("APPTAINER_DOCKER_", "SINGULARITY_DOCKER_"):
        username, password = env.get(prefix + "USERNAME"), env.get(prefix + "PASSWORD")
        if username and password is not None:
            return Credentials(username, password, f"${prefix}USERNAME")
    for path in (apptainer_config_path(home), docker_config_path(env, home)):
        config = _read_config(path)
        if config is None:
            continue
        found = _from_auths(config, host, path) or _from_helper(config, host, path, runner)
        if found is not None:
            return found
    return None


def environment_lookup() -> CredentialLookup:
    """A lookup that reads the process's environment and home when it is called."""
    return lambda host: find_credentials(host)


def _write_private(path: str, config: dict[str, Any]) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # The temporary file is 0600 from its creation (mkstemp), before a byte of the secret.
    with replacing(path, mode=0o600) as temporary, \
            open(temporary, "w", encoding="utf-8") as stream:
        json.dump(config, stream, indent="\t")
        stream.write("\n")


def _config_key(host: str) -> str:
    return DOCKER_HUB_CONFIG_KEY if host in _HUB_KEYS or host == DOCKER_HUB else host


def login(host: str, username: str, password: str, *, path: Optional[str] = None) -> str:
    """Store the credentials for `host` in Apptainer's file (mode 0600); returns its path."""
    path = path or apptainer_config_path()
    config = _read_config(path) or {}
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = config["auths"] = {}
    for key in _matching_keys(auths, host):
        del auths[key]
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[_config_key(host)] = {"auth": token}
    _write_private(path, config)
    return path


def logout(host: str, *, path: Optional[str] = None) -> bool:
    """Remove the credentials for `host` from Apptainer's file; False when there were none."""
    path = path or apptainer_config_path()
    config = _read_config(path)
    auths = config.get("auths") if config else None
    if not isinstance(auths, dict) or config is None:
        return False
    stale = _matching_keys(auths, host)
    for key in stale:
        del auths[key]
    if stale:
        _write_private(path, config)
    return bool(stale)
