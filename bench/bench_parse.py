"""Parser speed: the whole corpus in one process (goal < 0.5 s) and `defkit parse one.def` as a
user runs it (goal < 100 ms wall), beside the interpreter's own start-up measured in the same
run (alternating runs, medians), with the import time `python -X importtime` reports for it."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEFKIT_SHARED", REPO.parent / "shared")).resolve()
RUNS = 15


def corpus() -> list[pathlib.Path]:
    defs = SHARED / "corpus" / "defs"
    return sorted(p for p in defs.iterdir() if p.name != "MANIFEST.tsv")


def parse_corpus_seconds(files: list[pathlib.Path]) -> float:
    from defkit.parser import parse_lenient
    from defkit.stage import lark_parser

    lark_parser()  # loaded once per process, as in a real run
    data = [(str(p), p.read_bytes()) for p in files]
    start = time.perf_counter()
    for path, text in data:
        parse_lenient(text, path)
    return time.perf_counter() - start


def defkit_command() -> list[str]:
    """The console script users run, else the module."""
    script = shutil.which("defkit", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "defkit"]


def wall_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_milliseconds(path: pathlib.Path) -> float:
    """The total `python -X importtime` reports for `defkit parse FILE` (top-level imports)."""
    command = [sys.executable, "-X", "importtime", "-m", "defkit", "parse", str(path)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    top_level = re.findall(r"^import time:\s+\d+ \|\s+(\d+) \| \S", result.stderr, re.MULTILINE)
    return sum(int(micros) for micros in top_level) / 1000


def main() -> None:
    files = corpus()
    seconds = min(parse_corpus_seconds(files) for _ in range(3))
    print(f"parse {len(files)} corpus files in one process: {seconds:.3f} s (goal < 0.5 s)")
    one = files[0]
    wall_seconds([*defkit_command(), "parse", str(one)])  # warm the file and bytecode caches
    parse_times, python_times = [], []
    for _ in range(RUNS):
        parse_times.append(wall_seconds([*defkit_command(), "parse", str(one)]))
        python_times.append(wall_seconds([sys.executable, "-c", "pass"]))
    parse_ms = statistics.median(parse_times) * 1000
    python_ms = statistics.median(python_times) * 1000
    print(
        f"`defkit parse one.def`, cold process, median of {RUNS}: {parse_ms:.0f} ms "
        f"(goal < 100 ms); `python -c pass` in the same run: {python_ms:.0f} ms"
    )
    imports = statistics.median(import_milliseconds(one) for _ in range(5))
    print(f"`python -X importtime` total for `defkit parse one.def`: {imports:.0f} ms")
    print(f"load average: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
