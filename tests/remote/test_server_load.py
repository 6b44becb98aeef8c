"""Load on loopback: 20 concurrent submissions to `defkit serve --workers 2`."""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from defkit.remote.protocol import BuildInfo
from tests.remote.conftest import (
    RemoteServer,
    context_archive,
    follow_log,
    needs_builder,
    processes_mentioning,
    status,
    submit,
    upload_context,
    work_dirs,
    write_busybox_recipe,
)

SUBMISSIONS = 20


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _running_jobs(server: RemoteServer) -> set[str]:
    """The job files of the server's build children (argv `--run-job STORE/work/ID/job.json`;
    a process the engine forks keeps that argv, so jobs are counted, not processes)."""
    jobs = set()
    for pid in processes_mentioning(f"--run-job\0{server.store}"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--run-job" in argv[:-1]:  # (not when the process exec'd something else meanwhile)
            jobs.add(argv[argv.index(b"--run-job") + 1].decode())
    return jobs


@needs_builder
def test_twenty_concurrent_submissions_with_two_workers_all_finish(
        start_remote_server: Callable[..., RemoteServer], tmp_path: pathlib.Path) -> None:
    server = start_remote_server("--workers", "2")
    pid = server.process.pid
    baseline = _rss_kib(pid)
    peak = [baseline]
    most_running = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kib(pid))
            most_running[0] = max(most_running[0], len(_running_jobs(server)))
            time.sleep(0.05)

    def one(index: int) -> tuple[str, BuildInfo, str]:
        # Each its own context (another greeting): twenty real builds, not cache hits.
        definition = write_busybox_recipe(tmp_path / f"project-{index}",
                                          greeting=f"hello {index}\n")
        checksum = upload_context(server, context_archive(
            [definition.parent / "busybox", definition.parent / "greeting.txt"]))
        info = BuildInfo.from_json(submit(server, definition, context=checksum))
        log = "".join(line for _, line in follow_log(server, info.id))
        return info.id, BuildInfo.from_json(status(server, info.id).json()["data"]), log

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(SUBMISSIONS) as pool:
            results = list(pool.map(one, range(SUBMISSIONS)))
    finally:
        stop.set()
        sampler.join()
    ids = {build_id for build_id, _, _ in results}
    assert len(ids) == SUBMISSIONS  # none lost, none merged
    for build_id, info, log in results:
        assert info.id == build_id and info.succeeded, log
        assert "cache miss" in log
    assert len({info.image_checksum for _, info, _ in results}) == SUBMISSIONS
    assert work_dirs(server) == []
    # Memory stays bounded: the server holds logs and state, never an image or a context.
    assert peak[0] - baseline < 100 * 1024, (baseline, peak[0])
    assert 1 <= most_running[0] <= 2
