"""Dockerfile parsing that follows BuildKit's rules (moby/buildkit frontend/dockerfile/parser).

Public API:

* `parse(text, path="<string>") -> Dockerfile` and `parse_file(path) -> Dockerfile`
  (`defkit.dockerfile.parser`); errors raise `DockerfileParseError` (path:line:col: error: msg).
* `defkit.dockerfile.ast`: frozen records (`Dockerfile`, `Stage`, `Instruction`, typed commands).
* `defkit.dockerfile.expand`: `expand(word, env, *, escape="\\\\") -> str` and
  `expand_words(text, env, *, escape) -> list[str]`: BuildKit's shell-word rules.
* `defkit.dockerfile.scope`: ARG/ENV scoping (global ARGs, predefined TARGET*/BUILD* args).
* `defkit.dockerfile.dump.dump(dockerfile) -> str`: BuildKit's parser test `result` format.
"""

from __future__ import annotations
