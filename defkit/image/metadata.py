"""Apptainer's `inspect-metadata.json` (the SIF generic-JSON object `apptainer inspect` prefers).

Shape, as Apptainer's `inspect --all --json` prints it:
`{"data":{"attributes":{"labels":{...},"deffile":"...","runscript":"...","environment":
{"/.singularity.d/env/90-environment.sh":"...",...},"test":...,"helpfile":...,"startscript":...,
"apps":{...}}},"type":"container"}`.
"""

from __future__ import annotations

import os
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]


def inspect_metadata(rootfs: PathLike, definition_text: str) -> dict[str, Any]:
    """The metadata dict read from a finished rootfs's `/.singularity.d` (and `/scif/apps`)."""
    raise NotImplementedError


def inspect_metadata_json(rootfs: PathLike, definition_text: str) -> bytes:
    """`inspect_metadata` serialised deterministically (sorted keys), as stored in the SIF."""
    raise NotImplementedError
