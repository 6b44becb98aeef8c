"""Convert the whole Dockerfile corpus in one process: defkit vs spython, same files, same run.

Both sides read the file, parse it and write .def text; nothing is built. defkit is timed
without and with its self-check (re-parsing each output with its .def parser), which spython
has no equivalent of. Files spython crashes
on are timed too (the time until it fails). Prints both totals and defkit/spython (goal <= 1.0).
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
ROUNDS = 5


def corpus() -> list[pathlib.Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.txt")


def run_defkit(files: list[pathlib.Path], verify: bool = False) -> tuple[float, int]:
    from defkit.convert import convert_dockerfile
    from defkit.errors import DefkitError

    converted = 0
    start = time.perf_counter()
    for path in files:
        try:
            convert_dockerfile(path.read_text(encoding="utf-8"), str(path), verify=verify)
            converted += 1
        except DefkitError:
            pass
    return time.perf_counter() - start, converted


def run_spython(files: list[pathlib.Path]) -> tuple[float, int]:
    from spython.logger import bot
    from spython.main.parse.parsers import DockerParser
    from spython.main.parse.writers import SingularityWriter

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
        import spython  # noqa: F401
    except ImportError:
        print("spython is not installed (pip install spython); defkit only")
        seconds, converted = min(run_defkit(files) for _ in range(ROUNDS))
        print(f"defkit : {seconds:.3f} s for {len(files)} files ({converted} converted)")
        return
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("SPYTHON_HOME", home)
        run_defkit(files[:5])  # import and warm up both sides once
        run_spython(files[:5])
        # Interleaved rounds, best of each: the machine's load affects both sides alike.
        defkit_runs, verified_runs, spython_runs = [], [], []
        for _ in range(ROUNDS):
            defkit_runs.append(run_defkit(files))
            spython_runs.append(run_spython(files))
            verified_runs.append(run_defkit(files, verify=True))
    defkit_time, defkit_ok = min(defkit_runs)
    verified_time, _ = min(verified_runs)
    spython_time, spython_ok = min(spython_runs)
    print(f"files  : {len(files)} Dockerfiles, best of {ROUNDS} rounds, one process")
    print(f"defkit : {defkit_time:.3f} s ({defkit_ok} converted, "
          f"{1000 * defkit_time / len(files):.2f} ms/file)")
    print(f"  + re-parse of every output as a self-check: {verified_time:.3f} s")
    print(f"spython: {spython_time:.3f} s ({spython_ok} converted, "
          f"{1000 * spython_time / len(files):.2f} ms/file)")
    print(f"ratio  : {defkit_time / spython_time:.2f} (defkit / spython; goal <= 1.0); "
          f"with the self-check {verified_time / spython_time:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
