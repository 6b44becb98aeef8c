"""The project's one YAML reader (config files, recipes, site profiles): ruamel.yaml's round-trip
loader, so that errors about a value can name its file, line and column."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

from defkit.errors import ConfigError
from defkit.model import Span

Key = Union[str, int]
Locator = Callable[[Sequence[Key]], Optional[Span]]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A "; did you mean 'X'?" suffix for an unknown name, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_yaml(text: str, path: str) -> tuple[Any, Locator]:
    """The YAML document in `text` (read from `path`, named in errors; round-trip mode, so it
    keeps positions) and a locator: the span of the key path given, for positioned errors."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = (
            Span(mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2) if mark else None
        )
        raise ConfigError(
            f"invalid YAML: {exc.problem or exc.context}", path=path, span=span
        ) from exc
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from exc

    def locate(keys: Sequence[Key]) -> Optional[Span]:
        node, where = data, None
        for key in keys:
            lc = getattr(node, "lc", None)
            try:
                if lc is None:
                    break
                line, col = lc.item(key) if isinstance(key, int) else lc.key(key)
                where = Span(line + 1, col + 1, line + 1, col + 1 + len(str(key)))
                node = node[key]
            except (KeyError, IndexError, TypeError):
                break
        return where

    return data, locate
