"""COPY and ADD: staged by %files (or downloaded in %setup), moved into place in %post in order.

Apptainer copies every `%files` entry before `%post` runs, so a COPY after a RUN cannot be a
plain `%files` line. Each source is staged under /.defkit/<id>/<n>/ (a fresh path, so `cp -r`
never nests a directory), and `defkit_copy` moves it at the point where Docker would copy it,
applying Docker's rules: destination relative to WORKDIR, directory contents, --chown/--chmod.
"""

from __future__ import annotations

import posixpath
import re
from typing import Optional

from defkit.convert import dockerignore, helpers
from defkit.convert.emit import indented_block
from defkit.convert.shell import (
    PLACEHOLDER,
    heredoc_marker,
    printf_lines,
    quote,
    text_is_unsafe,
)
from defkit.convert.state import (
    EXPANDED_AT_BUILD,
    LEFT_EMPTY,
    STAGING,
    Context,
    StageState,
    note_base_image_names,
)
from defkit.convert.words import (
    base_image_names,
    expand_views,
    expand_word,
    is_absolute,
    plain_value,
    shell_value,
    unset_args,
)
from defkit.dockerfile.ast import CopyCommand, Heredoc, Instruction
from defkit.model import Span

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_GIT = re.compile(r"^(git@|git://)|\.git(#.*)?$|^https?://[^#]*\.git(#|$)")


def convert_copy(
    state: StageState, instruction: Instruction, command: CopyCommand, ctx: Context
) -> None:
    span = instruction.span
    keyword = command.keyword
    notes = ctx.notes
    sources = [s for s in command.sources if not s.startswith("<<")]
    if "{{" in instruction.original and any(map(PLACEHOLDER.search, [*sources, command.dest])):
        notes.warn(span, f"{keyword} skipped: `{{{{ NAME }}}}` in a path is Apptainer's "
                   "build-argument syntax, which a .def cannot hold as a file name")
        return
    if command.link:
        notes.info(span, f"{keyword} --link has no effect here (Apptainer has no layers)")
    if command.exclude:
        notes.warn(span, f"{keyword} --exclude is not supported; excluded files are copied too")
    if command.parents:
        notes.warn(span, f"{keyword} --parents is not supported; parent directories are dropped")
    source_stage = None
    if command.from_ is not None:
        name = expand_word(command.from_, state.scope, ctx.escape)
        source_stage = ctx.resolve_stage(plain_value(name, state.scope, literal=True), span.line)

    scope = state.scope
    for word in (*command.sources, command.dest):
        if "$" not in word:
            continue  # (no reference: `unset_args` would find none)
        for name in unset_args(word, scope):
            notes.warn(span, f"ARG {name} has no value here, so {word!r} loses it; give one "
                       f"with `defkit convert --build-arg {name}=...`")
    dest_value, dest_shell = expand_views(command.dest, scope, ctx.escape)
    several = len(command.sources) > 1 or (len(sources) == 1 and _has_wildcard(sources[0]))
    # Absolute or not once expanded (`COPY x $APPDIR/` is not joined to WORKDIR).
    absolute = is_absolute(dest_value, scope)
    dest_shell = _resolve_dest(dest_shell, state.workdir, several, absolute)
    if not absolute and state.workdir is None and state.external_base:
        notes.info(
            span,
            f"relative {keyword} destination resolved against /; the base image's WORKDIR "
            "(if it sets one) is not known at conversion time",
        )
    note_base_image_names(ctx, span, f"{keyword} destination", dest_value, EXPANDED_AT_BUILD)
    chown = _option_word(command.chown, f"{keyword} --chown", state, span, ctx)
    chmod = _option_word(command.chmod, f"{keyword} --chmod", state, span, ctx)
    owner_args = _owner_args(chown, chmod)

    if state.direct_files:
        dest_value = _resolve_dest(dest_value, state.workdir_value, several, absolute)
        _direct(state, instruction, command, ctx, sources, source_stage, dest_value, owner_args)
        return

    post = state.plan.post
    post.add(f"# {keyword} (Dockerfile line {span.line})")
    dest_word = shell_value(dest_shell, "post", scope)
    for heredoc in command.heredocs:
        _copy_heredoc(state, heredoc, dest_shell, owner_args)
    for raw in sources:
        expanded = expand_word(raw, scope, ctx.escape)
        note_base_image_names(ctx, span, f"{keyword} source {raw!r}", expanded, LEFT_EMPTY)
        source = plain_value(expanded, scope)
        stage_dir = f"{STAGING}/{state.next_id(span.line)}"
        state.staged = True
        url = plain_value(expanded, scope, literal=True)  # (ARGs at their values: a URL is
        if keyword == "ADD" and source_stage is None and _URL.match(url):  # fetched in %post)
            _add_url(state, instruction, command, ctx, url, stage_dir, dest_word, chown, chmod)
            continue
        if source_stage is None and source in (".", "./") and ctx.ignore is None:
            notes.info(span, "no .dockerignore given: the whole build directory is copied")
        helper = "defkit_add" if keyword == "ADD" and source_stage is None else "defkit_copy"
        if command.unpack is False:
            helper = "defkit_copy"
        if source_stage is not None and not source.startswith("/"):
            source = "/" + source
        elif source_stage is None:
            source = context_path(source)
        if _has_wildcard(source):
            staged = stage_dir + "/"
            stage_source(state, ctx, source_stage, source, staged)
            if source_stage is None:
                apply_ignore(state, ctx, stage_dir, posixpath.dirname(source))
            state.need_helper("copy", helpers.COPY_BLOCK)
            state.need_helper("copy_all", helpers.COPY_ALL_BLOCK)
            post.add(f"defkit_copy_all {quote(stage_dir)} {dest_word}{owner_args}")
            continue
        path = source.rstrip("/")
        base = posixpath.basename(path) or "context"
        if base in (".", ".."):
            base = "context"
        staged = f"{stage_dir}/{base}"
        stage_source(state, ctx, source_stage, source, staged)
        if source_stage is None and ctx.ignore:  # (`apply_ignore` does nothing without patterns)
            apply_ignore(state, ctx, staged, source)
        state.need_helper("copy", helpers.COPY_BLOCK)
        if helper == "defkit_add":
            state.need_helper("decompressor", helpers.DECOMPRESSOR_BLOCK)
            state.need_helper("add", helpers.ADD_BLOCK)
        post.add(f"{helper} {quote(staged)} {dest_word}{owner_args}")


def _has_wildcard(path: str) -> bool:
    """Whether `path` holds a `*`, `?` or `[`."""
    return "*" in path or "?" in path or "[" in path


def context_path(source: str) -> str:
    """A COPY source as a path inside the build context, as BuildKit resolves it: a leading `/`
    means the context root and `..` cannot leave it. A trailing `/` is kept."""
    trailing = "/" if source.endswith("/") and source.strip("/") else ""
    path = posixpath.normpath("/" + source).lstrip("/")
    return path + trailing if path else "."


def apply_ignore(state: StageState, ctx: Context, staged: str, source: str) -> None:
    """Prune a staged context directory by .dockerignore (no-op for files)."""
    if not ctx.ignore:
        return
    if "ignore" not in state.helpers:  # (built from the patterns: only when a stage needs it)
        state.need_helper("ignore", indented_block(dockerignore.helper(ctx.ignore)))
    relative = posixpath.normpath(source).lstrip("/") or "."
    state.plan.post.add(f"defkit_ignore {quote(staged)} {quote(relative)}")


def _resolve_dest(dest: str, workdir: Optional[str], directory: bool, absolute: bool) -> str:
    """The destination `dest` (absolute once expanded, or not) resolved against `workdir`;
    ending in "/" when it names a directory."""
    trailing = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
    path = posixpath.normpath(dest if absolute else posixpath.join(workdir or "/", dest))
    if path.startswith("//"):  # (POSIX keeps a leading "//"; Docker's paths do not)
        path = path[1:]
    if (trailing or directory) and not path.endswith("/"):
        path += "/"
    return path


def _option_word(option: Optional[str], what: str, state: StageState, span: Span,
                 ctx: Context) -> str:
    """The shell word for a --chown/--chmod value ("" when not given): ARGs at their values; a
    variable of the base image (`--chown=${NB_UID}`) is left to the shell of %post, which has
    the base image's environment."""
    if not option:
        return ""
    value = expand_word(option, state.scope, ctx.escape)
    if base_image_names(value):
        note_base_image_names(ctx, span, what, value, EXPANDED_AT_BUILD)
        return shell_value(value, "post", state.scope, literal=True)
    return quote(plain_value(value, state.scope, literal=True))


def _owner_args(chown: str, chmod: str) -> str:
    """The OWNER and MODE arguments of the helpers, from --chown/--chmod shell words."""
    if not chown and not chmod:
        return ""
    return f" {chown or quote('')} {chmod or quote('')}"


def stage_source(state: StageState, ctx: Context, source_stage: Optional[str], source: str,
                 staged: str) -> None:
    """A %files entry copying `source` to `staged`: from the stage `source_stage`, or (None)
    from the build context, `source` being a `context_path`, written from `ctx.context_root`."""
    if source_stage is None:
        state.plan.files.append((host_source(ctx, source), staged))
    else:
        state.plan.files_from.setdefault(source_stage, []).append((source, staged))


def host_source(ctx: Context, path: str) -> str:
    """The `context_path` `path` as a %files source: relative to where the .def is built from
    (`Context.context_root`, the build context seen from there)."""
    if not ctx.context_root:
        return path
    if path == ".":
        return ctx.context_root
    return posixpath.join(ctx.context_root, path)


def _copy_heredoc(state: StageState, heredoc: Heredoc, dest: str, owner_args: str) -> None:
    """`COPY <<EOF /path`: the body becomes the file (`dest/EOF` when dest is a directory)."""
    target = dest + heredoc.name if dest.endswith("/") else dest
    word = shell_value(target, "post", state.scope)
    post = state.plan.post
    post.add(f'mkdir -p "$(dirname {word})"')
    content = heredoc.content
    if heredoc.expand and "$" in content:
        # BuildKit substitutes ARG/ENV in an unquoted heredoc; the shell does the same with the
        # exported values, once command substitution and backquotes are made literal.
        content = content.replace("\\", "\\\\").replace("`", "\\`").replace("$(", "\\$(")
        quoted = False
    else:
        quoted = True
    if text_is_unsafe(content):
        lines = printf_lines(heredoc.content)
        post.add(*lines[:-1], lines[-1] + f" > {word}")
    else:
        marker = heredoc_marker(content)
        post.add(f"cat > {word} <<" + (f"'{marker}'" if quoted else marker))
        post.add_raw(content.rstrip("\n"), marker)
    if owner_args:
        state.need_helper("copy", helpers.COPY_BLOCK)
        post.add(f"defkit_own {word}{owner_args}")


def _add_url(state: StageState, instruction: Instruction, command: CopyCommand, ctx: Context,
             url: str, stage_dir: str, dest_word: str, chown: str, chmod: str) -> None:
    span = instruction.span
    if _GIT.search(url):
        repo, _, ref = url.partition("#")
        staged = f"{stage_dir}/repo"
        state.need_helper("git", helpers.GIT_BLOCK)
        keep = " 1" if command.keep_git_dir else ""
        state.plan.post.add(f"defkit_git {quote(repo)} {quote(ref)} {quote(staged)}{keep}")
        ctx.notes.info(span, "ADD of a Git repository: cloned with git, which the image needs")
    else:
        name = posixpath.basename(url.split("?", 1)[0].split("#", 1)[0].rstrip("/")) or "index.html"
        staged = f"{stage_dir}/{name}"
        checksum = ""
        if command.checksum:
            algorithm, _, digest = command.checksum.partition(":")
            if algorithm == "sha256" and digest:
                checksum = f" {quote(digest)}"
            else:
                ctx.notes.warn(span, f"ADD --checksum={command.checksum}: only sha256 is checked")
        state.need_helper("fetch", helpers.FETCH_BLOCK)
        state.plan.post.add(f"defkit_fetch {quote(url)} {quote(staged)}{checksum}")
        # Docker gives downloaded files mode 600 unless --chmod says otherwise.
        chmod = chmod or quote("600")
    state.need_helper("copy", helpers.COPY_BLOCK)
    state.plan.post.add(f"defkit_copy {quote(staged)} {dest_word}{_owner_args(chown, chmod)}")


def _direct(state: StageState, instruction: Instruction, command: CopyCommand, ctx: Context,
            sources: list[str], source_stage: Optional[str], dest: str, owner_args: str) -> None:
    """A leading step of a stage built from scratch, before the image has a shell: %files puts
    files in place (Apptainer's cp -r rules), and %setup extracts a local archive that ADD
    names (on the host, into $APPTAINER_ROOTFS), as official base images are made. --chown and
    --chmod are applied at the start of %post, which a later RUN needs anyway."""
    span = instruction.span
    if command.heredocs:
        ctx.notes.warn(span, f"{command.keyword} of a here-document needs a shell; skipped")
    dest = plain_value(dest, state.scope)
    for raw in sources:
        expanded = expand_word(raw, state.scope, ctx.escape)
        source = plain_value(expanded, state.scope)
        url = plain_value(expanded, state.scope, literal=True)
        if _URL.match(url):
            ctx.notes.warn(span, f"ADD {url} needs a shell to download; skipped (scratch)")
            continue
        if source_stage is not None and not source.startswith("/"):
            source = "/" + source
        elif source_stage is None:
            source = context_path(source)
        if (command.keyword == "ADD" and source_stage is None and command.unpack is not False
                and not _has_wildcard(source) and source != "."):
            if state.plan.files:
                ctx.notes.warn(span, "ADD: extracted by %setup, which Apptainer runs before the "
                               "%files copies of earlier steps (they may overwrite its files)")
            _extract_on_host(state, ctx, source, dest)
            continue
        if source_stage is not None and state.plan.setup:
            ctx.notes.warn(span, f"{command.keyword} --from: copied by %files from, which "
                           "Apptainer runs before %setup's extraction of an earlier ADD")
        stage_source(state, ctx, source_stage, source, dest)
        if owner_args:
            target = dest + posixpath.basename(source.rstrip("/")) if dest.endswith("/") else dest
            state.need_helper("copy", helpers.COPY_BLOCK)
            state.plan.post.add(f"defkit_own {quote(target)}{owner_args}")
            state.unowned.append(span)


def _extract_on_host(state: StageState, ctx: Context, source: str, dest: str) -> None:
    """`ADD archive dest` before the image has a shell: extracted by %setup, on the host."""
    if "setup:extract" not in state.helpers:  # (%setup's own helpers, written once)
        state.helpers.add("setup:extract")
        state.plan.setup.add_raw(helpers.DECOMPRESSOR_BLOCK, helpers.EXTRACT_BLOCK)
    state.plan.setup.add(f"defkit_extract {quote(host_source(ctx, source))} {quote(dest)}")
