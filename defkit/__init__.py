"""defkit: build system, linter and converter for Apptainer definition files.

The library API (nothing here prints; errors are `DefkitError` subclasses)::

    import defkit

    deffile = defkit.parse_file("app.def")                  # -> DefFile
    results = defkit.lint_paths(["app.def"])                # -> list[FileResult]
    formatted = defkit.format_deffile(deffile)              # what `defkit fmt` writes
    conversion = defkit.convert_dockerfile(dockerfile_text, "Dockerfile")  # -> Conversion
    result = defkit.build("app.def", output="app.sif")      # -> BuildResult

`import defkit` is cheap: each name is imported from its module on first use (PEP 562), so a
command pays only for what it touches. mypy reads the real signatures through the
`TYPE_CHECKING` imports below.
"""

from __future__ import annotations

import importlib

# typing.TYPE_CHECKING without importing typing (mypy treats the name alike).
TYPE_CHECKING = False
__version__ = "0.1.0"

if TYPE_CHECKING:
    from defkit.cache.hook import CacheOptions
    from defkit.convert import Conversion, ConvertError, Note, convert_deffile, convert_dockerfile
    from defkit.engine.context import Mode
    from defkit.engine.engine import BuildResult, build
    from defkit.errors import (
        BuildError,
        ConfigError,
        DefkitError,
        DefParseError,
        ToolMissingError,
        UsageError,
    )
    from defkit.lint import LintOptions, lint_paths
    from defkit.lint.config import LintConfig, Overrides
    from defkit.lint.linter import FileResult, lint_text
    from defkit.lint.problem import Problem, Severity
    from defkit.model import DefFile, Section, Span, Stage
    from defkit.parser import parse_file, parse_text
    from defkit.writer import format_deffile

#: public name -> the module that defines it (imported on first access).
_SOURCES = {
    # parse
    "parse_file": "defkit.parser",
    "parse_text": "defkit.parser",
    "DefFile": "defkit.model",
    "Stage": "defkit.model",
    "Section": "defkit.model",
    "Span": "defkit.model",
    # fmt
    "format_deffile": "defkit.writer",
    # lint
    "lint_paths": "defkit.lint",
    "LintOptions": "defkit.lint",
    "lint_text": "defkit.lint.linter",
    "FileResult": "defkit.lint.linter",
    "LintConfig": "defkit.lint.config",
    "Overrides": "defkit.lint.config",
    "Problem": "defkit.lint.problem",
    "Severity": "defkit.lint.problem",
    # convert
    "convert_dockerfile": "defkit.convert",
    "convert_deffile": "defkit.convert",
    "Conversion": "defkit.convert",
    "Note": "defkit.convert",
    "ConvertError": "defkit.convert",
    # build
    "build": "defkit.engine.engine",
    "BuildResult": "defkit.engine.engine",
    "CacheOptions": "defkit.cache.hook",
    "Mode": "defkit.engine.context",
    # errors
    "DefkitError": "defkit.errors",
    "DefParseError": "defkit.errors",
    "ConfigError": "defkit.errors",
    "UsageError": "defkit.errors",
    "BuildError": "defkit.errors",
    "ToolMissingError": "defkit.errors",
}

__all__ = [
    "BuildError",
    "BuildResult",
    "CacheOptions",
    "ConfigError",
    "Conversion",
    "ConvertError",
    "DefFile",
    "DefParseError",
    "DefkitError",
    "FileResult",
    "LintConfig",
    "LintOptions",
    "Mode",
    "Note",
    "Overrides",
    "Problem",
    "Section",
    "Severity",
    "Span",
    "Stage",
    "ToolMissingError",
    "UsageError",
    "__version__",
    "build",
    "convert_deffile",
    "convert_dockerfile",
    "format_deffile",
    "lint_paths",
    "lint_text",
    "parse_file",
    "parse_text",
]


if not TYPE_CHECKING:  # hidden from mypy, which then rejects names the package does not have

    def __getattr__(name: str) -> object:
        module = _SOURCES.get(name)
        if module is None:
            raise AttributeError(f"module 'defkit' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # the next access does not come back here
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
