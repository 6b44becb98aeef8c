"""`defkit convert`: Dockerfile -> .def (default for Dockerfiles) and .def -> Dockerfile."""

from __future__ import annotations

import os
import re
import sys
from typing import Optional

import click

from defkit.errors import DefkitError, UsageError

_DEF_NAME = re.compile(r"(\.def$|^(singularity|apptainer)(\.|$))", re.IGNORECASE)
_DOCKER_NAME = re.compile(r"(dockerfile|containerfile)", re.IGNORECASE)
_BOOTSTRAP = re.compile(r"^bootstrap:", re.IGNORECASE | re.MULTILINE)


def guess_source_format(path: str, text: str) -> str:
    """"def" or "dockerfile": by the file name, else by the content."""
    name = os.path.basename(path)
    if path != "-":
        if _DEF_NAME.search(name):
            return "def"
        if _DOCKER_NAME.search(name):
            return "dockerfile"
    return "def" if _BOOTSTRAP.search(text) else "dockerfile"


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--to", "to", type=click.Choice(["def", "dockerfile"]), default=None,
              help="Output format (default: the other one; a Dockerfile becomes a .def).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write here (default: standard output).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
              help="Value for a Dockerfile ARG (used at conversion time, and as the default).")
@click.option("--target", default=None, metavar="STAGE", help="Convert up to this stage.")
@click.option("--arch", default=None, metavar="ARCH",
              help="Target architecture for TARGETARCH & co (default: this machine).")
@click.option("--context", "context", type=click.Path(file_okay=False), default=None,
              help="Build context whose .dockerignore applies (default: the Dockerfile's "
              "directory; for stdin, the current directory).")
@click.option("-q", "--quiet", is_flag=True, help="Show warnings only, not info notes.")
@click.option("--json-report", is_flag=True,
              help="Report notes as one JSON object on standard error.")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Read the .def written back with defkit's parser and check that it holds "
              "what was converted (the converter's self-check: it stops output Apptainer would "
              "read differently from reaching a file).")
def convert(
    file: str,
    to: Optional[str],
    output: Optional[str],
    build_args: tuple[str, ...],
    target: Optional[str],
    arch: Optional[str],
    context: Optional[str],
    quiet: bool,
    json_report: bool,
    check: bool,
) -> int:
    """Convert a Dockerfile to an Apptainer definition file (or a .def to a Dockerfile).

    FILE may be `-` for standard input. Exit 0 on success (notes on standard error), 1 when the
    input cannot be parsed or converted, 2 for usage errors."""
    path = "<stdin>" if file == "-" else file
    text = _read(file)
    source = guess_source_format(file, text)
    if to is not None:
        source = "def" if to == "dockerfile" else "dockerfile"
    root = ""
    args: dict[str, str] = {}
    for item in build_args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--build-arg {item!r}: expected KEY=VALUE")
        args[key] = value
    try:
        if source == "dockerfile":
            from defkit.convert.from_dockerfile import convert_dockerfile

            ignore = read_dockerignore(file, context)
            root = context_root(file, context, output)
            result = convert_dockerfile(text, path, build_args=args, target=target, arch=arch,
                                        dockerignore=ignore, context_root=root, verify=check)
        else:
            if args or target or arch or context:
                raise UsageError(
                    "--build-arg, --target, --arch and --context apply to Dockerfiles only"
                )
            from defkit.convert.to_dockerfile import convert_deffile

            result = convert_deffile(text, path)
    except DefkitError as exc:
        if exc.path is None:
            exc.path = path
        raise
    if json_report:
        import json

        report = {
            "input": path,
            "output": output or "-",
            "from": result.source_format,
            "to": result.target_format,
            "stages": list(result.stages),
            "context_root": root,
            "notes": [note.as_dict() for note in result.notes],
        }
        click.echo(json.dumps(report, indent=2), err=True)
    else:
        for note in result.notes:
            if not (quiet and note.severity == "info"):
                click.echo(note.format(path), err=True)
        if root and not quiet and ("\n%files\n" in result.text or "\n%setup\n" in result.text):
            click.echo(f"{output}: info: build context files are named relative to this file's "
                       f"directory, the build context being {root} from there", err=True)
    if output is None or output == "-":
        click.echo(result.text, nl=False)
    else:
        from defkit.atomic import write_text

        write_text(output, result.text)
    return 0


def context_directory(file: str, context: Optional[str]) -> str:
    """The build context: --context, else the Dockerfile's directory (for stdin, the current
    directory)."""
    if context is not None:
        return context
    return os.path.dirname(file) or "." if file != "-" else "."


def context_root(file: str, context: Optional[str], output: Optional[str]) -> str:
    """The build context as the .def's %files sources name it: seen from the output's directory
    when the output is a file (where `defkit build` resolves them, and where to run `apptainer
    build`); for standard output, "" (relative to the build context, as Docker names them)."""
    if output is None or output == "-":
        return ""
    here = os.path.dirname(os.path.abspath(output))
    root = os.path.relpath(os.path.abspath(context_directory(file, context)), here)
    return "" if root == "." else root.replace(os.sep, "/")


def read_dockerignore(file: str, context: Optional[str]) -> Optional[str]:
    """BuildKit's choice: `<Dockerfile>.dockerignore` next to it, else `<context>/.dockerignore`."""
    candidates = []
    if file != "-":
        candidates.append(file + ".dockerignore")
    candidates.append(os.path.join(context_directory(file, context), ".dockerignore"))
    for candidate in candidates:
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8", errors="replace") as stream:
                return stream.read()
    return None


def _read_file(file: str) -> bytes:
    with open(file, "rb") as stream:
        return stream.read()


def _read(file: str) -> str:
    try:
        data = sys.stdin.buffer.read() if file == "-" else _read_file(file)
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except OSError as exc:
        raise DefkitError(f"cannot read: {exc.strerror}", path=file) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefkitError(f"not UTF-8 text (byte {exc.start})", path=file) from None
