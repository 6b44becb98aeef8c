"""`defkit build`: options, the choice of engine, and the rendering of build events.

The engine reports progress as events; here they become a rich live display (stderr is a TTY),
plain lines (stderr is not a TTY), JSON lines on stdout (`--json`), or nothing (`--quiet`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import IO, Any, Optional

import click

from defkit.cli.pull import insecure_option
from defkit.engine.context import (
    BuildFinished,
    BuildStarted,
    CacheStatus,
    Event,
    Notice,
    OutputLine,
    ProgressCallback,
    StageStarted,
    StepFinished,
    StepProgress,
    StepStarted,
    Warning,
)
from defkit.errors import DefkitError, UsageError


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def describe(event: Event) -> Optional[str]:
    """The plain-text line for an event (None: not worth a line of its own)."""
    if isinstance(event, BuildStarted):
        source = "from the build cache" if event.engine == "cache" else f"{event.engine} engine"
        return (f"defkit: building {event.def_path} -> {event.output} ({source}, "
                f"{event.mode}, SOURCE_DATE_EPOCH={event.source_date_epoch})")
    if isinstance(event, StageStarted):
        name = f" {event.name}" if event.name else ""
        return f"==> stage {event.index}/{event.total}{name} (Bootstrap: {event.bootstrap})"
    if isinstance(event, StepStarted):
        return f"--> {event.step}"
    if isinstance(event, OutputLine):
        return event.text
    if isinstance(event, Warning):
        return f"warning: {event.message}"
    if isinstance(event, Notice):
        return f"notice: {event.message}"
    if isinstance(event, CacheStatus) and event.status in ("cached", "built"):
        # Per-stage reuse: one line per stage, the stage's label in the message.
        return f"defkit: {event.message} {event.status} ({event.key})"
    if isinstance(event, CacheStatus):
        detail = f" ({event.message})" if event.message else ""
        prefix = "warning: " if event.status in ("unreachable", "push-failed", "not-stored",
                                                     "unavailable") \
            else "defkit: "
        return f"{prefix}cache {event.status} {event.key}{detail}"
    if isinstance(event, BuildFinished):
        size = f" ({_size(event.size)})" if event.size else ""
        return f"defkit: built {event.output}{size} in {event.seconds:.1f}s"
    return None


def plain_renderer(stream: IO[str]) -> ProgressCallback:
    last_percent = [-1]

    def render(event: Event) -> None:
        if isinstance(event, StepProgress):
            # One line per 25% is enough in a log.
            changed = event.percent // 25 != last_percent[0] // 25 or event.percent == 100
            if changed and event.percent != last_percent[0]:
                stream.write(f"    {event.step} {event.percent}%\n")
            last_percent[0] = event.percent
            return
        line = describe(event)
        if line is not None:
            stream.write(line + "\n")
            stream.flush()

    return render


def json_renderer(stream: IO[str]) -> ProgressCallback:
    def render(event: Event) -> None:
        record: dict[str, Any] = {"event": event.kind, "time": round(time.time(), 3)}
        record.update(dataclasses.asdict(event))
        stream.write(json.dumps(record, sort_keys=False) + "\n")
        stream.flush()

    return render


@contextlib.contextmanager
def rich_renderer() -> Iterator[ProgressCallback]:
    """A live status line (stage, step, elapsed time, squashfs %) under the scrolling output."""
    from rich.console import Console
    from rich.live import Live
    from rich.markup import escape
    from rich.text import Text

    console = Console(stderr=True)
    started = time.monotonic()
    state = {"stage": "", "step": "starting", "percent": "", "since": started}

    def status() -> Text:
        elapsed = time.monotonic() - started
        step_time = time.monotonic() - state["since"]  # type: ignore[operator]
        text = Text()
        text.append(f" {state['stage']} ", style="bold cyan")
        text.append(f"{state['step']} ", style="bold")
        text.append(f"{step_time:5.1f}s", style="dim")
        if state["percent"]:
            text.append(f"  {state['percent']}", style="green")
        text.append(f"   total {elapsed:.1f}s", style="dim")
        return text

    class _Status:
        def __rich__(self) -> Text:
            return status()

    with Live(_Status(), console=console, refresh_per_second=8, transient=True) as live:

        def render(event: Event) -> None:
            if isinstance(event, StageStarted):
                name = f" {event.name}" if event.name else ""
                state["stage"] = f"[{event.index}/{event.total}{name}]"
            elif isinstance(event, StepStarted):
                state.update(step=event.step, percent="", since=time.monotonic())
            elif isinstance(event, StepProgress):
                state["percent"] = f"{event.percent}%"
            elif isinstance(event, StepFinished):
                live.console.print(f"[green]✓[/] {escape(event.step)} "
                                   f"[dim]{event.seconds:.1f}s[/]")
            elif isinstance(event, OutputLine):
                live.console.print(Text(event.text, style="dim"))
            elif isinstance(event, Warning):
                live.console.print(f"[yellow]warning:[/] {escape(event.message)}")
            elif isinstance(event, Notice):
                live.console.print(f"[blue]notice:[/] {escape(event.message)}")
            elif isinstance(event, (BuildStarted, StageStarted, BuildFinished, CacheStatus)):
                line = describe(event)
                if line:
                    live.console.print(escape(line), style="bold")
            live.refresh()

        yield render


def renderer_for(as_json: bool, quiet: bool) -> contextlib.AbstractContextManager[ProgressCallback]:
    """JSON lines on stdout, nothing, a live display (stderr is a terminal) or plain lines."""
    if as_json:
        return contextlib.nullcontext(json_renderer(sys.stdout))
    if quiet:
        return contextlib.nullcontext(lambda event: None)
    if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        return rich_renderer()
    return contextlib.nullcontext(plain_renderer(sys.stderr))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI cancelling a job) cleans up like Ctrl-C: the engine's finally blocks run."""

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sections(values: tuple[str, ...]) -> tuple[str, ...]:
    from defkit.engine.context import SECTION_GATES

    names = tuple(n.strip() for value in values for n in value.split(",") if n.strip())
    for name in names:
        if name not in SECTION_GATES:
            known = ", ".join(SECTION_GATES)
            raise UsageError(f"--section {name}: unknown section (one of {known})")
    return names or ("all",)


@dataclasses.dataclass
class _Args:
    values: dict[str, str]
    secrets: set[str]
    warnings: list[str]


def _secret_pair(text: str) -> tuple[str, str]:
    """`--secret KEY=VALUE`, or `--secret KEY` with the value in the environment variable KEY
    (kept out of the command line, where `ps` and shell history would show it)."""
    from defkit.templating import parse_build_arg

    if "=" in text:
        return parse_build_arg(text)
    name = text.strip()
    value = os.environ.get(name)
    if not name or value is None:
        raise UsageError(f"--secret {name}: no =VALUE and no environment variable {name}")
    return name, value


def _build_args(pairs: tuple[str, ...], files: tuple[str, ...], secret_pairs: tuple[str, ...],
                secret_files: tuple[str, ...]) -> _Args:
    from defkit.templating import parse_build_arg, read_build_arg_file

    found = _Args({}, set(), [])

    def add(key: str, value: str, secret: bool) -> None:
        found.values[key] = value
        if secret:
            found.secrets.add(key)

    # Command-line values win over the files' (as in Apptainer); a name marked secret anywhere
    # stays secret.
    for path, secret in [*((p, False) for p in files), *((p, True) for p in secret_files)]:
        values, skipped = read_build_arg_file(path)
        for key, value in values.items():
            add(key, value, secret)
        found.warnings += skipped
    for pair in pairs:
        add(*parse_build_arg(pair), False)
    for pair in secret_pairs:
        add(*_secret_pair(pair), True)
    return found


def choose_engine(engine: str) -> str:
    if engine == "auto":
        from defkit.engine.apptainer_engine import find_apptainer

        return "apptainer" if find_apptainer() is not None else "native"
    return engine


def _cache_options(no_cache: bool, cache_only: bool, ttl: Optional[str],
                   cache_from: tuple[str, ...], cache_to: Optional[str], insecure: bool) -> Any:
    from defkit.cache.hook import CacheOptions
    from defkit.cache.store import parse_age

    return CacheOptions(enabled=not no_cache, only=cache_only,
                        ttl_seconds=parse_age(ttl) if ttl else None,
                        cache_from=cache_from, cache_to=cache_to, insecure=insecure)


def _explain_key(def_file: str, cache: Any, **options: Any) -> int:
    from defkit.engine.engine import explain_key

    key = explain_key(def_file, cache=cache, **options)
    click.echo(json.dumps({"key": key.tag, "stage_keys": key.stage_keys,
                           "impure": key.impure, "document": key.document}, indent=2,
                          sort_keys=True))
    for reason in key.impure:
        click.echo(f"warning: not pinned by the key: {reason}", err=True)
    return 0


@click.command()
@click.argument("paths", nargs=-1, metavar="[TARGET] SOURCE")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="SIF to write (default: NAME.sif next to the def file).")
@click.option("--sandbox", type=click.Path(file_okay=False),
              help="Write a directory (sandbox) instead of a SIF.")
@click.option("--fakeroot", is_flag=True, help="Build rootless (user namespace + fakeroot).")
@click.option("--engine", type=click.Choice(["native", "apptainer", "auto"]), default="auto",
              show_default=True, help="auto: Apptainer when installed, else defkit's own.")
@click.option("--build-arg", "build_arg", multiple=True, metavar="KEY=VALUE",
              help="Value for a {{ KEY }} placeholder (repeatable).")
@click.option("--build-arg-file", multiple=True, type=click.Path(dir_okay=False),
              help="File of KEY=VALUE lines.")
@click.option("--secret", "secret", multiple=True, metavar="KEY[=VALUE]",
              help="A build arg that is secret: never stored in the image nor shown in logs; "
                   "without =VALUE, the value of the environment variable KEY (repeatable).")
@click.option("--secret-file", multiple=True, type=click.Path(dir_okay=False),
              help="File of KEY=VALUE lines, all secret.")
@click.option("--warn-unused-build-args", is_flag=True,
              help="Warn instead of failing when a build arg is not used.")
@click.option("--arch", help="Target architecture (Go name: amd64, arm64...).")
@click.option("--section", "section", multiple=True, metavar="NAME",
              help="Run only these sections (repeatable or comma list; default all).")
@click.option("--notest", is_flag=True, help="Skip %test.")
@click.option("--force", "-F", is_flag=True, help="Overwrite an existing output.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="JSON-lines event log on stdout.")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Where to keep the build's temporary files (default: $TMPDIR).")
@click.option("--no-cache", is_flag=True,
              help="Build even when the build cache has the image (the result is stored).")
@click.option("--cache-only", is_flag=True, help="Fail unless the build cache has the image.")
@click.option("--cache-ttl", metavar="AGE",
              help="Lifetime of a cached image whose inputs cannot be pinned (e.g. 7d).")
@click.option("--cache-from", "cache_from", multiple=True, metavar="REPO",
              help="Registry repository (oras://host/name) to take cached images from on a "
                   "local miss (repeatable).")
@click.option("--cache-to", metavar="REPO",
              help="Registry repository to push newly built images to, tagged by key.")
@click.option("--explain-key", is_flag=True,
              help="Print the cache key's document (and what it cannot pin); build nothing.")
@click.option("--context", "context", type=click.Path(file_okay=False),
              help="Dockerfile builds: the build context (default: the Dockerfile's directory).")
@click.option("--target", "target", metavar="STAGE",
              help="Dockerfile builds: build up to this stage.")
@click.option("--push", "push", multiple=True, metavar="[DEF=]REF",
              help="Push the built SIF to oras://HOST/REPO:TAG (the SIF) or docker://... (an "
                   "OCI image); with several recipes DEF=REF per recipe (repeatable).")
@click.option("-j", "--jobs", type=int, metavar="N",
              help="Several recipes (files or directories of *.def): build N at a time.")
@click.option("--slurm", is_flag=True,
              help="Submit the builds of the def files (or directories) to Slurm, in "
                   "dependency order, and follow them (see `defkit plan`).")
@click.option("--partition", help="--slurm: the partition to build in.")
@click.option("--account", help="--slurm: the account to charge.")
@click.option("--time", "time_limit", metavar="LIMIT", help="--slurm: each build's time limit.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="--slurm: follow the jobs until they end, or print their ids and return.")
@click.option("--remote", is_flag=False, flag_value="", default=None, metavar="[URL]",
              help="Build on a remote builder (Sylabs remote build API, e.g. `defkit serve`); "
                   "without URL, the one `defkit remote login` stored.")
@click.option("--detached", is_flag=True, help="--remote: submit the build and return.")
@insecure_option
def build(paths: tuple[str, ...], output: Optional[str], sandbox: Optional[str], fakeroot: bool,
          engine: str, build_arg: tuple[str, ...], build_arg_file: tuple[str, ...],
          secret: tuple[str, ...], secret_file: tuple[str, ...], warn_unused_build_args: bool,
          arch: Optional[str], section: tuple[str, ...],
          notest: bool, force: bool, quiet: bool, as_json: bool, workdir: Optional[str],
          no_cache: bool, cache_only: bool, cache_ttl: Optional[str],
          cache_from: tuple[str, ...], cache_to: Optional[str], explain_key: bool,
          context: Optional[str], target: Optional[str], jobs: Optional[int], slurm: bool,
          partition: Optional[str], account: Optional[str], time_limit: Optional[str], wait: bool,
          remote: Optional[str], detached: bool, insecure: bool,
          push: tuple[str, ...] = ()) -> int:
    """Build a SIF image (or a sandbox directory) from a definition file.

    Also Apptainer's `build TARGET SOURCE`, where SOURCE is a def file, docker://IMAGE,
    oras://REF, a SIF or a sandbox directory; and a Dockerfile (`Dockerfile`, `*.Dockerfile`,
    `Containerfile`), converted and built by defkit's own engine (no Docker or BuildKit).
    """
    if remote is not None or detached:
        from defkit.cli.remote_build import remote_from_cli

        return remote_from_cli(remote or "", detached, paths, output=output, force=force,
                               arch=arch, quiet=quiet, as_json=as_json, no_cache=no_cache,
                               refused={"--sandbox": sandbox, "--fakeroot": fakeroot,
                                        "--engine apptainer": engine == "apptainer",
                                        "--build-arg": build_arg or build_arg_file,
                                        "--secret": secret or secret_file, "--section": section,
                                        "--notest": notest, "--workdir": workdir,
                                        "--cache-only": cache_only, "--cache-from": cache_from,
                                        "--cache-to": cache_to, "--explain-key": explain_key,
                                        "--context": context, "--target": target,
                                        "--jobs": jobs, "--slurm": slurm, "--push": push})
    if not paths:
        raise UsageError("missing argument: [TARGET] SOURCE")
    from defkit.cli import build_many
    from defkit.engine.dockerfile import is_dockerfile
    from defkit.engine.from_source import source_definition

    if slurm and push:
        raise UsageError("--push goes with builds on this machine, not --slurm")
    if slurm:
        from defkit.cli.slurm_build import build_on_slurm

        return build_on_slurm(paths, partition=partition, account=account, time_limit=time_limit,
                              wait=wait, fakeroot=fakeroot, arch=arch, notest=notest,
                              cache_ttl=cache_ttl, cache_from=cache_from, cache_to=cache_to,
                              insecure=insecure)
    if partition or account or time_limit or not wait:
        raise UsageError("--partition, --account, --time and --no-wait go with --slurm")
    if build_many.is_many(paths, jobs):
        if output or sandbox or explain_key or context or target:
            raise UsageError("several recipes: each output goes next to its def file "
                             "(no -o, --sandbox, --explain-key, --context or --target)")
        if no_cache and cache_only:
            raise UsageError("--no-cache and --cache-only cannot be used together")
        args = _build_args(build_arg, build_arg_file, secret, secret_file)
        for message in args.warnings:
            click.echo(f"warning: {message}", err=True)
        cache = _cache_options(no_cache, cache_only, cache_ttl, cache_from, cache_to, insecure)
        from defkit.engine.engine import build as native_build

        if engine == "apptainer":
            raise UsageError("several recipes are built by the native engine (its cache)")
        return build_many.build_many(paths, jobs or 1, build=native_build, quiet=quiet,
                                     as_json=as_json, push=push, options=dict(
            fakeroot=fakeroot, arch=arch, build_args=args.values,
            secret_args=frozenset(args.secrets), warn_unused_build_args=warn_unused_build_args,
            sections=_sections(section), notest=notest, force=force, workdir=workdir,
            insecure=insecure, cache=cache))
    if len(paths) > 2:
        raise UsageError("build takes SOURCE, or TARGET SOURCE")
    result: Any = None
    if len(push) > 1 or (push and sandbox):
        raise UsageError("--push: one reference, for a SIF (DEF=REF is for several recipes)")
    def_file = paths[-1]
    if len(paths) == 2:
        if output or sandbox:
            raise UsageError("TARGET and -o/--sandbox cannot be used together")
        output = paths[0]
    dockerfile = is_dockerfile(def_file) and not def_file.startswith(("docker://", "oras://"))
    if not dockerfile and (context or target):
        raise UsageError("--context and --target apply to Dockerfile builds only")
    generated = None if dockerfile else source_definition(def_file)
    sections = _sections(section)
    args = _build_args(build_arg, build_arg_file, secret, secret_file)
    if no_cache and cache_only:
        raise UsageError("--no-cache and --cache-only cannot be used together")
    cache = _cache_options(no_cache, cache_only, cache_ttl, cache_from, cache_to, insecure)
    if dockerfile and (explain_key or secret or secret_file or engine == "apptainer"):
        raise UsageError("a Dockerfile is built by the native engine, with --build-arg for its "
                         "ARGs (no --explain-key, --secret or --engine apptainer)")
    if explain_key:
        return _explain_key(def_file, cache, fakeroot=fakeroot, arch=arch,
                            build_args=args.values, secret_args=frozenset(args.secrets),
                            sections=sections, notest=notest, force=force, insecure=insecure)
    chosen = "native" if dockerfile else choose_engine(engine)
    if cache_only and (generated is not None or chosen == "apptainer" or sandbox):
        raise UsageError("--cache-only needs a SIF built by the native engine from a def file")
    if workdir is not None and not os.path.isdir(workdir):
        raise UsageError(f"--workdir {workdir}: no such directory")
    with renderer_for(as_json, quiet) as progress, sigterm_as_interrupt():
        for message in args.warnings:
            progress(Warning(message))
        options: dict[str, Any] = dict(
            output=output, sandbox=sandbox, fakeroot=fakeroot, arch=arch,
            build_args=args.values, secret_args=frozenset(args.secrets),
            warn_unused_build_args=warn_unused_build_args, sections=sections, notest=notest,
            force=force, workdir=workdir, progress=progress,
        )
        try:
            if dockerfile:
                from defkit.engine.dockerfile import build_dockerfile

                result = build_dockerfile(
                    def_file, context=context, target=target, insecure=insecure, cache=cache,
                    **{**options, "build_args": args.values, "secret_args": frozenset(),
                       "warn_unused_build_args": False})
            elif generated is not None:
                from defkit.engine.from_source import build_source

                result = build_source(def_file, generated, insecure=insecure, **options)
            elif chosen == "apptainer":
                from defkit.engine.apptainer_engine import build_with_apptainer

                result = build_with_apptainer(def_file, **options)
            else:
                from defkit.engine.engine import build as native_build

                result = native_build(def_file, insecure=insecure, cache=cache, **options)
            if push:  # `DEF=REF` as with several recipes: a reference has no `=`
                build_many.push_output(getattr(result, "output", result),
                                       push[0].rpartition("=")[2],
                                       {"insecure": insecure, "workdir": workdir}, progress)
        except DefkitError as exc:
            if as_json:
                print(json.dumps({"event": "error", "message": exc.format(),
                                  "exit_code": exc.exit_code}), flush=True)
            raise
    return 0
