"""`defkit site`: site profiles, the description of the nodes images are checked against."""

from __future__ import annotations

from typing import Optional

import click


@click.group()
def site() -> None:
    """Site profiles (YAML) for `defkit lint --site` and `site:` in the configuration."""


@site.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the profile here.")
def detect(output: Optional[str]) -> int:
    """Write a site profile for this machine (nvidia-smi, ompi_info, ldd, apptainer...)."""
    from defkit.atomic import write_text
    from defkit.site.detect import detect as detect_site
    from defkit.site.profile import profile_yaml

    text = profile_yaml(detect_site())
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text(output, text)
    return 0


@site.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def show(path: str) -> int:
    """Check a site profile and print it as defkit reads it."""
    from defkit.lint.config_site import read_profile
    from defkit.site.profile import profile_yaml

    click.echo(profile_yaml(read_profile(path)), nl=False)
    return 0
