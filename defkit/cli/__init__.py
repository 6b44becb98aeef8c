"""The `defkit` command. Subcommands live in their own modules and are imported only when used,
so `defkit parse` does not pay for the build engine's imports."""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Optional

import click

from defkit import __version__

# command name -> "module:attribute"; the modules import nothing heavy at top level.
COMMANDS: dict[str, str] = {
    "parse": "defkit.cli.parse:parse",
    "fmt": "defkit.cli.fmt:fmt",
    "lint": "defkit.cli.lint:lint",
    "rules": "defkit.cli.lint:rules",
    "rule": "defkit.cli.lint:rule",
    "convert": "defkit.cli.convert:convert",
    "build": "defkit.cli.build:build",
    "inspect": "defkit.cli.inspect:inspect",
    "verify": "defkit.cli.inspect:verify",
    "run": "defkit.cli.run:run",
    "exec": "defkit.cli.run:exec_",
    "test": "defkit.cli.run:test",
    "shell": "defkit.cli.run:shell",
    "instance": "defkit.cli.run:instance",
    "pull": "defkit.cli.pull:pull",
    "push": "defkit.cli.push:push",
    "lock": "defkit.cli.lock:lock",
    "registry": "defkit.cli.registry:registry",
    "cache": "defkit.cli.cache:cache",
    "recipes": "defkit.cli.recipes:recipes",
    "plan": "defkit.cli.plan:plan",
    "site": "defkit.cli.site:site",
    "remote": "defkit.cli.remote:remote",
    "serve": "defkit.cli.serve:serve",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None  # the command is not part of this build yet
        command: click.Command = getattr(module, attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="defkit")
def cli() -> None:
    """Lint, convert and build Apptainer (Singularity) definition files."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI and map every outcome to an exit code; never show a traceback for user errors."""
    from defkit.cli.errors import run_cli

    # `import httpx` also imports httpx's own command-line client (httpx._main, with rich and
    # pygments: a quarter of `defkit pull`'s start-up), which defkit never runs. A None entry
    # makes that import fail as it does where those are not installed; httpx then falls back
    # to a stub `httpx.main`. Set by the command line only: the process is defkit's.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    code = run_cli(cli, list(argv) if argv is not None else sys.argv[1:])
    if argv is None:  # the process's own command line: it exits next
        # The interpreter's last garbage collection at exit walks every object the imports
        # made (~15 ms with Lark and the rules loaded) to free memory the process is about to
        # give back anyway. Frozen objects are skipped; atexit handlers still run.
        gc.freeze()
    return code
