"""`defkit exec` of a 100 MiB image: the first call and later ones (issue #15: later < 0.5 s).

Builds a busybox SIF holding 100 MiB of random data, then times `defkit exec IMAGE true` seven
times through the CLI (wall and CPU time, and the median of the later calls). As root the image
is loop-mounted every time; rootless without /dev/fuse the first call unpacks it into
$DEFKIT_CACHE_DIR/runtime (a fresh one here) and later calls reuse that copy.
Run: python -m bench.bench_runtime
"""

from __future__ import annotations

import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.engine.engine import build

DEF = "Bootstrap: localimage\nFrom: ./rootfs\n\n%files\n    blob /opt/blob\n"


def _children_cpu() -> float:
    """User + system time of the finished children (steadier than wall time under load)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="defkit-bench-runtime-") as base_name:
        base = pathlib.Path(base_name)
        make_busybox_rootfs(str(base / "rootfs"))
        with open(base / "blob", "wb") as f:
            f.write(os.urandom(100 << 20))
        (base / "image.def").write_text(DEF)
        (base / "work").mkdir()
        sif = build(str(base / "image.def"), workdir=str(base / "work"), force=True,
                    progress=lambda _: None).output
        print(f"image: {os.path.getsize(sif) / (1 << 20):.0f} MiB")
        env = {**os.environ, "DEFKIT_CACHE_DIR": str(base / "cache")}
        later = []
        for call in range(1, 8):
            cpu_before = _children_cpu()
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "defkit", "exec", sif, "true"],
                                  env=env, cwd="/tmp", capture_output=True)
            took = time.perf_counter() - start
            if done.returncode != 0:
                print(done.stderr.decode(errors="replace"), file=sys.stderr)
                return 1
            cpu = _children_cpu() - cpu_before
            print(f"call {call}: {took:.3f} s wall, {cpu:.3f} s CPU"
                  + (" (first)" if call == 1 else ""))
            if call > 1:
                later.append(took)
        print(f"later calls: median {statistics.median(later):.3f} s "
              f"(goal < 0.5 s; load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
