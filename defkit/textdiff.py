"""Unified diffs of texts of any size, in time linear in their length.

`difflib.unified_diff` looks for the longest common run at every step, which takes time
quadratic in the number of lines for some texts (`defkit fmt --diff` on a file of ten thousand
short sections: 25 s). Texts of up to `SMALL` lines, every real recipe, are still diffed by
difflib, so their diffs are exactly difflib's. Longer ones are split first, as patience diff
does: the common first and last lines are matched, then the lines that occur once on each
side, in an order both sides agree on, anchor the match, and each stretch between two anchors
is split again the same way, or handed to difflib once both of its sides are short. A fixed
budget of lines looked at bounds the splitting; a stretch left without anchors (or over the
budget) is shown as removed and added. The result is always a correct unified diff, only not
always the smallest one. Written here because difflib has no such bound, and the diff packages
that have one (git's xdiff) are not Python libraries.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterator, Sequence
from typing import Optional

#: Texts with at most this many lines on each side are diffed by difflib alone.
SMALL = 2000
#: Stretches with at most this many lines on each side are matched by difflib.
_STRETCH = 100
#: How many lines the splitting may look at, per line of the two texts.
_BUDGET_PER_LINE = 16


def unified_diff(
    before: Sequence[str], after: Sequence[str], fromfile: str, tofile: str, n: int = 3
) -> Iterator[str]:
    """The lines of `difflib.unified_diff(before, after, fromfile, tofile, n=n)` (lines with
    their line ends), computed in linear time."""
    if len(before) <= SMALL and len(after) <= SMALL:
        yield from difflib.unified_diff(before, after, fromfile, tofile, n=n)
        return
    matcher = _LinearMatcher(before, after)
    started = False
    for group in matcher.get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        old = _range(first[1], last[2])
        new = _range(first[3], last[4])
        yield f"@@ -{old} +{new} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in before[i1:i2]:
                    yield " " + line
                continue
            if tag in ("replace", "delete"):
                for line in before[i1:i2]:
                    yield "-" + line
            if tag in ("replace", "insert"):
                for line in after[j1:j2]:
                    yield "+" + line


def _range(start: int, stop: int) -> str:
    """A hunk's range as difflib writes it (`_format_range_unified`)."""
    beginning = start + 1
    length = stop - start
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


class _LinearMatcher(difflib.SequenceMatcher[str]):
    """difflib's matcher with matching blocks found in linear time (see the module's text);
    difflib's own grouping of opcodes is kept."""

    def __init__(self, before: Sequence[str], after: Sequence[str]) -> None:
        super().__init__(None, before, after, autojunk=False)
        self._before = before
        self._after = after
        self._blocks: Optional[list[difflib.Match]] = None

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self._blocks is None:
            blocks = _match(self._before, self._after)
            blocks.sort()
            merged: list[tuple[int, int, int]] = []
            for i, j, size in blocks:  # adjacent blocks become one, as difflib gives them
                if merged:
                    last_i, last_j, last_size = merged[-1]
                    if last_i + last_size == i and last_j + last_size == j:
                        merged[-1] = (last_i, last_j, last_size + size)
                        continue
                merged.append((i, j, size))
            merged.append((len(self._before), len(self._after), 0))
            self._blocks = [difflib.Match(*block) for block in merged]
        return self._blocks


def _match(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int]]:
    """Matching blocks (i, j, size) of `a` and `b`, in no particular order."""
    blocks: list[tuple[int, int, int]] = []
    budget = _BUDGET_PER_LINE * (len(a) + len(b))
    stretches = [(0, len(a), 0, len(b))]  # to match: a[alo:ahi] against b[blo:bhi]
    while stretches:
        alo, ahi, blo, bhi = stretches.pop()
        budget -= (ahi - alo) + (bhi - blo)
        if budget < 0:
            continue  # shown as removed and added
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo += 1
            blo += 1
        if alo > start:
            blocks.append((start, blo - (alo - start), alo - start))
        end = ahi
        while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
            ahi -= 1
            bhi -= 1
        if end > ahi:
            blocks.append((ahi, bhi, end - ahi))
        if alo == ahi or blo == bhi:
            continue
        if ahi - alo <= _STRETCH and bhi - blo <= _STRETCH:
            matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            blocks.extend(
                (alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks() if size
            )
            continue
        anchors = _anchors(a, alo, ahi, b, blo, bhi)
        # The stretches between the anchors, matched in turn.
        previous_i, previous_j = alo, blo
        for i, j in anchors:
            blocks.append((i, j, 1))
            stretches.append((previous_i, i, previous_j, j))
            previous_i, previous_j = i + 1, j + 1
        if anchors:
            stretches.append((previous_i, ahi, previous_j, bhi))
    return blocks


def _anchors(
    a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Pairs (i, j) of lines that occur once in a[alo:ahi] and once in b[blo:bhi], the longest
    chain of them in the same order on both sides (patience sorting)."""
    counts: dict[str, int] = {}
    for line in a[alo:ahi]:
        counts[line] = counts.get(line, 0) + 1
    where_b: dict[str, int] = {}
    seen_b: dict[str, int] = {}
    for j in range(blo, bhi):
        line = b[j]
        if counts.get(line) == 1:
            seen_b[line] = seen_b.get(line, 0) + 1
            where_b[line] = j
    pairs = [
        (i, where_b[line])
        for i in range(alo, ahi)
        for line in (a[i],)
        if seen_b.get(line) == 1
    ]
    # The longest increasing run of j (pairs are in order of i).
    tails: list[int] = []  # the smallest last j of a chain of each length
    tail_index: list[int] = []  # which pair ends that chain
    before: list[int] = []  # the pair before each pair in its chain
    for index, (_, j) in enumerate(pairs):
        length = bisect.bisect_left(tails, j)
        if length == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[length] = j
            tail_index[length] = index
        before.append(tail_index[length - 1] if length else -1)
    chain: list[tuple[int, int]] = []
    index = tail_index[-1] if tail_index else -1
    while index >= 0:
        chain.append(pairs[index])
        index = before[index]
    chain.reverse()
    return chain
