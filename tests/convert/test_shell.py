"""Quoting and line-safety helpers, and keeping RUN line breaks only where sh agrees."""

from __future__ import annotations

import subprocess

import pytest

from defkit.convert import convert_dockerfile
from defkit.convert.shell import PLACEHOLDER, quote, split_points_safe, text_is_unsafe


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
