"""Dockerfile words (ENV values, paths, FROM images) expanded for the place they are written to.

BuildKit expands `$VAR` in most instructions with the ARG and ENV values in effect. At conversion
time some values are not final: an ARG can still be overridden with `apptainer build --build-arg`,
and a variable the Dockerfile never sets may come from the base image's environment (`$PATH`).
Expansion therefore leaves *markers* for such names, and `shell_value`/`plain_value` turn a marked
value into text for one target:

* "post" (a %post line): ARG -> `${X}` (exported earlier in %post); other names -> `${X}`
* "env"  (%environment, %runscript): ARG -> `{{ X }}` (ARGs do not exist at run time); others `${X}`
* "plain" (header, %files, %labels): ARG -> `{{ X }}`; base-image names -> "" (nothing expands)

Two views of the same scope exist. The *shell* view marks ENV names too, because %post and
%environment replay the ENV assignments in order, so `ENV PATH=/x:$PATH` must become
`export PATH="/x:${PATH}"` (the current value), not a copy of an earlier expansion. The *value*
view substitutes ENV values, for targets where no shell runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Optional

from defkit.convert.shell import PLACEHOLDER, escape_double_quoted
from defkit.dockerfile.expand import LexOptions, process

_MARK = "\x00"
_MARKED = re.compile("\x00([av])([^\x00]*)\x00")

_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@+=:,./-]+\Z")
_TEMPLATABLE = re.compile(r"[^'\n\r{}#\x00\\]*\Z")


def arg_marker(name: str) -> str:
    return f"{_MARK}a{name}{_MARK}"


def var_marker(name: str) -> str:
    return f"{_MARK}v{name}{_MARK}"


def is_templatable(value: str) -> bool:
    return bool(_TEMPLATABLE.match(value)) and value == value.strip()


@dataclass
class Scope:
    """The variables in effect at one point of a stage.

    `env` holds ENV values (value view, possibly marked); `args` the declared ARGs with their
    conversion-time values (None: declared without one); `templated` the ARGs written `{{ X }}`."""

    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, Optional[str]] = field(default_factory=dict)
    templated: set[str] = field(default_factory=set)
    base_vars: bool = True  # unknown names may come from the base image (False for scratch)
    # Templated ARGs whose default is derived from other templated ARGs (`ARG CUDA=cu${MAJOR}`):
    # the %arguments value with their placeholders (`cu{{ MAJOR }}`), which Apptainer replaces
    # in turn, so that `--build-arg MAJOR=12` changes CUDA as it does in Docker.
    derived: dict[str, str] = field(default_factory=dict)

    def declare(self, name: str, value: Optional[str], expanded: Optional[str] = None) -> None:
        """ARG `name` with its conversion-time `value` (None: no value); `expanded` is the
        default as `expand_word` gave it (with the markers of the ARGs it refers to), if it
        has one."""
        self.args[name] = value
        self.derived.pop(name, None)
        self.templated.discard(name)
        if value is None or not value or not is_templatable(value):
            return
        self.templated.add(name)
        derived = self.derived_default(expanded) if expanded is not None else None
        if derived is not None:
            self.derived[name] = derived

    def derived_default(self, expanded: str) -> Optional[str]:
        """`expanded` as a %arguments value with placeholders, when it refers to templated ARGs
        only and every one of them has a plain default (Apptainer replaces nested placeholders
        once); else None (the default is then its conversion-time value)."""
        names = [name for kind, name in marked_names(expanded) if kind == "a"]
        if not names or len(names) != len(marked_names(expanded)):
            return None
        if any(name not in self.templated or name in self.derived for name in names):
            return None
        return plain_value(expanded, self)

    def arguments(self, name: str) -> dict[str, str]:
        """The %arguments entries that templated ARG `name` needs: its default, and for a
        derived one the defaults of the ARGs it refers to."""
        if name not in self.derived:
            return {name: self.args.get(name) or ""}
        entries = {other: self.args.get(other) or ""
                   for other in PLACEHOLDER.findall(self.derived[name])}
        entries[name] = self.derived[name]
        return entries

    def lookup(self, name: str, shell: bool) -> Optional[str]:
        if name in self.env:
            return var_marker(name) if shell else self.env[name]
        if name in self.args:
            value = self.args[name]
            if value is None:
                return None
            return arg_marker(name)
        return var_marker(name) if self.base_vars else None

    def view(self, shell: bool) -> _View:
        return _View(self, shell)

    def literal_values(self) -> dict[str, str]:
        """Plain values: ARGs at their conversion-time values, base-image variables empty."""
        values = {name: value for name, value in self.args.items() if value is not None}
        for name, value in self.env.items():
            values[name] = plain_value(value, self, literal=True)
        return values

    def copy(self) -> Scope:
        return Scope(dict(self.env), dict(self.args), set(self.templated), self.base_vars,
                     dict(self.derived))


class _View(Mapping[str, str]):
    def __init__(self, scope: Scope, shell: bool) -> None:
        self.scope = scope
        self.shell = shell

    def __getitem__(self, name: str) -> str:
        value = self.scope.lookup(name, self.shell)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:  # type: ignore[override]
        value = self.scope.lookup(name, self.shell)
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        return iter({**self.scope.args, **self.scope.env})

    def __len__(self) -> int:
        return len({**self.scope.args, **self.scope.env})


def _well_formed(text: str) -> bool:
    return _MARK not in _MARKED.sub("", text)


def expand_word(word: str, scope: Scope, escape: str, *, shell: bool = False) -> str:
    """`word` after BuildKit's processing, with markers for late-bound values.

    Modifiers such as `${X%.*}` cannot work on a marker; the word is then expanded with the
    conversion-time values instead."""
    result = process(word, scope.view(shell), LexOptions(escape=escape)).result
    if not _well_formed(result):
        result = process(word, scope.literal_values(), LexOptions(escape=escape)).result
    return result


def expand_views(word: str, scope: Scope, escape: str) -> tuple[str, str]:
    """`expand_word` of `word` in both views: (value, shell)."""
    return expand_word(word, scope, escape), expand_word(word, scope, escape, shell=True)


def expand_words(text: str, scope: Scope, escape: str) -> list[str]:
    words = list(process(text, scope.view(False), LexOptions(escape=escape)).words)
    if not all(_well_formed(word) for word in words):
        words = list(process(text, scope.literal_values(), LexOptions(escape=escape)).words)
    return words


_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def unset_args(word: str, scope: Scope) -> list[str]:
    """ARGs that `word` refers to which were declared without a value (they expand to "")."""
    names = []
    for name in _REFERENCE.findall(word):
        if name in scope.args and scope.args[name] is None and name not in scope.env:
            names.append(name)
    return names


def is_absolute(value: str, scope: Scope) -> bool:
    """Whether the expanded path `value` (value view) is absolute, judged after expansion, as
    Docker judges it: `WORKDIR $APPDIR` with APPDIR=/opt/app is /opt/app wherever the previous
    WORKDIR was. ARGs count at their conversion-time values; a path that starts with a
    variable of the base image (`$HOME/x`, `$CONDA_DIR`), whose value is unknown here, is taken
    as absolute: such variables name directories."""
    if value.startswith(_MARK + "v"):
        return True
    return plain_value(value, scope, literal=True).startswith("/")


def base_image_names(value: str) -> list[str]:
    """The variables of the base image (set by no ARG or ENV of the Dockerfile) that the
    expanded `value` (value view) refers to: unknown at conversion time."""
    return [name for kind, name in marked_names(value) if kind == "v"]


def has_arg_markers(value: str) -> bool:
    """Whether `value` may hold an ARG's marker (true for each that does): only those are
    written differently for "post" and "env" by `shell_value`."""
    return _MARK + "a" in value


def marked_names(value: str) -> list[tuple[str, str]]:
    """(kind, name) of each marker in `value`, in order: kind "a" for an ARG, "v" otherwise."""
    if _MARK not in value:
        return []
    return _MARKED.findall(value)  # (the regex has two groups: findall gives the pairs)


def plain_value(value: str, scope: Scope, *, literal: bool = False) -> str:
    """`value` where no shell runs: templated ARGs as `{{ X }}` (or their value with `literal`),
    other ARGs by value, base-image variables empty."""
    if _MARK not in value:
        return value  # nothing to replace (then a `{{` in it is no placeholder of ours)

    def replace(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "a":
            if name in scope.templated and not literal:
                return "{{ " + name + " }}"
            return scope.args.get(name) or ""
        return ""

    result = _MARKED.sub(replace, value)
    if not literal and _commented_placeholder(result):
        return plain_value(value, scope, literal=True)
    return result


def shown_value(value: str, scope: Scope) -> str:
    """`value` for a message or %help: ARGs at their values, base-image variables (unknown at
    conversion time) by name, `${NAME}`."""
    if _MARK not in value:
        return value
    named = _MARKED.sub(
        lambda match: "${" + match.group(2) + "}" if match.group(1) == "v" else match.group(),
        value)
    return plain_value(named, scope, literal=True)


def shell_value(value: str, target: str, scope: Scope, *, literal: bool = False) -> str:
    """`value` as one shell word for `target` ("post" or "env"): bare when nothing needs quoting,
    otherwise double-quoted."""
    if _MARK not in value and _PLAIN_WORD.match(value):
        return value
    out = ['"']
    position = 0
    for match in _MARKED.finditer(value):
        start = match.start()
        if start > position:
            out.append(_escape_double(value[position:start]))
        kind, name = match.groups()
        if kind == "a" and target != "post":
            if name in scope.templated and not literal:
                out.append("{{ " + name + " }}")
            else:
                out.append(_escape_double(scope.args.get(name) or ""))
        else:
            out.append("${" + name + "}")
        position = match.end()
    if position < len(value):
        out.append(_escape_double(value[position:]))
    out.append('"')
    result = "".join(out)
    if not literal and _commented_placeholder(result):
        return shell_value(value, target, scope, literal=True)
    return result


def _commented_placeholder(text: str) -> bool:
    """Apptainer skips a `{{ X }}` that follows a `#` on its line (deffile.md §7)."""
    index = text.find("{{")
    if index < 0:
        return False
    return re.search(r"#[^!]", text[:index] + " ") is not None and "#" in text[:index]


def _escape_double(text: str) -> str:
    # `{""{` keeps Apptainer's templating from seeing a literal `{{` (the shell joins it back).
    return escape_double_quoted(text).replace("{{", '{""{')
