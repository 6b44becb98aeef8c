"""`defkit recipes lock NAME`: pin the registry bases of every point of a family in its lock
file (`NAME/NAME.lock`, `defkit lock`'s format), from which `render -o` gives each rendered
point its own `POINT.def.lock`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from defkit.catalogue.family import Family
from defkit.catalogue.render import render_all
from defkit.errors import DefkitError

if TYPE_CHECKING:
    from defkit.lock import LockEntry
    from defkit.registry.client import RegistryClient


def lock_family(family: Family, archs: Sequence[str], client: RegistryClient) -> list[LockEntry]:
    """A lock entry for every registry base of every point and arch, resolved now."""
    from defkit.atomic import write_text
    from defkit.lock import resolve

    entries: list[LockEntry] = []
    with tempfile.TemporaryDirectory(prefix="defkit-recipes-lock-") as scratch:
        for item in render_all(family):
            path = os.path.join(scratch, item.filename)
            write_text(path, item.text)
            try:
                found = resolve(path, archs, client)
            except DefkitError as exc:
                if exc.path == path:
                    exc.path = item.filename
                    exc.message += f" (rendered from {item.template})"
                raise
            entries += [entry for entry in found if entry not in entries]
    return entries


def lock_file(family: Family) -> str:
    """Where the family's lock goes; never into an installed package (a checkout's top-level
    `recipes/` is fine: that is where the project's own locks are made)."""
    from defkit.errors import UsageError

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.commonpath([package, os.path.abspath(family.directory)]) == package:
        raise UsageError(f"{family.name} is in the installed package's catalogue: copy "
                         f"{family.directory} into a catalogue of your own and pass "
                         "--recipes-dir")
    return os.path.join(family.directory, f"{family.name}.lock")
