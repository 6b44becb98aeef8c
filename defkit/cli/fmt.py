"""`defkit fmt`: rewrite definition files in the canonical layout."""

from __future__ import annotations

import click

from defkit.atomic import write_text


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff; change nothing.")
def fmt(files: tuple[str, ...], check: bool, show_diff: bool) -> int:
    """Rewrite FILES in defkit's canonical layout (meaning never changes)."""
    from defkit.errors import DefkitError
    from defkit.parser import parse_text, read_source
    from defkit.writer import format_checked

    changed = failed = 0
    for path in files:
        original = b""
        try:
            original = read_source(path)
            deffile = parse_text(original, path)
            formatted = format_checked(deffile)
        except DefkitError as exc:
            from defkit.lint.linter import looks_like_deffile

            if original and not looks_like_deffile(original.decode("utf-8", "replace")):
                continue  # not an Apptainer file (a Windows module .def, say): not ours to format
            click.echo(exc.format(), err=True)
            failed += 1
            continue
        if formatted == deffile.text:
            continue
        changed += 1
        if show_diff:
            from defkit.textdiff import unified_diff

            diff = unified_diff(
                deffile.text.splitlines(keepends=True),
                formatted.splitlines(keepends=True),
                fromfile=path,
                tofile=path,
            )
            click.echo("".join(diff), nl=False)
        elif check:
            click.echo(f"{path}: would reformat", err=True)
        else:
            write_text(path, formatted)
            click.echo(f"{path}: reformatted", err=True)
    if failed:
        return 1
    return 1 if changed and (check or show_diff) else 0
