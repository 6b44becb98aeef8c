"""The JSON Apptainer's Go types produce for a parsed stage (`types.Definition`).

Duplicate sections are merged here as Apptainer merges them: bodies concatenated, the args of
the last section line that had any, `%files` grouped by identical args. `null`, `{}` and `[]`
are kept apart because the Go structs keep them apart.
"""

from __future__ import annotations

import base64
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


def stage_to_json(stage: Stage, *, fullraw: Optional[str] = None) -> JSON:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    test = _script(stage, "test")
    return {
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
        "raw": b64(stage.raw),
        "fullraw": b64(stage.raw if fullraw is None else fullraw),
        "appOrder": list(stage.app_order),
    }


def deffile_to_json(deffile: DefFile, *, fullraw: Optional[str] = None) -> list[JSON]:
    """`parser.All`'s list of stages; `fullraw` defaults to the whole file."""
    whole = deffile.text if fullraw is None else fullraw
    return [stage_to_json(stage, fullraw=whole) for stage in deffile.stages]
