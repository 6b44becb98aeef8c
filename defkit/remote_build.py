"""`defkit build --remote [URL] FILE.def`: build on a remote builder that speaks the Sylabs remote
build API (`defkit serve`, SingularityCE's builders), then download the image.

The local build cache is asked first, under the key a local build of the same inputs would have
(`defkit.cache.hook.key_of`): a hit needs no server. On a miss the definition goes to the
builder with its `%files` context, the log is shown as it comes, Ctrl-C cancels the build on the
server, and the image comes back through the Library API, checked against the checksum the
builder reported, written through `defkit.atomic`. It then enters the local cache under that key
when it is what a local build would have made: built by this defkit version, for this
architecture, with this SOURCE_DATE_EPOCH (its labels say so); otherwise the output is kept and
the cache is left alone, with a warning.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Callable, Optional
from urllib.parse import urlsplit

from defkit.engine.context import (
    BuildFinished,
    BuildStarted,
    Notice,
    OutputLine,
    ProgressCallback,
    Warning,
)
from defkit.errors import BuildError, DefkitError, UsageError
from defkit.model import DefFile
from defkit.printable import printable
from defkit.remote.context import Source

if TYPE_CHECKING:
    from defkit.cache.hook import CacheOptions, Claim
    from defkit.cache.key import CacheKey
    from defkit.remote.client import BuilderClient, Endpoints
    from defkit.remote.config import Remote
    from defkit.remote.protocol import BuildInfo

#: Log lines kept for the message of a failed build.
TAIL_LINES = 20


def context_sources(deffile: DefFile, def_dir: str) -> list[Source]:
    """The host paths the definition's `%files` (not `%files from STAGE`) and `%appfiles`
    copy, matched as the engine matches them (relative ones from `def_dir`). A source that
    matches nothing is an error at its line, as in a local build."""
    from defkit.engine.steps import files_sections, source_matches

    found: list[Source] = []
    for stage in deffile.stages:
        for section, origin in files_sections(stage):
            if origin is not None:
                continue  # copied out of an earlier stage on the builder: nothing to send
            for entry in section.files:
                matches = source_matches(def_dir, entry.source)
                if not matches:
                    raise BuildError(f"%files: {entry.source} does not exist (relative to "
                                     f"{def_dir})", path=deffile.path, span=entry.span)
                found += [Source(os.path.normpath(os.path.abspath(match)), entry.source,
                                 entry.span) for match in matches]
        for section in stage.sections_named("appfiles"):
            for entry in section.files:
                path = os.path.join(def_dir, entry.source)
                if not os.path.lexists(path):
                    raise BuildError(f"%appfiles: {entry.source} does not exist (relative to "
                                     f"{def_dir})", path=deffile.path, span=entry.span)
                found.append(Source(os.path.normpath(os.path.abspath(path)), entry.source,
                                    entry.span))
    return found


def check_remote_definition(deffile: DefFile) -> None:
    """What a remote builder cannot build, refused before anything is sent (as SingularityCE
    refuses `Bootstrap: localimage` with `--remote`)."""
    for stage in deffile.stages:
        bootstrap = (stage.bootstrap or "").strip()
        entry = stage.header_entry("bootstrap")
        span = entry.span if entry is not None else stage.span
        if bootstrap == "localimage":
            raise UsageError("Bootstrap: localimage cannot be built remotely: the builder "
                             "cannot read an image on this machine (push it to a registry and "
                             "use Bootstrap: oras, or build locally)", path=deffile.path,
                             span=span)
        if bootstrap in ("oci", "oci-archive", "docker-archive", "docker-daemon"):
            raise UsageError(f"Bootstrap: {bootstrap} cannot be built remotely: it reads from "
                             "this machine", path=deffile.path, span=span)


class RemoteBuildFailed(BuildError):
    """The builder reports the build failed; `tail` is the end of its log."""

    def __init__(self, message: str, *, tail: tuple[str, ...]) -> None:
        super().__init__(message)
        self.tail = tail


class LogWriter:
    """Turns the log's text frames into lines (a frame may hold part of a line, or several),
    made safe for a terminal, sends each to `progress`, and keeps the last ones for the
    message of a failed build."""

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.pending = ""
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def __call__(self, text: str) -> None:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        # The server's text reaches the terminal: no escape sequences from it.
        line = printable(line.rstrip("\r"))
        self.tail.append(line)
        self.progress(OutputLine("remote", line))

    def flush(self) -> None:
        if self.pending:
            self._line(self.pending)
            self.pending = ""


def build_remotely(def_file: str, *, url: Optional[str], output: Optional[str], force: bool,
                   arch: Optional[str], detached: bool, cache: CacheOptions,
                   progress: ProgressCallback,
                   echo: Callable[[str], None]) -> int:
    """Build `def_file` on the remote builder (see the module's docstring). `echo` prints what
    a detached build says about fetching its result."""
    from defkit.arch import host_arch
    from defkit.engine import reproducible
    from defkit.engine.engine import checked_target, default_mode, load_definition

    started = time.monotonic()
    def_path, target = checked_target(def_file, output, None, force=force)
    if not os.access(os.path.dirname(target), os.W_OK):
        raise UsageError(f"cannot write {target}: {os.path.dirname(target)} is not writable")
    deffile = load_definition(def_path, {}, warn_unused=False).deffile
    check_remote_definition(deffile)
    arch = arch or host_arch()
    mode, _ = default_mode(False)
    epoch = reproducible.source_date_epoch(def_path)
    key = _local_key(def_path, deffile, arch=arch, mode=mode, epoch=epoch, cache=cache,
                     progress=progress)
    claim: contextlib.AbstractContextManager[Optional[Claim]] = contextlib.nullcontext()
    if key is not None and not detached:
        from defkit.cache import hook

        claim = hook.claim(key, cache, progress)
    with claim as held:
        if held is not None and held.hit is not None:
            progress(BuildStarted(def_path, target, mode, "cache", len(deffile.stages), epoch))
            held.place(target)
            progress(BuildFinished(target, held.hit.size, time.monotonic() - started))
            return 0
        from defkit.remote import config

        remote = config.resolve(url)
        info = _remote_build(remote, def_path, deffile, target, arch=arch, epoch=epoch,
                             detached=detached, progress=progress, echo=echo)
        if info is None:  # detached
            return 0
        size = os.path.getsize(target)
        if held is not None:
            why = _differs_from_local(target, arch=arch, epoch=epoch)
            if why:
                progress(Warning(f"not entered into the local build cache: {why}"))
            else:
                held.store_output(target, cache)
        progress(BuildFinished(target, size, time.monotonic() - started))
    return 0


def _local_key(def_path: str, deffile: DefFile, *, arch: str, mode: str, epoch: int,
               cache: CacheOptions, progress: ProgressCallback) -> Optional[CacheKey]:
    """The key a local build would use; None when the cache is off or the key cannot be made
    here (no mksquashfs on a login node: the remote build does not need one)."""
    if not cache.enabled:
        return None
    from defkit.cache import hook
    from defkit.runner import run

    try:
        return hook.key_of(def_path, deffile, build_args={}, secrets=(), arch=arch, mode=mode,
                           sections=("all",), notest=False, source_date_epoch=epoch,
                           force=False, options=cache, insecure=False, runner=run)
    except DefkitError as exc:
        progress(Notice(f"the local build cache is not used: {exc.message}"))
        return None


def _remote_build(remote: Remote, def_path: str, deffile: DefFile, target: str, *, arch: str,
                  epoch: int, detached: bool, progress: ProgressCallback,
                  echo: Callable[[str], None]) -> Optional[BuildInfo]:
    from defkit.remote.client import BuilderClient, discover
    from defkit.remote.protocol import BuildRequest
    from defkit.remote.transport import TokenRefused

    endpoints = discover(remote.url)
    def_dir = os.path.dirname(def_path)
    with open(def_path, "rb") as handle:
        definition = handle.read()
    with BuilderClient(endpoints.builder, remote.token) as builder:
        if remote.token and builder.token_status(endpoints.token_service) == "refused":
            raise TokenRefused(f"the remote at {urlsplit(remote.url).netloc} refused the token "
                               f"(from {remote.token_source})")
        progress(BuildStarted(def_path, target, f"on {builder.host}", "remote",
                              len(deffile.stages), epoch))
        with _context(builder, deffile, def_dir, def_path, progress) as checksum:
            request = BuildRequest(definition=definition, arch=arch, context_checksum=checksum,
                                   working_dir=def_dir, source_date_epoch=epoch)
            info = builder.submit(request)
            progress(Notice(f"remote build {info.id} submitted to {builder.host} ({arch})"))
            if detached:
                _print_fetch(info, endpoints, echo)
                return None
            info = _follow(builder, info, progress)
        _download(remote, endpoints, info, target, arch=arch, progress=progress)
    return info


@contextlib.contextmanager
def _context(builder: BuilderClient, deffile: DefFile, def_dir: str, def_path: str,
             progress: ProgressCallback) -> Iterator[str]:
    """Upload the `%files` context (when there is one); yields its checksum ("" for none)."""
    from defkit.remote.context import build_context

    sources = context_sources(deffile, def_dir)
    if not sources:
        yield ""
        return
    archive = build_context(sources, def_path)
    try:
        uploaded = builder.upload_context(archive)
    finally:
        os.unlink(archive.path)
    how = "uploaded" if uploaded else "already on the server"
    progress(Notice(f"build context: {len(archive.entries)} entries, {archive.size} bytes, "
                    f"{how} ({archive.checksum})"))
    try:
        yield archive.checksum
    finally:
        builder.delete_context(archive.checksum)


def _follow(builder: BuilderClient, info: BuildInfo, progress: ProgressCallback) -> BuildInfo:
    """Show the log until it closes, then the final status; Ctrl-C cancels the build."""
    log = LogWriter(progress)
    try:
        complete = builder.stream_log(info.id, log)
        log.flush()
        info = builder.status(info.id)
        if not (complete and info.is_complete):
            info = builder.wait(info.id)
    except KeyboardInterrupt:
        log.flush()
        why = builder.cancel(info.id)
        progress(Notice(f"remote build {info.id} cancelled" if why is None
                        else f"remote build {info.id}: the cancel request failed ({why})"))
        raise
    if not info.succeeded:
        lines = [line.strip() for line in log.tail if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        why = (errors or lines or [""])[-1]
        raise RemoteBuildFailed(f"remote build {info.id} on {builder.host} failed"
                                + (f": {why}" if why else ""), tail=tuple(log.tail))
    return info


def _download(remote: Remote, endpoints: Endpoints, info: BuildInfo, target: str, *, arch: str,
              progress: ProgressCallback) -> None:
    from defkit.atomic import replacing
    from defkit.remote.library import download, parse_library_ref
    from defkit.remote.transport import Server

    library = info.library_url or endpoints.library
    # The token goes to the library only when the remote itself named it (its discovery
    # document, or the builder's own host): a build's reply may name any URL.
    trusted = {urlsplit(url).netloc for url in (remote.url, endpoints.builder, endpoints.library)}
    token = remote.token if urlsplit(library).netloc in trusted else ""
    ref = parse_library_ref(info.library_ref)
    progress(Notice(f"downloading {ref} from {urlsplit(library).netloc}"))
    with Server(library, token, what="library") as server, replacing(target) as temporary:
        download(server, ref, arch, temporary, expected=info.image_checksum)
        size = os.path.getsize(temporary)
        if info.image_size and size != info.image_size:
            raise BuildError(f"{ref}: downloaded {size} bytes, the builder reported "
                             f"{info.image_size}")


def _print_fetch(info: BuildInfo, endpoints: Endpoints, echo: Callable[[str], None]) -> None:
    ref = info.library_ref.removeprefix("library://")
    library = (info.library_url or endpoints.library).rstrip("/")
    echo(f"Build {info.id} submitted. Once it is complete, the image can be fetched with:")
    echo(f"    singularity pull --library {library} library://{ref}")
    echo(f"or used as a base in a definition: Bootstrap: library, Library: {library}, "
         f"From: {ref}")


def _differs_from_local(image: str, *, arch: str, epoch: int) -> str:
    """Why the downloaded image is not what a local build of the same inputs makes ("" when
    it is): its labels name the builder's defkit version, architecture and build time."""
    from defkit import __version__
    from defkit.image.inspect import inspect_image

    try:
        labels = inspect_image(image).labels
    except DefkitError as exc:
        return f"the image cannot be inspected ({exc.message})"
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    expected = {
        "org.label-schema.usage.apptainer.version": f"defkit-{__version__}",
        "org.label-schema.build-arch": arch,
        "org.opencontainers.image.created": created,
    }
    for label, value in expected.items():
        found = labels.get(label, "")
        if found != value:
            return f"the builder's image has {label}={found or '(none)'}, a local build {value}"
    return ""


__all__ = ["LogWriter", "RemoteBuildFailed", "build_remotely", "check_remote_definition",
           "context_sources"]
