"""The JSON Apptainer's Go types produce for a parsed stage (`types.Definition`).

Duplicate sections are merged here as Apptainer merges them: bodies concatenated, the args of
the last section line that had any, `%files` grouped by identical args. `null`, `{}` and `[]`
are kept apart because the Go structs keep them apart.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, Optional

from defkit.model import STANDARD_SECTIONS, DefFile, Stage
from defkit.sections import labels_map
from defkit.stage import custom_key

JSON = dict[str, Any]


def _script(stage: Stage, name: str) -> JSON:
    args = ""
    for section in stage.sections_named(name):
        if section.app is None and section.args_present:
            args = section.args
    return {"args": args, "script": stage.script(name)}


def _files(stage: Stage) -> list[JSON]:
    groups: list[JSON] = []
    for section in stage.sections:
        if section.name != "files" or section.app is not None:
            continue
        entries = [{"source": e.source, "destination": e.destination} for e in section.files]
        for group in groups:
            if group["args"] == section.args:
                if entries:
                    group["files"] = (group["files"] or []) + entries
                break
        else:
            groups.append({"args": section.args, "files": entries or None})
    return groups


def _custom_data(stage: Stage) -> Optional[dict[str, str]]:
    data: dict[str, str] = {}
    for section in stage.sections:
        if section.name in STANDARD_SECTIONS and section.app is None:
            continue
        key = custom_key(section)
        data[key] = data.get(key, "") + section.body
    return data or None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def stage_to_json(stage: Stage, *, fullraw: Optional[str] = None) -> JSON:
    """The stage's `types.Definition`; `fullraw` defaults to the stage's own text."""
    return _stage_json(stage, _b64(stage.raw if fullraw is None else fullraw))


def stage_meaning(stage: Stage) -> JSON:
    """`stage_to_json` without `raw` and `fullraw` (what the stage means, not its text)."""
    return _stage_json(stage, None)


def _stage_json(stage: Stage, fullraw_b64: Optional[str]) -> JSON:
    test = _script(stage, "test")
    data: JSON = {
        "header": stage.header_map,
        "imageData": {
            "metadata": None,
            "labels": labels_map(stage.script("labels")),
            "imageScripts": {
                "help": _script(stage, "help"),
                "environment": _script(stage, "environment"),
                "runScript": _script(stage, "runscript"),
                "test": test,
                "startScript": _script(stage, "startscript"),
            },
        },
        "buildData": {
            "files": _files(stage),
            "buildScripts": {
                "pre": _script(stage, "pre"),
                "setup": _script(stage, "setup"),
                "post": _script(stage, "post"),
                "test": test,
                "arguments": _script(stage, "arguments"),
            },
        },
        "customData": _custom_data(stage),
    }
    if fullraw_b64 is not None:
        data["raw"] = _b64(stage.raw)
        data["fullraw"] = fullraw_b64
    data["appOrder"] = list(stage.app_order)
    return data


def deffile_to_json(deffile: DefFile, *, fullraw: Optional[str] = None) -> list[JSON]:
    """`parser.All`'s list of stages; `fullraw` defaults to the whole file."""
    # Encoded once: every stage holds the same string (not a copy of the file per stage).
    whole = _b64(deffile.text if fullraw is None else fullraw)
    return [_stage_json(stage, whole) for stage in deffile.stages]


def iter_json_text(deffile: DefFile, *, fullraw: Optional[str] = None) -> Iterator[str]:
    """`json.dumps(deffile_to_json(...), indent=2, ensure_ascii=False)` in pieces, one stage at
    a time: Apptainer's format repeats the whole file in every stage (`fullraw`), so the text
    of a file of many stages is many times its size; the caller writes each piece as it comes
    and holds one stage's JSON at a time, never the whole text."""
    whole = _b64(deffile.text if fullraw is None else fullraw)
    if not deffile.stages:
        yield "[]"
        return
    separator = "[\n  "
    for stage in deffile.stages:
        text = json.dumps(_stage_json(stage, whole), indent=2, ensure_ascii=False)
        # One level deeper, as inside the list (newlines in JSON text are all indentation:
        # those inside strings are escaped).
        yield separator + text.replace("\n", "\n  ")
        separator = ",\n  "
    yield "\n]"
