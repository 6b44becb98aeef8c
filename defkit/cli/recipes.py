"""`defkit recipes list | show NAME | render NAME [--set K=V] [--all] [-o DIR]`: the recipe
catalogue (defkit.catalogue)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import click

from defkit.cli.pull import insecure_option
from defkit.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def recipes_dir_option(function: F) -> F:
    return click.option(
        "--recipes-dir", "recipes_dirs", multiple=True, type=click.Path(file_okay=False),
        help="A catalogue of your own, searched before the built-in one (repeatable).",
    )(function)


@click.group()
def recipes() -> None:
    """Families of definition files rendered from templates and a matrix of variables."""


@recipes.command("list")
@recipes_dir_option
def list_(recipes_dirs: tuple[str, ...]) -> int:
    """One family per line: name, number of matrix points, description."""
    from defkit.catalogue.family import all_families

    families = all_families(recipes_dirs)
    width = max((len(family.name) for family in families), default=0)
    for family in families:
        count = len(family.points)
        click.echo(f"{family.name:<{width}}  {count:>2} point{'s' if count != 1 else ' '}  "
                   f"{family.description}")
    return 0


@recipes.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The family as one JSON object.")
@recipes_dir_option
def show(name: str, as_json: bool, recipes_dirs: tuple[str, ...]) -> int:
    """A family's files, variables and matrix points."""
    from defkit.catalogue.family import load_family

    family = load_family(name, recipes_dirs)
    if as_json:
        click.echo(json.dumps({
            "name": family.name, "description": family.description,
            "recipe": family.recipe_file, "template": family.template, "lock": family.lock,
            "variables": dict(family.variables), "points": list(family.points),
        }, indent=2))
        return 0
    click.echo(f"{family.name}: {family.description}")
    click.echo(f"  recipe:    {family.recipe_file}")
    click.echo(f"  template:  {family.template}")
    click.echo(f"  lock:      {family.lock or 'none (bases not pinned by digest)'}")
    click.echo("  variables:")
    for key, value in family.variables.items():
        click.echo(f"    {key} = {json.dumps(value)}")
    click.echo(f"  points ({len(family.points)}):")
    for point in family.points:
        click.echo("    " + (" ".join(f"{k}={v}" for k, v in point.items()) or "(defaults)"))
    return 0


@recipes.command()
@click.argument("name")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="A variable's value (repeatable); on a matrix variable it selects points.")
@click.option("--all", "render_all", is_flag=True,
              help="Every matrix point (that --set selects), one file each.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False),
              help="Write NAME.def files (and their locks) here instead of printing.")
@recipes_dir_option
def render(name: str, sets: tuple[str, ...], render_all: bool, output_dir: Optional[str],
           recipes_dirs: tuple[str, ...]) -> int:
    """Render a family's template: one point to stdout, or files with -o DIR."""
    from defkit.catalogue import render as rendering
    from defkit.catalogue.family import load_family

    family = load_family(name, recipes_dirs)
    values = rendering.parse_sets(sets)
    if render_all:
        chosen = rendering.render_all(family, values)
    else:
        points = rendering.select(family, values)
        if len(points) > 1:
            choices = "; ".join(" ".join(f"{k}={v}" for k, v in p.items()) for p in points)
            raise UsageError(f"{name} has {len(points)} matching points ({choices}): "
                             "choose one with --set NAME=VALUE, or render them with --all -o DIR")
        chosen = [rendering.render(family, points[0], values)]
    if output_dir is None:
        if len(chosen) > 1:
            raise UsageError("--all renders several files: give -o DIR")
        click.echo(chosen[0].text, nl=False)
        return 0
    for item in chosen:
        for path in rendering.write(item, output_dir, family):
            click.echo(path)
    return 0


@recipes.command()
@click.argument("name")
@click.option("--arch", "archs", multiple=True,
              help="Architecture to pin (repeatable; default: the host's).")
@insecure_option
@recipes_dir_option
def lock(name: str, archs: tuple[str, ...], insecure: bool, recipes_dirs: tuple[str, ...]) -> int:
    """Pin the registry bases of every point in the family's NAME.lock."""
    from defkit.arch import host_arch
    from defkit.catalogue.family import load_family
    from defkit.catalogue.locking import lock_family, lock_file
    from defkit.lock import write_lock
    from defkit.registry.client import RegistryClient

    family = load_family(name, recipes_dirs)
    path = lock_file(family)
    with RegistryClient(insecure=insecure) as client:
        entries = lock_family(family, archs or (host_arch(),), client)
    write_lock(path, entries)
    click.echo(f"defkit: wrote {path} ({len(entries)} base{'s' if len(entries) != 1 else ''})",
               err=True)
    return 0
