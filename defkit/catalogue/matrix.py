"""A family's matrix expanded into points, with GitHub Actions' rules (the ones HPC teams
already write): the cross product of the axes, minus every combination an `exclude` entry
matches (all of its keys equal), then each `include` entry is added to every original
combination whose axis values it does not contradict (values it adds may be overwritten by a
later entry); an entry that fits no combination becomes a point of its own."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Union

Scalar = Union[str, int, bool]
Point = dict[str, Scalar]


def expand(axes: Sequence[tuple[str, Sequence[Scalar]]],
           exclude: Sequence[Mapping[str, Scalar]] = (),
           include: Sequence[Mapping[str, Scalar]] = ()) -> list[Point]:
    names = [name for name, _ in axes]
    combos: list[Point] = []
    if axes:
        for values in itertools.product(*(values for _, values in axes)):
            combos.append(dict(zip(names, values)))
    combos = [c for c in combos if not any(_matches(c, entry) for entry in exclude)]
    originals = len(combos)
    for entry in include:
        fitted = False
        for combo in combos[:originals]:
            if all(combo[name] == entry[name] for name in names if name in entry):
                combo.update(entry)
                fitted = True
        if not fitted:
            combos.append(dict(entry))
    return combos


def _matches(combo: Mapping[str, Scalar], entry: Mapping[str, Scalar]) -> bool:
    return all(combo.get(name) == value for name, value in entry.items())
