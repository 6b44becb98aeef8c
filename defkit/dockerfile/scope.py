"""Which ARG and ENV values each instruction sees, by Docker's scoping rules.

* ARGs before the first FROM are global: visible to FROM lines only (image and --platform). Inside
  a stage, `ARG NAME` without a default re-declares one and takes its global value.
* An ARG's value is the `--build-arg` given for it, else its default (expanded where it stands),
  else it is declared but unset.
* The platform ARGs (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT and the BUILD* ones)
  are predefined in the global scope; a stage sees them only after `ARG TARGETARCH` etc.
* ENV wins over ARG of the same name. All pairs of one ENV/ARG see the values from before it.
* `FROM <earlier stage>` inherits that stage's ENV (an external image's ENV is unknown here).

API:
    predefined_args(arch="amd64", os="linux", variant="") -> dict
    global_scope(dockerfile, build_args={}, *, arch="amd64") -> dict    # what FROM lines see
    resolve_base(dockerfile, stage, scope) -> (image, platform)  # FROM words expanded
    walk_stage(dockerfile, stage, build_args={}, *, arch="amd64") -> list[Step]
    stage_env(dockerfile, stage, build_args={}, *, arch="amd64") -> dict  # ENV at the end
Expansion failures raise DockerfileParseError positioned at the instruction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

from defkit.dockerfile.ast import ArgCommand, Dockerfile, EnvCommand, Instruction, Stage
from defkit.dockerfile.errors import DockerfileParseError, ExpansionError
from defkit.dockerfile.expand import expand

_NO_BUILD_ARGS: Mapping[str, str] = {}
# uname -m and common spellings -> the GOARCH names Docker uses (with a variant where implied).
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "armv7l": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64el": ("ppc64le", ""),
}


@dataclass(frozen=True)
class Step:
    """One instruction of a stage with the values in effect when it runs (before its own effect)."""

    instruction: Instruction
    args: Mapping[str, str]  # ARGs declared in this stage so far, with their values
    env: Mapping[str, str]  # ENV set so far (inherited from a parent stage included)

    @property
    def variables(self) -> dict[str, str]:
        """What `$NAME` expands to here: ENV over ARG."""
        return {**self.args, **self.env}


def predefined_args(arch: str = "amd64", os: str = "linux", variant: str = "") -> dict[str, str]:
    """BuildKit's automatic platform ARGs for building `os/arch[/variant]` on the same platform."""
    arch, implied_variant = _ARCH_ALIASES.get(arch, (arch, ""))
    variant = variant or implied_variant
    platform = f"{os}/{arch}" + (f"/{variant}" if variant else "")
    values: dict[str, str] = {}
    for prefix in ("TARGET", "BUILD"):
        values[f"{prefix}PLATFORM"] = platform
        values[f"{prefix}OS"] = os
        values[f"{prefix}ARCH"] = arch
        values[f"{prefix}VARIANT"] = variant
    return values


def global_scope(
    dockerfile: Dockerfile, build_args: Mapping[str, str] = _NO_BUILD_ARGS, *, arch: str = "amd64"
) -> dict[str, str]:
    """The values FROM lines see: predefined platform ARGs, then the ARGs before the first FROM."""
    predefined = predefined_args(arch)
    scope = dict(predefined)
    for instruction in dockerfile.global_args:
        scope = _declare_args(dockerfile, instruction, scope, scope, build_args, predefined)
    return scope


def resolve_base(
    dockerfile: Dockerfile, stage: Stage, scope: Mapping[str, str]
) -> tuple[str, Optional[str]]:
    """The stage's base image and --platform with global ARGs substituted."""
    base = stage.base
    image = _expand(dockerfile, base.image, scope, stage.from_instruction)
    platform = None
    if base.platform is not None:
        platform = _expand(dockerfile, base.platform, scope, stage.from_instruction)
    return image, platform


def walk_stage(
    dockerfile: Dockerfile,
    stage: Stage,
    build_args: Mapping[str, str] = _NO_BUILD_ARGS,
    *,
    arch: str = "amd64",
) -> list[Step]:
    """Each instruction of `stage` with the ARG/ENV values it sees."""
    steps, _env = _walk(dockerfile, stage, build_args, arch)
    return steps


def stage_env(
    dockerfile: Dockerfile,
    stage: Stage,
    build_args: Mapping[str, str] = _NO_BUILD_ARGS,
    *,
    arch: str = "amd64",
) -> dict[str, str]:
    """The ENV a stage ends with (what `FROM <this stage>` and the final image start from)."""
    _steps, env = _walk(dockerfile, stage, build_args, arch)
    return env


def parent_stage(dockerfile: Dockerfile, stage: Stage, image: str) -> Optional[Stage]:
    """The earlier stage a FROM names (stage names are case-insensitive), or None."""
    for candidate in dockerfile.stages[: stage.index]:
        if candidate.name is not None and candidate.name == image.lower():
            return candidate
    return None


def _walk(
    dockerfile: Dockerfile, stage: Stage, build_args: Mapping[str, str], arch: str
) -> tuple[list[Step], dict[str, str]]:
    scope = global_scope(dockerfile, build_args, arch=arch)
    image, _platform = resolve_base(dockerfile, stage, scope)
    parent = parent_stage(dockerfile, stage, image)
    env = stage_env(dockerfile, parent, build_args, arch=arch) if parent is not None else {}
    args: dict[str, str] = {}
    steps = []
    for instruction in stage.instructions:
        steps.append(Step(instruction, dict(args), dict(env)))
        command = instruction.command
        visible = {**args, **env}
        if isinstance(command, ArgCommand):
            args = _declare_args(dockerfile, instruction, args, visible, build_args, scope)
        elif isinstance(command, EnvCommand):
            updates = {}
            for pair in command.pairs:
                key = _expand(dockerfile, pair.key, visible, instruction)
                updates[key] = _expand(dockerfile, pair.value or "", visible, instruction)
            env = {**env, **updates}
    return steps, env


def _declare_args(
    dockerfile: Dockerfile,
    instruction: Instruction,
    declared: Mapping[str, str],
    visible: Mapping[str, str],
    build_args: Mapping[str, str],
    global_values: Mapping[str, str],
) -> dict[str, str]:
    command = instruction.command
    assert isinstance(command, ArgCommand)
    result = dict(declared)
    for pair in command.pairs:
        key = _expand(dockerfile, pair.key, visible, instruction)
        if key in build_args:
            result[key] = build_args[key]
        elif pair.value is not None:
            result[key] = _expand(dockerfile, pair.value, visible, instruction)
        elif key in global_values:
            result[key] = global_values[key]
        else:
            result.pop(key, None)  # declared without a value: unset
    return result


def _expand(
    dockerfile: Dockerfile, word: str, env: Mapping[str, str], instruction: Instruction
) -> str:
    try:
        return expand(word, env, escape=dockerfile.escape)
    except ExpansionError as exc:
        raise DockerfileParseError(
            exc.message, path=dockerfile.path, span=instruction.span
        ) from None
