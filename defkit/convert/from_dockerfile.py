"""Dockerfile -> .def: the stage graph, one Apptainer stage per needed Docker stage.

Only the stages the target needs are written, as BuildKit builds only those. A stage used only
as the base of another (`FROM build AS final`) is replayed into its child, which is exact, since
Apptainer cannot bootstrap from a sibling stage; a stage that files are copied from
(`COPY --from`, `RUN --mount=from=`) becomes its own Apptainer stage. `COPY --from=<image>` adds
a stage for that image.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Optional

from defkit.arch import host_arch
from defkit.convert import dockerignore as ignore_patterns
from defkit.convert.emit import Script, StagePlan, oversized_sections, render_def
from defkit.convert.notes import Conversion, ConvertError, NoteSink
from defkit.convert.runscript import build_runscript
from defkit.convert.shell import PLACEHOLDER, double_quote
from defkit.convert.state import Context, StageState
from defkit.convert.steps import convert_instruction
from defkit.convert.words import (
    Scope,
    expand_word,
    marked_names,
    plain_value,
    shell_value,
    unset_args,
)
from defkit.dockerfile.ast import (
    CommandLine,
    Dockerfile,
    Instruction,
    Stage,
)
from defkit.dockerfile.expand import ExpansionError
from defkit.dockerfile.parser import parse
from defkit.dockerfile.scope import predefined_args
from defkit.gotext import trim_space
from defkit.model import Span

# Windows base images: Microsoft's repositories, a path component or tag naming a Windows
# server flavour (nanoserver, servercore, windowsservercore, ltsc20xx). Apptainer cannot run them.
_WINDOWS = re.compile(
    r"mcr\.microsoft\.com/windows"
    r"|(^|/)(windows|nanoserver|servercore|windowsservercore)([:@]|$)"
    r"|:[^/]*(nanoserver|servercore|ltsc20\d\d)",
    re.IGNORECASE,
)
# A Windows program in an exec-form SHELL/CMD/ENTRYPOINT (for images built on a Windows base).
_WINDOWS_PROGRAM = re.compile(r"^[a-z]:\\|\.exe$|^(powershell|pwsh|cmd)$", re.IGNORECASE)
# Docker's default SHELL for a Windows image.
WINDOWS_SHELL = ("cmd", "/S", "/C")
WINDOWS_WARNING = ("Windows base image: Apptainer runs Linux containers only; this .def documents "
                   "the build but cannot be built or run by Apptainer")


@functools.cache
def _predefined_args(arch: str) -> Mapping[str, str]:
    """`predefined_args(arch)`, made once per architecture (callers copy it before a change)."""
    return predefined_args(arch)


def convert_dockerfile(
    text: str,
    path: str = "<string>",
    *,
    build_args: Optional[Mapping[str, str]] = None,
    target: Optional[str] = None,
    arch: Optional[str] = None,
    dockerignore: Optional[str] = None,
    context_root: str = "",
    verify: bool = True,
) -> Conversion:
    """Convert Dockerfile `text` to .def text; raises DockerfileParseError/ConvertError.

    `dockerignore` is the text of the build context's .dockerignore, if it has one.
    `context_root` is the build context as %files sources name it: relative to the directory
    the .def will be built from (its own, for `defkit build`), "" when that is the context. With
    `verify` (what `defkit convert` does), the output is read back by defkit's .def parser and
    must give the stages, sections and entries it was written from (`emit.check_rendered`; a
    failure is a converter bug, raised as AssertionError)."""
    dockerfile = parse(text, path)
    return convert_parsed(dockerfile, build_args=build_args, target=target, arch=arch,
                          dockerignore=dockerignore, context_root=context_root, verify=verify)


def convert_parsed(
    dockerfile: Dockerfile,
    *,
    build_args: Optional[Mapping[str, str]] = None,
    target: Optional[str] = None,
    arch: Optional[str] = None,
    dockerignore: Optional[str] = None,
    context_root: str = "",
    verify: bool = False,
) -> Conversion:
    notes = NoteSink()
    path = dockerfile.path
    if not dockerfile.stages:
        raise ConvertError("the Dockerfile has no FROM instruction", path=path)
    args = dict(build_args or {})
    predefined = _predefined_args(arch or host_arch())
    global_values = dict(predefined)
    global_scope = Scope(args=dict(predefined), base_vars=False)
    used: set[str] = set()
    for instruction in dockerfile.global_args:
        command = instruction.command
        for pair in getattr(command, "pairs", ()):
            expanded = None
            if pair.key in args:
                value: Optional[str] = args[pair.key]
                used.add(pair.key)
            elif pair.value is not None:
                expanded = _expand(pair.value, global_scope, dockerfile.escape, instruction)
                value = plain_value(expanded, global_scope, literal=True)
            else:
                value = global_values.get(pair.key)
            global_scope.declare(pair.key, value, expanded)
            if value is not None:
                global_values[pair.key] = value
            else:
                global_values.pop(pair.key, None)

    stages = dockerfile.stages
    names = {stage.name: stage.index for stage in stages if stage.name}
    bases: dict[int, str] = {}
    parents: dict[int, Optional[int]] = {}
    images: dict[int, str] = {}  # the bases as image references, ARGs at their values
    for stage in stages:
        base, image = _expand_from(stage, global_scope, dockerfile.escape, notes, path)
        bases[stage.index] = base
        images[stage.index] = image
        parent = names.get(image.lower())
        parents[stage.index] = parent if parent is not None and parent < stage.index else None

    target_index = _target_index(stages, names, target, path)
    apptainer_names = {s.index: s.name or f"stage-{s.index}" for s in stages}
    refs = _StageRefs(names, len(stages), apptainer_names, path, target_index)
    ctx = Context(dockerfile.escape, notes, args, global_values, refs.resolve, used,
                  ignore_patterns.parse(dockerignore) if dockerignore is not None else None,
                  global_scope, context_root)
    walk = _Walk(dockerfile, ctx, refs, bases, images, parents, global_scope,
                 _shared_stages(dockerfile, parents, target_index))
    states = walk.states
    copy_sources = refs.copy_sources
    external = refs.external

    # Walk from the target: every stage it copies from is needed (and what those copy from).
    needed: list[int] = []
    pending = [target_index]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        walk.convert_stage(index)
        needed.append(index)
        pending.extend(sorted(copy_sources.get(index, set())))
    ordered = sorted(needed)

    plans: list[StagePlan] = []
    for image, name in external.items():
        plan = StagePlan(name=name, header=[("Bootstrap", "docker"), ("From", image),
                                            ("Stage", name)])
        plan.header_comments.append("image that COPY --from copies from")
        plans.append(plan)
    for index in ordered:
        state = states[index]
        final = index == target_index
        _finish(state, final, notes, stages[index])
        plans.append(state.plan)
    for name in args:
        if name not in used:
            notes.warn(None, f"--build-arg {name} is not used by any ARG of the stages converted")
    replayed = set()
    for index in needed:
        parent = parents[index]
        while parent is not None:
            replayed.add(parent)
            parent = parents[parent]
    inlined = [apptainer_names[i] for i in sorted(replayed) if i not in needed]
    dropped = [apptainer_names[s.index] for s in stages
               if s.index not in needed and s.index not in replayed]
    preamble = [f"Converted from {path} by defkit convert."]
    if inlined:
        preamble.append("Replayed inside the stages built on them: " + ", ".join(inlined))
    if dropped:
        preamble.append("Not needed for the target, not converted: " + ", ".join(dropped))
    if any(plan.files or plan.setup for plan in plans):
        where = (f"this file's directory (the context is {context_root})" if context_root
                 else "the build context")
        preamble.append(f"Build context files are named relative to {where}: build from there.")
    text = render_def(plans, preamble, check=verify)
    for name, line, size in oversized_sections(plans, text):
        notes.warn(None, f"stage {name}: {line} is {size // 1024} KiB, more than the 64 KiB "
                   "Apptainer reads in one section: it cannot build this .def as it is")
    return Conversion(text, notes.sorted(), "dockerfile", "def", tuple(p.name for p in plans))


class _StageRefs:
    """How `COPY --from` and `--mount from=` name other stages (`Context.resolve_stage`), and
    which stages each converted stage copies from."""

    def __init__(self, names: dict[str, int], count: int, apptainer_names: dict[int, str],
                 path: str, current: int) -> None:
        self.names = names
        self.count = count
        self.apptainer_names = apptainer_names
        self.path = path
        self.current = current  # the stage being converted
        self.external: dict[str, str] = {}  # external image -> extra stage name
        self.copy_sources: dict[int, set[int]] = {}

    def resolve(self, reference: str, line: int) -> str:
        lowered = reference.lower()
        if lowered in self.names:
            index = self.names[lowered]
        elif _is_index(reference) and int(reference) < self.count:
            index = int(reference)
        else:
            external = self.external
            if reference not in external:
                _image_reference(reference, Span(line, 1, line, 1), "COPY --from", self.path)
                number = len(external) + 1
                while f"image-{number}" in self.names:
                    number += 1
                external[reference] = f"image-{number}"
            return external[reference]
        self.copy_sources.setdefault(self.current, set()).add(index)
        return self.apptainer_names[index]


_FROM_FLAG = re.compile(r"from=[\"']?([^\s,\"']+)", re.IGNORECASE)


def _shared_stages(dockerfile: Dockerfile, parents: Mapping[int, Optional[int]],
                   target: int) -> set[int]:
    """The stages whose converted state is needed after their child stage is converted: the
    target, parents of more than one stage, and any stage a `--from=` or `--mount=...,from=`
    may name (read loosely from the source text: naming one too many only costs a copy)."""
    children: dict[int, int] = {}
    for parent in parents.values():
        if parent is not None:
            children[parent] = children.get(parent, 0) + 1
    shared = {target} | {index for index, count in children.items() if count > 1}
    named = {match.lower() for stage in dockerfile.stages for instruction in stage.instructions
             if "from=" in instruction.original.lower()
             for match in _FROM_FLAG.findall(instruction.original)}
    shared |= {stage.index for stage in dockerfile.stages
               if str(stage.index) in named or (stage.name is not None and stage.name in named)}
    return shared


class _Walk:
    """Converts stages on demand, each once; a stage built on another replays its parent.

    (A class rather than nested functions: a recursive closure is a reference cycle, which
    would keep the whole parsed Dockerfile alive until the cyclic collector runs.)"""

    def __init__(self, dockerfile: Dockerfile, ctx: Context, refs: _StageRefs,
                 bases: dict[int, str], images: dict[int, str],
                 parents: dict[int, Optional[int]], global_scope: Scope,
                 shared: set[int]) -> None:
        self.dockerfile = dockerfile
        self.ctx = ctx
        self.refs = refs
        self.bases = bases
        self.images = images
        self.parents = parents
        self.global_scope = global_scope
        self.shared = shared  # stages whose state must outlive their child's conversion
        self.states: dict[int, StageState] = {}

    def convert_stage(self, index: int) -> StageState:
        if index in self.states:
            return self.states[index]
        # The stages to convert first: the ancestors not converted yet, parents before their
        # children (a loop, not recursion: a chain of `FROM previous` may be thousands long).
        chain = [index]
        parent = self.parents[index]
        while parent is not None and parent not in self.states:
            chain.append(parent)
            parent = self.parents[parent]
        for stage_index in reversed(chain):
            self._convert(stage_index)
        return self.states[index]

    def _convert(self, index: int) -> None:
        """Converts stage `index`, whose parent stage (if any) is converted."""
        stage = self.dockerfile.stages[index]
        parent = self.parents[index]
        names = self.refs.apptainer_names
        copy_sources = self.refs.copy_sources
        if parent is not None:
            line = stage.from_instruction.span.line
            reuse = parent not in self.shared
            state = (self.states.pop(parent) if reuse else self.states[parent]).fork(
                names[index],
                f"Dockerfile line {line}: {stage.from_instruction.original} "
                f"(the steps of stage {names[parent]} are replayed here)",
                reuse=reuse,
            )
            copy_sources.setdefault(index, set()).update(copy_sources.get(parent, set()))
            # (A scratch parent without RUN leaves its child without a shell too.)
        else:
            state = _root_state(self.dockerfile, stage, self.bases[index], self.images[index],
                                self.global_scope, names[index], self.ctx.notes)
            # Until its first RUN, a scratch image has no shell: its steps are done without one.
            state.direct_files = state.plan.header[0][1] == "scratch"
        previous = self.refs.current
        self.refs.current = index
        ctx = self.ctx
        for instruction in stage.instructions:
            convert_instruction(state, instruction, ctx)
        self.refs.current = previous
        self.states[index] = state


def _expand(word: str, scope: Scope, escape: str, instruction: Instruction) -> str:
    try:
        return expand_word(word, scope, escape)
    except ExpansionError as exc:
        raise ConvertError(exc.message, span=instruction.span) from None


def _expand_from(stage: Stage, scope: Scope, escape: str, notes: NoteSink,
                 path: str) -> tuple[str, str]:
    """The stage's base: as expanded (with markers), and as an image reference (ARGs at their
    conversion-time values)."""
    span = stage.from_instruction.span
    command = stage.base
    try:
        base = expand_word(command.image, scope, escape)
    except ExpansionError as exc:
        raise ConvertError(f"FROM: {exc.message}", span=span) from None
    if PLACEHOLDER.search(base):  # (`{{ NAME }}` written in the Dockerfile, not from an ARG)
        raise ConvertError(f"FROM {base!r}: not a valid image reference", span=span)
    # ARGs without a value that FROM uses as they are (`${X:-default}` has its own fallback).
    unset = [name for name in unset_args(command.image, scope)
             if re.search(rf"\$(?:{name}(?!\w)|\{{{name}\}})", command.image, re.ASCII)]
    if unset:
        _check_unset_args(command.image, plain_value(base, scope, literal=True), unset, span,
                          notes, path)
    if command.platform:
        notes.info(span, f"FROM --platform={command.platform} dropped: Apptainer pulls for the "
                   "build host's architecture (see `apptainer build --arch`)")
    image = plain_value(base, scope, literal=True)
    if not image:
        raise ConvertError("FROM names no image (an ARG expands to nothing)", span=span)
    return base, image


def _check_unset_args(written: str, image: str, unset: list[str], span: Span,
                      notes: NoteSink, path: str) -> None:
    """FROM refers to ARGs that have no value (no default, no --build-arg): Docker expands them
    to nothing. Fine when what is left is still an image reference (`FROM base${SUFFIX}`, with
    a note); otherwise an error asking for a value, rather than a .def that names no image."""
    from defkit.registry.errors import ReferenceError_
    from defkit.registry.reference import parse_reference

    names = ", ".join(dict.fromkeys(unset))
    names = f"ARGs {names} have" if len(set(unset)) > 1 else f"ARG {names} has"
    flags = " ".join(f"--build-arg {name}=..." for name in dict.fromkeys(unset))
    try:
        parse_reference(image)
    except ReferenceError_:
        raise ConvertError(
            f"FROM {written}: {names} no value here (no default, no --build-arg), which "
            f"leaves {image!r}, not an image reference; give one with `defkit convert {flags}`",
            path=path, span=span) from None
    notes.info(span, f"FROM {written}: {names} no value (no default, no --build-arg): "
               f"the base image is {image}")


def _target_index(stages: tuple[Stage, ...], names: dict[str, int], target: Optional[str],
                  path: str) -> int:
    if target is None:
        return len(stages) - 1
    if target.lower() in names:
        return names[target.lower()]
    if _is_index(target) and int(target) < len(stages):
        return int(target)
    known = ", ".join(sorted(names)) or "none"
    raise ConvertError(f"--target {target}: no such stage (named stages: {known})", path=path)


def _is_index(reference: str) -> bool:
    """A stage number as BuildKit reads one (strconv.Atoi): ASCII digits only (`str.isdigit`
    also accepts "²" and other digits `int` refuses), and short enough for an int."""
    return reference.isascii() and reference.isdigit() and len(reference) < 19


def _root_state(dockerfile: Dockerfile, stage: Stage, base: str, image: str, scope: Scope,
                name: str, notes: NoteSink) -> StageState:
    span = stage.from_instruction.span
    scratch = image.lower() == "scratch"
    plan = StagePlan(name=name)
    windows = False
    if scratch:
        plan.header = [("Bootstrap", "scratch"), ("Stage", name)]
    else:
        windows = _windows_image(image) or _windows_programs(stage)
        if windows:
            notes.warn(span, WINDOWS_WARNING)
        from_value = plain_value(base, scope)
        _image_reference(from_value, span, "FROM", dockerfile.path)
        plan.header = [("Bootstrap", "docker"), ("From", from_value), ("Stage", name)]
        for kind, arg in marked_names(base):
            if kind == "a" and arg in scope.templated:
                plan.arguments.update(scope.arguments(arg))
    plan.header_comments.append(f"Dockerfile line {span.line}: {stage.from_instruction.original}")
    state = StageState(plan=plan, scope=Scope(base_vars=not scratch))
    if windows:
        # Docker's default SHELL on Windows: RUN text goes to cmd like any non-default SHELL.
        state.shell = WINDOWS_SHELL
        state.windows = True
    state.external_base = not scratch
    return state


def _image_reference(value: str, span: Span, what: str, path: str) -> None:
    """Refuse what no image reference holds and Apptainer's header would misread (`#` starts a
    comment there, a trailing backslash continues the line)."""
    if not value or value != trim_space(value) or "#" in value or value.endswith("\\"):
        raise ConvertError(f"{what} {value!r}: not a valid image reference", path=path, span=span)


def _label_word(key: str, value: str) -> str:
    """`key value` as a double-quoted shell word; `{{ X }}` placeholders stay templated."""
    return double_quote(f"{key} {value}")


def _windows_image(image: str) -> bool:
    """Whether `image` names a Windows base image (`_WINDOWS`)."""
    return bool(_WINDOWS.search(image))


def _windows_programs(stage: Stage) -> bool:
    for instruction in stage.instructions:
        command = instruction.command
        if (isinstance(command, CommandLine) and command.argv
                and _WINDOWS_PROGRAM.search(command.argv[0])):
            return True
    return False


def _finish(state: StageState, final: bool, notes: NoteSink, stage: Stage) -> None:
    plan = state.plan
    if state.direct_files:
        # No RUN: the image may have no shell, so there is no %post (its lines only repeat
        # what WORKDIR, VOLUME and --chown would do once a RUN needs them).
        plan.post = Script()
        plan.post_prologue = Script()
        for span in state.unowned:
            notes.warn(span, "--chown/--chmod cannot be applied in a stage without a shell "
                       "(scratch, no RUN)")
    elif state.staged:
        plan.post_epilogue.add("rm -rf /.defkit")
    if final:
        _finish_final(state, notes, stage)


def _finish_final(state: StageState, notes: NoteSink, stage: Stage) -> None:
    plan = state.plan
    if plan.labels and not state.direct_files and state.external_base:
        # %labels does not replace a label the base image already has (without --force);
        # lines written to $APPTAINER_LABELS do, as LABEL does in Docker.
        labels = Script()
        labels.add(
            "# LABEL: also written here to override labels of the base image, as Docker does",
            "printf '%s\\n' \\",
            *(f"  {_label_word(key, value)} \\" for key, value in plan.labels.items()),
            '  >> "$APPTAINER_LABELS"',
        )
        plan.post_epilogue.lines[0:0] = labels.lines
    workdir = None
    if state.workdir is not None:
        workdir = shell_value(state.workdir, "env", state.scope)
    plan.runscript = build_runscript(state.process, workdir)
    if state.process.entrypoint is None and state.process.cmd is not None and state.external_base:
        notes.info(state.cmd_span, "CMD without ENTRYPOINT: the runscript runs CMD directly; an "
                   "ENTRYPOINT of the base image (if any) is not applied")
    if not state.external_base and plan.runscript is not None:
        notes.warn(stage.from_instruction.span, "the image starts from scratch: Apptainer needs "
                   "/bin/sh in the image to run its runscript")
    plan.help = [f"Converted from a Dockerfile (stage {plan.name}) by defkit convert."]
    if state.help_lines:
        plan.help += ["Docker settings with no Apptainer equivalent:", *state.help_lines]
