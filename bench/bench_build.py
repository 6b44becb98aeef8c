"""Build benchmarks.

1. The busybox example (`examples/hello`, no network): build time (median of 3) and SIF size.
2. Engine overhead: a `Bootstrap: debootstrap` minbase build with defkit, against running the same
   `debootstrap` command and `mksquashfs` (same flags) alone, in the same run. Goal: ratio <= 1.15.
   Needs root (or set DEFKIT_BENCH_FAKEROOT=1 to compare rootless fakeroot runs) and the network;
   DEFKIT_BENCH_SKIP_DEBOOTSTRAP=1 skips it. With DEFKIT_BENCH_ROUNDS=N the order alternates
   (baseline first, then defkit first, ...) so a warming mirror cache favours neither side.
   Each side's time is split by step (medians): the baseline's debootstrap and mksquashfs; the
   engine's bootstrap (debootstrap itself plus the agent's own work around it), its own steps
   (metadata, ...), squashfs, SIF write, and what lies outside any step (set-up before the
   first, between steps, and the work directory's removal after the image is written).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
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


def _baseline(base: Path) -> dict[str, float]:
    """debootstrap + mksquashfs alone, the way the engine runs them: seconds per tool."""
    from defkit.arch import host_arch
    from defkit.engine.agents.debootstrap import debootstrap_argv
    from defkit.model import HeaderEntry, Span, Stage
    from defkit.runner import run
    from defkit.squashfs import make_squashfs

    span = Span(1, 1, 1, 1)
    stage = Stage(tuple(HeaderEntry(k, v, k, span, span) for k, v in
                        (("bootstrap", "debootstrap"), ("osversion", SUITE),
                         ("mirrorurl", MIRROR))), (), "", span)
    rootfs = base / "baseline-rootfs"
    started = time.monotonic()
    done = run(debootstrap_argv(stage, str(rootfs), host_arch()))
    if done.returncode != 0:
        raise RuntimeError("debootstrap failed: " + done.stderr.decode()[-300:])
    squashing = time.monotonic()
    make_squashfs(rootfs, base / "baseline.sqfs", source_date_epoch=0, all_root=False)
    ended = time.monotonic()
    # Not in the total (the goal's baseline is the two tools), but printed: the engine removes
    # its rootfs before it returns, and that is I/O the machine's load decides.
    subprocess.run(["rm", "-rf", "--one-file-system", str(rootfs)], check=True)
    return {"debootstrap": squashing - started, "mksquashfs": ended - squashing,
            "rm -rf rootfs (not in total)": time.monotonic() - ended, "total": ended - started}


def _defkit(base: Path, fakeroot: bool) -> tuple[dict[str, float], int]:
    """One build; seconds per part (see the module's docstring) and the SIF's size."""
    from defkit.engine.context import BuildFinished, Event, StepFinished, StepStarted
    from defkit.engine.engine import build

    path = base / "minbase.def"
    path.write_text(f"Bootstrap: debootstrap\nOSVersion: {SUITE}\nMirrorURL: {MIRROR}\n")
    marks: list[tuple[float, Event]] = []
    started = time.monotonic()
    result = build(str(path), output=str(base / "minbase.sif"), force=True, fakeroot=fakeroot,
                   source_date_epoch=0, workdir=str(base),
                   progress=lambda event: marks.append((time.monotonic(), event)))
    ended = time.monotonic()
    split = {"bootstrap": 0.0, "engine steps": 0.0, "squashfs": 0.0, "sif": 0.0,
             "total": ended - started}
    for _, event in marks:
        if isinstance(event, StepFinished):
            part = event.step if event.step in split else "engine steps"
            split[part] += event.seconds
    first = next(at for at, event in marks if isinstance(event, StepStarted))
    written = next(at for at, event in marks if isinstance(event, BuildFinished))
    split["before first step"] = first - started
    split["after the image"] = ended - written  # the work directory's removal
    split["between steps"] = split["total"] - sum(
        split[k] for k in ("bootstrap", "engine steps", "squashfs", "sif", "before first step",
                           "after the image"))
    return split, result.size


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _show(split: dict[str, float]) -> str:
    return ", ".join(f"{key} {seconds:.2f}s" for key, seconds in split.items()
                     if key != "total")


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
        baseline: list[dict[str, float]] = []
        engine: list[dict[str, float]] = []
        sif_size = 0
        for index in range(rounds):
            # Alternate which side goes first: the first download warms the mirror's caches.
            if index % 2:
                split, sif_size = _defkit(base, fakeroot)
                baseline.append(_baseline(base))
            else:
                baseline.append(_baseline(base))
                split, sif_size = _defkit(base, fakeroot)
            engine.append(split)
            print(f"  round {index + 1}: alone {baseline[-1]['total']:.1f}s, defkit "
                  f"{split['total']:.1f}s, load average {os.getloadavg()[0]:.1f}", flush=True)
        b, e = _medians(baseline), _medians(engine)
        print(f"debootstrap minbase ({SUITE}): debootstrap+mksquashfs alone {b['total']:.1f}s, "
              f"defkit build {e['total']:.1f}s ({'fakeroot' if fakeroot else 'root'}), "
              f"ratio {e['total'] / b['total']:.2f} (goal <= 1.15), "
              f"SIF {sif_size / 2**20:.1f} MiB, {rounds} round(s)")
        print(f"  alone:  {_show(b)}")
        print(f"  defkit: {_show(e)}")
        removal = b["rm -rf rootfs (not in total)"]
        print(f"  with the rootfs removal on both sides: {b['total'] + removal:.1f}s vs "
              f"{e['total']:.1f}s, ratio {e['total'] / (b['total'] + removal):.2f}")


if __name__ == "__main__":
    main()
