"""Convert the whole Dockerfile corpus in one process: defkit vs spython, same files, same run.

Each side does what its converter does for a user, file by file, and nothing is built:

* defkit: what `defkit convert FILE` does after start-up: read and decode the file, look for its
  .dockerignore, parse, convert, and the converter's self-check of its output (on by default);
* spython: `DockerParser(FILE).recipe` (reads and parses) and `SingularityWriter(recipe).convert()`.
  Files it crashes on are timed too (the time until it fails).

Rounds are interleaved (the machine's load affects both sides alike) and the best of each side
is kept. Prints both totals and defkit/spython (goal <= 1.0); also, for information, defkit with
a full re-parse of every output by `defkit.parser.parse_text`, as the tests do (the CLI does not).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEFKIT_SHARED", REPO.parent / "shared")).resolve()
CORPUS = SHARED / "corpus" / "dockerfiles"
ROUNDS = 7


def corpus() -> list[pathlib.Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.txt")


def run_defkit(files: list[pathlib.Path], reparse: bool = False) -> tuple[float, int]:
    """`defkit convert FILE` for each file, minus start-up and printing."""
    from defkit.cli.convert import _read, read_dockerignore
    from defkit.convert import convert_dockerfile
    from defkit.errors import DefkitError
    from defkit.parser import parse_text

    converted = 0
    start = time.perf_counter()
    for path in files:
        name = str(path)
        try:
            result = convert_dockerfile(_read(name), name,
                                        dockerignore=read_dockerignore(name, None))
            if reparse:
                parse_text(result.text, name + ".def")
            converted += 1
        except DefkitError:
            pass
    return time.perf_counter() - start, converted


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
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("SPYTHON_HOME", home)
        run_defkit(files[:5], reparse=True)  # import and warm up both sides once
        run_spython(files[:5])
        defkit_runs, spython_runs, reparse_runs = [], [], []
        for _ in range(ROUNDS):
            defkit_runs.append(run_defkit(files))
            spython_runs.append(run_spython(files))
            reparse_runs.append(run_defkit(files, reparse=True))
    defkit_time, defkit_ok = min(defkit_runs)
    spython_time, spython_ok = min(spython_runs)
    reparse_time, _ = min(reparse_runs)
    print(f"files  : {len(files)} Dockerfiles, best of {ROUNDS} interleaved rounds, one process")
    print(f"defkit : {defkit_time:.3f} s ({defkit_ok} converted, "
          f"{1000 * defkit_time / len(files):.2f} ms/file; as `defkit convert`: read, "
          ".dockerignore, parse, convert, self-check)")
    print(f"spython: {spython_time:.3f} s ({spython_ok} converted, "
          f"{1000 * spython_time / len(files):.2f} ms/file)")
    print(f"ratio  : {defkit_time / spython_time:.2f} (defkit / spython; goal <= 1.0)")
    print(f"  (for information: with a full .def re-parse of every output, as the tests do: "
          f"{reparse_time:.3f} s, ratio {reparse_time / spython_time:.2f})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
