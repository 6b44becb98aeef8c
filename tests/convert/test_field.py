"""Conversions a field test on real Dockerfiles found wrong without a warning (issue 13, 1-5),
with cases of our own beside the ones reported."""

from __future__ import annotations

import pytest

from defkit.convert import Conversion, convert_dockerfile
from defkit.parser import parse_text


def convert(dockerfile: str, **options: object) -> Conversion:
    result = convert_dockerfile(dockerfile, "Dockerfile", arch="amd64", **options)  # type: ignore[arg-type]
    parse_text(result.text, "out.def")  # every output is a .def defkit reads
    return result


def post(result: Conversion, stage: int = -1) -> str:
    return parse_text(result.text, "out.def").stages[stage].script("post")


def messages(result: Conversion) -> list[str]:
    return [f"{note.line}:{note.severity}: {note.message}" for note in result.notes]


# 1. Paths are absolute or not once expanded, not as written.

@pytest.mark.parametrize("reference", ["$APPDIR", "${APPDIR}", "${APPDIR}/"])
def test_workdir_from_a_variable_is_not_joined_to_the_previous_one(reference: str) -> None:
    result = convert(f"FROM busybox\nENV APPDIR=/opt/app\nWORKDIR /tmp\nWORKDIR {reference}\n"
                     "WORKDIR sub\nCMD [\"pwd\"]\n")
    assert 'mkdir -p "${APPDIR}"\n' in post(result)
    assert 'mkdir -p "${APPDIR}/sub"\n' in post(result)
    assert "/tmp/" not in post(result)
    assert 'cd "${APPDIR}/sub"' in result.text  # the runscript's working directory


def test_workdir_from_an_arg_with_an_absolute_value() -> None:
    result = convert("FROM busybox\nARG PREFIX=/srv\nWORKDIR /tmp\nWORKDIR $PREFIX/x\n")
    assert 'mkdir -p "${PREFIX}/x"\n' in post(result)


def test_workdir_relative_after_expansion_is_still_joined() -> None:
    result = convert("FROM busybox\nENV SUB=data\nWORKDIR /tmp\nWORKDIR $SUB\n")
    assert 'mkdir -p "/tmp/${SUB}"\n' in post(result)


def test_copy_destination_from_a_variable_is_not_joined_to_workdir() -> None:
    result = convert("FROM busybox\nENV APPDIR=/opt/app\nWORKDIR /tmp\nCOPY a.txt $APPDIR/\n"
                     "COPY b.txt rel/\n")
    assert 'defkit_copy /.defkit/4.1/a.txt "${APPDIR}/"\n' in post(result)
    assert "defkit_copy /.defkit/5.2/b.txt /tmp/rel/\n" in post(result)
    assert not any("relative COPY" in m for m in messages(result))


def test_volume_from_a_variable() -> None:
    result = convert("FROM busybox\nENV DATA=/data\nWORKDIR /tmp\nVOLUME $DATA ${DATA}/x\n")
    assert 'mkdir -p "${DATA}" "${DATA}/x"\n' in post(result)
    assert "Docker VOLUME: /data /data/x" in result.text


# 5. Variables of the base image are unknown at conversion time: named, never shown empty.

def test_user_from_the_base_image_environment_is_named() -> None:
    result = convert("FROM jupyter/base-notebook\nUSER ${NB_UID}:${NB_GID}\n")
    [note] = [m for m in messages(result) if "USER" in m]
    assert note.startswith("2:warning: USER ${NB_UID}:${NB_GID} (${NB_UID}, ${NB_GID}: not set "
                           "in the Dockerfile, from the base image's environment, unknown at "
                           "conversion time)")
    assert "Docker USER: ${NB_UID}:${NB_GID}" in result.text


def test_chown_from_the_base_image_environment_is_left_to_the_shell() -> None:
    result = convert("FROM jupyter/base-notebook\nCOPY --chown=${NB_UID}:${NB_GID} a /home/\n")
    assert 'defkit_copy /.defkit/2.1/a /home/ "${NB_UID}:${NB_GID}" \'\'\n' in post(result)
    assert any(m.startswith("2:info: COPY --chown: a variable of the base image (${NB_UID}, "
                            "${NB_GID}: ") for m in messages(result))


def test_label_and_copy_source_from_the_base_image_say_they_are_left_empty() -> None:
    result = convert("FROM python\nLABEL v=$PYTHON_VERSION\nCOPY $SRC/a /a\n")
    found = messages(result)
    assert ("2:warning: LABEL: a variable of the base image (${PYTHON_VERSION}: not set in the "
            "Dockerfile, from the base image's environment, unknown at conversion time); left "
            "empty here (no shell expands it)") in found
    assert any(m.startswith("3:warning: COPY source '$SRC/a': a variable of the base image "
                            "(${SRC}: ") for m in found)


def test_volume_and_expose_from_the_base_image_are_named() -> None:
    result = convert("FROM python\nEXPOSE $PORT\nVOLUME $HOME/data\n")
    found = messages(result)
    assert any(m.startswith("2:info: EXPOSE ${PORT} (${PORT}: not set") for m in found)
    assert any(m.startswith("3:warning: VOLUME ${HOME}/data (${HOME}: not set") for m in found)
    assert 'mkdir -p "${HOME}/data"\n' in post(result)


def test_known_variables_are_not_reported_as_unknown() -> None:
    result = convert("FROM python\nARG U=1000\nENV G=100\nUSER $U:$G\nWORKDIR /x\n")
    assert not any("base image's environment" in m for m in messages(result))
