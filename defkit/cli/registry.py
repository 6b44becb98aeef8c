"""`defkit registry login|logout HOST`: credentials in `~/.apptainer/docker-config.json`."""

from __future__ import annotations

import sys
from typing import Optional

import click


@click.group()
def registry() -> None:
    """Log in to and out of OCI registries (as `apptainer registry login` does)."""


@registry.command()
@click.argument("host")
@click.option("-u", "--username", help="User name (asked for when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--insecure", "--nohttps", "insecure", is_flag=True,
              help="Talk to the registry over plain HTTP (also APPTAINER_NOHTTPS=1).")
@click.option("--no-check", is_flag=True, help="Store the credentials without trying them.")
def login(host: str, username: Optional[str], password_stdin: bool, insecure: bool,
          no_check: bool) -> None:
    """Check the credentials against HOST and store them (mode 0600)."""
    from defkit.errors import UsageError
    from defkit.registry import auth
    from defkit.registry.client import RegistryClient, nohttps_requested
    from defkit.registry.reference import normalise_registry

    registry_host = normalise_registry(host)
    if username is None:
        username = click.prompt("Username", err=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    if not username or not password:
        raise UsageError("a user name and a password are needed")
    if not no_check:
        credentials = auth.Credentials(username, password, "the command line")
        with RegistryClient(insecure=insecure or nohttps_requested(),
                            credentials=credentials) as client:
            client.check_login(registry_host)
    path = auth.login(registry_host, username, password)
    click.echo(f"Login succeeded: credentials for {registry_host} stored in {path}")


@registry.command()
@click.argument("host")
def logout(host: str) -> None:
    """Remove the stored credentials for HOST."""
    from defkit.registry import auth
    from defkit.registry.reference import normalise_registry

    registry_host = normalise_registry(host)
    if auth.logout(registry_host):
        click.echo(f"Removed the credentials for {registry_host}")
    else:
        click.echo(f"No stored credentials for {registry_host}")
