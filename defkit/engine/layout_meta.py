"""The `/.singularity.d` metadata written after %post (Apptainer's `insertMetadata`): help,
labels.json, the def file, %environment, startscript, runscript and test.

Everything is deterministic: the build date comes from SOURCE_DATE_EPOCH (in UTC), labels are
sorted, and the text layout follows Apptainer byte for byte where tools read it back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Callable, Optional

from defkit import __version__
from defkit.engine.layout import write_file
from defkit.gotext import trim_space
from defkit.metadata import parse_json
from defkit.model import Section, Stage
from defkit.safepath import Root

SD = "/.singularity.d"
BUILD_LABELS_FILE = "/.build.labels"  # $APPTAINER_LABELS during %post
HELP_PATH = f"{SD}/runscript.help"


def build_date(epoch: int) -> str:
    """Apptainer's `org.label-schema.build-date`: `Weekday_D_Month_YYYY_H:M:S_ZONE`, no padding,
    in UTC so the label does not depend on the builder's time zone."""
    t = time.gmtime(epoch)
    weekday = time.strftime("%A", t)
    month = time.strftime("%B", t)
    return f"{weekday}_{t.tm_mday}_{month}_{t.tm_year}_{t.tm_hour}:{t.tm_min}:{t.tm_sec}_UTC"


def build_labels(stage: Stage, *, epoch: int, arch: str, has_help: bool) -> dict[str, str]:
    """The labels every build adds (they override inherited ones)."""
    labels = {
        "org.label-schema.schema-version": "1.0",
        "org.label-schema.build-date": build_date(epoch),
        "org.label-schema.build-arch": arch,
        "org.label-schema.usage.apptainer.version": f"defkit-{__version__}",
        "org.opencontainers.image.created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                          time.gmtime(epoch)),
        "org.opencontainers.image.architecture": arch,
    }
    if has_help:
        labels["org.label-schema.usage"] = HELP_PATH
        labels["org.label-schema.usage.apptainer.runscript.help"] = HELP_PATH
    for entry in stage.header:
        labels[f"org.label-schema.usage.singularity.deffile.{entry.key}"] = entry.value
    return labels


def build_arg_labels(args: Mapping[str, str]) -> dict[str, str]:
    """`org.defkit.build-arg.NAME` labels: the image embeds its definition with `{{ }}`
    placeholders unexpanded, so the values of the (non-secret) build args are kept here."""
    return {f"org.defkit.build-arg.{name}": value for name, value in args.items()}


def parse_labels(text: str) -> dict[str, str]:
    """`KEY VALUE` lines as Apptainer reads %labels and $APPTAINER_LABELS: split at the first
    U+0020, both sides trimmed, empty and `#` lines skipped, the last duplicate wins."""
    labels: dict[str, str] = {}
    for raw in trim_space(text).split("\n"):
        line = trim_space(raw)
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        labels[trim_space(key)] = trim_space(value)
    return labels


def labels_json(labels: Mapping[str, str]) -> str:
    """Go's `json.MarshalIndent(labels, "", "\\t")`: keys sorted, TAB indent, no newline at the
    end, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go does."""
    text = json.dumps(dict(labels), indent="\t", sort_keys=True, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def last_section(stage: Stage, name: str) -> Optional[Section]:
    found = None
    for section in stage.sections:
        if section.name == name and section.app is None:
            found = section
    return found


def shebang_script(body: str, args: str) -> str:
    """A %runscript/%startscript/%test file: the body's own `#!` line (if the trimmed body starts
    with one) or `#!/bin/sh`, section args cut at `#` appended, a blank line, the body, `\\n`."""
    shebang, script = "#!/bin/sh", body
    if trim_space(body).startswith("#!"):
        first, _, rest = body.partition("\n")
        shebang, script = trim_space(first), rest
    if args:
        shebang += " " + args.split("#", 1)[0]
    return f"{shebang}\n\n{script}\n"


def _read_labels(rootfs: str) -> dict[str, str]:
    with Root(rootfs) as root:
        raw = root.read_file(f"{SD}/labels.json")  # None for a FIFO, directory, device...
    if raw is None:
        return {}
    try:
        data = parse_json(raw or b"{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_labels(
    rootfs: str, stage: Stage, *, build: Mapping[str, str], force: bool, use_labels: bool
) -> list[str]:
    """labels.json in Apptainer's merge order (deffile.md §11); returns warnings."""
    warnings: list[str] = []
    labels = _read_labels(rootfs)
    with Root(rootfs) as root:
        from_post = root.read_file(BUILD_LABELS_FILE)
        root.remove(BUILD_LABELS_FILE)
    if from_post is not None:
        labels.update(parse_labels(from_post.decode("utf-8", errors="replace")))
    labels.update(build)
    if use_labels:
        own: dict[str, str] = {}
        for section in stage.sections_named("labels"):
            own.update({label.key: label.value for label in section.labels})
        for key, value in own.items():
            if key in labels and not force:
                warnings.append(f"Label: {key} already exists and force option is false, "
                                "not overwriting")
            else:
                labels[key] = value
    write_file(rootfs, f"{SD}/labels.json", labels_json(labels), 0o644)
    return warnings


def write_definition(rootfs: str, definition_text: str) -> None:
    """`/.singularity.d/Singularity`; an earlier one moves to `bootstrap_history/Apptainer<N>`."""
    with Root(rootfs) as root:
        if root.exists(f"{SD}/Singularity"):
            history = f"{SD}/bootstrap_history"
            root.makedirs(history)
            count = len(root.listdir(history))
            root.rename(f"{SD}/Singularity", f"{history}/Apptainer{count}")
        root.write_file(f"{SD}/Singularity", definition_text, 0o644)


def write_metadata(
    rootfs: str,
    stage: Stage,
    *,
    definition_text: str,
    source_date_epoch: int,
    arch: str,
    force: bool = False,
    section_enabled: Callable[[str], bool] = lambda name: True,
    extra_build_labels: Optional[Mapping[str, str]] = None,
) -> tuple[str, ...]:
    """Write the stage's metadata into `rootfs` after %post; returns warnings for the log."""
    warnings: list[str] = []
    help_text = stage.script("help")
    has_help = section_enabled("help") and help_text != ""
    if has_help:
        with Root(rootfs) as root:
            exists = root.lstat(HELP_PATH, follow=True) is not None
        if not exists or force:
            write_file(rootfs, HELP_PATH, help_text + "\n", 0o644)
        else:
            warnings.append("Help message already exists and force option is false, "
                            "not overwriting")
    build = build_labels(stage, epoch=source_date_epoch, arch=arch, has_help=has_help)
    build.update(extra_build_labels or {})
    warnings += write_labels(rootfs, stage, build=build, force=force,
                             use_labels=section_enabled("labels"))
    write_definition(rootfs, definition_text)
    environment = stage.script("environment")
    if section_enabled("environment") and environment:
        append_environment(rootfs, environment)
    for name, path in (("startscript", "startscript"), ("runscript", "runscript"),
                       ("test", "test")):
        section = last_section(stage, name)
        body = stage.script(name)
        if section_enabled(name) and body:
            args = section.args if section is not None else ""
            write_file(rootfs, f"{SD}/{path}", shebang_script(body, args), 0o755)
    return tuple(warnings)


def append_environment(rootfs: str, script: str) -> None:
    """%environment goes at the end of 90-environment.sh (created if the image has none)."""
    with Root(rootfs) as root:
        root.append_file(f"{SD}/env/90-environment.sh", f"\n{script}\n", header="#!/bin/sh\n",
                         mode=0o755)
