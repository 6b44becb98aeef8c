"""`defkit build A.def B.def DIR/ -j N`: many recipes in one call, N at a time.

Each recipe is built as `defkit build RECIPE` would build it alone (its output next to it,
through the build cache), in a thread of this process: the builds' own work is subprocesses,
so threads are enough, and every build goes through the one engine entry point. With
`--push DEF=REF` a recipe's SIF is pushed once built (or placed from the cache). A recipe that
bootstraps from another's output (`Bootstrap: localimage` of its SIF, or `Bootstrap: docker` /
`oras` of the reference another recipe pushes) builds after it, and is skipped when that one
fails; a failing build does not stop the independent ones. Progress
lines carry the recipe's name; at the end, one line per recipe on stdout (`cached`, `built`,
`failed` or `skipped`, with the reason), and exit 1 if any failed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

import click

from defkit.engine.context import BuildStarted, Event, ProgressCallback
from defkit.errors import DefkitError, UsageError


def is_many(paths: Sequence[str], jobs: Optional[int]) -> bool:
    """Whether the paths name several recipes rather than Apptainer's `[TARGET] SOURCE`: `-j`,
    more than two paths, a directory of recipes first, or two existing def files."""
    if jobs is not None or len(paths) > 2:
        return True
    first = paths[0]
    if len(paths) == 1:
        return os.path.isdir(first) and not os.path.isdir(os.path.join(first, ".singularity.d"))
    return os.path.isdir(first) or (first.endswith(".def") and os.path.isfile(first))


def recipes(paths: Sequence[str]) -> list[str]:
    """The def files named: files as given, a directory's `*.def` (not recursive), in order,
    each once."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(".def"))
            if not names:
                raise UsageError(f"{path}: no .def files in this directory")
            found += [os.path.join(path, name) for name in names]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise UsageError(f"{path}: no such definition file or directory")
    unique = list(dict.fromkeys(os.path.abspath(path) for path in found))
    return unique


def push_targets(values: Sequence[str], def_paths: Sequence[str]) -> dict[str, str]:
    """`--push DEF=REF` values: the reference each recipe's SIF is pushed to, by the recipe's
    absolute path (a UsageError for a def file that is not among those built, or named twice)."""
    from defkit.sif.publish import push_target

    targets: dict[str, str] = {}
    for value in values:
        def_path, sep, target = value.partition("=")
        if not sep or not def_path:
            raise UsageError(f"--push {value}: with several recipes, name the recipe: "
                             "--push FILE.def=oras://HOST/REPO:TAG")
        push_target(target)
        absolute = os.path.abspath(def_path)
        if absolute not in def_paths:
            raise UsageError(f"--push {value}: {def_path} is not one of the recipes built")
        if absolute in targets:
            raise UsageError(f"--push {value}: {def_path} is pushed once")
        if _name(push_target(target)[1]) in {_name(push_target(t)[1]) for t in targets.values()}:
            raise UsageError(f"--push {value}: another recipe pushes {target}")
        targets[absolute] = target
    return targets


def dependencies(def_paths: Sequence[str], pushes: Optional[dict[str, str]] = None
                 ) -> dict[str, dict[str, str]]:
    """For each recipe, the recipes among `def_paths` it waits for, with what it takes from
    each: their output (NAME.sif next to the def) that one of its stages bootstraps from
    (`Bootstrap: localimage`), or the reference they push (`pushes`) that a `Bootstrap:
    docker`/`oras` stage names (registry, repository and tag compared as parsed, so
    `docker://` and `Registry:`/`Namespace:` spellings match). A recipe that does not parse has
    none here: its build reports the error."""
    from defkit.lock import parse_base
    from defkit.parser import parse_file
    from defkit.sif.publish import push_target

    outputs = {os.path.splitext(path)[0] + ".sif": path for path in def_paths}
    pushed = {_name(push_target(target)[1]): (path, target)
              for path, target in (pushes or {}).items()}
    needs: dict[str, dict[str, str]] = {}
    for path in def_paths:
        needs[path] = {}
        try:
            stages = parse_file(path).stages
        except DefkitError:
            continue
        for stage in stages:
            bootstrap = (stage.bootstrap or "").strip().lower()
            value = (stage.header_value("from") or "").strip()
            producer: Optional[str] = None
            if bootstrap == "localimage":
                base = os.path.normpath(os.path.join(os.path.dirname(path),
                                                     os.path.expanduser(value)))
                producer, what = outputs.get(base), "the output of"
            elif bootstrap in ("docker", "oras") and value and pushed:
                try:
                    name = _name(parse_base(bootstrap, value, stage))
                except DefkitError:
                    continue  # the build reports the bad reference
                producer, target = pushed.get(name, (None, ""))
                what = f"{target}, pushed by"
            if producer is not None and producer != path:
                needs[path].setdefault(producer, what)
    return needs


def _name(ref: Any) -> tuple[str, str, Optional[str], Optional[str]]:
    """What a pushed reference and a `From:` must share to be the same image (a `From:` pinned
    to a digest names an image that exists already, not what a recipe is about to push)."""
    return (ref.registry, ref.repository, ref.tag, ref.digest)


@dataclasses.dataclass
class Outcome:
    def_path: str
    status: str = "failed"  # "cached", "built", "failed" or "skipped"
    output: str = ""
    seconds: float = 0.0
    message: str = ""
    pushed: str = ""  # the reference and digest it was pushed to


def push_output(output: str, target: str, options: dict[str, Any],
                progress: ProgressCallback) -> str:
    """Push a built SIF to `target` (`--push`); returns `REF@DIGEST` for the summary."""
    from defkit.engine.context import Notice
    from defkit.sif.publish import publish

    try:
        done = publish(output, target, insecure=bool(options.get("insecure")),
                       workdir=options.get("workdir"))
    except DefkitError as exc:
        exc.message = f"--push {target}: {exc.message}"
        raise
    progress(Notice(f"pushed {output} -> {done.reference} ({done.digest})"))
    return f"{done.reference}@{done.digest}"


def build_many(paths: Sequence[str], jobs: int, *, build: Callable[..., Any],
               options: dict[str, Any], quiet: bool, as_json: bool,
               push: Sequence[str] = ()) -> int:
    """Build every recipe with `build(def_path, progress=..., **options)`, `jobs` at a time,
    and push those named in `push` (`DEF=REF`) once built."""
    import concurrent.futures  # here: `defkit build` of one recipe imports this module too

    if jobs < 1:
        raise UsageError(f"-j {jobs}: needs at least 1")
    found = recipes(paths)
    pushes = push_targets(push, found)
    lock = threading.Lock()
    width = max(len(os.path.basename(path)) for path in found)

    def progress_for(def_path: str, outcome: Outcome) -> ProgressCallback:
        from defkit.cli.build import describe

        name = os.path.basename(def_path)

        def render(event: Event) -> None:
            if isinstance(event, BuildStarted) and event.engine == "cache":
                outcome.status = "cached"
            if quiet:
                return
            if as_json:
                record = {"event": event.kind, "def": def_path, "time": round(time.time(), 3),
                          **dataclasses.asdict(event)}
                with lock:
                    print(json.dumps(record), flush=True)
                return
            line = describe(event)
            if line is not None:
                with lock:
                    click.echo(f"[{name:<{width}}] {line}", err=True)

        return render

    def one(def_path: str) -> Outcome:
        outcome = Outcome(def_path, status="built")
        started = time.monotonic()
        progress = progress_for(def_path, outcome)
        try:
            outcome.output = build(def_path, progress=progress, **options).output
            if def_path in pushes:
                outcome.pushed = push_output(outcome.output, pushes[def_path], options, progress)
        except DefkitError as exc:
            outcome.status, outcome.message = "failed", exc.format()
        outcome.seconds = time.monotonic() - started
        return outcome

    needs = dependencies(found, pushes)
    done: dict[str, Outcome] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        running: dict[concurrent.futures.Future[Outcome], str] = {}
        try:
            while len(done) < len(found):
                for def_path in found:
                    if def_path in done or def_path in running.values():
                        continue
                    blocked = [d for d in needs[def_path]
                               if d in done and done[d].status in ("failed", "skipped")]
                    if blocked:
                        why = "failed" if done[blocked[0]].status == "failed" else "was skipped"
                        done[def_path] = Outcome(def_path, status="skipped", message=(
                            f"bootstraps from {needs[def_path][blocked[0]]} {blocked[0]}, "
                            f"which {why}"))
                    elif all(d in done for d in needs[def_path]):
                        running[pool.submit(one, def_path)] = def_path
                if not running:
                    # What is left waits on itself: a cycle of recipes.
                    for def_path in found:
                        done.setdefault(def_path, Outcome(
                            def_path, status="failed",
                            message=f"{def_path}: error: recipes bootstrap from each other's "
                                    "outputs (a cycle)"))
                    break
                finished, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    done[running.pop(future)] = future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # builds not started yet: not run
            raise
    outcomes = [done[def_path] for def_path in found]
    for outcome in outcomes:
        _summary(outcome, as_json)
    failed = sum(outcome.status == "failed" for outcome in outcomes)
    if not as_json:
        counts = {status: sum(o.status == status for o in outcomes)
                  for status in ("built", "cached", "failed", "skipped")}
        click.echo("defkit: " + ", ".join(f"{n} {status}" for status, n in counts.items()),
                   err=True)
    return 1 if failed else 0


def _summary(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"event": "summary", "def": outcome.def_path, "status": outcome.status,
                          "output": outcome.output, "seconds": round(outcome.seconds, 3),
                          "message": outcome.message, "pushed": outcome.pushed}), flush=True)
        return
    if outcome.status in ("failed", "skipped"):
        # The error's own line (`path:line:col: error: ...`) says which recipe and where.
        first = outcome.message.splitlines()[0] if outcome.message else "unknown error"
        click.echo(f"{outcome.status:<7} {outcome.def_path}: {first}")
    else:
        pushed = f", pushed {outcome.pushed}" if outcome.pushed else ""
        click.echo(f"{outcome.status:<7} {outcome.def_path} -> {outcome.output} "
                   f"({outcome.seconds:.1f}s{pushed})")


__all__ = ["Outcome", "build_many", "dependencies", "is_many", "push_output", "push_targets",
           "recipes"]
