"""The steps of one stage, in Apptainer's order (deffile spec §9), and %test.

Section scripts run with `/bin/sh -ex SCRIPT` (%setup on the host, %post chrooted in the rootfs);
a failure becomes a BuildError pointing at the .def line of the failing command (`trace`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Optional

from defkit.engine import reproducible, trace
from defkit.engine.agents.base import BootstrapResult
from defkit.engine.context import (
    BuildContext,
    Mode,
    Notice,
    OutputLine,
    StepFinished,
    StepStarted,
    Warning,
    fakeroot_state_path,
    run_in_rootfs,
)
from defkit.errors import BuildError, DefkitError
from defkit.model import FileEntry, Section, Stage
from defkit.runner import run_streaming
from defkit.safepath import Root

ENV_FILE = "/.singularity.d/env/91-environment.sh"
LABELS_FILE = "/.build.labels"
POST_SCRIPT = "/.post.script"


@dataclass(frozen=True)
class StageState:
    bootstrap: BootstrapResult
    fakeroot_state: Optional[str]  # the state file, when one was written
    mode: Mode  # the mode %post ran in (fakeroot falls back to userns without glibc)


@contextlib.contextmanager
def step(ctx: BuildContext, stage: str, name: str) -> Iterator[None]:
    started = time.monotonic()
    ctx.emit(StepStarted(stage, name))
    yield
    ctx.emit(StepFinished(stage, name, time.monotonic() - started))


def shell_argv(section: Section, script: str, path: str) -> list[str]:
    """`/bin/sh -ex` plus the section's arguments, as Apptainer builds it (spec §9)."""
    words = section.args.split("#", 1)[0].split()
    if "-c" in words:
        at = words.index("-c")
        rest = words[at + 1:]
        if not rest:
            raise BuildError(f"bad {section.name} section '-c' parameter: missing arguments",
                             path=path, span=section.header_span)
        return ["/bin/sh", "-ex", *words[:at], "-c", " ".join([*rest, script])]
    return ["/bin/sh", "-ex", *words, script]


def section_script(stage: Stage, name: str) -> tuple[trace.Script, Optional[Section]]:
    """All `%name` sections of the stage, concatenated, with their line map."""
    script = trace.Script(())
    first: Optional[Section] = None
    for section in stage.sections_named(name):
        if section.app is not None:
            continue
        first = first or section
        script = script + trace.script_from_body(section.body, section.body_line)
    return script, first


def appinstall_script(stage: Stage) -> trace.Script:
    """Each `%appinstall` wrapped as Apptainer does, in app order, to be appended to %post."""
    script = trace.Script(())
    for app in stage.app_order:
        for section in stage.sections:
            if section.name == "appinstall" and section.app == app:
                script = script + trace.generated(
                    "cd /", f". /scif/apps/{app}/scif/env/01-base.sh", f"cd /scif/apps/{app}"
                ) + trace.script_from_body(section.body, section.body_line) + trace.generated(
                    "cd /")
    return script


def _streamer(ctx: BuildContext, name: str) -> trace.TraceRecorder:
    return trace.TraceRecorder(lambda line: ctx.emit(OutputLine(name, line)))


def _failure(ctx: BuildContext, name: str, code: int, script: trace.Script,
             recorder: trace.TraceRecorder, section: Section) -> BuildError:
    """`path:line:col: error: %post failed (exit 2) at: <command>`; the command is the line as
    written in the file (build-arg values are not shown)."""
    line = trace.locate(script, list(recorder.traces))
    command = trace.last_command(list(recorder.traces))
    if line is not None:
        written = _file_line(ctx.def_path, line).strip() or (command or "")
        span = type(section.span)(line, 1, line, 1)
        indent = len(_file_line(ctx.def_path, line)) - len(_file_line(ctx.def_path,
                                                                       line).lstrip())
        span = type(section.span)(line, indent + 1, line, indent + 1)
        return BuildError(f"{name} failed (exit {code}) at: {written}", path=ctx.def_path,
                          span=span)
    hint = f"; last command: {command}" if command else " (the failing line is unknown)"
    return BuildError(f"{name} failed (exit {code}){hint}", path=ctx.def_path,
                      span=section.header_span)


def _file_line(path: str, number: int) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as f:
        for index, text in enumerate(f, 1):
            if index == number:
                return text.rstrip("\n")
    return ""


# --- the stage ---------------------------------------------------------------------------------


def run_stage(stage: Stage, rootfs: str, ctx: BuildContext, *, label: str, definition: str,
              earlier: Mapping[str, str], final: bool) -> StageState:
    from defkit.engine import agents, layout

    with step(ctx, label, "bootstrap"):
        result = agents.get((stage.bootstrap or "").strip()).bootstrap(stage, rootfs, ctx)
    for message in result.warnings:
        ctx.emit(Warning(message))
    post, post_section = section_script(stage, "post")
    if stage.app_order:
        layout.make_apps(rootfs, stage, src_dir=ctx.def_dir, files_root=ctx.files_root)
        post = post + appinstall_script(stage)
    sources = [origin for _, origin in files_sections(stage)]
    if ctx.section_enabled("files") and any(origin is not None for origin in sources):
        with step(ctx, label, "%files from"):
            copy_files_from(stage, rootfs, ctx, earlier)
    setup, setup_section = section_script(stage, "setup")
    if setup_section is not None and setup.text.strip() and ctx.section_enabled("setup"):
        with step(ctx, label, "%setup"):
            run_setup(setup, setup_section, rootfs, ctx)
    if ctx.section_enabled("files") and any(origin is None for origin in sources):
        with step(ctx, label, "%files"):
            copy_host_files(stage, rootfs, ctx)
    mode = post_mode(rootfs, ctx)
    state = result.fakeroot_state
    if mode == "fakeroot" and state is None:
        state = fakeroot_state_path(rootfs)
    anchor = post_section or next((s for s in stage.sections if s.name == "appinstall"), None)
    if anchor is not None and post.text.strip() and ctx.section_enabled("post"):
        with step(ctx, label, "%post"):
            run_post(post, post_section or anchor, rootfs, ctx, mode, state)
    with step(ctx, label, "metadata"):
        layout.write_metadata(rootfs, stage, definition=definition, ctx=ctx,
                              image_config=result.image_config)
        reproducible.normalise_rootfs(rootfs)
    if state is not None and not os.path.exists(state):
        state = None
    return StageState(result, state, mode)


def post_mode(rootfs: str, ctx: BuildContext) -> Mode:
    from defkit.engine.sandbox import has_glibc

    if ctx.mode == "fakeroot" and not has_glibc(rootfs):
        ctx.emit(Notice("the rootfs has no glibc (static binaries): fakeroot cannot work there, "
                        "%post runs as root of a user namespace"))
        return "userns"
    return ctx.mode


def run_post(script: trace.Script, section: Section, rootfs: str, ctx: BuildContext,
             mode: Mode, state: Optional[str]) -> None:
    with Root(rootfs) as root:
        root.write_file(POST_SCRIPT, script.text, 0o755)
    argv = shell_argv(section, POST_SCRIPT, ctx.def_path)
    if _is_executable(rootfs, "/.singularity.d/actions/exec"):
        argv = ["/.singularity.d/actions/exec", *argv]  # sources the image's env, as Apptainer
    env = {
        "APPTAINER_ENVIRONMENT": ENV_FILE, "SINGULARITY_ENVIRONMENT": ENV_FILE,
        "APPTAINER_LABELS": LABELS_FILE, "SINGULARITY_LABELS": LABELS_FILE,
        "APPTAINER_CONTAINER": rootfs, "APPTAINER_NAME": os.path.basename(ctx.def_path),
        "SOURCE_DATE_EPOCH": str(ctx.source_date_epoch), "PS4": trace.PS4,
        "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
    }
    recorder = _streamer(ctx, "%post")
    try:
        done = run_in_rootfs(rootfs, argv, mode=mode, env=env, fakeroot_state=state,
                             on_line=recorder, runner=ctx.runner)
    finally:
        with contextlib.suppress(DefkitError), Root(rootfs) as root:
            root.remove(POST_SCRIPT)
    if done.returncode != 0:
        raise _failure(ctx, "%post", done.returncode, script, recorder, section)


def run_setup(script: trace.Script, section: Section, rootfs: str, ctx: BuildContext) -> None:
    ctx.emit(Warning(f"%setup runs on the host as {_user()}, outside the container: it can "
                     "change any file you can"))
    host_script = os.path.join(os.path.dirname(rootfs), "setup.script")
    with open(host_script, "w", encoding="utf-8") as f:
        f.write(script.text)
    env = dict(os.environ)
    env.update({"APPTAINER_ROOTFS": rootfs, "SINGULARITY_ROOTFS": rootfs,
                "APPTAINER_ENVIRONMENT": ENV_FILE, "SINGULARITY_ENVIRONMENT": ENV_FILE,
                "SOURCE_DATE_EPOCH": str(ctx.source_date_epoch), "PS4": trace.PS4})
    recorder = _streamer(ctx, "%setup")
    done = run_streaming(shell_argv(section, host_script, ctx.def_path), recorder,
                         cwd=ctx.def_dir, env=env, stderr_to_stdout=True)
    if done.returncode != 0:
        raise _failure(ctx, "%setup", done.returncode, script, recorder, section)


def _user() -> str:
    from defkit.engine.sandbox import current_user

    return current_user()


def run_test(stage: Stage, rootfs: str, ctx: BuildContext, *, label: str,
             state: StageState) -> None:
    """%test as Apptainer's build runs it (`apptainer --build-config test --pwd /`): the image's
    test action in the runtime of `defkit test` (the rootfs as a read-only sandbox, the host's
    environment minus APPTAINER_*), as root for a root build and as root of the user namespace
    (--fakeroot) for a rootless one. A plain `#!/bin/sh` test runs traced, so a failure names
    its line as %post's does."""
    from defkit.engine.container_env import identity, test_environment
    from defkit.engine.sandbox import MountedImage, run_image

    sections = [s for s in stage.sections_named("test") if s.app is None]
    if not sections or not stage.script("test").strip():
        return
    script, section = section_script(stage, "test")
    header = trace.generated("#!/bin/sh", "")
    with Root(rootfs) as root:
        installed = root.read_head("/.singularity.d/test", 1 << 20) or b""
    traced = installed.decode("utf-8", "replace").startswith((header + script).text)
    argv = ["/.singularity.d/actions/test"]
    if traced:
        argv = ["/.singularity.d/actions/exec", "/bin/sh", "-x", "/.singularity.d/test"]
    env = test_environment(rootfs, os.environ)
    env.update({"SOURCE_DATE_EPOCH": str(ctx.source_date_epoch), "PS4": trace.PS4})
    recorder = _streamer(ctx, "%test")
    with step(ctx, label, "%test"):
        done = run_image(MountedImage("dir", os.path.realpath(rootfs)), argv, mode=state.mode,
                         as_caller=False, env=env, cwd="/", identity=identity(state.mode != "root"),
                         on_line=recorder, runner=ctx.runner, keep_terminal=False)
    if done.returncode != 0:
        if traced and section is not None:
            raise _failure(ctx, "%test", done.returncode, header + script, recorder, section)
        raise BuildError(f"%test failed (exit {done.returncode})", path=ctx.def_path,
                         span=sections[0].header_span)


# --- %files ------------------------------------------------------------------------------------


def files_sections(stage: Stage) -> Iterator[tuple[Section, Optional[str]]]:
    for section in stage.sections_named("files"):
        if section.app is not None:
            continue
        words = section.args.split("#", 1)[0].split()
        if words and words[0] == "from":
            yield section, (words[1] if len(words) > 1 else "")
        else:
            yield section, None


def source_matches(base: str, source: str) -> list[str]:
    """Host paths matching `source` (relative to `base`): %files from the host."""
    path = source if os.path.isabs(source) else os.path.join(base, source)
    if any(char in source for char in "*?["):
        return sorted(glob.glob(path))
    return [path] if os.path.lexists(path) else []


def rooted(source: str, files_root: Optional[str]) -> Optional[str]:
    """The directory an absolute `source` is read from when the build has a `files_root` (a
    remote build's unpacked context); None when `source` is read from the host as given."""
    return files_root if files_root is not None and os.path.isabs(source) else None


def rooted_matches(files_root: Root, source: str) -> list[tuple[str, str]]:
    """(path inside `files_root`, host path) of each match of the absolute `source`, matched
    and resolved inside that root as `%files from STAGE` is: a symlink leads nowhere outside.
    The host path has no symlink above its last component (for the cache key's hashing)."""
    found = []
    for match in _stage_matches(files_root, source):
        dirfd, name = files_root.parent(match)
        try:
            found.append((match, os.path.join(os.readlink(f"/proc/self/fd/{dirfd}"), name)))
        finally:
            os.close(dirfd)
    return found


def _stage_matches(source_root: Root, source: str) -> list[str]:
    """Container paths of an earlier stage matching `source`, matched inside that stage's root
    (symlinks resolved there, never on the host)."""
    if any(char in source for char in "*?["):
        return source_root.glob(source)
    return [source] if source_root.exists(source) else []


def _destination(entry: FileEntry, match: str, source_root: str, many: bool) -> str:
    if entry.destination:
        dst = entry.destination
    else:
        # No destination: the same path in the container as the source names.
        dst = os.path.relpath(match, source_root) if many or not os.path.isabs(entry.source) \
            else entry.source
    return dst if dst.startswith("/") else "/" + dst


def copy_host_files(stage: Stage, rootfs: str, ctx: BuildContext) -> None:
    """%files from the host; relative sources are taken from the def file's directory (not the
    current directory as Apptainer does: a build must not depend on where it is started).
    With `ctx.files_root`, absolute sources are read inside it (`rooted_matches`), symlinks
    kept as symlinks, as `%files from STAGE` copies."""
    for section, origin in files_sections(stage):
        if origin is not None:
            continue
        for entry in section.files:
            files_root = rooted(entry.source, ctx.files_root)
            if files_root is not None:
                _copy_rooted(files_root, entry, rootfs, ctx)
                continue
            matches = source_matches(ctx.def_dir, entry.source)
            if not matches:
                raise BuildError(f"%files: {entry.source} does not exist (relative to "
                                 f"{ctx.def_dir})", path=ctx.def_path, span=entry.span)
            many = len(matches) > 1 or any(c in entry.source for c in "*?[")
            base = ctx.def_dir if not os.path.isabs(entry.source) else "/"
            with Root(rootfs) as root:
                for match in matches:
                    _copy(root, match, _destination(entry, match, base, many), None, ctx, entry)


def _copy_rooted(files_root: str, entry: FileEntry, rootfs: str, ctx: BuildContext) -> None:
    with Root(files_root) as source, Root(rootfs) as root:
        try:
            matches = [match for match, _ in rooted_matches(source, entry.source)]
        except DefkitError as exc:
            raise BuildError(f"%files: {exc.message}", path=ctx.def_path,
                             span=entry.span) from None
        if not matches:
            raise BuildError(f"%files: {entry.source} does not exist (in {files_root})",
                             path=ctx.def_path, span=entry.span)
        many = len(matches) > 1 or any(c in entry.source for c in "*?[")
        for match in matches:
            _copy(root, match, _destination(entry, match, "/", many), source, ctx, entry)


def copy_files_from(stage: Stage, rootfs: str, ctx: BuildContext,
                    earlier: Mapping[str, str]) -> None:
    """`%files from STAGE`: copies out of an earlier stage's rootfs, symlinks kept, sources
    matched and resolved inside that rootfs (what climbs above its root is refused)."""
    for section, origin in files_sections(stage):
        if origin is None:
            continue
        source_root = earlier.get(origin)
        if source_root is None:
            raise BuildError(f"%files from {origin}: no earlier stage named {origin!r}",
                             path=ctx.def_path, span=section.header_span)
        with Root(source_root) as source, Root(rootfs) as root:
            for entry in section.files:
                try:
                    matches = _stage_matches(source, entry.source)
                except DefkitError as exc:
                    raise BuildError(f"%files from {origin}: {exc.message}", path=ctx.def_path,
                                     span=entry.span) from None
                if not matches:
                    raise BuildError(f"%files from {origin}: {entry.source} does not exist in "
                                     f"stage {origin}", path=ctx.def_path, span=entry.span)
                many = len(matches) > 1 or any(c in entry.source for c in "*?[")
                for match in matches:
                    dst = entry.destination or (match if many else entry.source)
                    _copy(root, match, "/" + dst.lstrip("/"), source, ctx, entry)


def _copy(root: Root, src: str, dst: str, source: Optional[Root], ctx: BuildContext,
          entry: FileEntry) -> None:
    try:
        root.copy_in(src, dst, source=source)
    except DefkitError as exc:
        raise BuildError(f"%files: {entry.source}: {exc.message}", path=ctx.def_path,
                         span=entry.span) from None
    except OSError as exc:
        raise BuildError(f"%files: cannot copy {entry.source}: {exc.strerror}",
                         path=ctx.def_path, span=entry.span) from None


def _is_executable(rootfs: str, cpath: str) -> bool:
    """Whether container file `cpath` is a regular file with an execute bit (inside the rootfs:
    a symlink there leads into the image, never to the host)."""
    with Root(rootfs) as root:
        info = root.lstat(cpath, follow=True)
    return info is not None and stat.S_ISREG(info.st_mode) and bool(info.st_mode & 0o111)
