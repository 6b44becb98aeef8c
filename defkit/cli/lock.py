"""`defkit lock FILE.def...`: pin every registry base to its digest in FILE.def.lock;
`--check` exits 1 when a tag has moved since (for CI and pre-commit)."""

from __future__ import annotations

import os

import click

from defkit.cli.pull import insecure_option
from defkit.errors import UsageError


@click.command()
@click.argument("def_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--arch", "archs", multiple=True,
              help="Architecture to pin (repeatable; default: the host's).")
@click.option("--check", is_flag=True, help="Exit 1 when a tag names another digest than locked.")
@insecure_option
def lock(def_files: tuple[str, ...], archs: tuple[str, ...], check: bool, insecure: bool) -> int:
    """Write FILE.def.lock with the digest of every docker/oras base, per stage and arch."""
    from defkit import lock as locking
    from defkit.arch import host_arch
    from defkit.registry.client import RegistryClient

    for path in def_files:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such definition file")
    code = 0
    with RegistryClient(insecure=insecure) as client:
        for path in def_files:
            if check:
                if not os.path.isfile(locking.lock_path(path)):
                    click.echo(f"{path}: error: no lock file ({locking.lock_path(path)})",
                               err=True)
                    code = 1
                    continue
                for moved in locking.check(path, client):
                    if moved.entry is None:
                        message = f"From: {moved.base.source} is not in the lock file"
                    else:
                        message = (f"{moved.entry.reference} moved: locked {moved.entry.digest}, "
                                   f"now {moved.now}")
                    click.echo(f"{moved.where}: error: {message}", err=True)
                    code = 1
                continue
            entries = locking.resolve(path, archs or (host_arch(),), client)
            locking.write_lock(locking.lock_path(path), entries)
            click.echo(f"defkit: wrote {locking.lock_path(path)} ({len(entries)} "
                       f"base{'s' if len(entries) != 1 else ''})", err=True)
    return code
