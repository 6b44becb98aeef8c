"""RUN: each one in its own subshell of %post, starting in the WORKDIR, with Docker's semantics.

Docker runs a shell-form RUN as `/bin/sh -c "<text>"` (or the SHELL in effect) in a fresh process:
no `-e`, and `cd`, `set`, variables and `exit` end with it. %post runs as `sh -ex`, so the default
shell gets a subshell with `set +e` (its status is the last command's, as with `sh -c`, and %post
stops when it fails). Another SHELL gets the text through a quoted here-document, byte for byte.
"""

from __future__ import annotations

import posixpath
from typing import Optional

from defkit.convert import helpers
from defkit.convert.copying import apply_ignore, context_path, stage_source
from defkit.convert.emit import Block
from defkit.convert.shell import (
    heredoc_marker,
    printf_lines,
    quote,
    quote_argv,
    text_is_unsafe,
    wrap_lines,
)
from defkit.convert.state import DEFAULT_SHELL, STAGING, Context, StageState
from defkit.convert.words import expand_word, plain_value, shell_value
from defkit.dockerfile.ast import Instruction, RunCommand


def convert_run(state: StageState, instruction: Instruction, command: RunCommand,
                ctx: Context) -> None:
    span = instruction.span
    # The image has a shell from here on (the steps before were done without one).
    state.direct_files = False
    if not state.external_base:
        ctx.notes.warn(span, "RUN in a stage built from scratch: Apptainer runs %post with "
                       "/bin/sh, which the image must contain by then")
    post = state.plan.post
    post.add(f"# RUN (Dockerfile line {span.line})")
    # The mounts are converted before the subshell is opened: a bind mount's .dockerignore
    # pruning is a %post line of its own, written before the subshell.
    mounts: list[str] = []
    if command.mounts:
        _mounts(state, instruction, command, ctx, Block(mounts))
    if command.network:
        ctx.notes.info(span, f"RUN --network={command.network} dropped (Apptainer builds use "
                       "the host network)")
    if command.security:
        ctx.notes.warn(span, f"RUN --security={command.security} has no Apptainer equivalent")

    post.add("(")
    body = Block(post.lines)  # the subshell's lines, one level deeper in %post
    workdir = state.workdir
    if workdir is not None and workdir != "/":
        body.add(f"cd {shell_value(workdir, 'post', state.scope)} || exit 1")
    body.add_raw(*mounts)
    if command.argv is not None:
        # Exec form: no shell, no variable expansion; the argv runs as is.
        line = f"exec {quote_argv(command.argv)}"
        if text_is_unsafe(line):
            # An argument with a line break whose next line would read as a %section.
            path = f"{STAGING}/run-{span.line}.sh"
            state.staged = True
            _write_file(body, line + "\n", path)
            line = f"exec /bin/sh {quote(path)}"
        body.add(line)
    else:
        text = command.shell or ""
        heredocs = command.heredocs
        only_heredoc = len(heredocs) == 1 and text.strip().lstrip("0123456789").startswith("<<") \
            and len(text.split()) == 1
        if only_heredoc and heredocs[0].content.startswith("#!"):
            # BuildKit writes a script with a shebang to a file and executes it.
            script_path = f"{STAGING}/run-{span.line}"
            state.staged = True
            _write_file(body, heredocs[0].content, script_path)
            body.add(f"chmod +x {quote(script_path)}", f"exec {quote(script_path)}")
        else:
            wrapped = None
            if only_heredoc:
                script = heredocs[0].content
            elif heredocs:
                script = text + "\n" + "".join(h.content + h.name + "\n" for h in heredocs)
            else:
                script = text
                wrapped = rewrap(instruction, text, ctx)
            _run_text(state, body, script, span.line, wrapped)
    post.add(")")


def rewrap(instruction: Instruction, command: str, ctx: Context) -> Optional[str]:
    """The command split at the Dockerfile's own line breaks (BuildKit joined them), each line
    but the last ending with a backslash, or None.

    Only where a backslash-newline means the same to sh as to BuildKit: not inside single quotes
    or a comment, and only with the default escape character."""
    pieces = instruction.pieces  # the physical lines, as the parser joined them
    if ctx.escape != "\\" or len(pieces) < 2 or instruction.span.column != 1:
        # (With one piece there is one line: nothing to split. An indented first line would
        # need its indentation back: left as is.)
        return None
    if not command:
        return None  # nothing to split
    joined = "".join(pieces).rstrip()
    if not joined.endswith(command):
        return None
    offset = len(joined) - len(command)
    first = 0  # the piece the command starts in (there is one: the command is not empty)
    start = 0  # where that piece starts in `joined`
    while start + len(pieces[first]) <= offset:
        start += len(pieces[first])
        first += 1
    lines = [pieces[first][offset - start :], *pieces[first + 1 :]]
    if len(lines) < 2:
        return None
    lines[-1] = lines[-1].rstrip()
    # (`joined` ends with the command, so the lines give it back unless the white space stripped
    # from `joined` reached into an earlier line, which leaves the last one empty.)
    if not lines[-1] and "".join(lines) != command:
        return None
    # (A continuation line such as `%post x` would start a section once at a line start.)
    return wrap_lines(lines)


def _run_text(state: StageState, body: Block, script: str, line: int,
              wrapped: Optional[str] = None) -> None:
    """The subshell's body for shell text `script`, added to `body`."""
    # (The final line break the text gets where it is written whole adds no line that could be
    # unsafe and completes no `{{ X }}`, so the text is checked as it is.)
    if text_is_unsafe(script):
        # A line would start a %section or a new stage, or `{{ X }}` would be templated:
        # write the text to a file with printf and run it with the shell.
        path = f"{STAGING}/run-{line}.sh"
        state.staged = True
        _write_file(body, script if script.endswith("\n") else script + "\n", path)
        body.add(f'exec {quote_argv(state.shell)} "$(cat {quote(path)})"')
        return
    if state.shell == DEFAULT_SHELL:
        if wrapped is not None:
            first, _, rest = wrapped.partition("\n")
            body.add("set +e", first)
            body.add_raw(rest)  # (continuation lines keep the Dockerfile's indentation)
            return
        text = script.rstrip("\n")
        body.add("set +e")
        if "\n" not in text:
            body.add(text)
        else:
            body.add_raw(text)  # several lines: kept byte for byte
        return
    script = script if script.endswith("\n") else script + "\n"
    marker = heredoc_marker(script, "DEFKIT_RUN")
    body.add(f"exec {quote_argv(state.shell)} \"$(cat <<'{marker}'")
    body.add_raw(wrapped or script.rstrip("\n"), marker)
    body.add(')"')


def _write_file(body: Block, content: str, path: str) -> None:
    body.add(f"mkdir -p {quote(posixpath.dirname(path))}")
    if text_is_unsafe(content):
        lines = printf_lines(content)
        body.add(*lines[:-1], lines[-1] + f" > {quote(path)}")
        return
    marker = heredoc_marker(content)
    body.add(f"cat > {quote(path)} <<'{marker}'")
    body.add_raw(content.rstrip("\n"), marker)


def _mounts(state: StageState, instruction: Instruction, command: RunCommand, ctx: Context,
            body: Block) -> None:
    span = instruction.span
    for mount in command.mounts:
        kind = mount.type
        target = mount.get("target") or mount.get("dst") or mount.get("destination") or ""
        if kind == "cache":
            ctx.notes.info(span, f"RUN --mount=type=cache,target={target} dropped: the step runs "
                           "without a cache")
        elif kind == "secret":
            ident = mount.get("id") or target
            ctx.notes.warn(span, f"RUN --mount=type=secret (id {ident}) is not carried over and "
                           "never written into the .def; provide the secret another way")
        elif kind == "ssh":
            ctx.notes.warn(span, "RUN --mount=type=ssh is not carried over: the step has no SSH "
                           "agent")
        elif kind == "tmpfs":
            if target:
                body.add(f"mkdir -p {quote(_abs(state, target))}")
            ctx.notes.info(span, f"RUN --mount=type=tmpfs,target={target}: a plain directory")
        elif kind == "bind":
            _bind(state, instruction, mount.get("from"), mount.get("source") or
                  mount.get("src") or "", target, ctx, body)
        else:
            ctx.notes.warn(span, f"RUN --mount=type={kind} is not supported; dropped")


def _abs(state: StageState, target: str) -> str:
    if target.startswith("/"):
        return target
    base = plain_value(state.workdir_value or "/", state.scope)
    return posixpath.normpath(posixpath.join(base, target))


def _bind(state: StageState, instruction: Instruction, source_stage: Optional[str], source: str,
          target: str, ctx: Context, body: Block) -> None:
    """A bind mount is emulated by copying its source to the target before the step."""
    span = instruction.span
    stage = None
    if source_stage:
        name = plain_value(expand_word(source_stage, state.scope, ctx.escape), state.scope,
                           literal=True)
        stage = ctx.resolve_stage(name, span.line)
    source = source or "."
    if stage is not None and not source.startswith("/"):
        source = "/" + source
    elif stage is None:
        source = context_path(source)
    staged = f"{STAGING}/{state.next_id(span.line)}/mount"
    state.staged = True
    stage_source(state, ctx, stage, source, staged)
    if stage is None:
        apply_ignore(state, ctx, staged, source)
    state.need_helper("copy", helpers.COPY_BLOCK)
    body.add(f"defkit_copy {quote(staged)} {quote(_abs(state, target or '/'))}")
    ctx.notes.info(span, f"RUN --mount=type=bind,target={target}: the source is copied there "
                   "before the step and stays in the image")
