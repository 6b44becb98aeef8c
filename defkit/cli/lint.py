"""`defkit lint`, `defkit rules`, `defkit rule`: the lint code that prints and picks exit codes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Optional

import click

from defkit.errors import UsageError

if TYPE_CHECKING:
    from defkit.lint.config import Overrides
    from defkit.lint.linter import Source
    from defkit.lint.sccache import ResultCache
    from defkit.site.profile import SiteProfile

FORMAT_NAMES = ("text", "json", "sarif", "github", "gitlab")


def _words(value: Optional[str]) -> Optional[tuple[str, ...]]:
    if value is None:
        return None
    return tuple(word.strip() for word in value.split(",") if word.strip())


def _check_selectors(option: str, words: Optional[tuple[str, ...]]) -> None:
    if not words:
        return  # the rules are imported only once ShellCheck runs, unless a selector needs them
    from defkit.lint.rules import RULES
    from defkit.lint.selection import is_valid_selector
    from defkit.yamlfile import did_you_mean

    known = [(rule.CODE, rule.NAME) for rule in RULES]
    for word in words or ():
        if not is_valid_selector(word, known):
            choices = [code for code, _ in known] + [name for _, name in known]
            raise UsageError(f"{option}: unknown rule {word!r}{did_you_mean(word, choices)}")


def _severity_overrides(values: tuple[str, ...]) -> dict[str, str]:
    from defkit.lint.config import LEVELS

    overrides: dict[str, str] = {}
    for value in values:
        rule, _, level = value.partition("=")
        if not rule or level not in (*LEVELS, "ignore"):
            raise UsageError(
                f"--severity {value!r}: expected RULE=LEVEL (error, warning, info, style, ignore)"
            )
        _check_selectors("--severity", (rule,))
        overrides[rule] = level
    return overrides


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(FORMAT_NAMES),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the report to this file."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Use this .defkit.yaml or pyproject.toml instead of searching.",
)
@click.option("--select", help="Only these rules (codes, prefixes, names, ALL; comma-separated).")
@click.option("--extend-select", help="Add rules to the selection.")
@click.option("--ignore", help="Skip these rules (replaces the configured list).")
@click.option("--extend-ignore", help="Skip these rules too.")
@click.option(
    "--severity",
    "severities",
    multiple=True,
    metavar="RULE=LEVEL",
    help="Change a rule's level (or 'ignore').",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "style", "none"]),
    help="Lowest level that fails the run [default: warning].",
)
@click.option("--no-fail", is_flag=True, help="Exit 0 even when findings reach the threshold.")
@click.option("--arch", help="Target architecture (amd64, arm64, ppc64le, s390x, 386).")
@click.option("--build-mode", type=click.Choice(["fakeroot", "root", "remote"]))
@click.option("--flavour", type=click.Choice(["apptainer", "singularityce"]))
@click.option(
    "--site",
    "site_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Check against this site profile (YAML; see `defkit site detect`).",
)
@click.option("--no-shellcheck", is_flag=True, help="Do not run ShellCheck on script sections.")
@click.option(
    "--no-cache", is_flag=True, help="Do not reuse ShellCheck results of unchanged sections."
)
@click.option("--no-inline-ignores", is_flag=True, help="Ignore '# defkit: ignore' comments.")
@click.option("--fix", is_flag=True, help="Apply safe fixes, then report what is left.")
@click.option("--diff", is_flag=True, help="Show the fixes as a diff; change nothing.")
@click.option(
    "--statistics",
    is_flag=True,
    help="Count findings per rule instead of listing them (text, json).",
)
@click.option(
    "--color/--no-color", default=None, help="Colour the text output [default: on a TTY]."
)
@click.option("--no-source", is_flag=True, help="Do not show the source line under each finding.")
@click.option("--stdin-filename", help="The name to report for '-' (standard input).")
def lint(
    paths: tuple[str, ...],
    output_format: str,
    output: Optional[str],
    config_path: Optional[str],
    select: Optional[str],
    extend_select: Optional[str],
    ignore: Optional[str],
    extend_ignore: Optional[str],
    severities: tuple[str, ...],
    fail_on: Optional[str],
    no_fail: bool,
    arch: Optional[str],
    build_mode: Optional[str],
    flavour: Optional[str],
    site_path: Optional[str],
    no_shellcheck: bool,
    no_cache: bool,
    no_inline_ignores: bool,
    fix: bool,
    diff: bool,
    statistics: bool,
    color: Optional[bool],
    no_source: bool,
    stdin_filename: Optional[str],
) -> int:
    """Check definition files (or directories: *.def, Singularity*, Apptainer* in them)."""
    from defkit.lint import LintOptions, read_sources
    from defkit.lint.linter import lint_sources
    from defkit.report import FORMATS, STATISTICS, Report

    if statistics and output_format not in STATISTICS:
        raise UsageError(f"--statistics works with --format {' or '.join(STATISTICS)}")
    if fix and "-" in paths:
        raise UsageError("--fix cannot rewrite standard input; use --diff")
    options = LintOptions(
        config_file=config_path,
        overrides=_overrides(select, extend_select, ignore, extend_ignore, severities, fail_on,
                             arch, build_mode, flavour, no_shellcheck, no_inline_ignores,
                             site_path),
        stdin_name=stdin_filename,
        read_stdin=sys.stdin.buffer.read,
    )
    sources = read_sources(paths or (".",), options)
    if fix or diff:
        sources, changed = _apply_fixes(sources, write=fix and not diff)
        if diff:
            return 1 if changed else 0
    results = lint_sources(sources, shellcheck=not no_shellcheck, cache=_cache(no_cache))
    if color is None:  # https://no-color.org and FORCE_COLOR, as most CLI tools
        color = bool(os.environ.get("FORCE_COLOR")) or (
            sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        )
    report = Report(results, color=color and output is None, show_source=not no_source)
    rendered = (STATISTICS if statistics else FORMATS)[output_format](report)
    if output:
        from defkit.atomic import write_text

        write_text(output, rendered)
    else:
        click.echo(rendered, nl=False, color=report.color)
    return 1 if report.failed and not no_fail else 0


def _overrides(
    select: Optional[str],
    extend_select: Optional[str],
    ignore: Optional[str],
    extend_ignore: Optional[str],
    severities: tuple[str, ...],
    fail_on: Optional[str],
    arch: Optional[str],
    build_mode: Optional[str],
    flavour: Optional[str],
    no_shellcheck: bool,
    no_inline_ignores: bool,
    site_path: Optional[str] = None,
) -> Overrides:
    """The command line's values over the configuration files, checked."""
    from defkit.lint import config as lint_config

    for option, value in (
        ("--select", select),
        ("--extend-select", extend_select),
        ("--ignore", ignore),
        ("--extend-ignore", extend_ignore),
    ):
        _check_selectors(option, _words(value))
    if arch is not None and lint_config.normalise_arch(arch) is None:
        raise UsageError(
            f"--arch {arch!r}: expected one of {', '.join(lint_config.ARCHES)} (or x86_64, aarch64)"
        )
    return lint_config.Overrides(
        select=_words(select),
        extend_select=_words(extend_select) or (),
        ignore=_words(ignore),
        extend_ignore=_words(extend_ignore) or (),
        severity=_severity_overrides(severities),
        fail_on=fail_on,
        arch=lint_config.normalise_arch(arch) if arch else None,
        build_mode=build_mode,
        flavour=flavour,
        shellcheck=False if no_shellcheck else None,
        inline_ignores=False if no_inline_ignores else None,
        site=_read_site(site_path) if site_path else None,
    )


def _cache(no_cache: bool) -> Optional[ResultCache]:
    if no_cache:
        return None
    from defkit.lint.sccache import ResultCache

    return ResultCache.default()


def _apply_fixes(sources: list[Source], *, write: bool) -> tuple[list[Source], bool]:
    """Fix each source; write it (`--fix`) or print the diff (`--diff`). Returns the new sources."""
    import dataclasses

    from defkit.atomic import write_text
    from defkit.lint.fix import fix_text, unified_diff
    from defkit.report.base import display_path

    updated: list[Source] = []
    changed = False
    for source in sources:
        outcome = fix_text(source.text, source.path, source.config)
        shown = display_path(source.path)
        if outcome.refused:
            click.echo(f"{shown}: not fixed: {outcome.refused}", err=True)
        if outcome.fixed != source.text:
            changed = True
            if write:
                write_text(source.path, outcome.fixed)
                plural = "fix" if outcome.applied == 1 else "fixes"
                click.echo(f"{shown}: applied {outcome.applied} {plural}", err=True)
            else:
                click.echo(unified_diff(shown, source.text, outcome.fixed), nl=False)
            source = dataclasses.replace(source, text=outcome.fixed)
        updated.append(source)
    return updated, changed


@click.command()
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
def rules(output_format: str) -> None:
    """List every rule: code, name, default severity, whether --fix can fix it."""
    import json

    from defkit.lint.docs import rule_doc
    from defkit.lint.rules import RULES, enabled_by_default

    if output_format == "json":
        listing = [
            {
                "code": rule.CODE,
                "name": rule.NAME,
                "severity": rule.SEVERITY,
                "fixable": rule.FIXABLE,
                "default": enabled_by_default(rule),
                "summary": rule_doc(rule).summary,
            }
            for rule in RULES
        ]
        click.echo(json.dumps(listing, indent=2))
        return
    if output_format == "markdown":
        for rule in RULES:
            fixable = " · fixable" if rule.FIXABLE else ""
            click.echo(f"## {rule.NAME}\n\n`{rule.CODE}` · {rule.SEVERITY}{fixable}\n")
            click.echo(rule_doc(rule).text.replace("\n## ", "\n### ") + "\n")
        return
    width = max(len(rule.NAME) for rule in RULES)
    click.echo(f"{'CODE':<7} {'NAME':<{width}} {'SEVERITY':<8} FIX")
    for rule in RULES:
        note = "" if enabled_by_default(rule) else "  (opt-in)"
        fix = "yes" if rule.FIXABLE else "-"
        click.echo(
            f"{rule.CODE:<7} {rule.NAME:<{width}} {rule.SEVERITY:<8} {fix:<3}{note}".rstrip()
        )


@click.command()
@click.argument("code_or_name")
def rule(code_or_name: str) -> None:
    """Show the documentation of one rule (by code or name)."""
    import re

    from defkit.lint.docs import help_uri, rule_doc
    from defkit.lint.rules import RULES, enabled_by_default, lookup
    from defkit.yamlfile import did_you_mean

    if re.match(r"^SC[0-9]{4}$", code_or_name, re.IGNORECASE):
        code = code_or_name.upper()
        click.echo(
            f"{code} is a ShellCheck check, run on script sections: {help_uri(code, 'shellcheck')}"
        )
        return
    found = lookup(code_or_name)
    if found is None:
        choices = [r.CODE for r in RULES] + [r.NAME for r in RULES]
        raise UsageError(f"unknown rule {code_or_name!r}{did_you_mean(code_or_name, choices)}")
    doc = rule_doc(found)
    facts = [found.SEVERITY, "fixable" if found.FIXABLE else "not fixable"]
    if not enabled_by_default(found):
        facts.append("opt-in")
    click.echo(f"{found.CODE} {found.NAME} ({', '.join(facts)})\n")
    click.echo(doc.text)
    if found.OPTIONS:
        click.echo("\n## Options")
        for option, default in found.OPTIONS.items():
            click.echo(f"- `{option}` (default: {default!r})")


def _read_site(path: str) -> SiteProfile:
    from defkit.lint.config_site import read_profile

    return read_profile(path)
