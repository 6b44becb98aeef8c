"""Lint files in one straight pass: parse, collect the script snippets from the models, start
ShellCheck on them (one batch, running while the rules run), run the rules, collect ShellCheck's
findings, suppress and sort. One `FileResult` per file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from defkit.errors import DefParseError
from defkit.lint import selection
from defkit.lint.config import LintConfig
from defkit.model import DefFile
from defkit.runner import Runner, run

if TYPE_CHECKING:
    from defkit.lint.context import Rule
    from defkit.lint.problem import Problem, Severity
    from defkit.lint.sccache import ResultCache
    from defkit.lint.shellcheck import ShellcheckBatch, Snippet

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
# The statements a Windows module-definition (.def) file starts with (after `;` comments).
_WINDOWS_MODULE = re.compile(
    r"\A(?:[^\S\n]*(?:;[^\n]*)?\n)*[^\S\n]*"
    r"(?:LIBRARY|NAME|EXPORTS|DESCRIPTION|HEAPSIZE|STACKSIZE|SECTIONS|VERSION)\b"
)


@dataclass(frozen=True)
class Source:
    path: str
    text: str  # bytes that are not UTF-8 are lone surrogates (decoded with surrogateescape)
    config: LintConfig


@dataclass(frozen=True)
class FileResult:
    path: str
    text: str  # the file's text ("" when it is not UTF-8: never shown undecoded)
    problems: tuple[Problem, ...]
    deffile: Optional[DefFile] = None
    parse_errors: tuple[DefParseError, ...] = ()
    skipped: bool = False  # not an Apptainer definition file (a Windows module .def)
    failed: bool = False  # a finding reaches the file's `fail-on` level, or is a parse error


def looks_like_deffile(text: str) -> bool:
    """False for files with neither a `Bootstrap:` line nor a `%section`."""
    return _LOOKS_LIKE_DEF.search(text) is not None


def is_windows_module_definition(text: str) -> bool:
    """A Windows module-definition file (`LIBRARY x`, `EXPORTS`, ...), which shares the .def
    name: skipped quietly, as the pre-commit hook hands every *.def to the linter."""
    return not looks_like_deffile(text) and _WINDOWS_MODULE.match(text) is not None


@dataclass
class _File:
    """One file on its way through the linter: the record each step adds to."""

    source: Source
    deffile: Optional[DefFile]
    errors: tuple[DefParseError, ...]
    text: str  # what the rules and the report see ("" when the file is not UTF-8)
    snippets: list[Snippet] = field(default_factory=list)  # its scripts, for ShellCheck
    problems: list[Problem] = field(default_factory=list)


def lint_sources(
    sources: Sequence[Source],
    *,
    shellcheck: bool = True,
    runner: Runner = run,
    cache: Optional[ResultCache] = None,
) -> list[FileResult]:
    """Lint every source: parse, collect the script snippets, start ShellCheck on all of them
    in one batch, run the rules while it runs, collect its findings, then suppress and sort.
    `cache` gives ShellCheck's findings of scripts checked in earlier runs."""
    files = [
        None if is_windows_module_definition(source.text) else _parse(source)
        for source in sources
    ]
    linted = [file for file in files if file is not None]
    for file in linted:
        file.snippets = _snippets(file) if shellcheck else []
    batch = _start_shellcheck([snippet for file in linted for snippet in file.snippets],
                              runner, cache)
    try:
        for file in linted:
            file.problems = _rule_problems(file)
        if batch is not None:
            found = iter(batch.results())  # in the order of the snippets given
            for file in linted:
                ignore = file.source.config.ignores_for(file.source.path)
                for findings in (next(found) for _ in file.snippets):
                    file.problems.extend(
                        p for p in findings
                        if _enabled(p.code, p.name, file.source.config, ignore, True)
                    )
    finally:
        if batch is not None:
            batch.close()
    return [
        _result(file, shellcheck)
        if file is not None
        else FileResult(source.path, source.text, (), skipped=True)
        for source, file in zip(sources, files)
    ]


def _result(file: _File, shellcheck: bool) -> FileResult:
    finished = _finish(file, file.problems, shellcheck)
    failed = any(_fails(problem, file.source.config.fail_on) for problem in finished)
    return FileResult(
        file.source.path, file.text, finished, file.deffile, file.errors, failed=failed
    )


def _not_a_deffile(file: _File) -> bool:
    """Empty, comments only, binary, a Dockerfile: the parse failed and nothing in the file
    looks like a header line or a section."""
    return bool(file.errors) and not looks_like_deffile(file.text)


def _fails(problem: Problem, fail_on: str) -> bool:
    """The exit-code policy: parse errors always fail; the rest from `fail-on` up."""
    from defkit.lint.problem import at_or_above

    return problem.code in PARSE_ERROR_CODES or at_or_above(problem.severity, fail_on)


def _parse(source: Source) -> _File:
    from defkit.parser import lone_surrogate, parse_lenient

    flavour = source.config.settings.flavour
    if lone_surrogate(source.text) >= 0:
        # Not UTF-8: the parser reports the first bad byte from the bytes themselves, and the
        # text is not shown (it would print undecodable bytes).
        try:
            data = source.text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            # A surrogate outside surrogateescape's range (text handed to the API, not read
            # from a file): its UTF-8 form is still invalid UTF-8, which the parser reports.
            data = source.text.encode("utf-8", "surrogatepass")
        deffile, errors = parse_lenient(data, source.path, flavour=flavour)
        return _File(source, deffile, tuple(errors), "")
    deffile, errors = parse_lenient(source.text, source.path, flavour=flavour)
    return _File(source, deffile, tuple(errors), source.text)


def _snippets(file: _File) -> list[Snippet]:
    options = file.source.config.shellcheck
    if file.deffile is None or not options.enabled or _not_a_deffile(file):
        return []
    from defkit.lint.shellcheck import snippets_for

    return snippets_for(file.deffile, options)


def _start_shellcheck(
    snippets: list[Snippet], runner: Runner, cache: Optional[ResultCache]
) -> Optional[ShellcheckBatch]:
    if not snippets:
        return None
    from defkit.lint.shellcheck import ShellcheckBatch

    return ShellcheckBatch(snippets, runner=runner, cache=cache)


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


def _rule_problems(file: _File) -> list[Problem]:
    found = list(_run_rules(file))
    if _not_a_deffile(file):  # the one error `defkit parse` gives, not every rule's view of it
        errors = [problem for problem in found if problem.code in PARSE_ERROR_CODES]
        return sorted(errors, key=lambda p: (p.span.line, p.span.column))[:1]
    return found


def _run_rules(file: _File) -> Iterable[Problem]:
    from defkit.lint import context
    from defkit.lint.rules import has_dynamic_severity

    source = file.source
    facts = context.FileFacts(file.text)
    for rule in enabled_rules(source.config, source.path):
        if rule.NAME == "unused-ignore":  # computed after suppression, in _finish
            continue
        ctx = context.LintContext(
            path=source.path,
            text=file.text,
            deffile=file.deffile,
            parse_errors=file.errors,
            settings=source.config.settings,
            options=rule_options(rule, source.config),
            facts=facts,
        )
        try:
            found = list(rule.check(ctx))
        except Exception as exc:  # a rule bug: say which rule and file, then let the CLI report it
            raise RuntimeError(f"rule {rule.CODE} ({rule.NAME}) crashed on {source.path}") from exc
        dynamic = has_dynamic_severity(rule)
        for problem in found:
            severity = problem.severity if dynamic else rule.SEVERITY
            yield dataclasses.replace(problem, code=rule.CODE, name=rule.NAME, severity=severity)


def _header_end(deffile: Optional[DefFile], text: str) -> int:
    if deffile is not None:
        starts = [s.header_span.line for stage in deffile.stages for s in stage.sections]
        if starts:
            return min(starts)
    return text.count("\n") + 2


def _finish(file: _File, problems: list[Problem], shellcheck: bool) -> tuple[Problem, ...]:
    from defkit.lint.problem import at_or_above

    source, deffile = file.source, file.deffile
    config = source.config
    ignore = config.ignores_for(source.path)
    kept = problems
    if config.inline_ignores:
        from defkit.lint import suppress

        directives = suppress.parse_directives(file.text, _header_end(deffile, file.text))
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
        floor = config.shellcheck.severity
        if problem.name == selection.SHELLCHECK_NAME and not at_or_above(severity, floor):
            # Below `shellcheck.severity` at the level it would be reported at (dropped after
            # suppression, so an inline ignore of it is not "unused"): see shellcheck_levels.
            continue
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
