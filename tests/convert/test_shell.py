"""Quoting and line-safety helpers, and keeping RUN line breaks only where sh agrees."""

from __future__ import annotations

import subprocess
from typing import Optional

import pytest

from defkit.convert import convert_dockerfile
from defkit.convert.copying import _resolve_dest, context_path
from defkit.convert.shell import (
    PLACEHOLDER,
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


@pytest.mark.parametrize(("lines", "wrapped"), [
    (["echo a ", "b"], True),
    (["echo \"a ", "b\""], True),  # inside double quotes sh removes the backslash-newline too
    (["echo 'a ", "b'"], False),  # inside single quotes it would stay
    (["echo a # c ", "d"], False),  # in a comment it would end the comment
    (["echo a\\", "b"], False),  # after a backslash it would be escaped
    (["echo a#b ", "c"], True),  # `#` inside a word starts no comment
    (["echo x ", "%post"], False),  # the line would start a section
    (["printf x ", "  bootstrap: y"], True),  # only at column 0 does it start a stage
    (["echo ", "Bootstrap: y"], False),
])
def test_wrap_lines_only_where_sh_reads_the_same(lines: list[str], wrapped: bool) -> None:
    result = wrap_lines(lines)
    assert (result is not None) == wrapped
    if result is not None:
        joined = subprocess.run(["sh", "-c", "".join(lines)], capture_output=True, text=True)
        broken = subprocess.run(["sh", "-c", result], capture_output=True, text=True)
        assert (broken.stdout, broken.returncode) == (joined.stdout, joined.returncode)


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
