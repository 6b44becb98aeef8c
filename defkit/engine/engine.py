"""The native build engine: a definition file in, a SIF image (or a sandbox directory) out.

Stages run one after another in Apptainer's order (deffile spec §9): bootstrap agent (fills the
rootfs and the base /.singularity.d) -> SCIF app directories, %appinstall appended to %post ->
`%files from STAGE` -> %setup on the host -> %files from the host -> %post inside the rootfs ->
metadata (/.singularity.d files, labels) -> volatile files normalised. After the last stage:
%test (unless notest), then squashfs + SIF, or the sandbox directory.

Every stage's rootfs lives in a private work directory, removed when the build ends however it
ends (success, error, Ctrl-C). The output appears only at the very end, by rename.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

# engine.sandbox (remove_tree) is imported where a work directory goes: a cache hit needs none.
from defkit.engine import reproducible
from defkit.engine.context import (
    BuildContext,
    BuildFinished,
    BuildStarted,
    CacheStatus,
    Event,
    Mode,
    Notice,
    ProgressCallback,
    StageStarted,
    StepFinished,
    StepStarted,
    Warning,
    ignore_event,
)
from defkit.engine.redact import Redactor, secret_names
from defkit.errors import BuildError, DefkitError, UsageError
from defkit.model import DefFile, Stage
from defkit.runner import Runner, run

if TYPE_CHECKING:
    from defkit.cache.hook import CacheOptions
    from defkit.cache.key import CacheKey
    from defkit.cache.stage import StageCache
    from defkit.engine import steps


@dataclass(frozen=True)
class BuildResult:
    output: str
    size: int  # bytes; 0 for a sandbox directory
    seconds: float
    source_date_epoch: int
    mode: str


def default_mode(fakeroot: bool) -> tuple[Mode, Optional[str]]:
    """The mode of a build and, when it was chosen for the user, a notice saying so."""
    if os.geteuid() == 0 and not fakeroot:
        return "root", None
    from defkit.engine.sandbox import fakeroot_available, subid_ranges

    if subid_ranges() is not None:
        # Always said, so the log tells a subuid-mapped build from a root-mapped one.
        reason = "--fakeroot" if fakeroot else "not running as root: building with --fakeroot"
        return "userns", f"{reason}: user namespace with your /etc/subuid range"
    if not fakeroot_available():
        return "userns", ("fakeroot is not installed: building in a root-mapped user namespace "
                          "only (packages that chown to other users will fail)")
    if not fakeroot:
        return "fakeroot", ("not running as root: building rootless with --fakeroot "
                            "(user namespace + fakeroot)")
    return "fakeroot", None


@dataclass(frozen=True)
class LoadedDefinition:
    deffile: DefFile  # templated: what is built
    embedded: str  # what the image stores as its definition
    unused: list[str]  # build args no placeholder used
    recorded: dict[str, str]  # build args the image may record (used, not secret)


#: Sections whose text the image does not keep (everything else is stored in /.singularity.d).
_NOT_STORED = frozenset({"post", "setup", "files", "appinstall", "appfiles", "arguments"})


def load_definition(
    def_path: str, build_args: Mapping[str, str], *, warn_unused: bool,
    secrets: Collection[str] = (),
) -> LoadedDefinition:
    """The templated definition, the text the image embeds, the unused build args and the ones
    to record. A secret used where the image would store it is refused (BuildError)."""
    from defkit.engine.redact import recorded_args
    from defkit.parser import parse_file
    from defkit.templating import template

    written = parse_file(def_path)
    templated = template(written, dict(build_args), warn_unused=warn_unused)
    refuse_stored_secrets(templated.deffile, {name: build_args[name] for name in secrets
                                              if name in build_args})
    # Apptainer embeds the templated text (every templated stage, concatenated). defkit embeds
    # the stages as written, placeholders unexpanded: a build arg can be a password or a token,
    # and a secret must never be baked into an image that is pushed and shared. The values of
    # the arguments that are not secret are recorded as labels instead. As in Apptainer, text
    # before the first `Bootstrap:` is not kept.
    embedded = "".join(stage.raw for stage in written.stages)
    unused = sorted(set(build_args) - templated.used)
    return LoadedDefinition(templated.deffile, embedded, unused,
                            recorded_args(build_args, templated.used, secrets))


def refuse_stored_secrets(deffile: DefFile, secrets: Mapping[str, str]) -> None:
    """A BuildError when a secret's value ends up in a header value or a section the image
    stores (%labels, %environment, %runscript, %help...), where it would be baked."""
    from defkit.engine.redact import MIN_LENGTH

    for stage in deffile.stages:
        places = [(f"the header ({entry.key})", entry.value, entry.span)
                  for entry in stage.header]
        places += [(f"%{section.written_name or section.name}", section.args + section.body,
                    section.header_span)
                   for section in stage.sections if section.name not in _NOT_STORED]
        for name, value in sorted(secrets.items()):
            for where, text, span in places:
                if len(value) >= MIN_LENGTH and value in text:
                    raise BuildError(f"secret build arg {name} is used in {where}, which the "
                                     "image stores: use secrets only in %post, %setup or %files",
                                     path=deffile.path, span=span)


def check_stages(deffile: DefFile, ctx: BuildContext) -> None:
    """Apptainer's up-front checks, and each agent's own, before anything runs."""
    from defkit.engine import agents

    for stage in deffile.stages:
        if not stage.header:
            raise BuildError("multiple stages detected, all must have headers",
                             path=ctx.def_path, span=stage.span)
        bootstrap = (stage.bootstrap or "").strip()
        if not bootstrap:
            raise BuildError("no bootstrap specification found", path=ctx.def_path,
                             span=stage.span)
        entry = stage.header_entry("bootstrap")
        span = entry.span if entry is not None else stage.span
        try:
            agents.get(bootstrap).check(stage, ctx)
        except DefkitError as exc:
            if exc.path is None:
                exc.path, exc.span = ctx.def_path, span
            raise


def build(
    def_path: str,
    *,
    output: Optional[str] = None,
    sandbox: Optional[str] = None,
    fakeroot: bool = False,
    mode: Optional[Mode] = None,
    arch: Optional[str] = None,
    build_args: Optional[Mapping[str, str]] = None,
    secret_args: Collection[str] = (),
    warn_unused_build_args: bool = False,
    sections: Sequence[str] = ("all",),
    notest: bool = False,
    force: bool = False,
    insecure: bool = False,
    workdir: Optional[str] = None,
    source_date_epoch: Optional[int] = None,
    cache: Optional[CacheOptions] = None,
    base_digests: Optional[Mapping[str, str]] = None,
    context_dir: Optional[str] = None,
    files_root: Optional[str] = None,
    stage_cache: Optional[StageCache] = None,
    progress: ProgressCallback = ignore_event,
    runner: Runner = run,
) -> BuildResult:
    """Build `def_path` into `output` (a SIF; default `NAME.sif` next to the def file) or into the
    directory `sandbox`. Raises DefkitError subclasses for everything the user can act on.

    `secret_args` names the build args that are secrets (as do secret-looking names, see
    `redact.secret_names`): their values are never recorded in the image; the others are recorded
    as `org.defkit.build-arg.NAME` labels. No build arg value is shown in events or errors.

    With `cache`, a SIF build is keyed (defkit.cache.key): a hit places the cached image at the
    output; a miss builds, then stores. Sandbox builds are not cached.

    `context_dir`: where relative `%files` sources and local `From:` paths are found (default:
    the def file's directory; a converted Dockerfile's build context).

    `files_root`: where absolute `%files`/`%appfiles` sources are read: `/a/b` from
    `<files_root>/a/b`, resolved inside it (a symlink cannot lead out); default the host's `/`.

    `stage_cache` (given by the cached path itself): each stage before the last is restored
    from the cache when its stage key has an entry, else built and stored."""
    started = time.monotonic()
    def_path, target = checked_target(def_path, output, sandbox, force=force)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise UsageError(f"cannot write {target}: {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot write {target}: {parent} is not writable")
    args = dict(build_args or {})
    redactor = Redactor(args.values())
    try:
        loaded = load_definition(def_path, args, warn_unused=warn_unused_build_args,
                                 secrets=secret_names(args, secret_args))
    except DefkitError as exc:
        redactor.error(exc)
        raise
    deffile, definition = loaded.deffile, loaded.embedded
    requested_mode = mode
    if mode is None:
        mode, notice = default_mode(fakeroot)
    else:
        notice = None
    if source_date_epoch is None:
        source_date_epoch = reproducible.source_date_epoch(def_path, runner=runner)
    from defkit.arch import host_arch

    arch = arch or host_arch()
    if cache is not None and sandbox is None:
        from defkit.cache import hook

        try:
            key = hook.key_of(def_path, deffile, build_args=args,
                              secrets=secret_names(args, secret_args), arch=arch, mode=mode,
                              sections=tuple(sections) or ("all",), notest=notest,
                              source_date_epoch=source_date_epoch, force=force, options=cache,
                              insecure=insecure, runner=runner, context_dir=context_dir,
                              files_root=files_root)
        except DefkitError as exc:
            redactor.error(exc)
            raise
        emit = redactor.wrap(progress)
        # The cache's answers are shown after the build's first line (BuildStarted).
        pending: list[Event] = []

        def flush() -> None:
            claim.progress = emit
            for event in pending:
                emit(event)
            pending.clear()

        with hook.claim(key, cache, pending.append) as claim:
            if claim.hit is not None:
                emit(BuildStarted(def_path, target, mode, "cache", len(deffile.stages),
                                  source_date_epoch))
                flush()
                existing = _identity(target)
                try:
                    claim.place(target)
                except BaseException:
                    _discard_new_output(target, existing)
                    raise
                seconds = time.monotonic() - started
                emit(BuildFinished(target, claim.hit.size, seconds))
                return BuildResult(target, claim.hit.size, seconds, source_date_epoch, mode)

            finished: list[Event] = []

            def relay(event: Event) -> None:
                if isinstance(event, BuildFinished):
                    finished.append(event)  # the last line, after the cache has the image
                    return
                progress(event)
                if isinstance(event, BuildStarted):
                    flush()

            built = build(def_path, output=target, fakeroot=fakeroot, mode=requested_mode,
                          arch=arch, build_args=args, secret_args=secret_args,
                          warn_unused_build_args=warn_unused_build_args, sections=sections,
                          notest=notest, force=force, insecure=insecure, workdir=workdir,
                          source_date_epoch=source_date_epoch, base_digests=key.base_digests,
                          context_dir=context_dir, files_root=files_root,
                          stage_cache=claim.stages(cache),
                          progress=relay, runner=runner)
            flush()
            claim.store_output(target, cache)
            for event in finished:
                progress(event)
            return built
    if workdir is None and sandbox is not None:
        # Next to the sandbox, so the finished tree is renamed into place, never copied (a copy
        # across filesystems would lose ownership and hard links).
        workdir = os.path.dirname(target)
    from defkit.engine.layout_meta import build_arg_labels

    existing = _identity(target)
    reclaim_dead_work(workdir)
    base = tempfile.mkdtemp(prefix=WORK_PREFIX, dir=workdir)
    owner = _hold_owner_lock(base)
    try:
        ctx = BuildContext(
            def_path=def_path,
            def_dir=context_dir or os.path.dirname(def_path),
            files_root=files_root,
            build_dir=base,
            mode=mode,
            arch=arch,
            source_date_epoch=source_date_epoch,
            build_args=args,
            build_labels=build_arg_labels(loaded.recorded),
            sections=tuple(sections) or ("all",),
            notest=notest,
            force=force,
            insecure=insecure,
            base_digests=dict(base_digests or {}),
            progress=redactor.wrap(progress),
            runner=runner,
        )
        ctx.emit(BuildStarted(def_path, target, mode, "native", len(deffile.stages),
                              source_date_epoch))
        if notice:
            ctx.emit(Notice(notice))
        if loaded.unused:
            ctx.emit(Warning("unused build args: " + ", ".join(loaded.unused)))
        ctx = _checked(deffile, ctx)
        result = _run_stages(deffile, definition, ctx, target, sandbox is not None,
                             stage_cache)
        seconds = time.monotonic() - started
        ctx.emit(BuildFinished(target, result, seconds))
        return BuildResult(target, result, seconds, source_date_epoch, mode)
    except BaseException as exc:
        # However late the failure (a progress callback, Ctrl-C), no new output is left behind.
        _discard_new_output(target, existing)
        if isinstance(exc, DefkitError):
            redactor.error(exc)
        raise
    finally:
        try:
            _remove_work(base, target, existing)
        finally:
            os.close(owner)


def explain_key(
    def_path: str,
    *,
    fakeroot: bool = False,
    mode: Optional[Mode] = None,
    arch: Optional[str] = None,
    build_args: Optional[Mapping[str, str]] = None,
    secret_args: Collection[str] = (),
    sections: Sequence[str] = ("all",),
    notest: bool = False,
    force: bool = False,
    insecure: bool = False,
    source_date_epoch: Optional[int] = None,
    cache: Optional[CacheOptions] = None,
    runner: Runner = run,
) -> CacheKey:
    """The cache key a `build` with these options would use (nothing is built)."""
    from defkit.arch import host_arch
    from defkit.cache import hook

    def_path = os.path.abspath(def_path)
    if not os.path.isfile(def_path):
        raise UsageError(f"{def_path}: no such definition file")
    args = dict(build_args or {})
    redactor = Redactor(args.values())
    try:
        secrets = secret_names(args, secret_args)
        loaded = load_definition(def_path, args, warn_unused=True, secrets=secrets)
        if mode is None:
            mode, _ = default_mode(fakeroot)
        if source_date_epoch is None:
            source_date_epoch = reproducible.source_date_epoch(def_path, runner=runner)
        return hook.key_of(def_path, loaded.deffile, build_args=args, secrets=secrets,
                           arch=arch or host_arch(), mode=mode,
                           sections=tuple(sections) or ("all",), notest=notest,
                           source_date_epoch=source_date_epoch, force=force,
                           options=cache or hook.CacheOptions(), insecure=insecure,
                           runner=runner)
    except DefkitError as exc:
        redactor.error(exc)
        raise


#: A build's work directory: `WORK_PREFIX*/` holding `OWNER_LOCK`, locked while its build runs.
WORK_PREFIX = ".defkit-build-"
OWNER_LOCK = ".owner.lock"


def _hold_owner_lock(base: str) -> int:
    """An flock on the work directory's owner file, held until the build ends: the kernel drops
    it when the process dies however it dies (kill -9), which is how a later build tells a
    dead build's leftovers from a running one's."""
    import fcntl

    fd = os.open(os.path.join(base, OWNER_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def reclaim_dead_work(workdir: Optional[str]) -> list[str]:
    """Remove the work directories in `workdir` (default $TMPDIR) whose build died: their owner
    lock is free. A directory without the lock file is only taken once it is an hour old (it
    may be a build between mkdtemp and taking its lock). Best effort; returns what went."""
    import fcntl

    from defkit.engine.sandbox import remove_tree

    parent = workdir or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(parent) if n.startswith(WORK_PREFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(parent, name)
        try:
            fd = os.open(os.path.join(path, OWNER_LOCK), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - os.lstat(path).st_mtime > 3600 and os.path.isdir(path):
                    remove_tree(path)
                    removed.append(path)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # its build is running
            continue
        try:
            with contextlib.suppress(DefkitError, OSError):
                remove_tree(path)
                removed.append(path)
        finally:
            os.close(fd)
    return removed


def _identity(path: str) -> Optional[tuple[int, int]]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def _discard_new_output(target: str, existing: Optional[tuple[int, int]]) -> None:
    """Remove `target` if this build put it there: what was there before it started (same
    device and inode) is not ours to delete. Best effort: the build's own error is what counts."""
    from defkit.engine.sandbox import remove_tree
    found = _identity(target)
    if found is None or found == existing:
        return
    with contextlib.suppress(DefkitError, OSError):
        remove_tree(target)


def _remove_work(base: str, target: str, existing: Optional[tuple[int, int]]) -> None:
    """Remove the work directory; if that fails the build fails, and its output goes too."""
    from defkit.engine.sandbox import remove_tree
    try:
        remove_tree(base)
    except BaseException:
        _discard_new_output(target, existing)
        raise


def _checked(deffile: DefFile, ctx: BuildContext) -> BuildContext:
    """Run the checks; an agent that refuses the subuid namespace (debootstrap needs mknod) gets
    the fakeroot mode instead, when fakeroot is installed."""
    from defkit.engine.sandbox import fakeroot_available

    try:
        check_stages(deffile, ctx)
        return ctx
    except DefkitError:
        if ctx.mode != "userns" or not fakeroot_available():
            raise
    fallback = replace(ctx, mode="fakeroot")
    check_stages(deffile, fallback)
    fallback.emit(Notice("a bootstrap agent cannot run in a plain user namespace: using "
                         "fakeroot"))
    return fallback


def checked_target(def_path: str, output: Optional[str], sandbox: Optional[str], *,
                   force: bool) -> tuple[str, str]:
    """The absolute def file path and the output path of a build (either engine); a UsageError
    when the def file is missing or the output exists without `force`."""
    def_path = os.path.abspath(def_path)
    if not os.path.isfile(def_path):
        raise UsageError(f"{def_path}: no such definition file")
    target = _target(def_path, output, sandbox)
    if os.path.lexists(target) and not force:
        raise UsageError(f"{target} already exists: use --force to overwrite it")
    return def_path, target


def _target(def_path: str, output: Optional[str], sandbox: Optional[str]) -> str:
    if output and sandbox:
        raise UsageError("-o/--output and --sandbox cannot be used together")
    if sandbox:
        return os.path.abspath(sandbox.rstrip("/") or sandbox)
    if output:
        return os.path.abspath(output)
    stem = os.path.splitext(os.path.basename(def_path))[0]
    return os.path.join(os.path.dirname(def_path), stem + ".sif")


def _run_stages(deffile: DefFile, definition: str, ctx: BuildContext, target: str,
                to_sandbox: bool, stage_cache: Optional[StageCache] = None) -> int:
    from defkit.engine import steps  # the stages' machinery: not needed on a cache hit

    rootfses: dict[int, str] = {}
    total = len(deffile.stages)
    last_result = None
    for index, stage in enumerate(deffile.stages):
        label = stage.name or f"stage {index + 1}"
        ctx.emit(StageStarted(index + 1, total, stage.name, stage.bootstrap or ""))
        rootfs = os.path.join(ctx.build_dir, f"stage-{index + 1}", "rootfs")
        os.makedirs(rootfs, mode=0o755)
        final = index == total - 1
        earlier = {deffile.stages[i].name: path for i, path in rootfses.items()
                   if deffile.stages[i].name}
        if stage_cache is None or final:
            # The last stage's result is the image, kept under the build's key.
            last_result = steps.run_stage(stage, rootfs, ctx, label=label,
                                          definition=definition, earlier=earlier, final=final)
            if stage_cache is not None and total > 1:
                # Per stage `cached` or `built`: said for multi-stage builds only.
                ctx.emit(CacheStatus(_stage_tag(stage_cache, index), "built", label))
        else:
            _cached_stage(stage_cache, index, stage, rootfs, ctx, label=label,
                          definition=definition, earlier=earlier)
        rootfses[index] = rootfs
    final_stage: Stage = deffile.stages[-1]
    rootfs = rootfses[total - 1]
    assert last_result is not None
    if final_stage is not None and not ctx.notest and ctx.section_enabled("test"):
        steps.run_test(final_stage, rootfs, ctx, label=final_stage.name or f"stage {total}",
                       state=last_result)
    if to_sandbox:
        return _finish_sandbox(rootfs, target, ctx)
    return _finish_sif(rootfs, target, ctx, definition, last_result)


def _stage_tag(stage_cache: StageCache, index: int) -> str:
    return f"sha256-{stage_cache.keys[index]}"


def _cached_stage(stage_cache: StageCache, index: int, stage: Stage, rootfs: str,
                  ctx: BuildContext, *, label: str, definition: str,
                  earlier: Mapping[str, str]) -> None:
    """A stage before the last: restored from its entry, else built and kept. Only its rootfs
    is used later (by `%files from`), so its StageState is not needed."""
    from defkit.engine import steps
    from defkit.engine.sandbox import remove_tree

    with stage_cache.claim(index, ctx) as hit:
        if hit is not None:
            try:
                with steps.step(ctx, label, "restore"):
                    stage_cache.restore(hit, rootfs, ctx)
                ctx.emit(CacheStatus(_stage_tag(stage_cache, index), "cached", label))
                return
            except DefkitError as exc:
                # An entry that checks out but does not unpack: dropped, the stage is built.
                ctx.emit(CacheStatus(_stage_tag(stage_cache, index), "not-stored",
                                     f"{label}: unusable entry removed ({exc.message})"))
                stage_cache.store.remove(stage_cache.keys[index])
                remove_tree(rootfs)
                os.makedirs(rootfs, mode=0o755)
        steps.run_stage(stage, rootfs, ctx, label=label, definition=definition,
                        earlier=earlier, final=False)
        with steps.step(ctx, label, "keep"):
            stage_cache.keep(index, rootfs, ctx, label)
        ctx.emit(CacheStatus(_stage_tag(stage_cache, index), "built", label))


def _finish_sandbox(rootfs: str, target: str, ctx: BuildContext) -> int:
    from defkit.engine.sandbox import remove_tree
    started = time.monotonic()
    ctx.emit(StepStarted("", "sandbox"))
    reproducible.clamp_mtimes(rootfs, ctx.source_date_epoch)
    parent = os.path.dirname(target)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(target) + ".", dir=parent)
    try:
        moved = os.path.join(staging, "rootfs")
        shutil.move(rootfs, moved)
        if os.path.lexists(target):
            remove_tree(target)
        os.replace(moved, target)
    finally:
        remove_tree(staging)
    ctx.emit(StepFinished("", "sandbox", time.monotonic() - started))
    return 0


def _finish_sif(
    rootfs: str, target: str, ctx: BuildContext, definition: str, state: steps.StageState
) -> int:
    from defkit.engine.pack import pack_sif

    pack_sif(rootfs, target, ctx, definition=definition, fakeroot_state=state.fakeroot_state,
             bootstrap=state.bootstrap, work=os.path.dirname(rootfs))
    return os.path.getsize(target)


__all__ = ["BuildResult", "LoadedDefinition", "build", "default_mode", "explain_key",
           "load_definition"]
