"""A stage built on another replays its parent's steps; a parent nothing else needs is taken over,
not copied, so a chain of `FROM previous` stages converts in linear time."""

from __future__ import annotations

import pytest

from defkit.convert.emit import StagePlan
from defkit.convert.from_dockerfile import convert_dockerfile


def _chain(n: int, extra: str = "") -> str:
    links = "".join(f"FROM s{i} AS s{i + 1}\nRUN echo step-{i + 1}\n" for i in range(n))
    return "FROM alpine AS s0\nRUN echo step-0\n" + links + extra


def _copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    copied: list[str] = []
    original = StagePlan.copy

    def counting(self: StagePlan) -> StagePlan:
        copied.append(self.name)
        return original(self)

    monkeypatch.setattr(StagePlan, "copy", counting)
    return copied


def test_a_chain_takes_over_each_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    copied = _copies(monkeypatch)
    text = convert_dockerfile(_chain(40), "Dockerfile").text
    assert copied == []
    steps = [line.strip() for line in text.splitlines() if line.strip().startswith("echo step-")]
    assert steps == [f"echo step-{i}" for i in range(41)]  # every step replayed, in order


@pytest.mark.parametrize("extra, shared", [
    ("FROM s1 AS other\nRUN echo other\n", "s1"),  # a second child
    ("FROM busybox\nCOPY --from=s2 /etc/hostname /h\n", "s2"),  # copied from by name
    ("FROM busybox\nRUN --mount=type=bind,from=3,target=/m true\n", "s3"),  # by index
])
def test_a_parent_something_else_needs_is_copied(monkeypatch: pytest.MonkeyPatch, extra: str,
                                                 shared: str) -> None:
    copied = _copies(monkeypatch)
    chained = convert_dockerfile(_chain(5, extra), "Dockerfile", target="s5").text
    assert copied == [shared]
    monkeypatch.undo()
    assert chained == convert_dockerfile(_chain(5, extra), "Dockerfile", target="s5").text
