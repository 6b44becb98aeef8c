"""`defkit pull oras://HOST/REPO:TAG [-o OUT.sif]` and `defkit pull docker://IMAGE -o OUT.sif`.

An oras:// pull fetches the SIF (Apptainer's layout and rules) through the blob store; a
docker:// pull builds a SIF from the image, as `apptainer pull docker://` does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import click

from defkit.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def insecure_option(function: F) -> F:
    """`--insecure`/`--nohttps` (and APPTAINER_NOHTTPS): plain HTTP to the registry."""
    option = click.option(
        "--insecure", "--nohttps", "--no-https", "insecure", is_flag=True,
        envvar="APPTAINER_NOHTTPS",
        help="Talk to the registry over plain HTTP (also APPTAINER_NOHTTPS=1).")
    return option(function)


def default_output(source: str) -> str:
    """Apptainer's default name: `NAME_TAG.sif` from the reference's last path part."""
    rest = source.split("://", 1)[-1].split("@", 1)[0]
    name = rest.rsplit("/", 1)[-1]
    base, _, tag = name.partition(":")
    return f"{base}_{tag or 'latest'}.sif"


@click.command()
@click.argument("source")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="SIF to write (default: NAME_TAG.sif in the current directory).")
@click.option("--arch", help="Architecture to pick from a multi-arch image (amd64, arm64/v8...).")
@click.option("--force", "-F", is_flag=True, help="Overwrite an existing output.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@insecure_option
def pull(source: str, output: Optional[str], arch: Optional[str], force: bool, quiet: bool,
         insecure: bool) -> int:
    """Download a SIF from an OCI registry, or build one from a Docker/OCI image."""
    target = output or default_output(source)
    if os.path.lexists(target) and not force:
        raise UsageError(f"{target} already exists: use --force to overwrite it")
    if source.startswith("oras://"):
        from defkit.arch import host_arch
        from defkit.registry.client import RegistryClient
        from defkit.registry.reference import parse_reference
        from defkit.registry.store import default_store
        from defkit.sif.oras import pull_sif_to

        ref = parse_reference(source[len("oras://"):])
        with RegistryClient(insecure=insecure) as client:
            digest = pull_sif_to(client, default_store(), ref, arch or host_arch(), target)
        if not quiet:
            click.echo(f"defkit: pulled {ref} ({digest}) -> {target}", err=True)
        return 0
    if source.startswith("docker://"):
        from defkit.cli.build import plain_renderer
        from defkit.engine.context import ProgressCallback, ignore_event
        from defkit.engine.from_source import build_source, source_definition

        definition = source_definition(source)
        assert definition is not None
        progress: ProgressCallback = ignore_event
        if not quiet:
            progress = plain_renderer(sys.stderr)
        build_source(source, definition, output=target, force=force, arch=arch,
                     insecure=insecure, progress=progress)
        return 0
    raise UsageError(f"{source}: pull takes oras://HOST/REPO:TAG or docker://IMAGE")
