"""A parsed Dockerfile in the format of BuildKit's parser tests (`Node.Dump()`, `result` files).

One line per instruction: `(keyword ["--flag"...] "arg" ...)`, keyword lower-cased, strings quoted
as Go's `%q` does; ONBUILD nests its trigger: `(onbuild (run "echo" "test"))`.
"""

from __future__ import annotations

from defkit.dockerfile.ast import Dockerfile, Instruction, OnbuildCommand
from defkit.dockerfile.nodes import go_quote


def dump(dockerfile: Dockerfile) -> str:
    """The whole file, one `(...)` line each, with a final newline (as the `result` files)."""
    return "".join(
        f"({dump_instruction(instruction)})\n" for instruction in dockerfile.instructions
    )


def dump_instruction(instruction: Instruction) -> str:
    parts = [instruction.keyword.lower()]
    if instruction.flags:
        parts.append("[" + " ".join(go_quote(flag.raw) for flag in instruction.flags) + "]")
    command = instruction.command
    if isinstance(command, OnbuildCommand):
        parts.append(f"({dump_instruction(command.instruction)})")
    else:
        parts.extend(go_quote(arg) for arg in instruction.args)
    return " ".join(parts)
