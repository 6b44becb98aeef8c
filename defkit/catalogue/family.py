"""Families of the catalogue: `DIR/NAME/recipe.yaml` beside its template `NAME.def.j2`.

    description: One line shown by `defkit recipes list`.
    template: NAME.def.j2          # optional, relative to the family's directory
    filename: "NAME-{{ version }}" # optional: a rendered point's file name (without .def)
    variables:                     # defaults of every point
      python: "3.12"
    matrix:                        # GitHub Actions' matrix rules (defkit.catalogue.matrix)
      version: ["1.0", "2.0"]
      exclude: [{version: "1.0"}]
      include: [{version: "2.0", extra: "x"}]

Values are strings, integers or booleans (variables may also be lists of those). A number
with a fraction is refused: YAML reads `12.10` as 12.1, which is not the CUDA version meant.
A family may carry `NAME.lock` (the format of `defkit lock`) pinning the bases of its points.

The built-in catalogue is the package's `recipes/` (a checkout's top-level `recipes/`);
user catalogues given with `--recipes-dir` come first, so a site can override a family.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from defkit.catalogue.matrix import Point, Scalar, expand
from defkit.errors import ConfigError, UsageError
from defkit.model import Span

RECIPE_FILE = "recipe.yaml"
TOP_KEYS = ("description", "template", "filename", "variables", "matrix")
Value = Union[Scalar, list[Scalar]]


@dataclass(frozen=True)
class Family:
    name: str
    directory: str
    description: str
    template: str  # absolute path of the Jinja2 template
    variables: Mapping[str, Value]
    points: tuple[Point, ...]  # the matrix, expanded
    matrix_keys: tuple[str, ...]  # axes, then keys the includes add, in order of appearance
    filename: Optional[str]  # Jinja2 text naming a rendered point
    lock: Optional[str]  # the family's lock file, when it has one

    @property
    def recipe_file(self) -> str:
        return os.path.join(self.directory, RECIPE_FILE)


def builtin_dir() -> str:
    """Installed wheels carry the catalogue inside the package; a checkout has it at the top."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    packaged = os.path.join(package, "recipes")
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(package), "recipes")


def search_path(user_dirs: Sequence[str] = ()) -> list[str]:
    for directory in user_dirs:
        if not os.path.isdir(directory):
            raise UsageError(f"--recipes-dir {directory}: no such directory")
    return [*user_dirs, builtin_dir()]


def family_dirs(user_dirs: Sequence[str] = ()) -> dict[str, str]:
    """name -> directory of every family; a user catalogue's family hides a built-in one."""
    found: dict[str, str] = {}
    for root in search_path(user_dirs):
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if name not in found and os.path.isfile(os.path.join(path, RECIPE_FILE)):
                found[name] = path
    return found


def load_family(name: str, user_dirs: Sequence[str] = ()) -> Family:
    from defkit.yamlfile import did_you_mean

    dirs = family_dirs(user_dirs)
    if name not in dirs:
        raise UsageError(f"no recipe family {name!r}{did_you_mean(name, sorted(dirs))} "
                         "(defkit recipes list shows them)")
    return read_family(dirs[name])


def all_families(user_dirs: Sequence[str] = ()) -> list[Family]:
    return [read_family(path) for path in family_dirs(user_dirs).values()]


def read_family(directory: str) -> Family:
    from defkit.yamlfile import did_you_mean, load_yaml

    name = os.path.basename(os.path.normpath(directory))
    path = os.path.join(directory, RECIPE_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the recipe: {exc}", path=path) from None
    data, locate = load_yaml(text, path)
    check = _Checker(path, locate)
    if not isinstance(data, Mapping):
        raise ConfigError("a recipe is a mapping (description, template, variables, matrix)",
                          path=path, span=Span(1, 1, 1, 2))
    for key in data:
        if key not in TOP_KEYS:
            raise check.error(f"unknown key {key!r}{did_you_mean(str(key), TOP_KEYS)}", [key])
    description = check.text(data.get("description", ""), ["description"])
    template = os.path.join(directory, check.text(data.get("template", f"{name}.def.j2"),
                                                  ["template"]))
    if not os.path.isfile(template):
        raise check.error(f"template {os.path.basename(template)} not found in {directory}",
                          ["template"] if "template" in data else [])
    filename = data.get("filename")
    if filename is not None:
        filename = check.text(filename, ["filename"])
    variables = check.variables(data.get("variables") or {}, ["variables"])
    points, keys = check.matrix(data.get("matrix") or {}, ["matrix"])
    lock = os.path.join(directory, f"{name}.lock")
    return Family(name, directory, description, template, variables, tuple(points), keys,
                  filename, lock if os.path.isfile(lock) else None)


class _Checker:
    """Type checks of the recipe's values; each error names the file, line and column."""

    def __init__(self, path: str, locate: Any):
        self.path, self.locate = path, locate

    def error(self, message: str, keys: Sequence[Union[str, int]]) -> ConfigError:
        span = self.locate(list(keys)) or Span(1, 1, 1, 2)
        return ConfigError(message, path=self.path, span=span)

    def text(self, value: Any, keys: list[Union[str, int]]) -> str:
        if not isinstance(value, str):
            raise self.error(f"{keys[-1]} must be a string", keys)
        return value

    def scalar(self, value: Any, keys: list[Union[str, int]]) -> Scalar:
        if isinstance(value, float):
            raise self.error(f"{value!r} is read as a number; quote it (\"...\") so it keeps "
                             "the digits written", keys)
        if not isinstance(value, (str, int, bool)):
            raise self.error("a value must be a string, an integer or a boolean", keys)
        return value if isinstance(value, (bool, int)) else str(value)

    def variables(self, data: Any, keys: list[Union[str, int]]) -> dict[str, Value]:
        if not isinstance(data, Mapping):
            raise self.error("variables must be a mapping of name: value", keys)
        found: dict[str, Value] = {}
        for name, value in data.items():
            where = [*keys, name]
            self._name(name, where)
            if isinstance(value, list):
                found[str(name)] = [self.scalar(item, [*where, i]) for i, item in enumerate(value)]
            else:
                found[str(name)] = self.scalar(value, where)
        return found

    def _name(self, name: Any, where: list[Union[str, int]]) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise self.error(f"{name!r} is not a variable name (letters, digits, _)", where)

    def points(self, data: Any, keys: list[Union[str, int]]) -> list[dict[str, Scalar]]:
        if not isinstance(data, list):
            raise self.error(f"{keys[-1]} must be a list of mappings", keys)
        entries = []
        for index, entry in enumerate(data):
            if not isinstance(entry, Mapping) or not entry:
                raise self.error(f"{keys[-1]} entries are non-empty mappings", [*keys, index])
            point = {}
            for name, value in entry.items():
                self._name(name, [*keys, index, name])
                point[str(name)] = self.scalar(value, [*keys, index, name])
            entries.append(point)
        return entries

    def matrix(self, data: Any, keys: list[Union[str, int]]
               ) -> tuple[list[Point], tuple[str, ...]]:
        if not isinstance(data, Mapping):
            raise self.error("matrix must be a mapping of axis: [values]", keys)
        axes: list[tuple[str, list[Scalar]]] = []
        for name, values in data.items():
            if name in ("exclude", "include"):
                continue
            self._name(name, [*keys, name])
            if not isinstance(values, list) or not values:
                raise self.error(f"matrix axis {name} must be a non-empty list", [*keys, name])
            axes.append((str(name), [self.scalar(v, [*keys, name, i])
                                     for i, v in enumerate(values)]))
        exclude = self.points(data.get("exclude", []), [*keys, "exclude"])
        include = self.points(data.get("include", []), [*keys, "include"])
        for index, entry in enumerate(exclude):
            for name in entry:
                if name not in dict(axes):
                    raise self.error(f"exclude names {name!r}, not an axis of the matrix",
                                     [*keys, "exclude", index, name])
        if not axes and not include:
            return [{}], ()  # no matrix: the variables alone are the family's one point
        points = expand(axes, exclude, include)
        if not points:
            raise self.error("the matrix excludes every combination", keys)
        names = _ordered([name for name, _ in axes], (entry for entry in include))
        return points, names


def _ordered(first: list[str], entries: Iterable[Mapping[str, Scalar]]) -> tuple[str, ...]:
    names = list(first)
    for entry in entries:
        names += [name for name in entry if name not in names]
    return tuple(names)
