"""Build benchmarks.

1. The busybox example (`examples/hello`, no network): build time (median of 3) and SIF size.
2. Engine overhead: a `Bootstrap: debootstrap` minbase build with defkit, against running the same
   `debootstrap` command and `mksquashfs` (same flags) alone, in the same run. Goal: ratio <= 1.15.
   Needs root (or set DEFKIT_BENCH_FAKEROOT=1 to compare rootless fakeroot runs) and the network;
   DEFKIT_BENCH_SKIP_DEBOOTSTRAP=1 skips it. With DEFKIT_BENCH_ROUNDS=N the order alternates
   (baseline first, then defkit first, ...) so a warming mirror cache favours neither side.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = os.environ.get("DEFKIT_BENCH_MIRROR", "http://deb.debian.org/debian")
SUITE = os.environ.get("DEFKIT_BENCH_SUITE", "bookworm")


def _busybox(base: Path) -> tuple[float, int]:
    from defkit.engine.busybox_rootfs import make_busybox_rootfs
    from defkit.engine.engine import build

    shutil.copy(REPO / "examples" / "hello" / "hello.def", base / "hello.def")
    make_busybox_rootfs(str(base / "busybox-rootfs"))
    times = []
    size = 0
    for _ in range(3):
        started = time.monotonic()
        result = build(str(base / "hello.def"), output=str(base / "hello.sif"), force=True,
                       source_date_epoch=0)
        times.append(time.monotonic() - started)
        size = result.size
    return statistics.median(times), size


def _baseline(base: Path) -> float:
    """debootstrap + mksquashfs alone, the way the engine runs them."""
    from defkit.arch import host_arch
    from defkit.engine.agents.debootstrap import debootstrap_argv
    from defkit.engine.squashfs import make_squashfs
    from defkit.model import HeaderEntry, Span, Stage
    from defkit.runner import run

    span = Span(1, 1, 1, 1)
    stage = Stage(tuple(HeaderEntry(k, v, k, span, span) for k, v in
                        (("bootstrap", "debootstrap"), ("osversion", SUITE),
                         ("mirrorurl", MIRROR))), (), "", span)
    rootfs = base / "baseline-rootfs"
    started = time.monotonic()
    done = run(debootstrap_argv(stage, str(rootfs), host_arch()))
    if done.returncode != 0:
        raise RuntimeError("debootstrap failed: " + done.stderr.decode()[-300:])
    make_squashfs(rootfs, base / "baseline.sqfs", source_date_epoch=0, all_root=False)
    seconds = time.monotonic() - started
    shutil.rmtree(rootfs, ignore_errors=True)
    return seconds


def _defkit(base: Path, fakeroot: bool) -> tuple[float, int]:
    from defkit.engine.engine import build

    path = base / "minbase.def"
    path.write_text(f"Bootstrap: debootstrap\nOSVersion: {SUITE}\nMirrorURL: {MIRROR}\n")
    started = time.monotonic()
    result = build(str(path), output=str(base / "minbase.sif"), force=True, fakeroot=fakeroot,
                   source_date_epoch=0, workdir=str(base))
    return time.monotonic() - started, result.size


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="defkit-bench-") as tmp:
        base = Path(tmp)
        seconds, size = _busybox(base)
        print(f"busybox example (examples/hello): build {seconds:.2f}s (median of 3), "
              f"SIF {size / 1024:.0f} KiB")
        if os.environ.get("DEFKIT_BENCH_SKIP_DEBOOTSTRAP"):
            print("debootstrap overhead: skipped (DEFKIT_BENCH_SKIP_DEBOOTSTRAP)")
            return
        fakeroot = bool(os.environ.get("DEFKIT_BENCH_FAKEROOT"))
        if os.geteuid() != 0 and not fakeroot:
            print("debootstrap overhead: skipped (needs root; or DEFKIT_BENCH_FAKEROOT=1)")
            return
        if shutil.which("debootstrap") is None:
            print("debootstrap overhead: skipped (debootstrap not installed)")
            return
        rounds = int(os.environ.get("DEFKIT_BENCH_ROUNDS", "1"))
        baseline: list[float] = []
        engine: list[float] = []
        sif_size = 0
        for index in range(rounds):
            # Alternate which side goes first: the first download warms the mirror's caches.
            if index % 2:
                seconds, sif_size = _defkit(base, fakeroot)
                baseline.append(_baseline(base))
            else:
                baseline.append(_baseline(base))
                seconds, sif_size = _defkit(base, fakeroot)
            engine.append(seconds)
        b, e = statistics.median(baseline), statistics.median(engine)
        print(f"debootstrap minbase ({SUITE}): debootstrap+mksquashfs alone {b:.1f}s, "
              f"defkit build {e:.1f}s ({'fakeroot' if fakeroot else 'root'}), "
              f"ratio {e / b:.2f} (goal <= 1.15), SIF {sif_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
