"""One handler per Dockerfile instruction (except FROM and COPY/ADD), writing into a StageState."""

from __future__ import annotations

import ntpath
import posixpath
from typing import Optional

from defkit.convert.copying import convert_copy
from defkit.convert.run import convert_run
from defkit.convert.runscript import shell_form
from defkit.convert.shell import PLACEHOLDER, defuse_placeholders, double_quote, quote
from defkit.convert.state import (
    EXPANDED_AT_BUILD,
    LEFT_EMPTY,
    Context,
    StageState,
    note_base_image_names,
    unknown_names,
)
from defkit.convert.words import (
    expand_views,
    expand_word,
    has_arg_markers,
    is_absolute,
    is_templatable,
    marked_names,
    plain_value,
    shell_value,
    shown_value,
)
from defkit.dockerfile.ast import (
    ArgCommand,
    CommandLine,
    CopyCommand,
    EnvCommand,
    ExposeCommand,
    HealthcheckCommand,
    Instruction,
    LabelCommand,
    MaintainerCommand,
    OnbuildCommand,
    RunCommand,
    StopsignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from defkit.dockerfile.expand import ExpansionError


def convert_instruction(state: StageState, instruction: Instruction, ctx: Context) -> None:
    command = instruction.command
    span = instruction.span
    try:
        if isinstance(command, RunCommand):
            convert_run(state, instruction, command, ctx)
        elif isinstance(command, CopyCommand):
            convert_copy(state, instruction, command, ctx)
        elif isinstance(command, EnvCommand):
            _env(state, instruction, command, ctx)
        elif isinstance(command, ArgCommand):
            _arg(state, instruction, command, ctx)
        elif isinstance(command, WorkdirCommand):
            _workdir(state, instruction, command, ctx)
        elif isinstance(command, CommandLine):
            _command_line(state, instruction, command, ctx)
        elif isinstance(command, LabelCommand):
            for pair in command.pairs:
                _label(state, instruction, pair.key, pair.value or "", ctx)
        elif isinstance(command, MaintainerCommand):
            name = _as_text(command.name, instruction, ctx)
            state.plan.labels["maintainer"] = _one_line(name)
        else:
            _metadata(state, instruction, ctx)
    except ExpansionError as exc:
        ctx.notes.warn(span, f"{instruction.keyword} skipped: {exc.message}")


def _env(state: StageState, instruction: Instruction, command: EnvCommand, ctx: Context) -> None:
    # Every pair sees the scope from before the instruction: it is only changed after the loop.
    before = state.scope
    assigned: set[str] = set()
    updates: list[tuple[str, str, str]] = []
    for pair in command.pairs:
        key = plain_value(expand_word(pair.key, before, ctx.escape), before, literal=True)
        raw = pair.value or ""
        value, shell_text = expand_views(raw, before, ctx.escape)
        if assigned and any(name in assigned for _kind, name in marked_names(shell_text)):
            # All pairs of one ENV see the values from before it; a later pair of the same
            # instruction must not see an earlier one through the shell.
            shell_text = value
        assigned.add(key)
        updates.append((key, value, shell_text))
    for key, value, shell_text in updates:
        if not _is_identifier(key) or "\n" in value:
            ctx.notes.warn(instruction.span, f"ENV {key!r} is not a shell variable name; "
                           "it cannot be set in %post or %environment")
            continue
        state.scope.env[key] = value
        post_word = env_word = shell_value(shell_text, "post", state.scope)
        if has_arg_markers(shell_text):  # (the targets differ only in how ARGs are written)
            env_word = shell_value(shell_text, "env", state.scope)
        state.plan.post.add(f"export {key}={post_word}")
        state.plan.environment.add(f"export {key}={env_word}")


def _is_identifier(name: str) -> bool:
    """A shell variable name: `[A-Za-z_][A-Za-z0-9_]*`, which is exactly an ASCII Python
    identifier."""
    return name.isascii() and name.isidentifier()


def _arg(state: StageState, instruction: Instruction, command: ArgCommand, ctx: Context) -> None:
    # Later pairs see the scope from before the instruction (a single pair needs no copy: the
    # scope changes after it is read).
    before = state.scope.copy() if len(command.pairs) > 1 else state.scope
    for pair in command.pairs:
        name = plain_value(expand_word(pair.key, before, ctx.escape), before, literal=True)
        value: Optional[str]
        derived: Optional[str] = None  # a default derived from other ARGs (`Scope.derived`)
        defaults: Optional[dict[str, str]] = None  # its %arguments entries
        if name in ctx.build_args:
            value = ctx.build_args[name]
            ctx.used_build_args.add(name)
        elif pair.value is not None:
            expanded = expand_word(pair.value, before, ctx.escape)
            value = plain_value(expanded, before, literal=True)
            derived = before.derived_default(expanded)
        elif name in ctx.global_values:
            value = ctx.global_values[name]
            derived = ctx.global_scope.derived.get(name)
            if derived is not None:  # the ARGs it refers to, at their global values
                defaults = ctx.global_scope.arguments(name)
        else:
            value = None
        state.scope.args[name] = value
        if not _is_identifier(name):
            ctx.notes.warn(instruction.span, f"ARG {name!r} is not a shell variable name; skipped")
            continue
        if name in state.scope.env:
            continue  # ENV wins over ARG: the variable keeps its ENV value
        arguments = state.plan.arguments
        clash = name in arguments and arguments[name] != (value or "")
        if value is None:
            if clash:
                continue
            arguments[name] = ""
            # Declared without a value: set only when a --build-arg gives one, as in Docker.
            state.plan.post.add(
                f"{name}='{{{{ {name} }}}}'",
                f'if [ -n "${name}" ]; then export {name}; else unset {name}; fi',
            )
            continue
        if derived is not None:
            # Derived from other templated ARGs: %arguments keeps the reference, so that a
            # --build-arg for those changes this one too, as in Docker.
            if defaults is None:
                defaults = {other: before.args.get(other) or ""
                            for other in PLACEHOLDER.findall(derived)}
                defaults[name] = derived
            if all(arguments.get(key, default) == default for key, default in defaults.items()):
                arguments.update(defaults)
                state.scope.templated.add(name)
                state.scope.derived[name] = derived
                state.plan.post.add(f"export {name}='{{{{ {name} }}}}'")
                continue
            clash = True
        state.scope.derived.pop(name, None)
        if is_templatable(value) and not clash:
            arguments[name] = value
            state.scope.templated.add(name)
            state.plan.post.add(f"export {name}='{{{{ {name} }}}}'")
        else:
            state.scope.templated.discard(name)
            state.plan.post.add(f"export {name}={double_quote(value)}")


def _workdir(state: StageState, instruction: Instruction, command: WorkdirCommand,
             ctx: Context) -> None:
    value_path, shell_path = expand_views(command.path, state.scope, ctx.escape)
    if state.windows:
        # A Windows path (C:\\app), joined as Windows does, starting from C:\\ (documentation
        # only: Apptainer cannot run a Windows image).
        state.workdir = _join_windows(state.workdir, shell_path)
        state.workdir_value = _join_windows(state.workdir_value, value_path)
    else:
        # Absolute or not once expanded (`WORKDIR $APPDIR` is not joined to the previous one).
        absolute = is_absolute(value_path, state.scope)
        if not absolute and state.workdir is None and state.external_base:
            ctx.notes.info(instruction.span, "relative WORKDIR resolved against /; the base "
                           "image's WORKDIR (if it sets one) is not known at conversion time")
        note_base_image_names(ctx, instruction.span, "WORKDIR", value_path,
                              EXPANDED_AT_BUILD)
        state.workdir = _join(state.workdir, shell_path, absolute)
        state.workdir_value = _join(state.workdir_value, value_path, absolute)
    state.plan.post.add(f"mkdir -p {shell_value(state.workdir, 'post', state.scope)}")


def _join_windows(base: Optional[str], path: str) -> str:
    return ntpath.normpath(ntpath.join(base or "C:\\", path))


def _join(base: Optional[str], path: str, absolute: bool) -> str:
    """`path` resolved against the WORKDIR `base`; `absolute` says whether `path` is absolute
    once expanded (it may start with a variable's marker)."""
    joined = posixpath.normpath(path if absolute else posixpath.join(base or "/", path))
    return joined[1:] if joined.startswith("//") else joined


def _command_line(state: StageState, instruction: Instruction, command: CommandLine,
                  ctx: Context) -> None:
    keyword = command.keyword.upper()
    if keyword == "SHELL":
        if command.argv is None or not command.argv:
            ctx.notes.warn(instruction.span, "SHELL must be a JSON array; ignored")
            return
        state.shell = tuple(command.argv)
        return
    if command.argv is not None:
        argv = tuple(command.argv)
    else:
        argv = shell_form(state.shell, command.shell or "")
    if keyword == "ENTRYPOINT":
        state.process = state.process.with_entrypoint(argv)
    else:
        state.process = state.process.with_cmd(argv)
        state.cmd_span = instruction.span


def _label(state: StageState, instruction: Instruction, raw_key: str, raw_value: str,
           ctx: Context) -> None:
    expanded_key = _expand_text(raw_key, state, instruction, ctx)
    expanded = _expand_text(raw_value, state, instruction, ctx)
    note_base_image_names(ctx, instruction.span, "LABEL", expanded_key + expanded, LEFT_EMPTY)
    key = plain_value(expanded_key, state.scope)
    value = plain_value(expanded, state.scope)
    if not key or any(char.isspace() for char in key):
        ctx.notes.warn(instruction.span, f"LABEL key {key!r} contains spaces; Apptainer labels "
                       "cannot hold it, skipped")
        return
    if key.startswith("#"):
        ctx.notes.warn(instruction.span, f"LABEL key {key!r} starts with '#', which Apptainer "
                       "reads as a comment line in %labels; skipped")
        return
    if "\n" in value:
        ctx.notes.warn(instruction.span, f"LABEL {key}: line breaks in the value became spaces")
    state.plan.labels[key] = _one_line(value)


def _expand_text(word: str, state: StageState, instruction: Instruction, ctx: Context) -> str:
    """`word` expanded for a place without quoting (%labels, %help), literal `{{ NAME }}` defused
    before ARGs become placeholders (`_as_text`)."""
    return _as_text(expand_word(word, state.scope, ctx.escape), instruction, ctx)


def _as_text(text: str, instruction: Instruction, ctx: Context) -> str:
    """`text` with any literal `{{ NAME }}` defused (`defuse_placeholders`), with a warning."""
    if not PLACEHOLDER.search(text):
        return text
    ctx.notes.warn(instruction.span, f"{instruction.keyword}: `{{{{ NAME }}}}` is Apptainer's "
                   "build-argument syntax; written as `{ { NAME }}` so that it stays text")
    return defuse_placeholders(text)


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text.strip()


def _metadata(state: StageState, instruction: Instruction, ctx: Context) -> None:
    command = instruction.command
    span = instruction.span
    notes = ctx.notes
    if isinstance(command, UserCommand):
        expanded = _expand_text(command.user, state, instruction, ctx)
        user = shown_value(expanded, state.scope)
        state.user = user
        if user.split(":")[0] in ("root", "0"):
            notes.info(span, f"USER {user}: build steps run as root here anyway; at run time "
                       "Apptainer runs the container as the calling user")
            return
        notes.warn(span, f"USER {user}{unknown_names(expanded)}: Apptainer runs the container "
                   "as the calling user; later RUN steps run as root (no su)")
        state.help_lines.append(f"Docker USER: {user} (the container runs as the calling user)")
    elif isinstance(command, ExposeCommand):
        expanded_ports = [_expand_text(port, state, instruction, ctx) for port in command.ports]
        ports = " ".join(shown_value(port, state.scope) for port in expanded_ports)
        notes.info(span, f"EXPOSE {ports}{unknown_names(''.join(expanded_ports))}: not needed, "
                   "Apptainer shares the host's network")
        state.help_lines.append(f"Docker EXPOSE: {ports}")
    elif isinstance(command, VolumeCommand):
        # Each path expanded (both views); one that is absolute once expanded stays as it is, a
        # relative one is made from / (where %post's mkdir runs).
        views = [expand_views(path, state.scope, ctx.escape) for path in command.paths]
        resolved = [
            (_join(None, value, absolute), _join(None, shell, absolute))
            for value, shell in views
            for absolute in (is_absolute(value, state.scope),)
        ]
        paths = [shown_value(value, state.scope) for value, _shell in resolved]
        notes.warn(span, f"VOLUME {' '.join(paths)}{unknown_names(''.join(v for v, _ in views))}"
                   ": the image is read-only at run time; bind a host directory there (--bind)")
        state.plan.post.add("mkdir -p " + " ".join(
            shell_value(shell, "post", state.scope) for _value, shell in resolved))
        # (%help has no quoting: literal `{{ NAME }}` is defused there, not in the mkdir word.)
        shown = " ".join(shown_value(_as_text(value, instruction, ctx), state.scope)
                         for value, _shell in resolved)
        state.help_lines.append(f"Docker VOLUME: {shown} (use --bind HOST:PATH)")
    elif isinstance(command, StopsignalCommand):
        notes.warn(span, f"STOPSIGNAL {command.signal} has no Apptainer equivalent")
        signal = _as_text(command.signal, instruction, ctx)
        state.help_lines.append(f"Docker STOPSIGNAL: {signal}")
    elif isinstance(command, HealthcheckCommand):
        if command.kind.upper() == "NONE" or command.test is None:
            notes.info(span, "HEALTHCHECK NONE: nothing to carry over")
            return
        test = command.test
        text = test.shell if test.argv is None else " ".join(quote(a) for a in test.argv)
        notes.warn(span, "HEALTHCHECK has no Apptainer equivalent (it probes a running service, "
                   "so it is not a %test); recorded in %help")
        text = _as_text(text or "", instruction, ctx)
        state.help_lines.append(f"Docker HEALTHCHECK: {_one_line(text)}")
    elif isinstance(command, OnbuildCommand):
        notes.warn(span, f"ONBUILD {command.instruction.keyword}: triggers for child images are "
                   "not carried over")
    else:
        notes.warn(span, f"unknown instruction {instruction.keyword}; skipped")
