"""A small writer for the .def text the converter produces (not the canonical `defkit fmt` layout).

A stage is collected into a `StagePlan` while the Dockerfile is walked, then written in the order
Apptainer runs the parts (deffile.md §9): %arguments, %files from, %files, %setup, %post, then the
run-time metadata. Script lines are indented for reading, except "raw" lines (here-document bodies
and terminators), which must stay byte-exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

INDENT = "    "


@dataclass
class Script:
    """Lines of one script section; raw lines are written without indentation."""

    lines: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        for line in lines:
            self.lines.append((line, False))

    def add_raw(self, *lines: str) -> None:
        for line in lines:
            self.lines.append((line, True))

    def copy(self) -> Script:
        return Script(list(self.lines))

    def extend(self, other: Script) -> None:
        self.lines.extend(other.lines)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def render(self) -> str:
        out = []
        for text, raw in self.lines:
            out.append(text if raw or not text else INDENT + text)
        return "\n".join(out) + "\n"


def files_word(path: str) -> str:
    """A %files token: bare unless it has whitespace (Apptainer's only quoting is "...")."""
    if any(ch.isspace() for ch in path) or not path:
        return f'"{path}"'
    return path


@dataclass
class StagePlan:
    """Everything one Apptainer stage will contain."""

    name: str
    header: list[tuple[str, str]] = field(default_factory=list)
    header_comments: list[str] = field(default_factory=list)
    arguments: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str]] = field(default_factory=list)
    files_from: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    setup: Script = field(default_factory=Script)
    post: Script = field(default_factory=Script)
    post_prologue: Script = field(default_factory=Script)  # helper functions, written first
    post_epilogue: Script = field(default_factory=Script)  # clean-up, written last
    environment: Script = field(default_factory=Script)
    runscript: Optional[Script] = None
    labels: dict[str, str] = field(default_factory=dict)
    help: list[str] = field(default_factory=list)

    def copy(self) -> StagePlan:
        return StagePlan(
            self.name, list(self.header), list(self.header_comments), dict(self.arguments),
            list(self.files), {k: list(v) for k, v in self.files_from.items()},
            self.setup.copy(), self.post.copy(), self.post_prologue.copy(),
            self.post_epilogue.copy(), self.environment.copy(),
            self.runscript.copy() if self.runscript is not None else None,
            dict(self.labels), list(self.help),
        )

    def render(self) -> str:
        parts = ["\n".join(f"{key}: {value}" for key, value in self.header)]
        parts[0] += "\n" + "".join(f"# {comment}\n" for comment in self.header_comments)
        if self.arguments:
            body = "".join(f"{INDENT}{key}={value}\n" for key, value in self.arguments.items())
            parts.append("%arguments\n" + body)
        for stage, entries in self.files_from.items():
            parts.append(f"%files from {stage}\n" + _files_body(entries))
        if self.files:
            parts.append("%files\n" + _files_body(self.files))
        if self.setup:
            parts.append("%setup\n" + self.setup.render())
        if self.post or self.post_prologue or self.post_epilogue:
            post = Script()
            for part in (self.post_prologue, self.post, self.post_epilogue):
                post.extend(part)
            parts.append("%post\n" + post.render())
        if self.environment:
            parts.append("%environment\n" + self.environment.render())
        if self.runscript is not None:
            parts.append("%runscript\n" + self.runscript.render())
        if self.labels:
            body = "".join(f"{INDENT}{key} {value}\n" for key, value in self.labels.items())
            parts.append("%labels\n" + body)
        if self.help:
            parts.append("%help\n" + "".join(f"{INDENT}{line}\n" for line in self.help))
        return "\n".join(parts)


def _files_body(entries: list[tuple[str, str]]) -> str:
    return "".join(f"{INDENT}{files_word(src)} {files_word(dst)}\n" for src, dst in entries)


def render_def(stages: list[StagePlan], preamble: list[str]) -> str:
    """The whole .def: comment lines, then each stage (stages are split at `Bootstrap:`)."""
    head = "".join(f"# {line}\n" if line else "#\n" for line in preamble)
    return head + "\n".join(stage.render() for stage in stages)
