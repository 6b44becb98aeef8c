"""`--env-file` read with the shell's rules for assignments, as Apptainer sources it, without
ever running what the file holds."""

from __future__ import annotations

import pathlib

import pytest

from defkit.engine.container_env import read_env_file
from defkit.errors import UsageError

HOST = {"HOME": "/home/u", "PATH": "/usr/bin", "HOSTVAR": "host"}


def _read(tmp_path: pathlib.Path, text: str) -> dict[str, str]:
    path = tmp_path / "env"
    path.write_text(text)
    return read_env_file(str(path), HOST)


@pytest.mark.parametrize("text, expected", [
    ("A=1\n", {"A": "1"}),
    ("# comment\n\nA=1  # trailing\n", {"A": "1"}),
    ('A="two words"\n', {"A": "two words"}),
    ("A='$HOME \"x\"'\n", {"A": '$HOME "x"'}),
    ("A=a\\ b\\$c\n", {"A": "a b$c"}),
    ('A="multi\nline"\n', {"A": "multi\nline"}),
    ("A=1 B=2; C=3\n", {"A": "1", "B": "2", "C": "3"}),
    ("export A=1 B=$A\n", {"A": "1", "B": "1"}),
    ("export HOSTVAR\n", {"HOSTVAR": "host"}),
    ('A=x\nB="$A-${A}-$HOSTVAR-$UNSET."\n', {"A": "x", "B": "x-x-host-."}),
    ("P=~/bin:$PATH\n", {"P": "/home/u/bin:/usr/bin"}),
    ("A=*.txt\n", {"A": "*.txt"}),  # no globbing in an assignment
    ("A=1\\\n2\n", {"A": "12"}),
    ("A=\n", {"A": ""}),
])
def test_assignments_read_as_a_shell_would(tmp_path: pathlib.Path, text: str,
                                           expected: dict[str, str]) -> None:
    assert _read(tmp_path, text) == expected


@pytest.mark.parametrize("text, where, what", [
    ("A=$(touch /tmp/x)\n", "1:3", "command substitution"),
    ("A=`id`\n", "1:3", "'`'"),
    ('A="`id`"\n', "1:4", "command substitution"),
    ("A=1\nrm -rf /tmp/x\n", "2:1", "expected NAME=VALUE"),
    ("A=1 > /tmp/x\n", "1:5", "expected NAME=VALUE"),
    ("A=1|cat\n", "1:4", "'|'"),
    ('A="open\n', "1:3", "unterminated double quote"),
    ("A=${A:-x}\n", "1:3", "only ${NAME}"),
])
def test_anything_else_is_refused_with_its_position(tmp_path: pathlib.Path, text: str,
                                                    where: str, what: str) -> None:
    with pytest.raises(UsageError) as raised:
        _read(tmp_path, text)
    assert raised.value.format().startswith(f"{tmp_path / 'env'}:{where}: error: ")
    assert raised.value.format().count("error:") == 1
    assert what in str(raised.value)
    assert not pathlib.Path("/tmp/x").exists()


def test_a_missing_file_is_one_line(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match="no-such: No such file"):
        read_env_file(str(tmp_path / "no-such"), HOST)
