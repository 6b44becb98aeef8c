"""`defkit inspect IMAGE` and `defkit verify IMAGE`.

Output goes through click (never print from library code); bad input becomes a DefkitError, which
`defkit.cli.errors` turns into one line and exit code 1.
"""

from __future__ import annotations

import json
from typing import Any

import click

from defkit.printable import printable

_SECTIONS = ("labels", "deffile", "runscript", "test", "startscript", "environment", "helpfile")


@click.command()
@click.argument("image", type=click.Path())
@click.option("--json", "-j", "as_json", is_flag=True, help="Print JSON (Apptainer's shape).")
@click.option("--all", "as_json", is_flag=True, hidden=True, help="Same as --json (Apptainer).")
@click.option("--labels", "-l", "only", flag_value="labels", help="Only the labels.")
@click.option("--deffile", "-d", "only", flag_value="deffile", help="Only the def file.")
@click.option("--runscript", "-r", "only", flag_value="runscript", help="Only the runscript.")
@click.option("--test", "-t", "only", flag_value="test", help="Only the test script.")
@click.option("--startscript", "-s", "only", flag_value="startscript", help="Only the startscript.")
@click.option("--environment", "-e", "only", flag_value="environment", help="Only env files.")
@click.option("--helpfile", "-H", "only", flag_value="helpfile", help="Only the help text.")
def inspect(image: str, as_json: bool, only: str | None) -> None:
    """Show an image's labels, def file, environment, scripts, arch and SIF descriptors.

    IMAGE is a SIF file or a sandbox directory. Without a section option everything is shown.
    """
    from defkit.image.inspect import inspect_image

    info = inspect_image(image)
    if as_json:
        # ensure_ascii: undecodable bytes and control characters come out as \u escapes.
        click.echo(json.dumps(info.to_json(only), indent=2, sort_keys=False, ensure_ascii=True))
        return
    if only is not None:
        click.echo(_section_text(only, getattr(info, only)), nl=False)
        return
    click.echo(f"Image:        {printable(info.path)}")
    click.echo(f"Type:         {'SIF' if info.kind == 'sif' else 'sandbox directory'}")
    click.echo(f"Architecture: {info.arch}")
    if info.kind == "sif":
        click.echo(f"UUID:         {info.uuid or '(none)'}")
        click.echo(f"Metadata:     {info.source}")
    for name in _SECTIONS:
        value = getattr(info, name)
        click.echo(f"\n{_TITLES[name]}:")
        text = _section_text(name, value)
        click.echo(_indent(text) if text else "  (none)", nl=not text)
    if info.apps:
        click.echo("\nApps:")
        for app in sorted(info.apps):
            click.echo(f"  {printable(app)}")
    if info.descriptors:
        click.echo("\nSIF descriptors:")
        click.echo(f"  {'ID':<4}{'GROUP':<7}{'OFFSET':>12}{'SIZE':>12}  TYPE")
        for d in info.descriptors:
            kind = d.datatype + (f" {printable(d.name)}" if d.name else "")
            kind += f" ({d.partition})" if d.partition else ""
            click.echo(f"  {d.id:<4}{d.group:<7}{d.offset:>12}{d.size:>12}  {kind}")


@click.command()
@click.argument("image", type=click.Path())
def verify(image: str) -> int:
    """Check a SIF's structure and that its squashfs partition is readable.

    Exit 0 when the image is sound; 1 with one line per problem otherwise.
    """
    from defkit.image.verify import verify_image

    problems = verify_image(image)
    shown = printable(image)
    for problem in problems:
        click.echo(f"{shown}: error: {printable(problem)}", err=True)
    if problems:
        return 1
    click.echo(f"{shown}: ok")
    return 0


_TITLES = {
    "labels": "Labels",
    "deffile": "Definition file",
    "runscript": "Runscript",
    "test": "Test",
    "startscript": "Startscript",
    "environment": "Environment",
    "helpfile": "Help",
}


def _section_text(name: str, value: Any) -> str:
    """A section as plain text ending in a newline, or "" when it is empty; what came from the
    image is escaped (`printable`), so it can neither drive the terminal nor fail to encode."""
    if not value:
        return ""
    if name == "labels":
        return "".join(f"{printable(k)}: {printable(v)}\n" for k, v in sorted(value.items()))
    if name == "environment":
        return "".join(f"=== {printable(k)} ===\n{printable(v, multiline=True)}\n\n"
                       for k, v in sorted(value.items()))  # fmt: skip
    return f"{printable(value, multiline=True)}\n"


def _indent(text: str) -> str:
    return "".join(f"  {line}" if line.strip() else line for line in text.splitlines(True))
