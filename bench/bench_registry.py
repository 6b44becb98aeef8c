"""Registry benchmarks against a local docker-registry (Debian's, on 127.0.0.1, plain HTTP).

1. `Bootstrap: docker` of an image of about 100 MiB in 4 layers (DEFKIT_BENCH_IMAGE_MIB), from
   an empty blob store, against the raw tools doing the same work in the same run: `skopeo copy`
   to an OCI layout + `umoci unpack` + `mksquashfs` with the engine's flags. Goal: <= 1.15x.
2. `defkit push`/`defkit pull` of a 256 MiB SIF (DEFKIT_BENCH_SIF_MIB) against `curl` uploading
   (POST + monolithic PUT) and downloading the same blob. Goal: <= 1.5x. Peak memory (max RSS of
   the defkit process) is printed for a SIF of a quarter of the size too: it must not grow.

Rounds alternate which side goes first (DEFKIT_BENCH_ROUNDS, default 3); medians are printed.
The registry is started with the test suite's helper (tests/registry_fixture.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def _layers(total_mib: int, count: int = 4) -> list[bytes]:
    """Layers of files that compress like real ones: half random bytes, half text."""
    layers = []
    per_layer = total_mib * MIB // count
    for number in range(count):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            written = 0
            index = 0
            while written < per_layer:
                size = min(2 * MIB, per_layer - written)
                if index % 2:
                    data = os.urandom(size)
                else:
                    line = f"layer {number} file {index} some repetitive text\n".encode()
                    data = (line * (size // len(line) + 1))[:size]
                info = tarfile.TarInfo(f"data/layer{number}/file{index}")
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
                written += size
                index += 1
        layers.append(buffer.getvalue())
    return layers


def _defkit_build(base: Path, host: str, run: int) -> float:
    from defkit.engine.engine import build

    cache = base / f"cache-{run}"
    os.environ["DEFKIT_CACHE_DIR"] = str(cache)
    deffile = base / "image.def"
    deffile.write_text(f"Bootstrap: docker\nFrom: {host}/bench/image:1\n")
    started = time.monotonic()
    build(str(deffile), output=str(base / "image.sif"), force=True, source_date_epoch=0,
          workdir=str(base))
    seconds = time.monotonic() - started
    shutil.rmtree(cache)
    return seconds


def _raw_tools(base: Path, host: str, run: int) -> float:
    from defkit.runner import run as run_tool
    from defkit.squashfs import make_squashfs

    layout, bundle = base / f"oci-{run}", base / f"bundle-{run}"
    started = time.monotonic()
    run_tool(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
              f"docker://{host}/bench/image:1", f"oci:{layout}:1"], check=True)
    run_tool(["umoci", "unpack", "--image", f"{layout}:1", str(bundle)], check=True)
    make_squashfs(bundle / "rootfs", base / "raw.sqfs", source_date_epoch=0)
    seconds = time.monotonic() - started
    shutil.rmtree(layout)
    shutil.rmtree(bundle)
    return seconds


def _alternating(rounds: int, first: Callable[[int], float], second: Callable[[int], float]
                 ) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for number in range(rounds):
        if number % 2 == 0:
            a.append(first(number))
            b.append(second(number))
        else:
            b.append(second(number))
            a.append(first(number))
    return a, b


def _child(argv: list[str]) -> tuple[float, int, float]:
    """Seconds, peak memory (max RSS, KiB) and CPU seconds (user + system) of a command,
    measured by GNU time (a forked child's own max RSS would include the parent's pages until
    it execs)."""
    # Installed packages have their bytecode cached; this environment may switch that off
    # (PYTHONDONTWRITEBYTECODE), which would time Python's compiler in every `defkit` command.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    started = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *argv], capture_output=True,
                          text=True, env=env)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed: {done.stderr[-300:]}")
    peak, user, system = done.stderr.strip().splitlines()[-1].split()
    return seconds, int(peak), float(user) + float(system)


def _sif(path: Path, size_mib: int) -> None:
    from defkit.sif.writer import write_sif

    payload = path.with_suffix(".sqfs")
    with open(payload, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MIB))
    write_sif(path, definition=b"Bootstrap: scratch\n", inspect_metadata=b"{}",
              squashfs_path=payload, arch="amd64", deterministic_from=b"bench")
    payload.unlink()


def _curl_push(url: str, sif: Path, digest: str, repo: str) -> float:
    started = time.monotonic()
    location = subprocess.run(
        ["curl", "-sS", "-f", "-X", "POST", "-D", "-", "-o", "/dev/null",
         f"{url}/v2/{repo}/blobs/uploads/"], capture_output=True, text=True, check=True).stdout
    target = next(line.split(":", 1)[1].strip() for line in location.splitlines()
                  if line.lower().startswith("location:"))
    if target.startswith("/"):
        target = url + target
    subprocess.run(["curl", "-sS", "-f", "-X", "PUT", "-H",
                    "Content-Type: application/octet-stream", "--data-binary", f"@{sif}",
                    "-o", "/dev/null", f"{target}&digest={digest}"], check=True)
    return time.monotonic() - started


def _push_pull(base: Path, url: str, host: str, size_mib: int, rounds: int) -> None:
    sif = base / f"bench-{size_mib}.sif"
    _sif(sif, size_mib)
    digest = _sha256(sif)
    defkit = [sys.executable, "-m", "defkit"]
    times: dict[str, list[float]] = {"push": [], "curl up": [], "pull": [], "curl down": []}
    cpu: dict[str, list[float]] = {"pull": [], "curl down": []}
    peaks = []
    for number in range(rounds):
        # Fresh repositories each round: a registry answers "already there" for known blobs.
        ours = f"oras://{host}/bench/sif{size_mib}-{number}:1"
        theirs = f"bench/curl{size_mib}-{number}"
        cache = base / f"pull-cache-{number}"
        os.environ["DEFKIT_CACHE_DIR"] = str(cache)
        steps: list[tuple[str, list[str]]] = [
            ("push", [*defkit, "push", "-q", str(sif), ours]),
            ("curl up", []),
            ("pull", [*defkit, "pull", "-q", "-F", ours, "-o", str(base / "pulled.sif")]),
            ("curl down", ["curl", "-sS", "-f", "-o", str(base / "curl.sif"),
                           f"{url}/v2/{theirs}/blobs/{digest}"]),
        ]
        order = [0, 1, 2, 3] if number % 2 == 0 else [1, 0, 3, 2]
        # Both downloads write a new file, as a first pull does: overwriting one costs each
        # side the freeing of the old file and (on ext4) an early write-back of the new one.
        for leftover in (base / "pulled.sif", base / "curl.sif"):
            leftover.unlink(missing_ok=True)
        for index in order:
            name, argv = steps[index]
            if name == "curl up":
                times[name].append(_curl_push(url, sif, digest, theirs))
                continue
            seconds, peak, cpu_seconds = _child(argv)
            times[name].append(seconds)
            if name in cpu:
                cpu[name].append(cpu_seconds)
            if name in ("push", "pull"):
                peaks.append(peak)
        assert _sha256(base / "pulled.sif") == digest
        shutil.rmtree(cache, ignore_errors=True)
    med = statistics.median
    for ours_name, theirs_name in (("push", "curl up"), ("pull", "curl down")):
        a, b = med(times[ours_name]), med(times[theirs_name])
        print(f"{ours_name} {size_mib} MiB SIF: defkit {a:.2f}s vs curl {b:.2f}s: {a / b:.2f}x "
              "(goal <= 1.5)")
    ours_cpu, curl_cpu = med(cpu["pull"]), med(cpu["curl down"])
    print(f"  pull CPU: defkit {ours_cpu:.2f}s vs curl {curl_cpu:.2f}s; wall times: defkit "
          + " ".join(f"{t:.2f}" for t in times["pull"]) + ", curl "
          + " ".join(f"{t:.2f}" for t in times["curl down"]))
    print(f"peak memory of defkit push/pull, {size_mib} MiB SIF: {max(peaks) / 1024:.0f} MiB")
    sif.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(MIB), b""):
            digest.update(piece)
    return "sha256:" + digest.hexdigest()


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.registry_fixture import push_test_image, serving

    rounds = int(os.environ.get("DEFKIT_BENCH_ROUNDS", "3"))
    image_mib = int(os.environ.get("DEFKIT_BENCH_IMAGE_MIB", "100"))
    sif_mib = int(os.environ.get("DEFKIT_BENCH_SIF_MIB", "256"))
    saved = os.environ.get("DEFKIT_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="defkit-bench-registry-") as tmp:
        base = Path(tmp)
        with serving(base / "registry") as registry:
            layers = _layers(image_mib)
            count = len(layers)
            push_test_image(registry, "bench/image", "1", layers,
                            {"architecture": "amd64", "os": "linux", "config": {}})
            del layers
            ours, raw = _alternating(rounds, lambda n: _defkit_build(base, registry.host, n),
                                     lambda n: _raw_tools(base, registry.host, n))
            med = statistics.median
            print(f"Bootstrap: docker, {image_mib} MiB in {count} layers, empty cache: "
                  f"defkit {med(ours):.2f}s vs skopeo+umoci+mksquashfs {med(raw):.2f}s: "
                  f"{med(ours) / med(raw):.2f}x (goal <= 1.15)")
            _push_pull(base, registry.url, registry.host, sif_mib // 4, 1)
            _push_pull(base, registry.url, registry.host, sif_mib, rounds)
    if saved is None:
        os.environ.pop("DEFKIT_CACHE_DIR", None)
    else:
        os.environ["DEFKIT_CACHE_DIR"] = saved


if __name__ == "__main__":
    main()
