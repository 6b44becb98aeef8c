"""Parser speed: the whole corpus in one process (goal < 0.5 s) and `defkit parse one.def` from a
cold start (goal < 150 ms wall)."""

from __future__ import annotations

import pathlib
import statistics
import subprocess
import sys
import time

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"


def corpus() -> list[pathlib.Path]:
    return sorted(p for p in (SHARED / "corpus" / "defs").iterdir() if p.name != "MANIFEST.tsv")


def parse_corpus_seconds(files: list[pathlib.Path]) -> float:
    from defkit.parser import lark_parser, parse_lenient

    lark_parser()  # loaded once per process, as in a real run
    data = [(str(p), p.read_bytes()) for p in files]
    start = time.perf_counter()
    for path, text in data:
        parse_lenient(text, path)
    return time.perf_counter() - start


def cold_start_seconds(path: pathlib.Path, runs: int = 9) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "defkit", "parse", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    files = corpus()
    seconds = min(parse_corpus_seconds(files) for _ in range(3))
    print(f"parse {len(files)} corpus files in one process: {seconds:.3f} s (goal < 0.5 s)")
    cold = cold_start_seconds(files[0])
    print(f"`defkit parse one.def` cold start, median of 9: {cold * 1000:.0f} ms (goal < 150 ms)")


if __name__ == "__main__":
    main()
