"""ARG/ENV scoping as Docker defines it (global ARGs, per-stage ARGs, ENV inheritance)."""

from __future__ import annotations

import pytest

from defkit.dockerfile import DockerfileParseError, parse
from defkit.dockerfile.scope import (
    global_scope,
    predefined_args,
    resolve_base,
    stage_env,
    walk_stage,
)

MULTI_STAGE = """\
ARG BASE=debian
ARG VERSION=12
ARG UNSET_GLOBAL
FROM --platform=$BUILDPLATFORM ${BASE}:${VERSION:-11} AS build
RUN echo before
ARG VERSION
ARG LOCAL=x-$VERSION
ENV PATH=/opt/bin:$PATH VERSION=env-wins
RUN echo after
ENV SEEN=$VERSION
FROM build AS final
ARG TARGETARCH
RUN echo $TARGETARCH
"""


def test_predefined_platform_args() -> None:
    values = predefined_args("aarch64")
    assert values["TARGETARCH"] == "arm64"
    assert values["TARGETPLATFORM"] == "linux/arm64"
    assert values["BUILDOS"] == "linux"
    assert predefined_args("armv7l")["TARGETPLATFORM"] == "linux/arm/v7"


def test_global_args_resolve_from_lines() -> None:
    parsed = parse(MULTI_STAGE)
    scope = global_scope(parsed)
    assert scope["BASE"] == "debian" and "UNSET_GLOBAL" not in scope
    assert resolve_base(parsed, parsed.stages[0], scope) == ("debian:12", "linux/amd64")
    overridden = global_scope(parsed, {"VERSION": "", "BASE": "ubuntu"}, arch="arm64")
    assert resolve_base(parsed, parsed.stages[0], overridden) == ("ubuntu:11", "linux/arm64")


def test_global_args_are_invisible_in_a_stage_until_redeclared() -> None:
    parsed = parse(MULTI_STAGE)
    steps = walk_stage(parsed, parsed.stages[0])
    before, _arg_version, _arg_local, _env, after, seen = steps
    assert before.variables == {}
    assert after.args == {"VERSION": "12", "LOCAL": "x-12"}
    # ENV wins over an ARG of the same name; an unset $PATH expands to "" (the image's is unknown).
    assert after.env == {"PATH": "/opt/bin:", "VERSION": "env-wins"}
    assert seen.variables["VERSION"] == "env-wins"


def test_build_args_override_defaults() -> None:
    parsed = parse(MULTI_STAGE)
    steps = walk_stage(parsed, parsed.stages[0], {"VERSION": "13", "LOCAL": "given"})
    assert steps[4].args == {"VERSION": "13", "LOCAL": "given"}


def test_env_pairs_see_values_from_before_the_instruction() -> None:
    parsed = parse("FROM x\nENV A=1\nENV A=2 B=$A\nRUN true\n")
    assert walk_stage(parsed, parsed.stages[0])[-1].env == {"A": "2", "B": "1"}


def test_child_stage_inherits_parent_env_and_needs_arg_for_platform() -> None:
    parsed = parse(MULTI_STAGE)
    final = parsed.stages[1]
    assert stage_env(parsed, final) == {
        "PATH": "/opt/bin:",
        "VERSION": "env-wins",
        "SEEN": "env-wins",
    }
    declare, run = walk_stage(parsed, final, arch="arm64")
    assert "TARGETARCH" not in declare.variables
    assert run.variables["TARGETARCH"] == "arm64"


def test_expansion_errors_point_at_the_instruction() -> None:
    parsed = parse("FROM x\nENV A=${B:?needed}\n", "Dockerfile")
    with pytest.raises(DockerfileParseError) as raised:
        stage_env(parsed, parsed.stages[0])
    assert raised.value.format() == "Dockerfile:2:1: error: B: needed"
