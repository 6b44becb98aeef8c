"""Build-cache benchmarks, each printed with its peer from the same run.

1. A cache hit for images of 10 MiB, 100 MiB and 1 GiB (DEFKIT_BENCH_CACHE_MIB, a comma list):
   `defkit build` wall time (the whole CLI process) and the engine's own time for the hit
   (in-process), against `cp --reflink=auto` of the same image. Goal: under 100 ms, flat in size.
   The command is the console script users run (as `defkit lint` is timed), with its
   `python -X importtime` total.
   The images hold generated files (random bytes, no sparse files); each is built once (a miss).
2. The key of a recipe whose `%files` hold 1 GiB in 10,000 files (DEFKIT_BENCH_TREE_MIB):
   first key (no stat cache) against `b3sum` over the same files, page cache warm for both (b3sum
   runs first and warms it); goal within 1.5x. Then the second key (stat cache: no file read)
   against a plain walk with `lstat`.
3. Per-stage reuse: a two-stage recipe whose first stage's %post takes DEFKIT_BENCH_STAGE_SECONDS
   (default 30; a sleep plus DEFKIT_BENCH_STAGE_MIB of files, default 64, that the second stage
   copies). Editing only the last stage (the first restored from the cache) against editing the
   first (both built), alternating, medians. Goal: under 10% of the full build.

DEFKIT_BENCH_CACHE_PARTS (a comma list of hit, key, stages; default all three) runs some only:
`DEFKIT_BENCH_CACHE_PARTS=hit` takes seconds, the stages part minutes.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.importtime import ENVIRON, import_total

MIB = 1024 * 1024
# The `defkit` console script next to this Python, as users run it, else the module.
_SCRIPT = shutil.which("defkit", path=os.path.dirname(sys.executable))
DEFKIT = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "defkit"]
ROUNDS = int(os.environ.get("DEFKIT_BENCH_ROUNDS", "3"))

DEF = """\
Bootstrap: localimage
From: ./rootfs

%files
    data /opt/data
"""


def _tree(root: Path, total_mib: int, files: int) -> None:
    root.mkdir(parents=True)
    size = total_mib * MIB // files
    for index in range(files):
        sub = root / f"d{index % 100:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{index}").write_bytes(os.urandom(size))


def _median(fn: object, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median_cpu(fn: object, rounds: int = ROUNDS) -> float:
    """The median CPU time (user + system) of the child processes `fn` runs: the steadier figure
    on a busy machine, where wall time waits for other processes' turns."""
    times = []
    for _ in range(rounds):
        before = _children_cpu()
        fn()  # type: ignore[operator]
        times.append(_children_cpu() - before)
    return statistics.median(times)


def _hit(work: Path, mib: int) -> None:
    from defkit.cache.hook import CacheOptions
    from defkit.engine.busybox_rootfs import make_busybox_rootfs
    from defkit.engine.engine import build

    project = work / f"hit-{mib}"
    project.mkdir()
    make_busybox_rootfs(str(project / "rootfs"))
    _tree(project / "data", mib, max(1, mib // 8))
    (project / "image.def").write_text(DEF)
    env = {**ENVIRON, "SOURCE_DATE_EPOCH": "1700000000"}
    cli = [*DEFKIT, "build", "-q", "--engine", "native", "-F"]
    subprocess.run([*cli, "-o", str(project / "first.sif"), str(project / "image.def")],
                   check=True, env=env)
    image = project / "first.sif"

    def cli_hit() -> None:
        subprocess.run([*cli, "-o", str(project / "hit.sif"), str(project / "image.def")],
                       check=True, env=env)

    def engine_hit() -> None:
        build(str(project / "image.def"), output=str(project / "hit2.sif"), force=True,
              source_date_epoch=1700000000, cache=CacheOptions())

    def peer() -> None:
        subprocess.run(["cp", "--reflink=auto", str(image), str(project / "copy.sif")],
                       check=True)

    def startup() -> None:  # the CLI's floor: interpreter, click, the parser
        subprocess.run([*DEFKIT, "parse", str(project / "image.def")],
                       check=True, env=env, stdout=subprocess.DEVNULL)

    size = image.stat().st_size / MIB
    print(f"  cache hit, {size:7.1f} MiB image: defkit build {_median(cli_hit) * 1000:7.1f} ms "
          f"({_median_cpu(cli_hit) * 1000:5.1f} ms CPU; engine {_median(engine_hit) * 1000:6.1f} "
          f"ms; defkit parse {_median(startup) * 1000:6.1f} ms, "
          f"{_median_cpu(startup) * 1000:5.1f} ms CPU)   "
          f"cp --reflink=auto {_median(peer) * 1000:7.1f} ms")
    imports, biggest = import_total(
        [*cli, "-o", str(project / "hit.sif"), str(project / "image.def")], env=env)
    print(f"    imports of the cached build: {imports * 1000:.0f} ms (-X importtime; "
          f"cumulative ms: {biggest})")


def _key(work: Path, mib: int, files: int) -> None:
    from defkit.engine.engine import explain_key

    project = work / "key"
    project.mkdir()
    (project / "rootfs").mkdir()
    _tree(project / "data", mib, files)
    (project / "image.def").write_text(DEF)
    time.sleep(2.1)  # past the stat cache's racy window (tree.py), as a real checkout would be
    paths = [str(p) for p in (project / "data").rglob("*") if p.is_file()]

    def b3sum() -> None:
        subprocess.run(["b3sum", "--", *paths], check=True, stdout=subprocess.DEVNULL)

    def cold_key() -> None:
        stat_cache = Path(os.environ["DEFKIT_CACHE_DIR"]) / "stat-cache.json"
        stat_cache.unlink(missing_ok=True)
        explain_key(str(project / "image.def"), source_date_epoch=0)

    def warm_key() -> None:
        explain_key(str(project / "image.def"), source_date_epoch=0)

    def walk() -> None:
        for directory, _, names in os.walk(project / "data"):
            for name in names:
                os.lstat(os.path.join(directory, name))

    b3sum()  # warm the page cache for both sides
    peer, cold = _median(b3sum), _median(cold_key)
    warm_key()
    second, plain = _median(warm_key), _median(walk)
    print(f"  key, {mib} MiB in {files} files: first {cold:6.3f} s   b3sum {peer:6.3f} s   "
          f"ratio {cold / peer:4.2f}x (goal <= 1.5x)")
    print(f"  key again (stat cache): {second:6.3f} s   plain walk with lstat {plain:6.3f} s")


STAGES = """\
Bootstrap: localimage
From: ./rootfs
Stage: heavy

%post
    echo {first} > /first
    sleep {seconds}
    mkdir -p /opt/lib
    for i in $(seq 1 {files}); do head -c 1048576 /dev/urandom > /opt/lib/f$i; done

Bootstrap: localimage
From: ./rootfs
Stage: final

%files from heavy
    /opt/lib /opt/lib

%post
    echo {second} > /second
"""


def _stages(work: Path, seconds: float, mib: int) -> None:
    from defkit.cache.hook import CacheOptions
    from defkit.engine.busybox_rootfs import make_busybox_rootfs
    from defkit.engine.engine import build

    project = work / "stages"
    project.mkdir()
    make_busybox_rootfs(str(project / "rootfs"))
    def_path = project / "image.def"
    counter = [0]

    def rebuild(first: str) -> float:
        counter[0] += 1  # a new last stage every time: the whole build's key never hits
        def_path.write_text(STAGES.format(first=first, second=counter[0], seconds=seconds,
                                          files=mib))
        started = time.perf_counter()
        build(str(def_path), output=str(project / "image.sif"), force=True,
              source_date_epoch=1700000000, cache=CacheOptions())
        return time.perf_counter() - started

    rebuild("warm")
    last_only, full = [], []
    for round_ in range(ROUNDS):
        last_only.append(rebuild("warm"))  # the first stage restored from the cache
        full.append(rebuild(f"edit-{round_}"))  # the first stage edited: both built
    print(f"  two stages, first {seconds:g} s + {mib} MiB: edit the last stage "
          f"{statistics.median(last_only):6.2f} s   full build {statistics.median(full):6.2f} s"
          f"   ratio {statistics.median(last_only) / statistics.median(full) * 100:4.1f}% "
          "(goal < 10%)")


def main() -> None:
    if shutil.which("b3sum") is None or shutil.which("mksquashfs") is None:
        print("  skipped: b3sum and mksquashfs are needed")
        return
    with tempfile.TemporaryDirectory(prefix="defkit-bench-cache-") as tmp:
        work = Path(tmp)
        os.environ["DEFKIT_CACHE_DIR"] = str(work / "cache")
        parts = os.environ.get("DEFKIT_BENCH_CACHE_PARTS", "hit,key,stages").split(",")
        if "hit" in parts:
            sizes = os.environ.get("DEFKIT_BENCH_CACHE_MIB", "10,100,1024")
            for mib in (int(s) for s in sizes.split(",") if s.strip()):
                _hit(work, mib)
        if "key" in parts:
            _key(work, int(os.environ.get("DEFKIT_BENCH_TREE_MIB", "1024")),
                 int(os.environ.get("DEFKIT_BENCH_TREE_FILES", "10000")))
        if "stages" in parts:
            _stages(work, float(os.environ.get("DEFKIT_BENCH_STAGE_SECONDS", "30")),
                    int(os.environ.get("DEFKIT_BENCH_STAGE_MIB", "64")))


if __name__ == "__main__":
    main()
