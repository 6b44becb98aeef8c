"""Build hook: Lark's standalone parser for `grammar/deffile.lark`, generated on every build and
editable install into `defkit/_generated_parser.py` (not in git; never edited by hand).

defkit imports the generated module instead of Lark: it holds Lark's LALR runtime and the
grammar's tables, and loads in a fraction of the time `import lark` and Lark's table cache take
(every command parses a .def, so every command paid for Lark's grammar compiler). The lexer is
defkit's own (`defkit/line_lexer.py`); the tables do not depend on it. The module records the
grammar's SHA-256, and a test fails when the grammar changed and the module was not
regenerated (`make install`, or `pip install -e .`, regenerates it).
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GRAMMAR = os.path.join("grammar", "deffile.lark")
GENERATED = os.path.join("defkit", "_generated_parser.py")


def standalone_parser(grammar: str) -> str:
    """The source of the generated module for `grammar` (the text of deffile.lark)."""
    from lark import Lark
    from lark.tools.standalone import gen_standalone

    # The "basic" lexer is never run: defkit.stage feeds the lines from defkit.line_lexer to
    # the parser (a standalone parser cannot name a lexer class of its own).
    lark = Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True)
    out = io.StringIO()
    gen_standalone(lark, out=out)
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()
    return (
        f"# Generated from {GRAMMAR} by hatch_build.py at build time: do not edit.\n"
        f'GRAMMAR_SHA256 = "{digest}"\n' + out.getvalue()
    )


class GeneratedParserHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        with open(os.path.join(self.root, GRAMMAR), encoding="utf-8") as handle:
            source = standalone_parser(handle.read())
        target = os.path.join(self.root, GENERATED)
        try:
            with open(target, encoding="utf-8") as handle:
                unchanged = handle.read() == source
        except FileNotFoundError:
            unchanged = False
        if not unchanged:  # (a running defkit may be importing it: replace, never rewrite)
            temporary = f"{target}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(source)
            os.replace(temporary, target)
        build_data["artifacts"].append("/" + GENERATED.replace(os.sep, "/"))  # git ignores it
