"""`defkit fmt` over the whole corpus: meaning kept, idempotent, and the layout it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from defkit.errors import DefParseError
from defkit.parser import parse_text
from defkit.writer import format_checked, format_deffile, normalised_json
from tests.shared import corpus_def_files


def _parseable() -> list[Path]:
    found = []
    for path in corpus_def_files():
        try:
            parse_text(path.read_bytes(), str(path))
        except DefParseError:
            continue
        found.append(path)
    return found


@pytest.mark.parametrize("path", _parseable(), ids=lambda p: p.name)
def test_fmt_keeps_meaning_and_is_idempotent(path: Path) -> None:
    original = parse_text(path.read_bytes(), str(path))
    once = format_deffile(original)
    reparsed = parse_text(once, str(path))
    assert normalised_json(reparsed) == normalised_json(original)
    assert format_deffile(reparsed) == once
    assert once.endswith("\n") and not once.endswith("\n\n")


def _fmt(text: str) -> str:
    return format_checked(parse_text(text))


def test_header_keys_get_their_usual_spelling_and_spacing() -> None:
    out = _fmt("bootstrap:docker\nFROM :   alpine:3.19  # pinned\nmirrorurl: http://x\n%post\necho hi\n")
    assert out.splitlines()[:3] == ["Bootstrap: docker", "From: alpine:3.19 # pinned", "MirrorURL: http://x"]


def test_one_blank_line_between_sections_and_no_trailing_blank_lines() -> None:
    out = _fmt("Bootstrap: docker\nFrom: a\n\n\n%post\n    echo hi   \n\n\n\n%runscript\n    exec x\n\n\n")
    assert out == "Bootstrap: docker\nFrom: a\n\n%post\n    echo hi\n\n%runscript\n    exec x\n"


def test_trailing_space_that_a_shell_reads_is_kept() -> None:
    body = (
        "%post\n"
        "    echo 'a   \n"  # inside single quotes
        "    b'\n"
        "    cat <<EOF > /f   \n"
        "    keep   \n"  # heredoc body
        "EOF\n"
        "    echo a \\ \n"  # an escaped space
        "    echo done   \n"
    )
    out = _fmt("Bootstrap: docker\nFrom: a\n" + body)
    assert "    echo 'a   \n" in out
    assert "    keep   \n" in out
    assert "    echo a \\ \n" in out
    assert "    echo done\n" in out
    assert "/f\n" in out  # the heredoc's own line is outside it


def test_labels_and_files_are_aligned() -> None:
    out = _fmt(
        "Bootstrap: docker\nFrom: a\n%labels\nAuthor me\n  Version    1.0\n"
        "%files\n  a.txt /opt/a.txt\n  \"with space.txt\"   /opt\n"
    )
    assert "    Author  me\n    Version 1.0\n" in out
    assert '    a.txt            /opt/a.txt\n    "with space.txt" /opt\n' in out
