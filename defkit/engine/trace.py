"""Map a failing section's `sh -x` trace back to the line of the .def file that failed.

Section scripts run as `/bin/sh -ex SCRIPT` (Apptainer's way). We also export
`PS4='+[${LINENO}] '`: busybox sh expands it, so its trace names the script line exactly; dash
(Debian's /bin/sh) imports PS4 but leaves LINENO empty and bash ignores PS4 from the environment,
so for them the last `+ command` line is matched against the script text instead (best effort:
expansions make the traced words differ from the written ones). When neither works the error
points at the section header and says so.
"""

from __future__ import annotations

import re
import shlex
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

PS4 = "+[${LINENO}] "
_TRACE = re.compile(r"^(\++)(?:\[(\d*)\])? (.*)$")


@dataclass(frozen=True)
class ScriptLine:
    text: str
    def_line: Optional[int]  # line in the .def file; None for lines defkit generated


@dataclass(frozen=True)
class Script:
    """A section script and, for each of its lines, where it came from."""

    lines: tuple[ScriptLine, ...]

    @property
    def text(self) -> str:
        return "".join(line.text + "\n" for line in self.lines)

    def __add__(self, other: Script) -> Script:
        return Script(self.lines + other.lines)


def script_from_body(body: str, first_line: int) -> Script:
    """A section body whose first line is line `first_line` of the .def file."""
    return Script(tuple(ScriptLine(text, first_line + index)
                        for index, text in enumerate(body.split("\n")[:-1] if body.endswith("\n")
                                                     else body.split("\n"))))


def generated(*texts: str) -> Script:
    return Script(tuple(ScriptLine(text, None) for text in texts))


@dataclass(frozen=True)
class TraceLine:
    script_line: Optional[int]  # 1-based script line when the shell reported it
    command: str


def parse_trace(line: str) -> Optional[TraceLine]:
    match = _TRACE.match(line)
    if match is None:
        return None
    number = match.group(2)
    return TraceLine(int(number) if number else None, match.group(3))


def display(line: str) -> str:
    """A trace line as the user expects it (`+ cmd`), without our line-number marker."""
    match = _TRACE.match(line)
    if match is None or match.group(2) is None:
        return line
    return f"{match.group(1)} {match.group(3)}"


class TraceRecorder:
    """An `on_line` callback: remembers recent trace lines and forwards output lines."""

    def __init__(self, forward: Callable[[str], None], keep: int = 400) -> None:
        self.forward = forward
        self.traces: deque[TraceLine] = deque(maxlen=keep)

    def __call__(self, line: str) -> None:
        trace = parse_trace(line)
        if trace is not None:
            self.traces.append(trace)
        self.forward(display(line))


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False)
    except ValueError:
        return text.split()


def _score(command: Sequence[str], text: str) -> int:
    """How well a script line's text explains a traced command (0: not at all)."""
    written = _words(text.strip())
    if not written or not command:
        return 0
    # The command name is rarely expanded; require it (also after `VAR=x` prefixes or `then`).
    head = [w for w in written if "=" not in w or w.startswith("-")]
    if command[0] not in head[:3] and command[0] not in text:
        return 0
    return 1 + sum(1 for word in command[1:] if word in text)


def locate(script: Script, traces: Sequence[TraceLine]) -> Optional[int]:
    """The .def line of the last traced command, or None when it cannot be told."""
    if not traces:
        return None
    last = traces[-1]
    if last.script_line is not None and 1 <= last.script_line <= len(script.lines):
        return script.lines[last.script_line - 1].def_line
    # Follow the trace through the script so that a repeated command maps to the right copy.
    cursor = 0
    best: Optional[int] = None
    for trace in traces:
        words = _words(trace.command)
        found = _best_from(script, words, cursor)
        if found is not None:
            cursor = found
            best = found
        elif trace is last:
            best = None
    if best is None:
        return None
    return script.lines[best].def_line


def _best_from(script: Script, words: Sequence[str], cursor: int) -> Optional[int]:
    order = list(range(cursor, len(script.lines))) + list(range(0, cursor))
    best_index, best_score = None, 0
    for index in order:
        line = script.lines[index]
        if line.def_line is None:
            continue
        score = _score(words, line.text)
        if score > best_score:
            best_index, best_score = index, score
    return best_index


def last_command(traces: Sequence[TraceLine]) -> Optional[str]:
    return traces[-1].command if traces else None
