"""Parser node -> typed command, with the checks of BuildKit's instruction parser.

These are the errors `docker build` reports before running anything (`COPY` without a
destination, unknown flags, `FROM a b`, `HEALTHCHECK FOO`...). Words stay as written; expansion
happens later, with the environment of each point in the build (see `scope.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Optional

from defkit.dockerfile.ast import (
    ArgCommand,
    Command,
    CommandLine,
    CopyCommand,
    EnvCommand,
    ExposeCommand,
    Flag,
    FromCommand,
    HealthcheckCommand,
    Heredoc,
    KeyValue,
    LabelCommand,
    MaintainerCommand,
    Mount,
    RunCommand,
    StopsignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from defkit.dockerfile.heredoc import parse_marker
from defkit.dockerfile.nodes import Node, go_quote

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"
_VALID_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
# Go's time.ParseDuration syntax: "0" or a sequence of decimal numbers with units.
_GO_DURATION = re.compile(r"^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$")


class CommandError(ValueError):
    """An instruction BuildKit's instruction parser rejects."""


def split_flag(raw: str) -> Flag:
    name, equals, value = raw.partition("=")
    return Flag(name[2:] if name.startswith("--") else name, value if equals else None, raw)


class _Flags:
    """BuildKit's BFlags.Parse: only the declared flags, each once (repeatable ones excepted)."""

    def __init__(self, raw_flags: tuple[str, ...], declared: dict[str, str]) -> None:
        self.values: dict[str, list[str]] = {}
        if not raw_flags:
            return
        for raw in raw_flags:
            if raw == "--":
                break
            if not raw.startswith("--"):
                raise CommandError(f"arg should start with -- : {raw}")
            flag = split_flag(raw)
            kind = declared.get(flag.name)
            spelled = "--" + flag.name
            if kind is None:
                raise CommandError(f"unknown flag: {spelled}")
            if flag.name in self.values and kind != _STRINGS:
                raise CommandError(f"duplicate flag specified: {spelled}")
            if kind == _BOOL:
                value = "true" if flag.value is None else flag.value.lower()
                if flag.value == "":
                    raise CommandError(f"missing a value on flag: {spelled}")
                if value not in ("true", "false"):
                    raise CommandError(
                        f"expecting boolean value for flag {spelled}, not: {flag.value}"
                    )
            elif flag.value is None:
                raise CommandError(f"missing a value on flag: {spelled}")
            else:
                value = flag.value
            self.values.setdefault(flag.name, []).append(value)

    def string(self, name: str) -> Optional[str]:
        values = self.values.get(name)
        return values[-1] if values else None

    def strings(self, name: str) -> tuple[str, ...]:
        return tuple(self.values.get(name, ()))

    def boolean(self, name: str) -> Optional[bool]:
        value = self.string(name)
        return None if value is None else value == "true"


def build_command(node: Node, heredocs: tuple[Heredoc, ...]) -> Optional[Command]:
    """The typed command for a node; None for an unknown keyword. Raises CommandError."""
    builder = _BUILDERS.get(node.keyword.lower())
    return None if builder is None else builder(node, heredocs)


def _exactly_one(node: Node, keyword: str) -> str:
    if len(node.args) != 1:
        raise CommandError(f"{keyword} requires exactly one argument")
    return node.args[0]


def _pairs(node: Node, keyword: str) -> tuple[KeyValue, ...]:
    args = node.args
    if not args:
        raise CommandError(f"{keyword} requires at least one argument")
    if len(args) % 3:
        raise CommandError(f"Bad input to {keyword}, too many arguments")
    pairs = []
    for index in range(0, len(args), 3):
        if not args[index]:
            raise CommandError(f"{keyword} names can not be blank")
        pairs.append(KeyValue(args[index], args[index + 1]))
    return tuple(pairs)


def _env(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    _Flags(node.flags, {})
    legacy = len(node.args) == 3 and node.args[2] == ""
    return EnvCommand(_pairs(node, "ENV"), legacy)


def _label(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    _Flags(node.flags, {})
    return LabelCommand(_pairs(node, "LABEL"))


def _maintainer(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    name = _exactly_one(node, "MAINTAINER")
    _Flags(node.flags, {})
    return MaintainerCommand(name)


def _arg(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    if not node.args:
        raise CommandError("ARG requires at least one argument")
    pairs = []
    for word in node.args:
        key, equals, value = word.partition("=")
        if equals and not key:
            raise CommandError("ARG names can not be blank")
        pairs.append(KeyValue(key, value if equals else None))
    return ArgCommand(tuple(pairs))


def _from(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    args = node.args
    stage_name: Optional[str] = None
    if len(args) == 3 and args[1].lower() == "as":
        stage_name = args[2].lower()
        if not _VALID_STAGE_NAME.match(stage_name):
            raise CommandError(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise CommandError("FROM requires either one or three arguments")
    flags = _Flags(node.flags, {"platform": _STRING})
    return FromCommand(args[0], stage_name, flags.string("platform"))


_COMMON_COPY_FLAGS = {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "exclude": _STRINGS}
_ADD_FLAGS = {**_COMMON_COPY_FLAGS, "keep-git-dir": _BOOL, "checksum": _STRING, "unpack": _BOOL}
_COPY_FLAGS = {**_COMMON_COPY_FLAGS, "from": _STRING, "parents": _BOOL}


def _copy(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    keyword = node.keyword.upper()
    if len(node.args) < 2:
        raise CommandError(
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    flags = _Flags(node.flags, _ADD_FLAGS if keyword == "ADD" else _COPY_FLAGS)
    *sources, dest = node.args
    if parse_marker(dest) is not None:
        raise CommandError(f"{keyword} cannot accept a heredoc as a destination")
    return CopyCommand(
        keyword=keyword,
        sources=tuple(sources),
        dest=dest,
        from_=flags.string("from"),
        chown=flags.string("chown"),
        chmod=flags.string("chmod"),
        link=bool(flags.boolean("link")),
        checksum=flags.string("checksum"),
        exclude=flags.strings("exclude"),
        parents=bool(flags.boolean("parents")),
        keep_git_dir=flags.boolean("keep-git-dir"),
        heredocs=heredocs,
        json_form=node.json_form,
        unpack=flags.boolean("unpack"),
    )


def _command_line(node: Node, keyword: str) -> CommandLine:
    if node.json_form:
        return CommandLine(keyword, None, node.args)
    return CommandLine(keyword, " ".join(node.args), None)


def _run(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    if node.json_form:
        shell, argv = None, node.args
    else:
        shell, argv = " ".join(node.args), None
    if not node.flags:
        return RunCommand(shell, argv, (), None, None, heredocs)
    flags = _Flags(node.flags, _RUN_FLAGS)
    mounts = tuple(parse_mount(value) for value in flags.strings("mount"))
    return RunCommand(
        shell,
        argv,
        mounts,
        flags.string("network"),
        flags.string("security"),
        heredocs,
    )


_RUN_FLAGS = {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS}


def _cmd_or_entrypoint(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    _Flags(node.flags, {})
    return _command_line(node, node.keyword.upper())


def _shell(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    _Flags(node.flags, {})
    if not node.args:
        raise CommandError("SHELL requires at least one argument")
    if not node.json_form:
        raise CommandError("SHELL requires the arguments to be in JSON form")
    return CommandLine("SHELL", None, node.args)


def _healthcheck(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    if not node.args:
        raise CommandError("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) != 1:
            raise CommandError("HEALTHCHECK NONE takes no arguments")
        return HealthcheckCommand("NONE", None, None, None, None, None, None)
    names = ("interval", "timeout", "start-period", "start-interval", "retries")
    flags = _Flags(node.flags, {name: _STRING for name in names})
    if kind != "CMD":
        raise CommandError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    if len(node.args) == 1:
        raise CommandError("Missing command after HEALTHCHECK CMD")
    for name in names[:4]:
        value = flags.string(name)
        if value and not _GO_DURATION.match(value):
            raise CommandError(f"time: invalid duration {go_quote(value)}")
    retries = flags.string("retries")
    if retries:
        if not re.fullmatch(r"[-+]?[0-9]+", retries):
            raise CommandError(f"strconv.ParseInt: parsing {go_quote(retries)}: invalid syntax")
        if int(retries) < 0:
            raise CommandError(f"--retries cannot be negative ({int(retries)})")
    rest = node.args[1:]
    test = CommandLine("CMD", None, rest) if node.json_form else CommandLine("CMD", rest[0], None)
    return HealthcheckCommand(
        "CMD",
        test,
        flags.string("interval"),
        flags.string("timeout"),
        flags.string("start-period"),
        flags.string("start-interval"),
        retries,
    )


def _expose(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    if not node.args:
        raise CommandError("EXPOSE requires at least one argument")
    _Flags(node.flags, {})
    return ExposeCommand(node.args)


def _user(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    user = _exactly_one(node, "USER")
    _Flags(node.flags, {})
    return UserCommand(user)


def _volume(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    if not node.args:
        raise CommandError("VOLUME requires at least one argument")
    _Flags(node.flags, {})
    paths = tuple(path.strip() for path in node.args)
    if "" in paths:
        raise CommandError("VOLUME specified can not be an empty string")
    return VolumeCommand(paths)


def _workdir(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    path = _exactly_one(node, "WORKDIR")
    _Flags(node.flags, {})
    return WorkdirCommand(path)


def _stopsignal(node: Node, heredocs: tuple[Heredoc, ...]) -> Command:
    return StopsignalCommand(_exactly_one(node, "STOPSIGNAL"))


def parse_mount(value: str) -> Mount:
    """`type=cache,target=/root/.cache,sharing=locked` (CSV fields; type defaults to bind)."""
    options: list[tuple[str, Optional[str]]] = []
    mount_type = "bind"
    for field in _csv_fields(value):
        key, equals, option = field.partition("=")
        key = key.lower()
        options.append((key, option if equals else None))
        if key == "type" and equals:
            mount_type = option.lower()
    return Mount(mount_type, tuple(options), value)


def _csv_fields(value: str) -> list[str]:
    """One CSV record: commas separate, double quotes group (`""` is a literal quote)."""
    fields: list[str] = []
    current: list[str] = []
    in_quotes = False
    index = 0
    while index < len(value):
        char = value[index]
        if in_quotes:
            if char == '"' and value[index + 1 : index + 2] == '"':
                current.append('"')
                index += 1
            elif char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"' and not current:
            in_quotes = True
        elif char == ",":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    fields.append("".join(current))
    return [field for field in fields if field]


_Builder = Callable[[Node, "tuple[Heredoc, ...]"], Command]

_BUILDERS: dict[str, _Builder] = {
    "add": _copy,
    "arg": _arg,
    "cmd": _cmd_or_entrypoint,
    "copy": _copy,
    "entrypoint": _cmd_or_entrypoint,
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _maintainer,
    "run": _run,
    "shell": _shell,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}
