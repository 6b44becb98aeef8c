"""`defkit run|exec|test IMAGE`: run an image's action scripts with defkit's minimal runtime."""

from __future__ import annotations

from typing import Optional

import click

CONTEXT = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _exit(code: int) -> int:
    # The container's exit code is ours; click's standalone_mode is off, so return it.
    return code


@click.command(context_settings=CONTEXT)
@click.option("--app", help="Run an SCIF app's runscript.")
@click.argument("image", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(app: Optional[str], image: str, args: tuple[str, ...]) -> int:
    """Run the image's runscript with ARGS (exit code: the runscript's)."""
    from defkit.runtime import run_action

    return _exit(run_action(image, "run", args, app=app)[0])


@click.command("exec", context_settings=CONTEXT)
@click.option("--app", help="Use an SCIF app's environment.")
@click.argument("image", type=click.Path())
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(app: Optional[str], image: str, command: tuple[str, ...]) -> int:
    """Run COMMAND inside the image (after its environment scripts)."""
    from defkit.runtime import run_action

    return _exit(run_action(image, "exec", command, app=app)[0])


@click.command(context_settings=CONTEXT)
@click.option("--app", help="Run an SCIF app's test.")
@click.argument("image", type=click.Path())
def test(app: Optional[str], image: str) -> int:
    """Run the image's %test (exit code: the test's)."""
    from defkit.runtime import run_action

    return _exit(run_action(image, "test", (), app=app)[0])
