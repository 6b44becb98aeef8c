"""The parsed form of a Dockerfile: immutable records, each with its place in the file.

Produced by `defkit.dockerfile.parse(text, path)` / `parse_file(path)`; nothing here parses.

Layout
------
`Dockerfile.instructions` holds every instruction in file order (comments and blank lines dropped,
as BuildKit drops them). Each `Instruction` keeps two views of itself:

* the raw, BuildKit-parser view: `keyword` (upper case), `original` (the logical line as BuildKit
  reconstructs it: continuation lines joined, comment lines inside them dropped), `args` (the node
  values BuildKit's parser produces after the keyword; for ENV/LABEL these are key, value, separator
  triples, exactly as in BuildKit's `result` dumps), `flags`, `json_form`, `heredocs`, `span`;
* a typed view, `command`: one of the `*Command` records below, or None for a keyword BuildKit does
  not know (the parser accepts it, as BuildKit's parser does; a converter should warn).

Words inside typed commands are **as written** (quotes, escapes and `$VAR` references kept):
BuildKit unquotes and substitutes in one pass at build time, with the environment of that point
in the build. Call `defkit.dockerfile.expand.expand(word, env, escape=dockerfile.escape)` to get the
value BuildKit would use, and `defkit.dockerfile.scope` for the environment (ARG scoping).
Exec-form (JSON) argv elements are already decoded (JSON strings are never shell-expanded).

`Dockerfile.stages` groups the instructions after each FROM; `global_args` are the ARGs before the
first FROM (visible only to FROM lines unless re-declared inside a stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

from defkit.model import Span


class Flag(NamedTuple):
    """One `--name=value` (or bare `--name`) flag after the keyword."""

    name: str  # without the leading "--"
    value: Optional[str]  # None for a bare flag such as `--link`
    raw: str  # as BuildKit keeps it, e.g. "--chown=1:1"


class Heredoc(NamedTuple):
    """A here-document attached to RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`)."""

    name: str  # the delimiter word, unquoted
    content: str  # body lines joined with "\n", ending with "\n"; `<<-` tabs already stripped
    expand: bool  # False when the delimiter was quoted: no $VAR substitution in the body
    chomp: bool  # True for `<<-`: leading tabs removed from each body line
    file_descriptor: int  # 0 unless written like `3<<EOF`


class KeyValue(NamedTuple):
    """One pair of ENV, LABEL or ARG. `value` is as written; None for `ARG NAME` without default."""

    key: str
    value: Optional[str]


class FromCommand(NamedTuple):
    """FROM image [AS name], with its --platform flag."""

    image: str  # as written; may contain $ARG references (expand with the global ARG scope)
    stage_name: Optional[str]  # `AS name`, lower-cased as BuildKit does; None if absent
    platform: Optional[str]  # value of --platform, as written


class EnvCommand(NamedTuple):
    """ENV key=value pairs (or the legacy `ENV key value`)."""

    pairs: tuple[KeyValue, ...]  # both `ENV k v` (legacy) and `ENV k=v k2=v2`
    legacy: bool  # `ENV k v w` form: the value is the rest of the line, verbatim


class ArgCommand(NamedTuple):
    """ARG name[=default] pairs."""

    pairs: tuple[KeyValue, ...]


class LabelCommand(NamedTuple):
    """LABEL key=value pairs."""

    pairs: tuple[KeyValue, ...]


class Mount(NamedTuple):
    """One RUN --mount: `options` in written order (`type` defaults to "bind" like BuildKit)."""

    type: str
    options: tuple[tuple[str, Optional[str]], ...]
    raw: str

    def get(self, key: str) -> Optional[str]:
        for name, value in self.options:
            if name == key:
                return value
        return None


class RunCommand(NamedTuple):
    """`shell` is the command text for the shell form; `argv` is set for the exec (JSON) form."""

    shell: Optional[str]
    argv: Optional[tuple[str, ...]]
    mounts: tuple[Mount, ...]
    network: Optional[str]
    security: Optional[str]
    heredocs: tuple[Heredoc, ...]


class CopyCommand(NamedTuple):
    """COPY or ADD (`keyword` says which). Sources/dest as written; heredoc sources are named
    `<<EOF` in `sources` and described in `heredocs`."""

    keyword: str
    sources: tuple[str, ...]
    dest: str
    from_: Optional[str]
    chown: Optional[str]
    chmod: Optional[str]
    link: bool
    checksum: Optional[str]
    exclude: tuple[str, ...]
    parents: bool
    keep_git_dir: Optional[bool]
    heredocs: tuple[Heredoc, ...]
    json_form: bool
    unpack: Optional[bool] = None  # ADD --unpack[=bool]; None when not given


class CommandLine(NamedTuple):
    """ENTRYPOINT/CMD/SHELL: exec form (`argv`) or shell form (`shell`: the rest of the line)."""

    keyword: str
    shell: Optional[str]
    argv: Optional[tuple[str, ...]]

    @property
    def json_form(self) -> bool:
        return self.argv is not None


class WorkdirCommand(NamedTuple):
    """WORKDIR path."""

    path: str


class UserCommand(NamedTuple):
    """USER user[:group]."""

    user: str  # "name", "uid", "name:group" ...


class ExposeCommand(NamedTuple):
    """EXPOSE port[/protocol] words."""

    ports: tuple[str, ...]  # "80", "53/udp", "${PORT}"


class VolumeCommand(NamedTuple):
    """VOLUME paths (JSON or words)."""

    paths: tuple[str, ...]


class HealthcheckCommand(NamedTuple):
    """`HEALTHCHECK NONE` (kind "NONE", test None) or `HEALTHCHECK [opts] CMD ...` (kind "CMD")."""

    kind: str
    test: Optional[CommandLine]
    interval: Optional[str]
    timeout: Optional[str]
    start_period: Optional[str]
    start_interval: Optional[str]
    retries: Optional[str]


class OnbuildCommand(NamedTuple):
    """ONBUILD and the instruction it defers."""

    instruction: Instruction  # the nested trigger instruction


class StopsignalCommand(NamedTuple):
    """STOPSIGNAL signal."""

    signal: str


class MaintainerCommand(NamedTuple):
    """MAINTAINER name (deprecated in favour of a label)."""

    name: str


Command = Union[
    FromCommand,
    EnvCommand,
    ArgCommand,
    LabelCommand,
    RunCommand,
    CopyCommand,
    CommandLine,
    WorkdirCommand,
    UserCommand,
    ExposeCommand,
    VolumeCommand,
    HealthcheckCommand,
    OnbuildCommand,
    StopsignalCommand,
    MaintainerCommand,
]


class Instruction(NamedTuple):
    """One instruction: its raw BuildKit-parser view and its typed `command`."""

    keyword: str  # upper case ("RUN"), whatever case was written
    original: str  # logical source line (continuations joined, inner comments dropped)
    args: tuple[str, ...]  # BuildKit parser node values after the keyword (see module docstring)
    flags: tuple[Flag, ...]
    json_form: bool
    heredocs: tuple[Heredoc, ...]
    span: Span  # first line .. last line (heredoc bodies included); end_column exclusive
    command: Optional[Command]  # typed view; None for an unknown keyword
    # The physical lines `original` was joined from, each without its continuation character
    # (comment and blank lines inside dropped, the first without its indentation); () when
    # the instruction is on one line.
    pieces: tuple[str, ...] = ()

    def flag(self, name: str) -> Optional[Flag]:
        """The last flag called `name` (BuildKit lets a later one win), or None."""
        found: Optional[Flag] = None
        for candidate in self.flags:
            if candidate.name == name:
                found = candidate
        return found


@dataclass(frozen=True)
class Stage:
    """A build stage: its FROM and the instructions up to the next FROM."""

    index: int
    name: Optional[str]  # lower-cased `AS` name
    from_instruction: Instruction
    instructions: tuple[Instruction, ...]  # after the FROM

    @property
    def base(self) -> FromCommand:
        command = self.from_instruction.command
        assert isinstance(command, FromCommand)
        return command


class ParseWarning(NamedTuple):
    """Something BuildKit accepts but warns about (an empty line inside a continuation)."""

    message: str
    span: Span


class Dockerfile(NamedTuple):
    """A parsed Dockerfile: its instructions, stages and global ARGs."""

    path: str
    directives: dict[str, str]  # parser directives by lower-cased name: "syntax", "escape", ...
    escape: str  # "\\" or "`"
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    global_args: tuple[Instruction, ...]  # ARG instructions before the first FROM
    warnings: tuple[ParseWarning, ...] = ()
