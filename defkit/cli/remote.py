"""`defkit remote login URL` and `defkit remote status`: the remote builder `defkit build
--remote` uses, and its token (stored 0600 in `$XDG_CONFIG_HOME/defkit/remote.yaml`)."""

from __future__ import annotations

import sys
from typing import Optional

import click

from defkit.errors import UsageError


@click.group()
def remote() -> None:
    """The remote builder of `defkit build --remote` (Sylabs remote build API)."""


@remote.command()
@click.argument("url")
@click.option("--token-stdin", is_flag=True,
              help="Read the token from standard input (else it is asked for, not echoed).")
def login(url: str, token_stdin: bool) -> int:
    """Check a token with the remote at URL and store both; URL becomes the active remote."""
    from defkit.remote.client import BuilderClient, discover
    from defkit.remote.config import DefkitFile, config_path, normalise_url

    address = normalise_url(url)
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = click.prompt("Token", hide_input=True, err=True).strip()
    if not token:
        raise UsageError("no token given")
    endpoints = discover(address)
    with BuilderClient(endpoints.builder, token) as builder:
        status = builder.token_status(endpoints.token_service)
    if status == "refused":
        raise UsageError(f"the remote at {address} refused the token: not stored")
    path = config_path()
    DefkitFile.read(path).with_login(address, token).write()
    checked = "checked" if status == "valid" else "not checked: the remote has no token service"
    click.echo(f"token for {address} stored in {path} ({checked}); it is the active remote",
               err=True)
    return 0


@remote.command()
@click.option("--remote", "url", metavar="URL",
              help="The remote to show (default: the active one).")
def status(url: Optional[str]) -> int:
    """Show the active remote, its services, the builder's version and the token's state."""
    from defkit.remote.client import BuilderClient, discover
    from defkit.remote.config import resolve

    chosen = resolve(url)
    click.echo(f"remote:   {chosen.url} (from {chosen.source})")
    endpoints = discover(chosen.url)
    click.echo(f"builder:  {endpoints.builder}")
    click.echo(f"library:  {endpoints.library}")
    with BuilderClient(endpoints.builder, chosen.token) as builder:
        version = builder.version()
        click.echo(f"version:  {version or '(not given)'}")
        if not chosen.token:
            click.echo("token:    none")
            return 0
        state = builder.token_status(endpoints.token_service)
    shown = {"valid": "valid", "refused": "refused",
             "unknown": "not checked (no token service)"}[state]
    click.echo(f"token:    {shown} (from {chosen.token_source})")
    return 1 if state == "refused" else 0
