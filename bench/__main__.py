"""`make bench`: run every benchmark module (bench/bench_*.py) and print its figures."""

from __future__ import annotations

import importlib
import pathlib
import sys


def main() -> int:
    here = pathlib.Path(__file__).parent
    names = sys.argv[1:] or sorted(p.stem for p in here.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}")
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
