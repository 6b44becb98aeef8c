"""`defkit push IMAGE.sif oras://HOST/REPO:TAG [--annotation k=v]`: the SIF as Apptainer pushes it,
so `apptainer pull oras://` reads it."""

from __future__ import annotations

import click

from defkit.cli.pull import insecure_option
from defkit.errors import UsageError


@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.argument("target")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Manifest annotation (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No output.")
@insecure_option
def push(image: str, target: str, annotations: tuple[str, ...], quiet: bool,
         insecure: bool) -> int:
    """Upload a SIF image to an OCI registry (oras://)."""
    if not target.startswith("oras://"):
        raise UsageError(f"{target}: push takes oras://HOST/REPO:TAG")
    extra = {}
    for pair in annotations:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--annotation {pair}: expected KEY=VALUE")
        extra[key] = value
    from defkit.registry.client import RegistryClient
    from defkit.registry.reference import parse_reference
    from defkit.sif.oras import push_sif

    ref = parse_reference(target[len("oras://"):])
    with RegistryClient(insecure=insecure) as client:
        pushed = push_sif(client, image, ref, annotations=extra)
    if not quiet:
        click.echo(f"defkit: pushed {image} -> {pushed.reference} ({pushed.digest})", err=True)
    return 0
