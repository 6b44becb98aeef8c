"""`defkit run|exec|shell|test IMAGE`: an image's action scripts, run as Apptainer runs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

CONTEXT = {"ignore_unknown_options": False, "allow_interspersed_args": False}
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _refused(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An Apptainer option defkit does not implement: a clear error, never silently ignored."""
    if value:
        from defkit.runtime import refuse

        raise refuse("--" + (param.name or "").replace("_", "-"))
    return value


def _action_options(function: Callable[..., Any]) -> Callable[..., Any]:
    from defkit.runtime import UNSUPPORTED

    decorators: list[Decorator] = [
        click.option("--app", help="Use an SCIF app."),
        click.option("-B", "--bind", "binds", multiple=True, metavar="SRC[:DST[:ro|rw]]",
                     help="Bind a host path (repeatable, comma lists; also $APPTAINER_BIND)."),
        click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
                     help="Set a variable inside (repeatable, comma lists)."),
        click.option("--env-file", "env_files", multiple=True, type=click.Path(),
                     help="Set the KEY=VALUE lines of a file inside."),
        click.option("-e", "--cleanenv", is_flag=True,
                     help="Pass no host variable but TERM and the proxies."),
        click.option("-c", "--contain", is_flag=True,
                     help="Bind neither $HOME, /tmp nor the current directory."),
        click.option("-C", "--containall", is_flag=True, help="--contain and --cleanenv."),
        click.option("--no-home", is_flag=True, help="Do not bind $HOME."),
        click.option("--pwd", help="The working directory inside."),
        click.option("--writable-tmpfs", is_flag=True,
                     help="Let the command write to the image (into a tmpfs, discarded)."),
        click.option("--fakeroot", is_flag=True, help="Be root inside (rootless)."),
    ]
    for option, reason in UNSUPPORTED.items():
        if not option.startswith("--"):
            continue
        takes_value = option not in ("--nv", "--nvccli", "--rocm", "--writable", "--net")
        decorators.append(click.option(option, option.lstrip("-").replace("-", "_"),
                                       is_flag=not takes_value, hidden=True, expose_value=False,
                                       callback=_refused, is_eager=True,
                                       help=f"Not supported ({reason})."))
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _options(params: dict[str, Any]) -> Any:
    from defkit.engine.container_env import RunOptions

    return RunOptions(binds=params["binds"], env=params["env"], env_files=params["env_files"],
                      cleanenv=params["cleanenv"], contain=params["contain"],
                      containall=params["containall"], no_home=params["no_home"],
                      pwd=params["pwd"], writable_tmpfs=params["writable_tmpfs"],
                      fakeroot=params["fakeroot"], app=params["app"])


def _run(image: str, action: str, args: tuple[str, ...], params: dict[str, Any]) -> int:
    # The container's exit code is ours; click's standalone_mode is off, so return it.
    from defkit.runtime import run_action

    return run_action(image, action, args, options=_options(params))[0]


@click.command(context_settings=CONTEXT)
@_action_options
@click.argument("image", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(image: str, args: tuple[str, ...], **params: Any) -> int:
    """Run the image's runscript with ARGS (exit code: the runscript's)."""
    return _run(image, "run", args, params)


@click.command("exec", context_settings=CONTEXT)
@_action_options
@click.argument("image", type=click.Path())
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(image: str, command: tuple[str, ...], **params: Any) -> int:
    """Run COMMAND inside the image (after its environment scripts)."""
    return _run(image, "exec", command, params)


@click.command(context_settings=CONTEXT)
@_action_options
@click.argument("image", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def shell(image: str, args: tuple[str, ...], **params: Any) -> int:
    """An interactive shell inside the image ($SHELL / $APPTAINER_SHELL, else bash or sh)."""
    return _run(image, "shell", args, params)


@click.command(context_settings=CONTEXT)
@_action_options
@click.argument("image", type=click.Path())
def test(image: str, **params: Any) -> int:
    """Run the image's %test (exit code: the test's)."""
    return _run(image, "test", (), params)




@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def instance(args: tuple[str, ...]) -> int:
    """Not supported: Apptainer's instances (background containers)."""
    from defkit.runtime import refuse

    raise refuse("instance")
