"""Blob transfer throughput against a local registry: defkit's client against `curl`.

Issue #11's goal: push and pull of a 256 MiB blob to the local registry in at most 1.5x the time
`curl` takes to upload/download the same blob in the same run. The registry is Debian's
`docker-registry` on 127.0.0.1 (tests/registry_fixture.py starts it); the blob is random data,
256 MiB by default (`DEFKIT_BENCH_BLOB_MIB`). defkit's figures are `RegistryClient.push_blob`
(HEAD, POST, one streamed PUT) and `fetch_blob` (the digest checked as the bytes arrive, written
to a temporary name and renamed), each with a fresh client; curl's are one `curl -T` PUT to an
upload session and one `curl -o` GET. Each upload goes to a new repository so the registry
receives every byte each time. The two sides take turns, `DEFKIT_BENCH_ROUNDS` (5) times; the
medians are printed: wall time, and the CPU time of the client (defkit's process, or curl) and of
the registry, which are the steadier figures on a busy machine.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from typing import Callable

import httpx

from defkit.registry.client import RegistryClient
from defkit.registry.reference import parse_reference
from tests.registry_fixture import serving

MIB = 1024 * 1024


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process and its waited-for children, or of `pid`."""
    if pid is not None:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(action: Callable[[], object], registry_pid: int) -> tuple[float, float, float]:
    """(wall, client CPU, registry CPU) seconds of `action`."""
    cpu, registry_cpu, start = _cpu_seconds(), _cpu_seconds(registry_pid), time.perf_counter()
    action()
    return (time.perf_counter() - start, _cpu_seconds() - cpu,
            _cpu_seconds(registry_pid) - registry_cpu)


def _curl(*argv: str) -> None:
    subprocess.run(["curl", "-sSf", *argv], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    if shutil.which("curl") is None or not os.path.exists("/usr/bin/docker-registry"):
        print("skipped: needs curl and docker-registry")
        return
    size_mib = int(os.environ.get("DEFKIT_BENCH_BLOB_MIB", "256"))
    rounds = int(os.environ.get("DEFKIT_BENCH_ROUNDS", "5"))
    with tempfile.TemporaryDirectory(prefix="defkit-bench-registry-") as tmp:
        base = pathlib.Path(tmp)
        blob = base / "blob"
        hasher = hashlib.sha256()
        with blob.open("wb") as out:
            for _ in range(size_mib):
                piece = os.urandom(MIB)
                hasher.update(piece)
                out.write(piece)
        digest = f"sha256:{hasher.hexdigest()}"
        size = size_mib * MIB
        with serving(base / "registry") as running:
            counter = iter(range(1_000_000))

            def defkit_push() -> None:
                ref = parse_reference(f"{running.host}/bench/up{next(counter)}:x")
                with RegistryClient(credentials=lambda host: None) as client:
                    client.push_blob(ref, str(blob), digest, size)

            def curl_push() -> None:
                repository = f"{running.url}/v2/bench/up{next(counter)}"
                started = httpx.post(f"{repository}/blobs/uploads/")
                location = httpx.URL(repository).join(started.headers["location"])
                target = location.copy_merge_params({"digest": digest})
                _curl("-T", str(blob), "-H", "Content-Type: application/octet-stream",
                      str(target))

            defkit_push()  # the blob every download fetches; warms imports and caches
            source = f"{running.url}/v2/bench/up0/blobs/{digest}"
            ref = parse_reference(f"{running.host}/bench/up0:x")

            def defkit_pull() -> None:
                with RegistryClient(credentials=lambda host: None) as client:
                    client.fetch_blob(ref, digest, str(base / "pulled"), size=size)

            def curl_pull() -> None:
                _curl("-o", str(base / "curled"), source)

            times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in
                                             ("defkit push", "curl push", "defkit pull",
                                              "curl pull")}
            for turn in range(rounds):
                pairs = [("defkit push", defkit_push), ("curl push", curl_push),
                         ("defkit pull", defkit_pull), ("curl pull", curl_pull)]
                if turn % 2:  # alternate who goes first
                    pairs = [pairs[1], pairs[0], pairs[3], pairs[2]]
                for name, action in pairs:
                    times[name].append(_timed(action, running.process.pid))
            if (base / "pulled").read_bytes() != (base / "curled").read_bytes():
                raise RuntimeError("defkit and curl downloaded different bytes")
    for direction in ("push", "pull"):
        ours, theirs = ([statistics.median(column) for column in zip(*times[f"{who} {direction}"])]
                        for who in ("defkit", "curl"))
        print(f"{direction} {size_mib} MiB: defkit {ours[0]:.2f} s "
              f"({size_mib / ours[0]:.0f} MiB/s), curl {theirs[0]:.2f} s "
              f"({size_mib / theirs[0]:.0f} MiB/s), ratio {ours[0] / theirs[0]:.2f} (goal <= 1.5)")
        print(f"  CPU: defkit {ours[1]:.2f} s, curl {theirs[1]:.2f} s "
              f"(ratio {ours[1] / theirs[1]:.2f}); registry {ours[2]:.2f} s with defkit, "
              f"{theirs[2]:.2f} s with curl")
        for who in ("defkit", "curl"):
            walls = " ".join(f"{wall:.2f}" for wall, _, _ in times[f"{who} {direction}"])
            print(f"  {who} wall times: {walls}")


if __name__ == "__main__":
    main()
