""".def -> Dockerfile (`defkit convert --to dockerfile`).

Per stage, in the order Apptainer runs the parts: FROM, `%files from` and `%files` as COPY (they
are copied before %post), `%post` as one `RUN <<'DEFKIT_EOF'` heredoc with `set -e` (Apptainer runs
it with `sh -e`), then the run-time metadata: `%environment` as ENV (last, because Apptainer does
not show it to %post), `%labels` as LABEL, `%runscript` as a script file run by ENTRYPOINT.
What Docker has no place for (%setup, %test, %startscript, %help, SCIF apps) gets a warning.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from defkit.convert.notes import Conversion, ConvertError, NoteSink
from defkit.convert.shell import heredoc_marker
from defkit.model import Section, Span, Stage

_ENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*\Z")
_BARE_VALUE = re.compile(r"(?:[A-Za-z0-9_@%+=:,./~-]|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)*\Z")
_DOUBLE_VALUE = re.compile(r'"((?:[^"\\`$]|\\.|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)*)"\Z')
_PLACEHOLDER = re.compile(r"\{\{[\t\n\f\r ]*(\w+)[\t\n\f\r ]*\}\}", re.ASCII)
_QUOTED_PLACEHOLDER = re.compile(r"'\{\{[\t\n\f\r ]*(\w+)[\t\n\f\r ]*\}\}'", re.ASCII)
_UNSUPPORTED = {
    "setup": "%setup runs on the build host; Docker has no equivalent (do it in the build "
    "context before `docker build`)",
    "pre": "%pre runs on the build host; Docker has no equivalent",
    "test": "%test has no Docker equivalent (a HEALTHCHECK probes a running service); dropped",
    "startscript": "%startscript (instances) has no Docker equivalent; dropped",
}


def convert_deffile(text: str, path: str = "<string>") -> Conversion:
    """Convert .def `text`; raises DefParseError when it does not parse."""
    from defkit.parser import parse_text

    deffile = parse_text(text, path)
    notes = NoteSink()
    out = ["# syntax=docker/dockerfile:1", f"# Converted from {path} by defkit convert."]
    names: list[str] = []
    global_args: dict[str, str] = {}
    for index, stage in enumerate(deffile.stages):
        name = stage.name or f"stage-{index}"
        names.append(name)
        out.append("")
        out.extend(_stage(stage, name, notes, global_args, path))
    if global_args:
        declared = [f"ARG {key}={_docker_quote(value)}" for key, value in global_args.items()]
        out[2:2] = declared
    return Conversion("\n".join(out) + "\n", notes.sorted(), "def", "dockerfile", tuple(names))


def _stage(stage: Stage, name: str, notes: NoteSink, global_args: dict[str, str],
           path: str) -> list[str]:
    out: list[str] = []
    defaults = {
        arg.name: arg.value for s in stage.sections_named("arguments") for arg in s.arguments
    }
    bootstrap = stage.bootstrap or ""
    header_span = stage.header[0].span if stage.header else stage.span
    image = stage.header_value("from") or ""
    for placeholder in _PLACEHOLDER.findall(image):
        global_args[placeholder] = defaults.get(placeholder, "")
    image = _PLACEHOLDER.sub(lambda m: "${" + m.group(1) + "}", image)
    if not bootstrap:
        notes.warn(header_span, "this stage has no Bootstrap: header (Apptainer cannot build it)")
    if bootstrap == "docker" and not image:
        raise ConvertError("Bootstrap: docker without a From: image", path=path, span=header_span)
    if bootstrap == "docker":
        registry = stage.header_value("registry")
        namespace = stage.header_value("namespace")
        prefix = "/".join(part for part in (registry, namespace) if part)
        out.append(f"FROM {prefix + '/' if prefix else ''}{image} AS {name}")
    elif bootstrap == "scratch":
        out.append(f"FROM scratch AS {name}")
    elif bootstrap:
        notes.warn(header_span, f"Bootstrap: {bootstrap} has no Docker equivalent; written as "
                   f"FROM {image or 'scratch'} (check it)")
        out.append(f"FROM {image or 'scratch'} AS {name}")
    else:
        out.append(f"FROM {image or 'scratch'} AS {name}")
    for key, value in defaults.items():
        out.append(f"ARG {key}={_docker_quote(value)}")

    for section in stage.sections:
        if section.name == "files":
            out.extend(_files(section, notes))
    post = [s for s in stage.sections if s.name == "post"]
    if post:
        out.extend(_post(post, notes))
    for section in stage.sections:
        if section.name == "environment":
            out.extend(_environment(section, notes))
        elif section.name == "labels":
            for label in section.labels:
                out.append(f"LABEL {_docker_quote(label.key)}={_docker_quote(label.value)}")
        elif section.name in _UNSUPPORTED:
            if section.body.strip():
                notes.warn(section.header_span, _UNSUPPORTED[section.name])
        elif section.name == "help":
            if section.body.strip():
                notes.info(section.header_span, "%help kept as comments (Docker has no help text)")
                lines = section.body.rstrip("\n").split("\n")
                out.extend(f"# {line.strip()}".rstrip() for line in lines)
        elif section.is_app:
            notes.warn(section.header_span, f"{section.display_name}: SCIF apps have no Docker "
                       "equivalent; dropped")
    runscripts = [s for s in stage.sections if s.name == "runscript"]
    if runscripts:
        out.extend(_runscript(runscripts, notes))
    return out


def _files(section: Section, notes: NoteSink) -> list[str]:
    args = section.args.split("#", 1)[0].split()
    source_stage: Optional[str] = None
    if len(args) == 2:
        source_stage = args[1]
    elif args:
        notes.warn(section.header_span, f"%files {section.args.strip()}: Apptainer ignores "
                   "these arguments; so does the Dockerfile")
        return []
    out = []
    for entry in section.files:
        destination = entry.destination or entry.source
        if not destination.startswith("/"):
            destination = "/" + destination  # %files destinations are relative to /
        flag = f"--from={source_stage} " if source_stage else ""
        out.append(f"COPY {flag}{json.dumps([entry.source, destination])}")
    return out


def _post(sections: list[Section], notes: NoteSink) -> list[str]:
    body = "".join(section.body for section in sections)
    args = ""
    for section in sections:
        if section.args.strip():
            args = section.args
    if not body.strip():
        return []
    for word in ("APPTAINER_ENVIRONMENT", "SINGULARITY_ENVIRONMENT"):
        if word in body:
            notes.warn(sections[0].header_span, f"%post writes ${word} (run-time environment); "
                       "in Docker use ENV instead")
            break
    if "{{" in body and _PLACEHOLDER.search(body):
        notes.info(sections[0].header_span, "{{ X }} placeholders became ${X} (the ARG); inside "
                   "single quotes they are not expanded")
        body = _QUOTED_PLACEHOLDER.sub(lambda m: '"${' + m.group(1) + '}"', body)
        body = _PLACEHOLDER.sub(lambda m: "${" + m.group(1) + "}", body)
    words = args.split("#", 1)[0].split()
    if "-c" in words:
        shell = " ".join(words[words.index("-c") + 1 :])
        # `%post -c /bin/bash` runs the script with that shell and without -e.
        script = f"#!{shell}\n{body}"
    else:
        script = f"set -e\n{body}"
    marker = heredoc_marker(script)
    return [f"RUN <<'{marker}'", *script.rstrip("\n").split("\n"), marker]


def _environment(section: Section, notes: NoteSink) -> list[str]:
    out = []
    for offset, line in enumerate(section.body.split("\n")):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        span = Span(section.body_line + offset, 1, section.body_line + offset, len(line) + 1)
        match = _ENV_LINE.match(line)
        value = _shell_value(match.group(2)) if match else None
        if match is None or value is None:
            if re.fullmatch(r"\s*export\s+[A-Za-z_][A-Za-z0-9_ ]*", line):
                continue  # `export NAME` of a variable set above
            notes.warn(span, f"%environment line not converted (not a simple assignment): "
                       f"{stripped}")
            continue
        out.append(f"ENV {match.group(1)}={value}")
    return out


def _shell_value(raw: str) -> Optional[str]:
    """A shell assignment value as a Dockerfile ENV word, or None when it needs a shell."""
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2 and "'" not in raw[1:-1]:
        return _docker_quote(raw[1:-1])
    match = _DOUBLE_VALUE.match(raw)
    if match:
        return f'"{match.group(1)}"'
    if _BARE_VALUE.match(raw):
        return raw if raw else '""'
    return None


def _runscript(sections: list[Section], notes: NoteSink) -> list[str]:
    body = "".join(section.body for section in sections)
    if not body.strip():
        return []
    args = sections[-1].args.split("#", 1)[0].strip()
    if body.lstrip().startswith("#!"):
        first, _, rest = body.lstrip("\n").partition("\n")
        script = f"{first} {args}".rstrip() + "\n\n" + rest
    else:
        script = (f"#!/bin/sh {args}".rstrip()) + "\n\n" + body
    marker = heredoc_marker(script)
    path = "/usr/local/bin/defkit-runscript"
    return [
        f"COPY --chmod=755 <<'{marker}' {path}",
        *script.rstrip("\n").split("\n"),
        marker,
        f'ENTRYPOINT ["{path}"]',
    ]


def _docker_quote(value: str) -> str:
    """A Dockerfile word that BuildKit reads back as `value` (no expansion)."""
    if value and re.fullmatch(r"[A-Za-z0-9_@%+=:,./~-]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
