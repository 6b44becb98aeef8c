"""Which remote and token `defkit build --remote` uses, and how `defkit remote login` keeps it."""

from __future__ import annotations

import os
import pathlib
import stat

import pytest

from defkit.errors import ConfigError, UsageError
from defkit.remote.config import (
    DefkitFile,
    config_path,
    normalise_url,
    resolve,
    singularity_remotes,
    token_for,
)

SINGULARITY = """\
Active: site
Remotes:
  SylabsCloud:
    URI: cloud.sylabs.io
    Token: cloud-token
    System: true
    Exclusive: false
  site:
    URI: builder.example.org:8443/base
    Token: site-token
    Insecure: true
"""


@pytest.fixture()
def env(tmp_path: pathlib.Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}


def _singularity(env: dict[str, str], text: str = SINGULARITY) -> None:
    path = pathlib.Path(env["HOME"], ".singularity", "remote.yaml")
    path.parent.mkdir(parents=True)
    path.write_text(text)


def test_urls_get_a_scheme_and_lose_the_trailing_slash() -> None:
    assert normalise_url("builder.example.org/") == "https://builder.example.org"
    assert normalise_url("builder.example.org", insecure=True) == "http://builder.example.org"
    assert normalise_url("http://127.0.0.1:8080/x/") == "http://127.0.0.1:8080/x"
    for bad in ("ftp://x", "", "https://user:pw@host", "https://host/?q=1"):
        with pytest.raises(UsageError):
            normalise_url(bad)


def test_no_remote_anywhere_is_a_usage_error(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="no remote builder"):
        resolve(None, env=env)


def test_singularity_remote_yaml_is_read(env: dict[str, str]) -> None:
    _singularity(env)
    active, remotes = singularity_remotes(os.path.join(env["HOME"], ".singularity",
                                                       "remote.yaml"))
    assert active == "site"
    assert remotes["site"].url == "http://builder.example.org:8443/base"
    assert remotes["SylabsCloud"].url == "https://cloud.sylabs.io"
    chosen = resolve(None, env=env)
    assert (chosen.url, chosen.token) == ("http://builder.example.org:8443/base", "site-token")


def test_the_order_of_the_sources(env: dict[str, str]) -> None:
    _singularity(env)
    ours = DefkitFile(config_path(env)).with_login("https://ours.example.org", "our-token")
    ours.write()
    assert resolve(None, env=env).url == "https://ours.example.org"
    assert resolve(None, env=env).token == "our-token"
    env["DEFKIT_REMOTE"] = "env.example.org"
    assert resolve(None, env=env).url == "https://env.example.org"
    assert resolve(None, env=env).token == ""
    explicit = resolve("http://cloud.sylabs.io", env=env)
    # SingularityCE's token of the same host (its remotes are named, ours are URLs).
    assert (explicit.url, explicit.token) == ("http://cloud.sylabs.io", "cloud-token")
    env["DEFKIT_REMOTE_TOKEN"] = "from-env"
    assert resolve("https://ours.example.org", env=env).token == "from-env"
    assert resolve("https://ours.example.org", env=env).token_source == "DEFKIT_REMOTE_TOKEN"


def test_login_file_is_private_and_the_token_never_shown(env: dict[str, str]) -> None:
    path = config_path(env)
    DefkitFile.read(path).with_login("https://a.example.org", "secret-a").write()
    DefkitFile.read(path).with_login("https://b.example.org", "secret-b").write()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = DefkitFile.read(path)
    assert again.active == "https://b.example.org"
    assert dict(again.tokens) == {"https://a.example.org": "secret-a",
                                  "https://b.example.org": "secret-b"}
    chosen = resolve(None, env=env)
    assert "secret-b" not in repr(chosen) and "secret" not in repr(again)
    assert token_for("https://a.example.org/anything", env=env) == "secret-a"
    assert token_for("https://c.example.org", env=env) == ""


def test_a_broken_file_is_a_config_error(env: dict[str, str]) -> None:
    path = pathlib.Path(config_path(env))
    path.parent.mkdir(parents=True)
    path.write_text("remotes: [1, 2]\n")
    with pytest.raises(ConfigError, match="remotes must be a mapping"):
        resolve(None, env=env)
    path.write_text("active: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        resolve(None, env=env)
