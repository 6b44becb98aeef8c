"""The converter's state while it walks one Docker stage (copied when a child stage replays it)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from defkit.convert.dockerignore import Pattern
from defkit.convert.emit import StagePlan
from defkit.convert.notes import NoteSink
from defkit.convert.runscript import Process
from defkit.convert.words import Scope, base_image_names
from defkit.model import Span

DEFAULT_SHELL = ("/bin/sh", "-c")
STAGING = "/.defkit"


@dataclass
class Context:
    """What every stage shares: options, notes, and how to name other stages."""

    escape: str
    notes: NoteSink
    build_args: dict[str, str]
    global_values: dict[str, str]  # global ARGs (and predefined ones) with their values
    # Given a COPY --from / --mount from= value, the Apptainer stage name to copy from.
    resolve_stage: Callable[[str, int], str]
    used_build_args: set[str] = field(default_factory=set)
    ignore: Optional[list[Pattern]] = None  # .dockerignore patterns; None: no .dockerignore
    global_scope: Scope = field(default_factory=Scope)  # the ARGs before the first FROM
    # The build context as %files sources name it: relative to where the .def is built from
    # ("" when that is the build context itself).
    context_root: str = ""


# What happens to a base image's variable at the places `note_base_image_names` is told of.
EXPANDED_AT_BUILD = "the shell expands it at build time"
LEFT_EMPTY = "left empty here (no shell expands it)"


def unknown_names(value: str) -> str:
    """For a message about the expanded `value` (value view): the base image's variables it
    uses, whose values are not known at conversion time, as " (${A}, ${B}: ...)"; "" if none."""
    names = base_image_names(value)
    if not names:
        return ""
    listed = ", ".join(f"${{{name}}}" for name in dict.fromkeys(names))
    return (f" ({listed}: not set in the Dockerfile, from the base image's environment, "
            "unknown at conversion time)")


def note_base_image_names(ctx: Context, span: Span, what: str, value: str, outcome: str) -> None:
    """A note naming the base image's variables that the expanded `value` uses (`unknown_names`)
    and what became of them (`outcome`): EXPANDED_AT_BUILD is an info note, LEFT_EMPTY a
    warning."""
    names = unknown_names(value)
    if not names:
        return
    message = f"{what}: a variable of the base image{names}; {outcome}"
    if outcome == EXPANDED_AT_BUILD:
        ctx.notes.info(span, message)
    else:
        ctx.notes.warn(span, message)


@dataclass
class StageState:
    """What the converter knows about the stage it is converting, and what it wrote."""

    plan: StagePlan
    scope: Scope
    workdir: Optional[str] = None  # shell view (markers), None: not set by the Dockerfile
    workdir_value: Optional[str] = None  # value view
    shell: tuple[str, ...] = DEFAULT_SHELL
    process: Process = Process()  # (immutable: one instance can be every stage's default)
    user: Optional[str] = None
    external_base: bool = True  # the chain starts from an image (not scratch)
    windows: bool = False  # the chain starts from a Windows image (SHELL cmd, C:\ paths)
    # A scratch chain before its first RUN (no shell in the image yet): %files puts files
    # straight in place and %setup extracts archives.
    direct_files: bool = False
    unowned: list[Span] = field(default_factory=list)  # its --chown/--chmod, done by %post
    helpers: set[str] = field(default_factory=set)
    staged: bool = False  # something was staged under /.defkit
    counter: int = 0
    help_lines: list[str] = field(default_factory=list)
    cmd_span: Optional[Span] = None  # where the CMD in effect was set

    def next_id(self, line: int) -> str:
        """A staging directory name for one instruction, unique within the stage."""
        self.counter += 1
        return f"{line}.{self.counter}"

    def need_helper(self, name: str, block: str) -> None:
        """Define a helper function at the top of %post (once per stage); `block` is its text
        as `emit.indented_block` writes it (`helpers.COPY_BLOCK`, ...)."""
        if name in self.helpers:
            return
        self.helpers.add(name)
        self.plan.post_prologue.add_raw(block)

    def fork(self, name: str, comment: str, *, reuse: bool = False) -> StageState:
        """The state of a child stage (`FROM <this stage>`) named `name`: a copy, or with
        `reuse` this state itself, changed in place, when nothing else needs this stage (each
        link of a `FROM previous` chain would otherwise copy all the steps before it)."""
        parent = self.plan.name
        if reuse:
            child = self
        else:
            child = copy.copy(self)
            child.plan = self.plan.copy()
            child.scope = self.scope.copy()
            child.helpers = set(self.helpers)
            child.help_lines = list(self.help_lines)
            child.unowned = list(self.unowned)
        child.plan.name = name
        child.plan.header_comments.append(comment)
        child.plan.post.add(f"# --- stage {name} continues stage {parent} here ---")
        child.plan.header = [(k, name if k == "Stage" else v) for k, v in child.plan.header]
        child.process = child.process.new_stage()
        child.scope.args = {}  # ARGs do not cross stages; ENV does
        child.scope.templated = set()
        return child
