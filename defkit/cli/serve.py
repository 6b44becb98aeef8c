"""`defkit serve`: a build service speaking the Sylabs remote build protocol (SingularityCE's
`build --remote`, `defkit build --remote`) and the Library API to fetch the results."""

from __future__ import annotations

import os
import sys
from typing import Optional

import click

from defkit.errors import UsageError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="Accepted tokens, one a line (`token` or `name:token`).")
@click.option("--no-auth", is_flag=True, help="Accept requests without a token (loopback only).")
@click.option("--workers", default=2, show_default=True, type=int,
              help="Builds run at the same time (the others wait).")
@click.option("--store", type=click.Path(file_okay=False), default="defkit-serve",
              show_default=True, help="Directory for contexts, builds, images and the cache.")
@click.option("--cache-to", metavar="REPO",
              help="Registry repository (oras://host/name) built images are pushed to.")
@click.option("--insecure-registry", is_flag=True, help="--cache-to over plain HTTP.")
@click.option("--time-limit", default="1h", show_default=True, metavar="AGE",
              help="Longest a build may run.")
@click.option("--max-context-size", default="1G", show_default=True, metavar="SIZE",
              help="Largest build context accepted (compressed and unpacked).")
@click.option("--idle-timeout", default="10m", show_default=True, metavar="AGE",
              help="Cancel a build nobody follows (no log stream, no status request) this "
                   "long; 0 never.")
@click.option("--local-bases", multiple=True, type=click.Path(file_okay=False),
              help="A directory whose images `Bootstrap: localimage` may use (repeatable).")
@click.option("--keep", default="24h", show_default=True, metavar="AGE",
              help="How long an image built without a library ref stays available.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--run-job", hidden=True, type=click.Path(dir_okay=False),
              help="(internal) Run one build's job file: the server's child process.")
def serve(host: str, port: int, token_file: Optional[str], no_auth: bool, workers: int,
          store: str, cache_to: Optional[str], insecure_registry: bool, time_limit: str,
          max_context_size: str, idle_timeout: str, local_bases: tuple[str, ...], keep: str,
          log_level: str, run_job: Optional[str]) -> int:
    """Run a remote build service (Sylabs remote build protocol and Library API)."""
    from defkit.cache.store import parse_age, parse_size

    if run_job is not None:
        return _run_job(run_job)
    from defkit.serve.app import serve as run_server
    from defkit.serve.config import ServeConfig, TokenTable

    tokens = TokenTable()
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as f:
                tokens = TokenTable.parse(f.read(), token_file)
        except OSError as exc:
            raise UsageError(f"{token_file}: cannot read: {exc.strerror}") from None
    config = ServeConfig(
        store=os.path.abspath(store), tokens=tokens, no_auth=no_auth, workers=workers,
        time_limit=float(parse_age(time_limit)),
        max_context_size=parse_size(max_context_size),
        idle_timeout=float(parse_age(idle_timeout)), cache_to=cache_to,
        insecure_registry=insecure_registry,
        local_bases=tuple(os.path.abspath(path) for path in local_bases),
        keep=float(parse_age(keep)))
    os.makedirs(config.store, mode=0o700, exist_ok=True)
    run_server(config, host, port, log_level=log_level)
    return 0


def _run_job(path: str) -> int:
    from defkit.cli.build import plain_renderer
    from defkit.serve.worker import Job, run_job

    run_job(Job.load(path), plain_renderer(sys.stdout))
    return 0
