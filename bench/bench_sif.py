"""SIF write throughput: `write_sif` (copy + sha256 for the content UUID) against a plain copy.

The squashfs stand-in is random data (the writer copies bytes without parsing them), 256 MiB by
default (`DEFKIT_BENCH_SIF_MIB`), in a temporary directory on the same file system.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time

from defkit.sif.writer import write_sif

MIB = 1024 * 1024


def _best(fn: object, repeat: int = 3) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    size_mib = int(os.environ.get("DEFKIT_BENCH_SIF_MIB", "256"))
    with tempfile.TemporaryDirectory(prefix="defkit-bench-sif-") as tmp:
        blob = os.path.join(tmp, "rootfs.squashfs")
        with open(blob, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(MIB))
        out = os.path.join(tmp, "out.sif")

        def write() -> None:
            write_sif(out, definition=b"Bootstrap: scratch\n", inspect_metadata=b"{}",
                      squashfs_path=blob, arch="amd64")  # fmt: skip

        def copy() -> None:
            shutil.copyfile(blob, os.path.join(tmp, "copy"))

        def write_no_hash() -> None:
            write_sif(out, definition=b"Bootstrap: scratch\n", inspect_metadata=b"{}",
                      squashfs_path=blob, arch="amd64", deterministic_from=b"x")  # fmt: skip

        def hash_only() -> None:
            digest = hashlib.sha256()
            with open(blob, "rb") as f:
                for chunk in iter(lambda: f.read(8 * MIB), b""):
                    digest.update(chunk)

        figures = [
            ("plain copy", _best(copy)),
            ("sha256 only", _best(hash_only)),
            ("write_sif (UUID from content)", _best(write)),
            ("write_sif (deterministic_from)", _best(write_no_hash)),
        ]
    for label, seconds in figures:
        print(f"{label:32} {size_mib} MiB: {seconds:.3f} s ({size_mib / seconds:.0f} MiB/s)")


if __name__ == "__main__":
    main()
