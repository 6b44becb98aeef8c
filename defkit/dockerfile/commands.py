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
from defkit.dockerfile.nodes import go_quote

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"
_VALID_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
# Go's time.ParseDuration syntax: "0" or a sequence of decimal numbers with units.
_GO_DURATION = re.compile(r"^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$")


# What a builder gets: a node's fields (no Node record: the parser does not build one), its
# flags split once (the parser keeps them for the Instruction too), the heredocs.
_Args = tuple[str, ...]
_FlagTuple = tuple[Flag, ...]
_Heredocs = tuple[Heredoc, ...]


class CommandError(ValueError):
    """An instruction BuildKit's instruction parser rejects."""


def split_flag(raw: str) -> Flag:
    name, equals, value = raw.partition("=")
    return Flag(name[2:] if name.startswith("--") else name, value if equals else None, raw)


def split_flags(raw_flags: tuple[str, ...]) -> tuple[Flag, ...]:
    """A node's flags as `Flag` records (split once: the command and the instruction use them)."""
    return tuple(split_flag(raw) for raw in raw_flags)


class _Flags:
    """BuildKit's BFlags.Parse: only the declared flags, each once (repeatable ones excepted)."""

    def __init__(self, flags: tuple[Flag, ...], declared: dict[str, str]) -> None:
        values: dict[str, list[str]] = {}  # every value given, in order
        last: dict[str, str] = {}  # the value that counts: a repeated flag's last
        self.values, self.last = values, last
        for flag in flags:
            raw = flag.raw
            if raw == "--":
                break
            if not raw.startswith("--"):
                raise CommandError(f"arg should start with -- : {raw}")
            name = flag.name
            kind = declared.get(name)
            if kind is None:
                raise CommandError(f"unknown flag: --{name}")
            if name in values and kind != _STRINGS:
                raise CommandError(f"duplicate flag specified: --{name}")
            given = flag.value
            if kind == _BOOL:
                value = "true" if given is None else given.lower()
                if given == "":
                    raise CommandError(f"missing a value on flag: --{name}")
                if value not in ("true", "false"):
                    raise CommandError(f"expecting boolean value for flag --{name}, not: {given}")
            elif given is None:
                raise CommandError(f"missing a value on flag: --{name}")
            else:
                value = given
            if name in values:
                values[name].append(value)
            else:
                values[name] = [value]
            last[name] = value

    def string(self, name: str) -> Optional[str]:
        return self.last.get(name)

    def strings(self, name: str) -> tuple[str, ...]:
        return tuple(self.values.get(name, ()))

    def boolean(self, name: str) -> Optional[bool]:
        value = self.string(name)
        return None if value is None else value == "true"


def _no_flags(flags: tuple[Flag, ...]) -> None:
    """BuildKit parses the flags of most instructions against an empty set: any is an error."""
    if flags:
        _Flags(flags, {})


def _exactly_one(args: _Args, keyword: str) -> str:
    if len(args) != 1:
        raise CommandError(f"{keyword} requires exactly one argument")
    return args[0]


def _pairs(args: _Args, keyword: str) -> tuple[KeyValue, ...]:
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


def _env(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    _no_flags(flags)
    legacy = len(args) == 3 and args[2] == ""
    return EnvCommand(_pairs(args, "ENV"), legacy)


def _label(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    _no_flags(flags)
    return LabelCommand(_pairs(args, "LABEL"))


def _maintainer(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    name = _exactly_one(args, "MAINTAINER")
    _no_flags(flags)
    return MaintainerCommand(name)


def _arg(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    if not args:
        raise CommandError("ARG requires at least one argument")
    pairs = []
    for word in args:
        key, equals, value = word.partition("=")
        if equals and not key:
            raise CommandError("ARG names can not be blank")
        pairs.append(KeyValue(key, value if equals else None))
    return ArgCommand(tuple(pairs))


def _from(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
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
    platform = _Flags(flags, _FROM_FLAGS).string("platform") if flags else None
    return FromCommand(args[0], stage_name, platform)


_FROM_FLAGS = {"platform": _STRING}


_COMMON_COPY_FLAGS = {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "exclude": _STRINGS}
_ADD_FLAGS = {**_COMMON_COPY_FLAGS, "keep-git-dir": _BOOL, "checksum": _STRING, "unpack": _BOOL}
_COPY_FLAGS = {**_COMMON_COPY_FLAGS, "from": _STRING, "parents": _BOOL}


def _copy(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    keyword = keyword.upper()
    if len(args) < 2:
        raise CommandError(
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    # Flags are checked before the destination, as BuildKit does.
    parsed = _Flags(flags, _ADD_FLAGS if keyword == "ADD" else _COPY_FLAGS)
    dest = args[-1]
    if parse_marker(dest) is not None:
        raise CommandError(f"{keyword} cannot accept a heredoc as a destination")
    return CopyCommand(
        keyword=keyword,
        sources=args[:-1],
        dest=dest,
        from_=parsed.string("from"),
        chown=parsed.string("chown"),
        chmod=parsed.string("chmod"),
        link=bool(parsed.boolean("link")),
        checksum=parsed.string("checksum"),
        exclude=parsed.strings("exclude"),
        parents=bool(parsed.boolean("parents")),
        keep_git_dir=parsed.boolean("keep-git-dir"),
        heredocs=heredocs,
        json_form=json_form,
        unpack=parsed.boolean("unpack"),
    )


def _command_line(keyword: str, args: _Args, json_form: bool) -> CommandLine:
    if json_form:
        return CommandLine(keyword, None, args)
    return CommandLine(keyword, " ".join(args), None)


def _run(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    if json_form:
        shell, argv = None, args
    else:
        shell, argv = " ".join(args), None
    if not flags:
        return RunCommand(shell, argv, (), None, None, heredocs)
    parsed = _Flags(flags, _RUN_FLAGS)
    mounts = tuple(parse_mount(value) for value in parsed.strings("mount"))
    return RunCommand(
        shell,
        argv,
        mounts,
        parsed.string("network"),
        parsed.string("security"),
        heredocs,
    )


_RUN_FLAGS = {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS}


def _cmd_or_entrypoint(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    _no_flags(flags)
    return _command_line(keyword.upper(), args, json_form)


def _shell(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    _no_flags(flags)
    if not args:
        raise CommandError("SHELL requires at least one argument")
    if not json_form:
        raise CommandError("SHELL requires the arguments to be in JSON form")
    return CommandLine("SHELL", None, args)


def _healthcheck(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    if not args:
        raise CommandError("HEALTHCHECK requires at least one argument")
    kind = args[0].upper()
    if kind == "NONE":
        if len(args) != 1:
            raise CommandError("HEALTHCHECK NONE takes no arguments")
        return HealthcheckCommand("NONE", None, None, None, None, None, None)
    names = ("interval", "timeout", "start-period", "start-interval", "retries")
    parsed = _Flags(flags, {name: _STRING for name in names})
    if kind != "CMD":
        raise CommandError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    if len(args) == 1:
        raise CommandError("Missing command after HEALTHCHECK CMD")
    for name in names[:4]:
        value = parsed.string(name)
        if value and not _GO_DURATION.match(value):
            raise CommandError(f"time: invalid duration {go_quote(value)}")
    retries = parsed.string("retries")
    if retries:
        if not re.fullmatch(r"[-+]?[0-9]+", retries):
            raise CommandError(f"strconv.ParseInt: parsing {go_quote(retries)}: invalid syntax")
        # strconv.ParseInt(retries, 10, 32); the length is checked before `int()`, which
        # refuses numbers of more than 4300 digits.
        digits = retries.lstrip("+-").lstrip("0")
        count = int(retries) if len(digits) <= 10 else 2**31
        if not -(2**31) <= count < 2**31:
            raise CommandError(f"strconv.ParseInt: parsing {go_quote(retries)}: value out of range")
        if count < 0:
            raise CommandError(f"--retries cannot be negative ({count})")
    rest = args[1:]
    test = CommandLine("CMD", None, rest) if json_form else CommandLine("CMD", rest[0], None)
    return HealthcheckCommand(
        "CMD",
        test,
        parsed.string("interval"),
        parsed.string("timeout"),
        parsed.string("start-period"),
        parsed.string("start-interval"),
        retries,
    )


def _expose(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    if not args:
        raise CommandError("EXPOSE requires at least one argument")
    _no_flags(flags)
    return ExposeCommand(args)


def _user(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    user = _exactly_one(args, "USER")
    _no_flags(flags)
    return UserCommand(user)


def _volume(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    if not args:
        raise CommandError("VOLUME requires at least one argument")
    _no_flags(flags)
    paths = tuple(path.strip() for path in args)
    if "" in paths:
        raise CommandError("VOLUME specified can not be an empty string")
    return VolumeCommand(paths)


def _workdir(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    path = _exactly_one(args, "WORKDIR")
    _no_flags(flags)
    return WorkdirCommand(path)


def _stopsignal(
    keyword: str, args: _Args, json_form: bool, flags: _FlagTuple, heredocs: _Heredocs
) -> Command:
    return StopsignalCommand(_exactly_one(args, "STOPSIGNAL"))


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


#: keyword (as written), args, json_form (the node's), flags, heredocs -> the typed command.
Builder = Callable[[str, _Args, bool, _FlagTuple, _Heredocs], Command]

#: The typed-command builder of each keyword (lower case) but ONBUILD, which the parser handles.
BUILDERS: dict[str, Builder] = {
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
