"""Quoting and line-safety helpers, and keeping RUN line breaks only where sh agrees."""

from __future__ import annotations

import random
import subprocess
from itertools import accumulate
from typing import Optional

import pytest

from defkit.convert import convert_dockerfile
from defkit.convert.copying import _resolve_dest, context_path
from defkit.convert.shell import (
    PLACEHOLDER,
    has_unsafe_line,
    quote,
    split_points_safe,
    text_is_unsafe,
    wrap_lines,
)


@pytest.mark.parametrize("word", ["plain", "a b", "it's", "$HOME", "", "{{ X }}", "%x", "a\nb"])
def test_quote_round_trips_through_sh(word: str) -> None:
    out = subprocess.run(["sh", "-c", f"printf %s {quote(word)}"], capture_output=True, text=True)
    assert out.stdout == word
    assert not PLACEHOLDER.search(quote(word))


def test_split_points() -> None:
    text = "echo 'a b' && echo \"c d\" # note"
    assert split_points_safe(text, [text.index("&&")])
    assert not split_points_safe(text, [text.index("a b") + 1])  # inside single quotes
    assert split_points_safe(text, [text.index("c d") + 1])  # double quotes: sh joins too
    assert not split_points_safe(text, [len(text) - 2])  # inside a comment


def test_unsafe_lines() -> None:
    assert text_is_unsafe("ok\n  %wheel ALL\n")
    assert text_is_unsafe("Bootstrap: docker\n")
    assert text_is_unsafe("echo {{ name }}\n")
    assert not text_is_unsafe("printf '%s' x\necho {{.Id}}\n")
    assert text_is_unsafe("x\nboot\u017ftrap: y\n")  # (U+017F matches `s` ignoring case)
    assert not text_is_unsafe("echo a: b\n")


def test_wrap_lines_decides_as_split_points_safe_and_has_unsafe_line() -> None:
    """`wrap_lines` (a regular expression for most texts) agrees with the two functions on
    random shell-like lines, line breaks and empty lines included."""
    rnd = random.Random(0)
    parts = ["a", " ", "'", '"', "\\", "#", ";", "(", "%", "\t", "bootstrap:", "\n", "{{ X }}"]
    for _ in range(30000):
        lines = ["".join(rnd.choices(parts, k=rnd.randint(0, 5)))
                 for _ in range(rnd.randint(1, 5))]
        text = "".join(lines)
        wrapped = "\\\n".join(lines)
        safe = split_points_safe(text, list(accumulate(map(len, lines[:-1]))))
        expected = wrapped if safe and not has_unsafe_line(wrapped) else None
        assert wrap_lines(lines) == expected, lines


@pytest.mark.parametrize(("source", "expected"), [
    ("a/b", "a/b"), ("/a/b/", "a/b/"), ("./a/../b", "b"), ("../../x", "x"), ("..", "."),
    (".", "."), ("/", "."), ("a//b/.", "a/b"), ("dir/", "dir/"),
])
def test_context_paths_stay_inside_the_context(source: str, expected: str) -> None:
    assert context_path(source) == expected


@pytest.mark.parametrize(("dest", "workdir", "absolute", "expected"), [
    ("x", None, False, "/x"), ("x", "/app", False, "/app/x"), ("x/", "/a/b/", False, "/a/b/x/"),
    (".", "/app", False, "/app/"), ("..", "/a/b", False, "/a/"), ("/x/../y", "/app", True, "/y"),
    ("//x", None, True, "/x"),
    # Absolute once expanded: `$APPDIR/sub` is not joined to the WORKDIR.
    ("\x00vAPPDIR\x00/sub", "/tmp", True, "\x00vAPPDIR\x00/sub"),
    ("\x00vAPPDIR\x00/sub", "/tmp", False, "/tmp/\x00vAPPDIR\x00/sub"),
])
def test_destinations_resolve_against_the_workdir(dest: str, workdir: Optional[str],
                                                  absolute: bool, expected: str) -> None:
    assert _resolve_dest(dest, workdir, False, absolute) == expected


def test_run_line_breaks_kept_only_where_sh_reads_them_the_same() -> None:
    dockerfile = "FROM alpine\nRUN echo one \\\n    two\nRUN echo 'a \\\nb' # x\n"
    text = convert_dockerfile(dockerfile, "Dockerfile").text
    assert "echo one \\\n    two" in text  # kept: outside quotes
    assert "echo 'a b' # x" in text  # joined, as BuildKit does: a break would be literal in '...'


@pytest.mark.parametrize(
    ("image", "windows"),
    [
        ("mcr.microsoft.com/windows/servercore:ltsc2022", True),
        ("mcr.microsoft.com/windows/nanoserver:1809", True),
        ("python:3.13-windowsservercore-ltsc2022", True),
        ("golang:1.22-nanoserver", True),
        ("nanoserverapiscan", False),  # caught by its C:\\...exe CMD instead
        ("ubuntu:24.04", False),
        ("example/windows-tools", False),
        ("alpine:3.20", False),
        ("ghcr.io/org/servicecore:1", False),
    ],
)
def test_windows_images(image: str, windows: bool) -> None:
    from defkit.convert.from_dockerfile import _WINDOWS

    assert bool(_WINDOWS.search(image)) is windows
