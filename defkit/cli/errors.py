"""One handler that turns every outcome of a command into a message and an exit code.

0 success; 1 findings or rejected input; 2 usage or configuration error; 3 a bug in defkit;
130 interrupted."""

from __future__ import annotations

import sys

import click

from defkit import __version__
from defkit.errors import DefkitError

REPORT_URL = "https://github.com/defkit/defkit/issues"


def run_cli(cli: click.Group, argv: list[str]) -> int:
    try:
        result = cli.main(args=argv, prog_name="defkit", standalone_mode=False)
    except DefkitError as exc:
        click.echo(exc.format(), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("defkit: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("defkit: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`defkit lint | head`): not an error worth a traceback.
        sys.stderr.close()
        return 1
    except Exception:  # last line of defence: a bug, reported as such
        click.echo(
            f"defkit {__version__}: internal error (a bug in defkit). Please report it at "
            f"{REPORT_URL} with the traceback below.",
            err=True,
        )
        import traceback  # only here: it is not worth its import time on every run

        click.echo(traceback.format_exc(), err=True)
        return 3
    return result if isinstance(result, int) else 0
