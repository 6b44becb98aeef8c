"""The parsed form of a definition file: immutable records, each with its place in the file.

Nothing here does I/O or parsing. Sections are kept in file order, duplicates included, so that
lint rules can point at each one; `apptainer_json` derives Apptainer's merged view from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

STANDARD_SECTIONS = (
    "help",
    "setup",
    "files",
    "labels",
    "environment",
    "pre",
    "post",
    "runscript",
    "test",
    "startscript",
    "arguments",
)
APP_SECTIONS = (
    "appinstall",
    "applabels",
    "appfiles",
    "appenv",
    "apptest",
    "apphelp",
    "apprun",
    "appstart",
)
#: Sections whose body is a shell script (the %app ones are scripts too, except applabels/appfiles).
SCRIPT_SECTIONS = ("setup", "pre", "post", "runscript", "test", "startscript", "environment")
APP_SCRIPT_SECTIONS = ("appinstall", "appenv", "apptest", "apprun", "appstart")


@dataclass(frozen=True)
class Span:
    """A 1-based place in the file; `end_column` is exclusive (one past the last character)."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class HeaderEntry:
    """One `Key: value` header entry (continuation lines included)."""

    key: str  # lowercased, as Apptainer stores it
    value: str
    raw_key: str  # as written in the file
    span: Span  # from the key to the end of the last continuation line
    value_span: Span


@dataclass(frozen=True)
class FileEntry:
    """One line of a `%files` (or `%appfiles`) section."""

    source: str
    destination: str  # "" when the line names only a source
    span: Span


@dataclass(frozen=True)
class Label:
    key: str
    value: str
    span: Span


@dataclass(frozen=True)
class Argument:
    """A `NAME=default` line of `%arguments`."""

    name: str
    value: str
    span: Span


@dataclass(frozen=True)
class Section:
    """One `%name [args]` line and the body that follows it, exactly as Apptainer reads them."""

    name: str  # lowercased, leading `%` removed, cut at the first space ("post", "appinstall")
    args: str  # verbatim text after the first space; "" for app sections and when absent
    app: Optional[str]  # the app name of an `%app*` section, else None
    body: str  # verbatim body (LF line ends), as Apptainer stores it
    span: Span  # the section line through the last body line
    header_span: Span  # the `%name ...` line
    body_line: int  # line of the body's first line in the file
    # Columns removed from the body's first line before Apptainer sees it. Always 0 today (the
    # first-section trim only removes the section line's indentation); kept so tools that map
    # body positions back to the file have one place to ask.
    body_column_offset: int = 0
    written_name: str = ""  # the name as written, `%` removed, case kept ("AppInstall")
    args_present: bool = False  # the section line had a space, so its args replace earlier ones
    files: tuple[FileEntry, ...] = ()
    labels: tuple[Label, ...] = ()
    arguments: tuple[Argument, ...] = ()

    @property
    def is_app(self) -> bool:
        return self.app is not None

    @property
    def is_known(self) -> bool:
        """Whether Apptainer accepts the section (app sections must be written in lower case)."""
        if self.app is not None:
            return self.written_name in APP_SECTIONS
        return self.name in STANDARD_SECTIONS

    @property
    def is_script(self) -> bool:
        return self.name in SCRIPT_SECTIONS or self.name in APP_SCRIPT_SECTIONS

    @property
    def display_name(self) -> str:
        return f"%{self.name} {self.app}" if self.app is not None else f"%{self.name}"


@dataclass(frozen=True)
class Stage:
    """One build stage: the text from a `Bootstrap:` line up to the next one."""

    header: tuple[HeaderEntry, ...]  # file order; a later duplicate key overrides an earlier one
    sections: tuple[Section, ...]  # file order, duplicates kept
    raw: str  # this stage's text, byte for byte (CR kept)
    span: Span

    @property
    def header_map(self) -> Optional[dict[str, str]]:
        """Apptainer's header map: None when no key was stored."""
        if not self.header:
            return None
        return {entry.key: entry.value for entry in self.header}

    def header_entry(self, key: str) -> Optional[HeaderEntry]:
        """The entry that wins for `key` (the last one), or None."""
        found = None
        for entry in self.header:
            if entry.key == key:
                found = entry
        return found

    def header_value(self, key: str) -> Optional[str]:
        entry = self.header_entry(key)
        return entry.value if entry is not None else None

    @property
    def name(self) -> str:
        """The `Stage:` header value, "" when there is none."""
        return self.header_value("stage") or ""

    @property
    def bootstrap(self) -> Optional[str]:
        return self.header_value("bootstrap")

    def sections_named(self, name: str) -> tuple[Section, ...]:
        return tuple(section for section in self.sections if section.name == name)

    def script(self, name: str) -> str:
        """The merged body of a standard section (duplicates concatenated)."""
        return "".join(section.body for section in self.sections_named(name))

    @property
    def app_order(self) -> tuple[str, ...]:
        # A dict keeps first-seen order with O(1) membership (a list made this quadratic).
        order: dict[str, None] = {}
        for section in self.sections:
            if section.app is not None:
                order.setdefault(section.app, None)
        return tuple(order)


@dataclass(frozen=True)
class DefFile:
    """A whole definition file: its stages in order."""

    path: str
    text: str
    stages: tuple[Stage, ...]

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def stage_named(self, name: str) -> Optional[Stage]:
        """The first stage whose `Stage:` header is `name` (Apptainer searches all stages)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        return None
