"""Run the rules over files: parse leniently, check, ShellCheck in batches, suppress, sort."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from defkit.errors import DefParseError
from defkit.lint import selection
from defkit.lint.config import LintConfig, ShellcheckOptions
from defkit.model import DefFile
from defkit.runner import Runner, run

if TYPE_CHECKING:  # imported where used: ShellCheck starts before the rules need them
    from defkit.lint.context import Rule
    from defkit.lint.problem import Problem, Severity

#: Codes whose findings are places where Apptainer rejects the file: they always fail the run.
PARSE_ERROR_CODES = frozenset({"DK001", "DK002", "DK003"})
#: rule name -> ShellCheck code prefixes it supersedes on the lines where it reports something.
SUPERSEDES: dict[str, tuple[str, ...]] = {
    "bashism-in-sh": ("SC3",),  # POSIX-sh portability
    "unquoted-args": ("SC2068", "SC2048"),  # unquoted $@ / $*
    "environment-missing-export": ("SC2034",),  # assigned, never used: not exported
}
# A `%section` line or a `Key:` header line; Windows module-definition files have neither.
# (Blanks within the line only: `^\s*` would run on over every blank line below each one.)
_LOOKS_LIKE_DEF = re.compile(r"^[^\S\n]*(%|[A-Za-z][A-Za-z0-9_-]*\s*:)", re.MULTILINE)


@dataclass(frozen=True)
class Source:
    path: str
    text: str
    config: LintConfig


@dataclass(frozen=True)
class FileResult:
    path: str
    text: str
    problems: tuple[Problem, ...]
    deffile: Optional[DefFile] = None
    parse_errors: tuple[DefParseError, ...] = ()
    skipped: bool = False  # not an Apptainer definition file (e.g. a Windows module .def)


def looks_like_deffile(text: str) -> bool:
    """False for files with neither a `Bootstrap:` line nor a `%section` (skipped quietly)."""
    return _LOOKS_LIKE_DEF.search(text) is not None


def lint_sources(
    sources: Sequence[Source],
    *,
    shellcheck: bool = True,
    runner: Runner = run,
    cache: bool = False,
) -> list[FileResult]:
    """Lint every source; ShellCheck runs in a few batched processes for all of them together,
    in the background while the rules run. `cache` reuses ShellCheck's findings for snippets
    checked before (see `defkit.lint.sccache`)."""
    from defkit.lint import shellcheck as sc

    is_def = [looks_like_deffile(source.text) for source in sources]
    # ShellCheck starts first, on the sections the scanner finds, and runs while the files are
    # parsed (which needs Lark) and the rules run; the parsed snippets are matched afterwards.
    # Files whose configurations agree on ShellCheck's options share its processes.
    early: dict[ShellcheckOptions, list[sc.Snippet]] = {}
    for source, wanted in zip(sources, is_def):
        if wanted and shellcheck and source.config.shellcheck.enabled:
            found = sc.early_snippets(source.path, source.text, source.config.shellcheck.exclude)
            early.setdefault(_shared_options(source), []).extend(found)
    checks = {
        options: sc.PendingCheck(snippets, options, runner=runner, cache=cache)
        for options, snippets in early.items()
    }
    try:
        parsed = [_parse(s) if wanted else (None, ()) for s, wanted in zip(sources, is_def)]
        problems = [
            list(_run_rules(source, deffile, errors)) if wanted else []
            for source, (deffile, errors), wanted in zip(sources, parsed, is_def)
        ]
        for index, (source, (deffile, _)) in enumerate(zip(sources, parsed)):
            if not (shellcheck and source.config.shellcheck.enabled and deffile is not None):
                continue
            options = _shared_options(source)
            check = checks.get(options) or sc.PendingCheck([], options, runner=runner, cache=cache)
            snippets = sc.snippets_for(deffile, source.config.shellcheck.exclude)
            ignore = source.config.ignores_for(source.path)
            for findings in check.results_for(snippets):
                problems[index].extend(
                    p for p in findings if _enabled(p.code, p.name, source.config, ignore, True)
                )
    finally:
        for check in checks.values():
            check.close()
    results = []
    for source, (deffile, errors), file_problems, wanted in zip(sources, parsed, problems, is_def):
        finished = _finish(source, deffile, file_problems, shellcheck) if wanted else ()
        results.append(FileResult(source.path, source.text, finished, deffile, errors, not wanted))
    return results


def _parse(source: Source) -> tuple[Optional[DefFile], tuple[DefParseError, ...]]:
    from defkit.parser import parse_lenient

    flavour = source.config.settings.flavour
    deffile, errors = parse_lenient(source.text, source.path, flavour=flavour)
    return deffile, tuple(errors)


def _shared_options(source: Source) -> ShellcheckOptions:
    """The ShellCheck options that decide its processes (exclusions are applied afterwards)."""
    return dataclasses.replace(source.config.shellcheck, exclude=())


def lint_text(text: str, path: str, config: LintConfig, *, shellcheck: bool = True) -> FileResult:
    return lint_sources([Source(path, text, config)], shellcheck=shellcheck)[0]


def rule_options(rule: Rule, config: LintConfig) -> dict[str, object]:
    return {**rule.OPTIONS, **config.options.get(rule.NAME, {})}


def enabled_rules(config: LintConfig, path: str) -> list[Rule]:
    from defkit.lint import rules as registry  # imported late: ShellCheck already runs by then

    ignore = config.ignores_for(path)
    return [
        rule
        for rule in registry.RULES
        if _enabled(rule.CODE, rule.NAME, config, ignore, registry.enabled_by_default(rule))
    ]


def _enabled(
    code: str, name: str, config: LintConfig, ignore: Iterable[str], default_on: bool
) -> bool:
    """Selected (by `select`, or by default + `extend-select`), not ignored, not levelled off."""
    if any(selection.matches(word, code, name) for word in ignore):
        return False
    if config.select:
        selectors = config.select + config.extend_select
        on = selection.is_enabled(code, name, default_on=default_on, select=selectors, ignore=())
    else:
        on = default_on or (
            bool(config.extend_select)
            and selection.is_enabled(
                code, name, default_on=False, select=config.extend_select, ignore=()
            )
        )
    return on and selection.severity_override(code, name, config.severity) != "ignore"


def _run_rules(
    source: Source, deffile: Optional[DefFile], errors: tuple[DefParseError, ...]
) -> Iterable[Problem]:
    from defkit.lint.rules._shell import forget_commands

    try:
        yield from _run_enabled_rules(source, deffile, errors)
    finally:
        forget_commands()  # this file's commands, cached for its rules


def _run_enabled_rules(
    source: Source, deffile: Optional[DefFile], errors: tuple[DefParseError, ...]
) -> Iterable[Problem]:
    from defkit.lint import context

    for rule in enabled_rules(source.config, source.path):
        if rule.NAME == "unused-ignore":  # computed after suppression, in _finish
            continue
        ctx = context.LintContext(
            path=source.path,
            text=source.text,
            deffile=deffile,
            parse_errors=errors,
            settings=source.config.settings,
            options=rule_options(rule, source.config),
        )
        try:
            found = list(rule.check(ctx))
        except Exception as exc:  # a rule bug: say which rule and file, then let the CLI report it
            raise RuntimeError(f"rule {rule.CODE} ({rule.NAME}) crashed on {source.path}") from exc
        for problem in found:
            yield dataclasses.replace(
                problem, code=rule.CODE, name=rule.NAME, severity=rule.SEVERITY
            )


def _header_end(deffile: Optional[DefFile], text: str) -> int:
    if deffile is not None:
        starts = [s.header_span.line for stage in deffile.stages for s in stage.sections]
        if starts:
            return min(starts)
    return text.count("\n") + 2


def _finish(
    source: Source, deffile: Optional[DefFile], problems: list[Problem], shellcheck: bool
) -> tuple[Problem, ...]:
    config = source.config
    ignore = config.ignores_for(source.path)
    kept = problems
    if config.inline_ignores:
        from defkit.lint import suppress

        directives = suppress.parse_directives(source.text, _header_end(deffile, source.text))
        if directives:
            kept, unused = suppress.apply(
                problems,
                directives,
                is_enabled=lambda word: _token_enabled(word, config, ignore, shellcheck),
                is_known=_token_known,
            )
            from defkit.lint.rules import dk004_unused_ignore as rule

            if _enabled(rule.CODE, rule.NAME, config, ignore, True):
                kept += [
                    dataclasses.replace(p, code=rule.CODE, name=rule.NAME, severity=rule.SEVERITY)
                    for p in unused
                ]
    final = []
    for problem in _drop_superseded(kept):
        level = selection.severity_override(problem.code, problem.name, config.severity)
        if level == "ignore":
            continue
        severity: Severity = level if level is not None else problem.severity  # type: ignore[assignment]
        final.append(dataclasses.replace(problem, severity=severity, path=source.path))
    final.sort(key=lambda p: (p.span.line, p.span.column, p.code, p.message))
    return tuple(final)


def _drop_superseded(problems: list[Problem]) -> list[Problem]:
    """Drop ShellCheck findings a defkit rule already reports, better worded, on the same line."""
    lines: dict[str, set[int]] = {}
    for problem in problems:
        if problem.name in SUPERSEDES:
            lines.setdefault(problem.name, set()).add(problem.span.line)
    if not lines:
        return problems
    return [
        problem
        for problem in problems
        if not any(
            problem.code.startswith(SUPERSEDES[name]) and problem.span.line in found
            for name, found in lines.items()
        )
    ]


def _token_known(word: str) -> bool:
    from defkit.lint import rules as registry

    return registry.lookup(word) is not None or re.match(r"^SC[0-9]{4}$", word, re.I) is not None


def _token_enabled(word: str, config: LintConfig, ignore: Iterable[str], shellcheck: bool) -> bool:
    from defkit.lint import rules as registry

    if word.lower() == "all":  # judged only when everything, ShellCheck included, ran
        return shellcheck and config.shellcheck.enabled
    rule = registry.lookup(word)
    if rule is not None:
        return _enabled(rule.CODE, rule.NAME, config, ignore, registry.enabled_by_default(rule))
    # Without a ShellCheck run (--no-shellcheck, the fix passes) SC suppressions cannot be judged.
    return (
        shellcheck
        and config.shellcheck.enabled
        and _enabled(word.upper(), "shellcheck", config, ignore, True)
    )
