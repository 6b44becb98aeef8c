"""`defkit build --remote`: the command line's side (options, output, exit codes) of
`defkit.remote_build.build_remotely`."""

from __future__ import annotations

import os
from typing import Optional

from defkit.errors import DefkitError, UsageError
from defkit.remote_build import RemoteBuildFailed, build_remotely


def _names_a_file(value: str) -> bool:
    return (os.path.exists(value) or value.endswith((".def", ".sif"))
            or value.startswith(("/", "./", "../")))


def remote_from_cli(remote: str, detached: bool, paths: tuple[str, ...], *,
                    output: Optional[str], force: bool, arch: Optional[str], quiet: bool,
                    as_json: bool, no_cache: bool, refused: dict[str, object]) -> int:
    """`defkit build --remote`: the options checked, the progress shown as a local build's."""
    import click

    from defkit.cache.hook import CacheOptions
    from defkit.cli.build import renderer_for, sigterm_as_interrupt

    if remote and len(paths) < 2 and _names_a_file(remote):
        # `--remote FILE.def` (or `--remote OUT.sif FILE.def`): the option's value is optional,
        # and this one is the build's source (or target), not a URL.
        remote, paths = "", (remote, *paths)
    if not paths:
        raise UsageError("missing argument: [TARGET] SOURCE")
    given = [name for name, value in refused.items() if value]
    if given:
        raise UsageError(f"{', '.join(given)} cannot be used with --remote (the builder "
                         "builds the def file as it is, as a SIF)")
    if len(paths) > 2:
        raise UsageError("build takes SOURCE, or TARGET SOURCE")
    if len(paths) == 2:
        if output:
            raise UsageError("TARGET and -o cannot be used together")
        output = paths[0]
    source = paths[-1]
    from defkit.engine.dockerfile import is_dockerfile

    if source.startswith(("docker://", "oras://", "library://")) or is_dockerfile(source):
        raise UsageError(f"{source}: --remote builds a definition file only")
    with renderer_for(as_json, quiet) as progress, sigterm_as_interrupt():
        try:
            return build_remotely(source, url=remote or None, output=output, force=force,
                                  arch=arch, detached=detached,
                                  cache=CacheOptions(enabled=not no_cache), progress=progress,
                                  echo=lambda text: click.echo(text, err=as_json))
        except DefkitError as exc:
            tail = exc.tail if isinstance(exc, RemoteBuildFailed) else ()
            if as_json:
                import json

                print(json.dumps({"event": "error", "message": exc.format(),
                                  "exit_code": exc.exit_code, "log_tail": list(tail)}),
                      flush=True)
            elif tail:
                # Shown live already unless --quiet; repeated so the cause is next to the error.
                click.echo("the remote build's log ends with:", err=True)
                for line in tail:
                    click.echo(f"    {line}", err=True)
            raise


__all__ = ["remote_from_cli"]
