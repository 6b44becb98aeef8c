"""`defkit inspect IMAGE` and `defkit verify IMAGE`."""

from __future__ import annotations

import click


@click.command()
@click.argument("image", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (Apptainer's inspect shape).")
@click.option("--labels", "-l", "only", flag_value="labels", help="Only the labels.")
@click.option("--deffile", "-d", "only", flag_value="deffile", help="Only the def file.")
@click.option("--runscript", "-r", "only", flag_value="runscript", help="Only the runscript.")
@click.option("--environment", "-e", "only", flag_value="environment", help="Only env files.")
@click.option("--test", "-t", "only", flag_value="test", help="Only the test script.")
@click.option("--helpfile", "-H", "only", flag_value="helpfile", help="Only the help text.")
def inspect(image: str, as_json: bool, only: str | None) -> None:
    """Show an image's labels, def file, environment, scripts, arch and SIF descriptors."""
    raise NotImplementedError


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
def verify(image: str) -> int:
    """Check a SIF's structure and that its squashfs partition is readable."""
    raise NotImplementedError
