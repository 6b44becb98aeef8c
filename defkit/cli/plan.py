"""`defkit plan [FILES|DIRS] [--recipes NAME...] --format json|github|gitlab|slurm`: the builds
the caches lack, in dependency order, for a CI matrix, a GitLab child pipeline or Slurm."""

from __future__ import annotations

import os
from typing import Optional

import click

from defkit.cli.pull import insecure_option
from defkit.cli.recipes import recipes_dir_option
from defkit.errors import UsageError


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--recipes", "families", multiple=True, metavar="NAME",
              help="Plan every point of this recipe family (repeatable); rendered into "
                   "--render-dir first.")
@click.option("--render-dir", default="rendered", show_default=True,
              type=click.Path(file_okay=False), help="Where --recipes renders its def files.")
@recipes_dir_option
@click.option("--format", "format_", type=click.Choice(["json", "github", "gitlab", "slurm"]),
              default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the plan to this file (default: stdout).")
@click.option("--fakeroot", is_flag=True, help="The builds will run with --fakeroot.")
@click.option("--arch", help="Target architecture of the builds (default: the host's).")
@click.option("--notest", is_flag=True, help="The builds will skip %test.")
@click.option("--cache-ttl", metavar="AGE", help="As `defkit build --cache-ttl`.")
@click.option("--cache-from", "cache_from", multiple=True, metavar="REPO",
              help="Registry cache (oras://host/name) to probe, and to build from (repeatable).")
@click.option("--cache-to", metavar="REPO", help="Registry cache the builds push to.")
@click.option("--no-fetch", is_flag=True,
              help="Never place a cached image at its output to key the builds that "
                   "bootstrap from it (such a plan fails instead).")
@click.option("--gitlab-template", type=click.Path(dir_okay=False, exists=True),
              help="gitlab: YAML defining the hidden job .defkit-build (image, tags, "
                   "before_script), copied into the pipeline; every job extends it.")
@click.option("--sbatch-option", "sbatch_options", multiple=True, metavar="OPTION",
              help="slurm: an sbatch option for every level, e.g. --partition=build.")
@click.option("--max-parallel", type=click.IntRange(min=0), default=0,
              help="slurm: at most this many builds of a level at once (0: no limit).")
@insecure_option
def plan(paths: tuple[str, ...], families: tuple[str, ...], render_dir: str,
         recipes_dirs: tuple[str, ...], format_: str, output: Optional[str], fakeroot: bool,
         arch: Optional[str], notest: bool, cache_ttl: Optional[str],
         cache_from: tuple[str, ...], cache_to: Optional[str], no_fetch: bool,
         gitlab_template: Optional[str], sbatch_options: tuple[str, ...], max_parallel: int,
         insecure: bool) -> int:
    """Key every build, probe the caches, and print only the misses in dependency order."""
    from defkit.lint.files import expand_paths
    from defkit.plan import formats
    from defkit.plan.graph import collect
    from defkit.plan.probe import BuildOptions, make_plan

    if not paths and not families:
        raise UsageError("nothing to plan: give def files, directories or --recipes NAME")
    template = _gitlab_template(gitlab_template)  # checked before any work
    for repository in (*cache_from, *([cache_to] if cache_to else [])):
        if not repository.startswith("oras://"):
            raise UsageError(f"{repository}: a registry cache is oras://HOST/NAME")
    def_paths = [path for path in expand_paths(paths) if path != "-"]
    def_paths += _render(families, render_dir, recipes_dirs)
    if not def_paths:
        raise UsageError("no definition files found")
    options = BuildOptions(fakeroot=fakeroot, arch=arch, notest=notest, cache_ttl=cache_ttl,
                           cache_from=cache_from, cache_to=cache_to, insecure=insecure)
    found = make_plan(collect(def_paths), options, fetch=not no_fetch)
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    if format_ == "gitlab":
        text = formats.gitlab(found, template=template)
    elif format_ == "slurm":
        text = formats.slurm(found, sbatch_options=sbatch_options, max_parallel=max_parallel)
    else:
        text = formats.FORMATS[format_](found)
    if output:
        from defkit.atomic import write_text

        write_text(output, text, mode=0o755 if format_ == "slurm" else None)
    else:
        click.echo(text, nl=False)
    cached = len(found.builds) - len(found.misses)
    click.echo(f"defkit: {len(found.misses)} to build, {cached} cached, "
               f"{len(found.levels)} level{'s' if len(found.levels) != 1 else ''}", err=True)
    return 0


def _render(families: tuple[str, ...], directory: str, recipes_dirs: tuple[str, ...]
            ) -> list[str]:
    from defkit.catalogue.family import load_family
    from defkit.catalogue.render import render_all, write

    written = []
    for name in families:
        family = load_family(name, recipes_dirs)
        for item in render_all(family):
            written.append(write(item, directory, family)[0])
    return [os.path.relpath(path) for path in written]


def _gitlab_template(path: Optional[str]) -> str:
    """The template's text, checked: valid YAML that defines `.defkit-build`."""
    if path is None:
        return ""
    from defkit.yamlfile import load_yaml

    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    data, _ = load_yaml(text, path)
    if not isinstance(data, dict) or ".defkit-build" not in data:
        raise UsageError(f"{path}: the GitLab template must define the job .defkit-build")
    return text
