"""Random and mutated definition files: the parser returns a model or raises its own error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from defkit.errors import DefParseError
from defkit.parser import parse_lenient, parse_single, parse_text
from defkit.templating import template
from tests.shared import corpus_def_files

_SEEDS = [p.read_text(errors="replace") for p in corpus_def_files()[:60]]
_PIECES = st.sampled_from(
    [
        "Bootstrap: docker\n", "From: alpine\n", "%post\n", "  %post\n", "%files\n", '"\n', "\\\n",
        "%labels\n", "A b\n", "%appinstall x\n", "%arguments\n", "X={{ Y }}\n", "{{ X }}\n",
        "# c\n", "\n", "\r\n", "%%\n", "%environment\n", "bootstrap:\n", "\u00a0%post\n", "#!/bin/bash\n",
    ]
)


def _check(text: str) -> None:
    for parse in (parse_text, parse_single):
        try:
            parse(text)
        except DefParseError as exc:
            assert exc.format()
    deffile, errors = parse_lenient(text)
    assert deffile is not None or errors
    try:
        if deffile is not None and not errors:
            template(deffile, {}, warn_unused=True)
    except DefParseError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=25).map("".join))
def test_structured_noise(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_SEEDS), st.integers(0, 10_000), st.integers(0, 50), st.text(max_size=8))
def test_mutated_corpus_files(seed: str, at: int, cut: int, insert: str) -> None:
    at %= len(seed) + 1
    _check(seed[:at] + insert + seed[at + cut :])
