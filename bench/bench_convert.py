"""`defkit convert` against `spython recipe`: one file as a user runs it, and the whole corpus.

Whole command (what a user feels): `defkit convert FILE` and `spython recipe FILE` as
subprocesses on the same Dockerfile, alternating, medians of the wall times (goal: defkit at most
1.0x spython), with `python -X importtime` totals for each command, so that import cost stays
visible.

In one process (for information, and as a floor): the whole Dockerfile corpus, same files, same
run (goal: within 1.5x spython).

Each side does what its converter does for a user, file by file, and nothing is built:

* defkit: what `defkit convert FILE` does after start-up: read and decode the file, look for its
  .dockerignore, parse, convert (in one process without, and for information with, the
  converter's self-check, a parse of its output by defkit's .def parser, which the command runs
  by default);
* spython: `DockerParser(FILE).recipe` (reads and parses) and `SingularityWriter(recipe).convert()`.
  Files it crashes on are timed too (the time until it fails).

Rounds are interleaved (the machine's load affects both sides alike) and the best of each side
is kept. Prints both totals and defkit/spython, and defkit with its self-check.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench.importtime import ENVIRON, import_total

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEFKIT_SHARED", REPO.parent / "shared")).resolve()
CORPUS = SHARED / "corpus" / "dockerfiles"
ROUNDS = 7
COMMAND_RUNS = 11  # alternating runs of each whole command
# The single file of the whole-command comparison: a typical Dockerfile of the corpus.
ONE_FILE = "ContinuumIO__docker-images/anaconda-pkg-base__linux__defaults.Dockerfile.Dockerfile"
BIN = pathlib.Path(sys.executable).parent


def corpus() -> list[pathlib.Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.txt")


def run_defkit(files: list[pathlib.Path], verify: bool = True) -> tuple[float, int]:
    """`defkit convert FILE` for each file, minus start-up and printing."""
    from defkit.cli.convert import _read
    from defkit.convert import convert_dockerfile
    from defkit.convert.dockerignore import read_dockerignore
    from defkit.errors import DefkitError

    converted = 0
    start = time.perf_counter()
    for path in files:
        name = str(path)
        try:
            ignore = read_dockerignore(name, os.path.dirname(name))
            convert_dockerfile(_read(name), name, dockerignore=ignore, verify=verify)
            converted += 1
        except DefkitError:
            pass
    return time.perf_counter() - start, converted


def commands(path: pathlib.Path) -> dict[str, list[str]]:
    defkit = shutil.which("defkit", path=str(BIN)) or "defkit"
    spython = shutil.which("spython", path=str(BIN)) or "spython"
    return {
        "defkit": [defkit, "convert", str(path)],
        "defkit --no-check": [defkit, "convert", "--no-check", str(path)],
        "spython": [spython, "recipe", str(path)],
    }


def wall_time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env=ENVIRON)
    return time.perf_counter() - start


def whole_commands(path: pathlib.Path) -> None:
    argvs = commands(path)
    times: dict[str, list[float]] = {name: [] for name in argvs}
    for argv in argvs.values():  # warm the file system and bytecode caches once
        wall_time(argv)
    for _ in range(COMMAND_RUNS):
        for name, argv in argvs.items():
            times[name].append(wall_time(argv))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"one file: {path.name}, medians of {COMMAND_RUNS} alternating runs")
    for name, argv in argvs.items():
        total, biggest = import_total(argv)
        print(f"  {name:18s} {medians[name] * 1000:6.0f} ms wall; "
              f"imports {total * 1000:.0f} ms (-X importtime; cumulative ms: {biggest})")
    print(f"  ratio  : {medians['defkit'] / medians['spython']:.2f} (defkit / spython; "
          f"goal <= 1.0); without the self-check "
          f"{medians['defkit --no-check'] / medians['spython']:.2f}")


def run_spython(files: list[pathlib.Path]) -> tuple[float, int]:
    from spython.logger import bot  # type: ignore[import-untyped]
    from spython.main.parse.parsers import DockerParser  # type: ignore[import-untyped]
    from spython.main.parse.writers import SingularityWriter  # type: ignore[import-untyped]

    converted = 0
    sink = io.StringIO()
    # spython's logger keeps its own references to the streams; quiet it for the run.
    bot.errorStream = bot.outputStream = sink
    bot.history = []
    start = time.perf_counter()
    # spython logs and prints as it goes; keep that out of the figures' output.
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for path in files:
            try:
                recipe = DockerParser(str(path)).recipe
                SingularityWriter(recipe).convert()
                converted += 1
            except (Exception, SystemExit):  # noqa: BLE001 - spython exits or raises on bad input
                pass
    return time.perf_counter() - start, converted


def main() -> None:
    files = corpus()
    try:
        import spython  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        print("spython is not installed (pip install spython); defkit only")
        seconds, converted = min(run_defkit(files) for _ in range(ROUNDS))
        print(f"defkit : {seconds:.3f} s for {len(files)} files ({converted} converted)")
        return
    whole_commands(CORPUS / ONE_FILE)
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("SPYTHON_HOME", home)
        run_defkit(files[:5])  # import and warm up both sides once
        run_spython(files[:5])
        defkit_runs, spython_runs, checked_runs = [], [], []
        for _ in range(ROUNDS):
            defkit_runs.append(run_defkit(files, verify=False))
            spython_runs.append(run_spython(files))
            checked_runs.append(run_defkit(files))
    defkit_time, defkit_ok = min(defkit_runs)
    spython_time, spython_ok = min(spython_runs)
    checked_time, _ = min(checked_runs)
    print(f"corpus : {len(files)} Dockerfiles, best of {ROUNDS} interleaved rounds, one process")
    print(f"  defkit : {defkit_time:.3f} s ({defkit_ok} converted, "
          f"{1000 * defkit_time / len(files):.2f} ms/file; as `defkit convert`: read, "
          ".dockerignore, parse, convert)")
    print(f"  spython: {spython_time:.3f} s ({spython_ok} converted, "
          f"{1000 * spython_time / len(files):.2f} ms/file)")
    print(f"  ratio  : {defkit_time / spython_time:.2f} (defkit / spython; goal <= 1.5)")
    print(f"  (with the self-check, as `defkit convert` runs by default: {checked_time:.3f} s, "
          f"ratio {checked_time / spython_time:.2f})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
