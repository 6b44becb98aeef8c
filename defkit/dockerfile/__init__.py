"""Dockerfile parsing that follows BuildKit's rules (moby/buildkit frontend/dockerfile/parser).

Public API:

* `parse(text, path="<string>", *, strict=True) -> Dockerfile`, `parse_file(path, *, strict=True)`
  (`defkit.dockerfile.parser`); errors raise `DockerfileParseError` (path:line:col: error: msg).
  `strict=False` accepts what only BuildKit's parser (not its instruction parser) accepts.
* `defkit.dockerfile.ast`: frozen records (`Dockerfile`, `Stage`, `Instruction`, typed commands).
* `defkit.dockerfile.expand`: `expand(word, env, *, escape) -> str`,
  `expand_words(text, env, *, escape) -> list[str]`: BuildKit's shell-word rules.
* `defkit.dockerfile.scope`: ARG/ENV scoping (`global_scope`, `resolve_base`, `walk_stage`,
  `stage_env`, `predefined_args` for TARGET*/BUILD*).
* `defkit.dockerfile.dump.dump(dockerfile) -> str`: BuildKit's parser test `result` format.
"""

from __future__ import annotations

from defkit.dockerfile.ast import Dockerfile, Instruction, Stage
from defkit.dockerfile.errors import DockerfileParseError
from defkit.dockerfile.parser import parse, parse_file

__all__ = ["Dockerfile", "DockerfileParseError", "Instruction", "Stage", "parse", "parse_file"]
