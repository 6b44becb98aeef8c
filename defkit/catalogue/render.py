"""Render a family's points: Jinja2 with StrictUndefined, the result parsed as a definition
file, a header comment naming the template and the variables, written through defkit.atomic.

Errors name a place: the recipe or the template (`path:line:col: error: ...`); a rendered text
that is not a valid definition names the rendered file and line, and the template it came from.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional

from defkit.catalogue.family import Family, Value
from defkit.catalogue.matrix import Point
from defkit.errors import ConfigError, DefkitError, UsageError
from defkit.model import Span

if TYPE_CHECKING:
    from defkit.lock import LockEntry

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Rendered:
    family: str
    name: str  # the file name without `.def`
    text: str
    template: str  # FAMILY/TEMPLATE, as the header names it
    variables: Mapping[str, Value]  # everything the template was given
    point: Point  # the matrix values of this point

    @property
    def filename(self) -> str:
        return self.name + ".def"


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    """`--set KEY=VALUE` options."""
    found = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip().isidentifier():
            raise UsageError(f"--set {pair}: expected NAME=VALUE")
        found[name.strip()] = value
    return found


def select(family: Family, sets: Mapping[str, str]) -> list[Point]:
    """The points whose matrix values agree with `sets`; when none does (a value outside the
    matrix), one point made of the variables and `sets` alone."""
    check_sets(family, sets)
    matching = [point for point in family.points
                if all(as_text(point[name]) == value for name, value in sets.items()
                       if name in point)]
    return matching or [{}]


def as_text(value: Value) -> str:
    """A value as `--set` writes it (`true`, not Python's `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_text(item) for item in value)
    return str(value)


def variables_of(family: Family, point: Point, sets: Mapping[str, str]) -> dict[str, Value]:
    merged: dict[str, Value] = {**family.variables, **point}
    for name, text in sets.items():
        merged[name] = _typed(text, merged.get(name), name)
    return merged


def _typed(text: str, like: Optional[Value], name: str) -> Value:
    """A `--set` value takes the type of the value it replaces (templates compare numbers)."""
    if isinstance(like, bool):
        if text.lower() not in ("true", "false"):
            raise UsageError(f"--set {name}={text}: expected true or false")
        return text.lower() == "true"
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--set {name}={text}: expected an integer") from None
    if isinstance(like, list):
        return [item for item in text.split(",") if item]
    return text


def render(family: Family, point: Point, sets: Mapping[str, str] = {}) -> Rendered:  # noqa: B006
    variables = variables_of(family, point, sets)
    environment = _environment(family)
    template_name = os.path.basename(family.template)
    check_sets(family, sets)
    shown = f"{family.name}/{template_name}"
    body = _run(environment, template_name, variables, family.template)
    name = _filename(family, variables, point, sets)
    header = (f"# Rendered by `defkit recipes render {family.name}` from {shown}; edit the "
              "template, not this file.\n"
              f"# variables: {json.dumps(dict(sorted(variables.items())), sort_keys=True)}\n")
    text = header + body
    _check_definition(text, name + ".def", shown)
    return Rendered(family.name, name, text, shown, variables, dict(point))


def check_sets(family: Family, sets: Mapping[str, str]) -> None:
    """A `--set` of a name neither the recipe nor the template knows is a typo, not a value."""
    known = set(family.variables) | {name for point in family.points for name in point}
    unknown = [name for name in sets if name not in known]
    if not unknown:
        return
    import jinja2
    from jinja2 import meta

    environment = _environment(family)
    try:
        source = environment.loader.get_source(environment, os.path.basename(family.template))[0]
        used = meta.find_undeclared_variables(environment.parse(source))
    except jinja2.TemplateError:
        used = set()  # the render reports the template's own error
    for name in unknown:
        if name not in used:
            from defkit.yamlfile import did_you_mean

            raise UsageError(f"--set {name}: {family.name} has no such variable"
                             f"{did_you_mean(name, sorted(known))}")


def render_all(family: Family, sets: Mapping[str, str] = {}) -> list[Rendered]:  # noqa: B006
    rendered = [render(family, point, sets) for point in select(family, sets)]
    seen: dict[str, Rendered] = {}
    for item in rendered:
        if item.name in seen:
            raise ConfigError(f"two points render to {item.filename} ({_describe(seen[item.name])}"
                              f" and {_describe(item)}): make `filename` name every axis",
                              path=family.recipe_file)
        seen[item.name] = item
    return rendered


def _describe(item: Rendered) -> str:
    return " ".join(f"{k}={v}" for k, v in item.point.items()) or "no matrix values"


def _filename(family: Family, variables: Mapping[str, Value], point: Point,
              sets: Mapping[str, str]) -> str:
    if family.filename is not None:
        environment = _environment(family)
        stem = _run(environment, None, variables, family.recipe_file,
                    source=family.filename).strip()
    else:
        keys = [k for k in family.matrix_keys if k in point or k in sets]
        keys += [k for k in sets if k not in keys]
        stem = "_".join([family.name, *(f"{k}-{as_text(variables[k])}" for k in keys)])
    stem = _UNSAFE.sub("-", stem).strip(".-")
    if not stem:
        raise ConfigError("filename renders to nothing", path=family.recipe_file)
    return stem


def _environment(family: Family) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(family.directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def _run(environment: Any, name: Optional[str], variables: Mapping[str, Value], path: str,
         *, source: Optional[str] = None) -> str:
    """Render the template `name` (or the text `source`); any error in the template becomes a
    DefkitError at the template's line."""
    import jinja2

    try:
        template = environment.get_template(name) if source is None \
            else environment.from_string(source)
        text: str = template.render(**variables)
        return text
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or path
        raise ConfigError(f"template syntax: {exc.message}", path=where,
                          span=Span(exc.lineno, 1, exc.lineno, 2)) from None
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(f"template not found: {exc.name}", path=path) from None
    except Exception as exc:  # noqa: BLE001 - anything the template's own code raised
        where, line = _template_frame(exc.__traceback__, path)
        message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message \
            else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, jinja2.UndefinedError):
            message = f"undefined variable: {message} (set it in variables or with --set)"
        raise ConfigError(message, path=where,
                          span=Span(line, 1, line, 2) if line else None) from None


def _template_frame(tb: Optional[TracebackType], path: str) -> tuple[str, int]:
    """The innermost traceback frame in a template (Jinja rewrites them to template lines)."""
    where, line = path, 0
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or filename == "<template>":
            where = path if filename == "<template>" else filename
            line = tb.tb_lineno
        tb = tb.tb_next
    return where, line


def _check_definition(text: str, name: str, template: str) -> None:
    from defkit.parser import parse_text

    try:
        parse_text(text, name)
    except DefkitError as exc:
        exc.message = f"{exc.message} (rendered from {template})"
        raise


def write(rendered: Rendered, directory: str, family: Family) -> list[str]:
    """Write NAME.def (and NAME.def.lock from the family's lock) into `directory`."""
    from defkit.atomic import write_text
    from defkit.lock import lock_path, write_lock

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{directory}: cannot create: {exc.strerror}") from None
    path = os.path.join(directory, rendered.filename)
    write_text(path, rendered.text)
    written = [path]
    entries = lock_entries(rendered, family)
    if entries is not None:
        write_lock(lock_path(path), entries)
        written.append(lock_path(path))
    return written


def lock_entries(rendered: Rendered, family: Family) -> Optional[list[LockEntry]]:
    """The family lock's entries for this point's registry bases (None: the family has no lock,
    or its lock pins none of them)."""
    from defkit.lock import read_lock, registry_bases
    from defkit.parser import parse_text

    if family.lock is None:
        return None
    bases = registry_bases(parse_text(rendered.text, rendered.filename))
    entries = [entry for entry in read_lock(family.lock)
               if any(entry.stage == base.stage and entry.source == base.source
                      and entry.bootstrap == base.bootstrap for base in bases)]
    if bases and not entries:
        return None
    return entries
