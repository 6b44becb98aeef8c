"""Package-manager invocations in scripts: which program, which subcommand, which options."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Optional

from defkit.lint.context import LintContext
from defkit.lint.rules._common import final_stage
from defkit.lint.rules._shell import Command, Word, all_script_sections
from defkit.model import Section

#: Options whose value is the next word (`apt-get -o Dpkg::Options=... install`).
_OPTIONS_WITH_VALUE = {
    "apt-get": {"-o", "-c", "-t", "--option", "--config-file", "--target-release"},
    "apt": {"-o", "-c", "-t", "--option", "--config-file", "--target-release"},
    "pip": {"-r", "-c", "-e", "-i", "-f", "-t", "--requirement", "--constraint", "--editable",
            "--index-url", "--extra-index-url", "--find-links", "--target", "--prefix", "--root",
            "--trusted-host", "--platform", "--python-version", "--src", "--upgrade-strategy",
            "--progress-bar", "--cache-dir", "--log", "--proxy", "--timeout", "--retries",
            "--implementation", "--abi", "--only-binary", "--no-binary", "--global-option",
            "--config-settings", "-C"},
    "yum": {"-c", "-d", "-e", "-x", "--exclude", "--enablerepo", "--disablerepo", "--setopt",
            "--releasever", "--installroot", "--config"},
    "zypper": {"-c", "-D", "-R", "--root", "--config", "--reposd-dir"},
}  # fmt: skip
_OPTIONS_WITH_VALUE["dnf"] = _OPTIONS_WITH_VALUE["yum"]
_OPTIONS_WITH_VALUE["microdnf"] = _OPTIONS_WITH_VALUE["yum"]
_PIP = re.compile(r"pip[0-9.]*$")
_PYTHON = re.compile(r"python[0-9.]*$")


@dataclass(frozen=True)
class Invocation:
    command: Command
    program: str  # "apt-get", "apt", "pip", "yum", "dnf", "microdnf", "zypper", "apk"
    program_word: Word
    subcommand: Optional[Word]
    options: tuple[Word, ...]  # every option word, before and after the subcommand
    operands: tuple[Word, ...]  # words after the subcommand that are not options or their values

    def runs(self, *subcommands: str) -> bool:
        """True when the subcommand is one of `subcommands`."""
        return self.subcommand is not None and self.subcommand.value in subcommands

    def has_option(self, *names: str) -> bool:
        """True when a long option (or its `--name=value` form) or a short letter is present."""
        for word in self.options:
            value = word.value
            for name in names:
                if name.startswith("--") and (value == name or value.startswith(name + "=")):
                    return True
                if len(name) == 2 and not value.startswith("--") and name[1] in value[1:]:
                    return True
        return False


def _program(command: Command) -> tuple[str, int]:
    """The package manager a command runs and the index in argv where its arguments start."""
    argv = command.argv
    name = command.name
    if _PIP.match(name):
        return "pip", 1
    if (
        _PYTHON.match(name)
        and len(argv) > 2
        and argv[1].value == "-m"
        and _PIP.match(argv[2].value)
    ):
        return "pip", 3
    if name in ("apt-get", "apt", "yum", "dnf", "microdnf", "zypper", "apk"):
        return name, 1
    return "", 0


def invocation(command: Command, *programs: str) -> Optional[Invocation]:
    """The command as a call of one of `programs`, or None."""
    program, start = _program(command)
    if program not in programs:
        return None
    argv = command.argv
    takes_value = _OPTIONS_WITH_VALUE.get(program, set())
    subcommand: Optional[Word] = None
    options: list[Word] = []
    operands: list[Word] = []
    skip_next = False
    for word in argv[start:]:
        if skip_next:
            skip_next = False
            continue
        if word.value.startswith("-") and word.value != "-":
            options.append(word)
            skip_next = word.value in takes_value
        elif subcommand is None:
            subcommand = word
        else:
            operands.append(word)
    return Invocation(
        command, program, argv[start - 1], subcommand, tuple(options), tuple(operands)
    )


def invocations(ctx: LintContext, section: Section, *programs: str) -> Iterator[Invocation]:
    """The package-manager commands of a section, restricted to `programs`."""
    for command in ctx.commands(section):
        call = invocation(command, *programs)
        if call is not None:
            yield call


def script_invocations(ctx: LintContext, *programs: str) -> Iterator[Invocation]:
    """The package-manager commands of all script sections of the file, restricted to `programs`."""
    if ctx.deffile is None:
        return
    for section in all_script_sections(ctx.deffile):
        yield from invocations(ctx, section, *programs)


def left_in_image(
    ctx: LintContext,
    fills: Callable[[Command], Optional[Word]],
    cleans: Callable[[Command], bool],
) -> Optional[Word]:
    """Where the final stage's build scripts last fill a cache that no later command cleans.

    `fills` returns the word to report for a command that fills the cache; `cleans` says whether a
    command empties it. Earlier stages are not looked at: they do not end up in the image.
    """
    stage = final_stage(ctx.deffile)
    if stage is None:
        return None
    last: Optional[Word] = None
    for section in stage.sections:
        if section.name not in ("post", "appinstall"):
            continue
        for command in ctx.commands(section):
            filled = fills(command)
            if filled is not None:
                last = filled
            elif last is not None and cleans(command):
                last = None
    return last
