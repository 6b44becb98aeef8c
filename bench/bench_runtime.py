"""`defkit exec` of a 100 MiB image: the first call and later ones (issue #15: later < 0.5 s).

Builds a busybox SIF holding 100 MiB of random data, then times `defkit exec IMAGE true` five
times through the CLI. As root the image is loop-mounted every time; rootless without /dev/fuse
the first call unpacks it into $DEFKIT_CACHE_DIR/runtime (a fresh one here) and later calls reuse
that copy. Run: python -m bench.bench_runtime
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import time

from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.engine.engine import build

DEF = "Bootstrap: localimage\nFrom: ./rootfs\n\n%files\n    blob /opt/blob\n"


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
        for call in range(1, 6):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "defkit", "exec", sif, "true"],
                                  env=env, cwd="/tmp", capture_output=True)
            took = time.perf_counter() - start
            if done.returncode != 0:
                print(done.stderr.decode(errors="replace"), file=sys.stderr)
                return 1
            print(f"call {call}: {took:.3f} s" + (" (first)" if call == 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
