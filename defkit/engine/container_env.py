"""Apptainer's container environment and the caller's identity inside: what a build's %test and
`defkit run|exec|shell|test` (defkit.runtime) both start a container with."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
from collections.abc import Mapping
from typing import Optional

from defkit.engine.sandbox import current_user
from defkit.errors import UsageError
from defkit.model import Span

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Host variables Apptainer does not pass into a container (they describe the host).
HOST_ONLY = ("PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PS1", "PROMPT_COMMAND", "SHLVL", "OLDPWD",
             "PWD", "_")
#: What `--cleanenv` still passes (Apptainer's env.go: alwaysPassKeys).
ALWAYS_PASSED = ("TERM", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy",
                 "NO_PROXY", "all_proxy", "ALL_PROXY", "ftp_proxy", "FTP_PROXY")
ENV_PREFIXES = ("APPTAINERENV_", "SINGULARITYENV_")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The Apptainer action options defkit implements (see `apptainer exec --help`)."""

    binds: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    cleanenv: bool = False
    contain: bool = False
    containall: bool = False
    no_home: bool = False
    pwd: Optional[str] = None
    writable_tmpfs: bool = False
    fakeroot: bool = False
    app: Optional[str] = None


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
#: Unquoted characters that make a line more than assignments (commands, redirections, globs).
_SHELL_ONLY = frozenset("&|<>()`")


class _EnvFileError(Exception):
    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset


def read_env_file(path: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables an --env-file sets. Apptainer sources the file with a shell (its embedded
    interpreter, before the container starts), so defkit reads it with the shell's rules for what
    such files hold: `NAME=value` and `export NAME=value` (several per line), comments, single
    and double quotes, backslash escapes, values over several lines in quotes, and `$NAME` /
    `${NAME}` expanded from what the file set before and the host environment (`${NAME:-word}`
    and the like are not). Anything that would run a command (command substitution, a command,
    a redirection) is refused with its position, never run."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--env-file {path}: {reason}") from exc
    try:
        return _EnvFileReader(text, environ).read()
    except _EnvFileError as exc:
        line = text.count("\n", 0, exc.offset) + 1
        column = exc.offset - (text.rfind("\n", 0, exc.offset) + 1) + 1
        raise UsageError(f"{exc} (an --env-file may only assign variables)", path=path,
                         span=Span(line, column, line, column + 1)) from exc


class _EnvFileReader:
    def __init__(self, text: str, environ: Mapping[str, str]):
        self.text, self.at, self.environ = text, 0, environ
        self.values: dict[str, str] = {}

    def read(self) -> dict[str, str]:
        while self.at < len(self.text):
            self._skip_blanks()
            if self.at >= len(self.text):
                break
            char = self.text[self.at]
            if char in "\n;":
                self.at += 1
            elif char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            else:
                self._statement()
        return self.values

    def _skip_blanks(self) -> None:
        while self.at < len(self.text):
            if self.text[self.at] in " \t\r":
                self.at += 1
            elif self.text.startswith("\\\n", self.at):  # a line continuation
                self.at += 2
            else:
                return

    def _statement(self) -> None:
        start = self.at
        name = self._name()
        if name == "export" and self.at < len(self.text) and self.text[self.at] in " \t":
            self._skip_blanks()
            while self.at < len(self.text) and self.text[self.at] not in "\n#;":
                word_start = self.at
                name = self._name()
                if not name:
                    raise _EnvFileError(word_start, "expected a variable name after export")
                if self.at < len(self.text) and self.text[self.at] == "=":
                    self.at += 1
                    self.values[name] = self._word()
                elif name not in self.values and name in self.environ:
                    self.values[name] = self.environ[name]
                self._end_of_word()
                self._skip_blanks()
            return
        if not name or self.at >= len(self.text) or self.text[self.at] != "=":
            raise _EnvFileError(start, "expected NAME=VALUE")
        self.at += 1
        self.values[name] = self._word()
        self._end_of_word()

    def _end_of_word(self) -> None:
        if self.at < len(self.text) and self.text[self.at] not in " \t\r\n#;":
            raise _EnvFileError(self.at, f"unexpected {self.text[self.at]!r}")

    def _name(self) -> str:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] in _NAME_CHARS:
            self.at += 1
        name = self.text[start:self.at]
        return "" if name[:1].isdigit() else name

    def _word(self) -> str:
        parts: list[str] = []
        text = self.text
        if text.startswith("~", self.at) and text[self.at + 1:self.at + 2] in ("", "/", ":", " ",
                                                                              "\n"):
            parts.append(self.environ.get("HOME", "~"))  # the shell's tilde expansion
            self.at += 1
        while self.at < len(text) and text[self.at] not in " \t\r\n;":
            char = text[self.at]
            if char == "'":
                end = text.find("'", self.at + 1)
                if end < 0:
                    raise _EnvFileError(self.at, "unterminated single quote")
                parts.append(text[self.at + 1:end])
                self.at = end + 1
            elif char == '"':
                parts.append(self._double_quoted())
            elif char == "\\":
                if text.startswith("\\\n", self.at):
                    self.at += 2
                    continue
                parts.append(text[self.at + 1:self.at + 2])
                self.at += 2
            elif char == "$":
                parts.append(self._expansion())
            elif char in _SHELL_ONLY:
                raise _EnvFileError(self.at, f"unexpected {char!r}")
            else:
                parts.append(char)
                self.at += 1
        return "".join(parts)

    def _double_quoted(self) -> str:
        start = self.at
        self.at += 1
        parts: list[str] = []
        text = self.text
        while self.at < len(text) and text[self.at] != '"':
            char = text[self.at]
            if char == "\\" and text[self.at + 1:self.at + 2] in ('"', "\\", "$", "`", "\n"):
                if text[self.at + 1] != "\n":
                    parts.append(text[self.at + 1])
                self.at += 2
            elif char == "$":
                parts.append(self._expansion())
            elif char == "`":
                raise _EnvFileError(self.at, "command substitution")
            else:
                parts.append(char)
                self.at += 1
        if self.at >= len(text):
            raise _EnvFileError(start, "unterminated double quote")
        self.at += 1
        return "".join(parts)

    def _expansion(self) -> str:
        start = self.at
        self.at += 1
        braced = self.text.startswith("{", self.at)
        if braced:
            self.at += 1
        elif self.text.startswith("(", self.at):
            raise _EnvFileError(start, "command substitution")
        name = self._name()
        if braced:
            if not name or not self.text.startswith("}", self.at):
                raise _EnvFileError(start, "only ${NAME} expansions")
            self.at += 1
        elif not name:
            return "$"
        return self.values.get(name, self.environ.get(name, ""))


def container_env(image: str, environ: Mapping[str, str], options: RunOptions, home: str
                  ) -> dict[str, str]:
    """Apptainer's environment: the host's (or only ALWAYS_PASSED with --cleanenv), minus what
    describes the host, plus APPTAINERENV_*, --env-file and --env (later wins), plus the
    APPTAINER_* variables the action scripts read."""
    cleanenv = options.cleanenv or options.containall
    env = {k: v for k, v in environ.items()
           if k not in HOST_ONLY and not k.startswith(("APPTAINER", "SINGULARITY"))
           and (not cleanenv or k in ALWAYS_PASSED)}
    for key, value in environ.items():
        for prefix in ENV_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                env[key[len(prefix):]] = value
    for path in options.env_files:
        env.update(read_env_file(path, {**environ, **env}))
    for item in options.env:
        for pair in item.split(","):
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise UsageError(f"bad --env {pair!r}: expected KEY=VALUE")
            env[key] = value
    name = os.path.basename(image.rstrip("/"))
    env.setdefault("PATH", DEFAULT_PATH)
    env.update({"HOME": home, "USER": user_name(), "LOGNAME": user_name(),
                "APPTAINER_CONTAINER": image, "SINGULARITY_CONTAINER": image,
                "APPTAINER_NAME": name, "SINGULARITY_NAME": name,
                "APPTAINER_ENVIRONMENT": "/.singularity.d/env/91-environment.sh",
                "SINGULARITY_ENVIRONMENT": "/.singularity.d/env/91-environment.sh"})
    if options.app:
        env["SINGULARITY_APPNAME"] = env["APPTAINER_APPNAME"] = options.app
    return env


def test_environment(rootfs: str, environ: Mapping[str, str]) -> dict[str, str]:
    """A build's %test environment (`apptainer --build-config test`): the host's, as for
    `defkit test`, with nothing bound from the host."""
    return container_env(rootfs, environ, RunOptions(contain=True), "/root")


def user_name() -> str:
    return current_user()


def caller_home() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.environ.get("HOME", "/")


def identity(fakeroot: bool) -> dict[str, object]:
    """The passwd and group lines Apptainer adds for the caller ("config passwd/group")."""
    uid, gid = (0, 0) if fakeroot else (os.getuid(), os.getgid())
    name = "root" if fakeroot else user_name()
    home = "/root" if fakeroot else caller_home()
    shell = "/bin/sh"
    try:
        entry = pwd.getpwuid(uid)
        gecos, shell = entry.pw_gecos, entry.pw_shell or shell
    except KeyError:
        gecos = name
    gids = sorted({gid, *([] if fakeroot else os.getgroups())})
    groups = []
    for number in gids:
        try:
            group_name = grp.getgrgid(number).gr_name
        except KeyError:
            continue
        groups.append(f"{group_name}:x:{number}:{name if number != gid else ''}")
    return {"uid": uid, "gids": gids, "groups": groups,
            "passwd": [f"{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}"]}
