"""`defkit parse`: show how Apptainer reads a definition file."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click


def read_stdin() -> bytes:
    return sys.stdin.buffer.read()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the JSON Apptainer's parser produces.")
@click.option(
    "--single", is_flag=True, help="Parse as ParseDefinitionFile (one stage) instead of parser.All."
)
@click.option("--templated", is_flag=True, help="Apply build-time templating ({{ VAR }}).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE")
@click.option("--build-arg-file", type=click.Path(dir_okay=False, exists=True), default=None)
@click.option("--warn-unused-build-args", is_flag=True)
@click.option(
    "--flavour",
    type=click.Choice(["apptainer", "singularityce"]),
    default="apptainer",
    show_default=True,
)
def parse(
    file: str,
    as_json: bool,
    single: bool,
    templated: bool,
    build_args: tuple[str, ...],
    build_arg_file: Optional[str],
    warn_unused_build_args: bool,
    flavour: str,
) -> int:
    """Parse FILE exactly as Apptainer does; print an outline or Apptainer's JSON."""
    from defkit.apptainer_json import iter_json_text, stage_to_json
    from defkit.parser import parse_single, parse_text, read_source
    from defkit.templating import parse_build_arg, read_build_arg_file, template

    path = "<stdin>" if file == "-" else file
    data = read_stdin() if file == "-" else read_source(file)
    if single and (templated or build_args or build_arg_file):
        raise click.UsageError("--single cannot be combined with templating options")
    if single:
        stage = parse_single(data, path, flavour=flavour)
        if as_json:
            click.echo(json.dumps(stage_to_json(stage), indent=2, ensure_ascii=False))
        else:
            from defkit.model import DefFile
            from defkit.outline import outline

            click.echo(outline(DefFile(path, stage.raw, (stage,))))
        return 0
    deffile = parse_text(data, path, flavour=flavour)
    fullraw = None
    if templated or build_args or build_arg_file:
        args: dict[str, str] = {}
        if build_arg_file:
            args, warnings = read_build_arg_file(build_arg_file)
            for warning in warnings:
                click.echo(f"{build_arg_file}: warning: {warning}", err=True)
        for item in build_args:
            key, value = parse_build_arg(item)
            args[key] = value
        result = template(deffile, args, warn_unused=warn_unused_build_args, flavour=flavour)
        unused = sorted(set(args) - result.used)
        if unused:
            click.echo(f"{path}: warning: unused build args: {', '.join(unused)}", err=True)
        deffile, fullraw = result.deffile, result.text
    if as_json:
        # Written as it is made, a stage at a time (the text can be many times the file).
        for piece in iter_json_text(deffile, fullraw=fullraw):
            click.echo(piece, nl=False)
        click.echo()
    else:
        from defkit.outline import outline

        click.echo(outline(deffile))
    return 0
