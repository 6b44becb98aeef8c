"""`defkit fmt`: rewrite definition files in the canonical layout."""

from __future__ import annotations

import os
import tempfile

import click


def write_atomically(path: str, text: str) -> None:
    """Write next to the file and rename, so an interrupted run never leaves half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".defkit-fmt-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


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
            write_atomically(path, formatted)
            click.echo(f"{path}: reformatted", err=True)
    if failed:
        return 1
    return 1 if changed and (check or show_diff) else 0
