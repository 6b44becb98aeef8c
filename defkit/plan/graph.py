"""The builds of a plan and their order: each def file builds `NAME.sif` beside it (as `defkit
build` does without -o); a stage with `Bootstrap: localimage` whose `From:` is another
planned build's output makes that build a dependency."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from defkit.errors import UsageError


@dataclass(frozen=True)
class Build:
    name: str  # unique within the plan; also the CI job's name
    def_path: str  # absolute
    output: str  # absolute: where `defkit build DEF` puts the image
    needs: tuple[str, ...]  # builds whose outputs this one bootstraps from


def default_output(def_path: str) -> str:
    stem = os.path.splitext(os.path.basename(def_path))[0]
    return os.path.join(os.path.dirname(def_path), stem + ".sif")


def localimage_sources(def_path: str) -> list[str]:
    """The absolute paths every `Bootstrap: localimage` stage of the def reads."""
    from defkit.lock import load_definition

    found = []
    for stage in load_definition(def_path).stages:
        if (stage.bootstrap or "").strip().lower() != "localimage":
            continue
        value = (stage.header_value("from") or "").strip()
        if value:
            found.append(os.path.normpath(os.path.join(os.path.dirname(def_path),
                                                       os.path.expanduser(value))))
    return found


def collect(def_paths: Iterable[str]) -> list[Build]:
    """The builds of these def files, in dependency order (stable otherwise)."""
    paths: list[str] = []
    for path in def_paths:
        absolute = os.path.abspath(path)
        if absolute not in paths:
            paths.append(absolute)
    names = _names(paths)
    producers = {default_output(path): path for path in paths}
    builds = []
    for path in paths:
        needs = [names[producers[source]] for source in localimage_sources(path)
                 if source in producers and producers[source] != path]
        builds.append(Build(names[path], path, default_output(path), tuple(dict.fromkeys(needs))))
    return ordered(builds)


def _names(paths: Sequence[str]) -> dict[str, str]:
    """The file's stem, or its path from the common directory when two stems clash."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    common = os.path.commonpath([os.path.dirname(path) for path in paths]) if paths else ""
    names = {}
    for path, stem in zip(paths, stems):
        if stems.count(stem) > 1:
            stem = os.path.splitext(os.path.relpath(path, common))[0].replace(os.sep, "-")
        names[path] = stem
    return names


def ordered(builds: Sequence[Build]) -> list[Build]:
    """Dependencies first; a cycle is an error naming it."""
    by_name = {build.name: build for build in builds}
    done: dict[str, Build] = {}
    visiting: list[str] = []

    def visit(build: Build) -> None:
        if build.name in done:
            return
        if build.name in visiting:
            cycle = visiting[visiting.index(build.name):] + [build.name]
            raise UsageError("builds bootstrap from each other: " + " -> ".join(cycle))
        visiting.append(build.name)
        for name in build.needs:
            visit(by_name[name])
        visiting.pop()
        done[build.name] = build

    for build in builds:
        visit(build)
    return list(done.values())


def closure(build: Build, by_name: dict[str, Build]) -> list[Build]:
    """Every build whose output must exist before `build` can be keyed, dependencies first."""
    found: dict[str, Build] = {}

    def visit(name: str) -> None:
        for need in by_name[name].needs:
            visit(need)
            found.setdefault(need, by_name[need])

    visit(build.name)
    return list(found.values())
