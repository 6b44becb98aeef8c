"""The build queue: each build a child process in its own process group, its log kept for the
websocket, its result taken into the image store, its work directory always removed.

At most `workers` builds run at once (the others wait in submission order). A build is killed
(SIGKILL to its whole process group) when it is cancelled, when it reaches the time limit, when
nobody has watched it (no websocket open, no status request) for the idle timeout, and when the
server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Optional

from defkit.errors import DefkitError
from defkit.remote.protocol import BuildInfo, BuildRequest, LibraryRef, format_checksum
from defkit.serve.config import ServeConfig, owner_dir
from defkit.serve.errors import RequestError, not_found
from defkit.serve.images import ImageStore, StoredImage
from defkit.serve.worker import DEFINITION_FILE, OUTPUT_FILE, Job

#: What is kept of a build's log (a late websocket replays it): lines are cut at MAX_LINE
#: characters, and past MAX_LOG characters in all the rest of the log is dropped.
MAX_LINE = 16 * 1024
MAX_LOG = 16 * 1024 * 1024
#: A finished build's record is forgotten this long after it ended.
FINISHED_LIFETIME = 3600.0


@dataclass(eq=False)
class Build:
    id: str
    owner: str
    library_ref: LibraryRef
    arch: str
    work_dir: str
    ephemeral: bool
    state: str = "queued"  # queued, running, succeeded, failed, cancelled
    lines: list[str] = field(default_factory=list)
    log_size: int = 0
    image: Optional[StoredImage] = None
    pgid: Optional[int] = None
    cancel_requested: bool = False
    watchers: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    ended_at: Optional[float] = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: Optional[asyncio.Task[None]] = None

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")

    def log(self, line: str) -> None:
        if self.log_size > MAX_LOG:
            return
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + " [line cut]"
        self.log_size += len(line)
        if self.log_size > MAX_LOG:
            line = "defkit serve: the log is too long; the rest is not kept"
        self.lines.append(line)
        self._wake()

    def note(self, message: str) -> None:
        """A line of the server's own, always kept."""
        self.lines.append(f"defkit serve: {message}")
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def finish(self, state: str) -> None:
        self.state = state
        self.ended_at = time.monotonic()
        self._wake()

    async def follow(self) -> AsyncIterator[str]:
        """Every log line, from the first, as it comes; ends when the build has ended."""
        sent = 0
        while True:
            changed = self._changed
            while sent < len(self.lines):
                sent += 1
                yield self.lines[sent - 1]
            if self.done:
                return
            await changed.wait()

    def info(self, base_url: str) -> BuildInfo:
        image = self.image
        return BuildInfo(
            id=self.id,
            is_complete=self.done,
            image_size=image.size if image is not None else 0,
            image_checksum=format_checksum(image.hexdigest) if image is not None else "",
            library_ref=f"library://{self.library_ref}",
            library_url=base_url,
        )


class BuildManager:
    def __init__(self, config: ServeConfig, images: ImageStore) -> None:
        self.config = config
        self.images = images
        self.work_root = os.path.join(config.store, "work")
        self.cache_dir = os.path.join(config.store, "cache")
        os.makedirs(self.work_root, mode=0o700, exist_ok=True)
        self._builds: dict[str, Build] = {}
        self._slots = asyncio.Semaphore(config.workers)

    # --- requests ------------------------------------------------------------------------------

    def get(self, owner: str, build_id: str) -> Build:
        build = self._builds.get(build_id)
        if build is None or build.owner != owner:
            raise not_found("build")
        return build

    def submit(self, owner: str, request: BuildRequest, context: Optional[str]) -> Build:
        build_id = secrets.token_hex(12)
        if request.library_ref:
            try:
                ref = LibraryRef.parse(request.library_ref)
            except DefkitError as exc:
                raise RequestError(400, exc.message) from None
        else:
            ref = LibraryRef("remote-builds", "rb", f"rb-{build_id}")
        work_dir = os.path.join(self.work_root, build_id)
        os.mkdir(work_dir, 0o700)
        try:
            with open(os.path.join(work_dir, DEFINITION_FILE), "xb") as f:
                f.write(request.definition)
            archive = None
            if context is not None:
                # A link of its own: the client may delete the context while the build waits.
                archive = os.path.join(work_dir, "context.tar.gz")
                os.link(context, archive)
            Job(work_dir=work_dir, working_dir=request.working_dir or "/",
                context_archive=archive, arch=request.arch,
                max_context_size=self.config.max_context_size,
                local_bases=tuple(self.config.local_bases), cache_to=self.config.cache_to,
                insecure=self.config.insecure_registry,
                source_date_epoch=request.source_date_epoch).save()
        except BaseException:
            _remove(work_dir)
            raise
        build = Build(build_id, owner, ref, request.arch, work_dir,
                      ephemeral=not request.library_ref)
        build.note(f"build {build_id} queued")
        self._builds[build_id] = build
        build.task = asyncio.get_running_loop().create_task(self._run(build))
        return build

    def cancel(self, build: Build) -> None:
        if build.done:
            return
        build.cancel_requested = True
        if build.pgid is not None:
            _kill_group(build.pgid)
        elif build.task is not None and build.state == "queued":
            build.task.cancel()

    # --- running ------------------------------------------------------------------------------

    async def _run(self, build: Build) -> None:
        state = "failed"
        try:
            async with self._slots:
                if build.cancel_requested:
                    state = "cancelled"
                    return
                build.state = "running"
                build.note(f"build {build.id} started")
                state = await self._execute(build)
        except asyncio.CancelledError:
            state = "cancelled"
        except Exception as exc:  # a server-side failure: said in the build's log, not lost
            build.note(f"the build failed on the server: {exc}")
            state = "failed"
        finally:
            build.pgid = None
            if build.cancel_requested:
                state = "cancelled"
            if state == "cancelled":
                build.note("build cancelled")
            try:
                await asyncio.to_thread(_remove, build.work_dir)
            except DefkitError as exc:
                build.note(exc.message)
            build.finish(state)

    async def _execute(self, build: Build) -> str:
        from defkit.runner import ToolTimeoutError, run_streaming

        loop = asyncio.get_running_loop()

        def on_line(line: str) -> None:
            loop.call_soon_threadsafe(build.log, line)

        def on_start(pid: int) -> None:
            build.pgid = pid
            if build.cancel_requested:  # cancelled between the slot and the start
                _kill_group(pid)

        argv = [sys.executable, "-m", "defkit", "serve", "--run-job",
                os.path.join(build.work_dir, "job.json")]
        env = {**os.environ, "DEFKIT_CACHE_DIR": self.cache_dir,
               "TMPDIR": os.path.join(build.work_dir, "tmp"), "PYTHONUNBUFFERED": "1"}
        os.makedirs(env["TMPDIR"], exist_ok=True)
        try:
            done: subprocess.CompletedProcess[bytes] = await asyncio.to_thread(
                run_streaming, argv, on_line, cwd=build.work_dir, env=env,
                stderr_to_stdout=True, timeout=self.config.time_limit, on_start=on_start)
        except ToolTimeoutError:
            build.note(f"the build reached the time limit ({self.config.time_limit:g} s) and "
                       "was stopped")
            return "failed"
        if build.cancel_requested:
            return "cancelled"
        output = os.path.join(build.work_dir, OUTPUT_FILE)
        if done.returncode != 0 or not os.path.isfile(output):
            build.note(f"the build failed (exit {done.returncode})")
            return "failed"
        from defkit.sif.oras import sha256_file

        digest, size = await asyncio.to_thread(sha256_file, output)
        hexdigest = digest.removeprefix("sha256:")
        build.image = self.images.add(build.owner, build.library_ref, build.arch or _host_arch(),
                                      output, hexdigest, size,
                                      self.config.keep if build.ephemeral else None)
        build.note(f"image {format_checksum(hexdigest)} ({size} bytes) is "
                   f"library://{build.library_ref}")
        return "succeeded"

    # --- housekeeping ---------------------------------------------------------------------------

    def sweep(self) -> None:
        """Cancel builds nobody watches; forget builds long finished."""
        now = time.monotonic()
        idle = self.config.idle_timeout
        for build in list(self._builds.values()):
            if not build.done and idle > 0 and build.watchers == 0 \
                    and now - build.last_seen > idle:
                build.note(f"nobody has followed this build for {idle:g} s: "
                           "cancelling it")
                self.cancel(build)
            elif build.done and build.ended_at is not None \
                    and now - build.ended_at > FINISHED_LIFETIME:
                del self._builds[build.id]

    def begin_shutdown(self) -> None:
        for build in list(self._builds.values()):
            if not build.done:
                build.note("the server is stopping")
                self.cancel(build)

    async def shutdown(self) -> None:
        """Kill every build and wait until each has removed its work directory."""
        running = [build for build in self._builds.values() if not build.done]
        for build in running:
            self.cancel(build)
        tasks = [build.task for build in running if build.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _remove(path: str) -> None:
    from defkit.engine.sandbox import remove_tree

    with contextlib.suppress(FileNotFoundError):
        remove_tree(path)


def _host_arch() -> str:
    from defkit.arch import host_arch

    return host_arch()


__all__ = ["Build", "BuildManager", "owner_dir"]
