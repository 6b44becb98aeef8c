"""Docker's ENTRYPOINT/CMD rules, written as an Apptainer %runscript.

Docker runs `ENTRYPOINT + (run-time arguments, or CMD when there are none)`. Shell forms were
already turned into `[shell..., "-c", text]` with the SHELL in effect when they were written, so a
shell-form ENTRYPOINT receives CMD/arguments as `$0 $1 ...` of its script, exactly as in Docker
(which is why they seem "ignored"). With CMD only, arguments replace the whole command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from defkit.convert.emit import Script
from defkit.convert.shell import quote_argv


@dataclass(frozen=True)
class Process:
    """The ENTRYPOINT/CMD of an image as far as the Dockerfile sets them.

    None means "not set by this Dockerfile" (the base image's value applies)."""

    entrypoint: Optional[tuple[str, ...]] = None
    cmd: Optional[tuple[str, ...]] = None
    cmd_set_in_stage: bool = False

    def with_entrypoint(self, argv: tuple[str, ...]) -> Process:
        # Setting ENTRYPOINT resets a CMD inherited from the parent image or stage, but not one
        # set earlier in this same stage (BuildKit's dispatchEntrypoint).
        cmd = self.cmd if self.cmd_set_in_stage else ()
        return Process(argv, cmd, self.cmd_set_in_stage)

    def with_cmd(self, argv: tuple[str, ...]) -> Process:
        return Process(self.entrypoint, argv, True)

    def new_stage(self) -> Process:
        return Process(self.entrypoint, self.cmd, False)

    @property
    def is_set(self) -> bool:
        return self.entrypoint is not None or self.cmd is not None


def shell_form(shell: tuple[str, ...], text: str) -> tuple[str, ...]:
    """Docker's expansion of a shell-form CMD/ENTRYPOINT: the SHELL argv plus the text."""
    return (*shell, text)


def build_runscript(process: Process, workdir: Optional[str]) -> Optional[Script]:
    """The %runscript for `process`, or None when the Dockerfile sets neither ENTRYPOINT nor CMD
    (then Apptainer keeps the base image's own runscript). `workdir` is a shell word."""
    if not process.is_set:
        return None
    script = Script()
    if workdir is not None:
        script.add(f"cd {workdir} || exit 1")
    entrypoint = process.entrypoint or ()
    cmd = process.cmd or ()
    if cmd:
        script.add('if [ "$#" -eq 0 ]; then', f"    set -- {quote_argv(cmd)}", "fi")
    if entrypoint:
        script.add(f'exec {quote_argv(entrypoint)} "$@"')
        return script
    if not cmd:
        # `ENTRYPOINT []`/`CMD []` with nothing else: Docker refuses to start without arguments.
        script.add(
            'if [ "$#" -eq 0 ]; then',
            '    echo "no command specified (the Dockerfile sets an empty ENTRYPOINT/CMD)" >&2',
            "    exit 1",
            "fi",
        )
    script.add('exec "$@"')
    return script
