"""Conversions a field test on real Dockerfiles found wrong without a warning (issue 13, 1-5),
with cases of our own beside the ones reported."""

from __future__ import annotations

import os
import pathlib
import subprocess

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


# 3. ARGs in FROM: kept as build arguments (derived defaults too), never an invalid reference.

def templated(result: Conversion, build_args: dict[str, str]) -> list[tuple[str, str]]:
    """(From, %post) of each stage once Apptainer's templating ran with `build_args`."""
    from defkit.templating import template

    deffile = template(parse_text(result.text, "out.def"), build_args, warn_unused=True).deffile
    return [(stage.header_value("from") or "", stage.script("post")) for stage in deffile.stages]


DERIVED = """ARG MAJOR=11
ARG MINOR=8
ARG CUDA=cu${MAJOR}${MINOR}
FROM nvidia/cuda:${CUDA}-base
ARG CUDA
ARG MAJOR
ARG LABEL=v${MAJOR}-x
RUN echo $CUDA $LABEL
"""


def test_a_derived_default_stays_derived_in_from_and_in_the_stage() -> None:
    result = convert(DERIVED)
    assert "From: nvidia/cuda:{{ CUDA }}-base\n" in result.text
    assert ("%arguments\n    MAJOR=11\n    MINOR=8\n    CUDA=cu{{ MAJOR }}{{ MINOR }}\n"
            "    LABEL=v{{ MAJOR }}-x\n") in result.text
    [(image, script)] = templated(result, {})
    assert image == "nvidia/cuda:cu118-base"
    assert "export CUDA='cu118'" in script and "export LABEL='v11-x'" in script
    # A build argument for MAJOR changes what is derived from it, as `docker build` does.
    [(image, script)] = templated(result, {"MAJOR": "12"})
    assert image == "nvidia/cuda:cu128-base"
    assert "export CUDA='cu128'" in script and "export LABEL='v12-x'" in script
    # And the derived ARG itself can still be given.
    [(image, _script)] = templated(result, {"CUDA": "cpu"})
    assert image == "nvidia/cuda:cpu-base"


def test_a_build_arg_at_conversion_time_fixes_a_derived_default() -> None:
    result = convert(DERIVED, build_args={"CUDA": "cu121"})
    assert "CUDA=cu121\n" in result.text


def test_derived_from_a_derived_default_is_frozen() -> None:
    """Apptainer replaces nested placeholders once: a second level is written by value."""
    result = convert("ARG A=1\nARG B=x${A}\nARG C=y${B}\nFROM busybox:${C}\n")
    assert "    C=yx1\n" in result.text


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("ARG TAG\nARG VARIANT\nFROM pytorch/pytorch:${TAG}${VARIANT}\n",
     "Dockerfile:3:1: error: FROM pytorch/pytorch:${TAG}${VARIANT}: ARGs TAG, VARIANT have no "
     "value here (no default, no --build-arg), which leaves 'pytorch/pytorch:', not an image "
     "reference; give one with `defkit convert --build-arg TAG=... --build-arg VARIANT=...`"),
    ("ARG IMAGE\nFROM $IMAGE\n",
     "Dockerfile:2:1: error: FROM $IMAGE: ARG IMAGE has no value here (no default, no "
     "--build-arg), which leaves '', not an image reference; give one with `defkit convert "
     "--build-arg IMAGE=...`"),
    ("ARG REPO\nFROM ${REPO}/app:1\n",
     "Dockerfile:2:1: error: FROM ${REPO}/app:1: ARG REPO has no value here (no default, no "
     "--build-arg), which leaves '/app:1', not an image reference; give one with `defkit "
     "convert --build-arg REPO=...`"),
])
def test_from_with_an_arg_without_value_is_a_positioned_error(dockerfile: str,
                                                              message: str) -> None:
    from defkit.errors import DefkitError

    with pytest.raises(DefkitError) as info:
        convert(dockerfile)
    assert info.value.format() == message


def test_from_with_an_arg_without_value_that_leaves_a_reference_is_noted() -> None:
    result = convert("ARG SUFFIX\nFROM busybox${SUFFIX}\n")
    assert "From: busybox\n" in result.text
    assert ("2:info: FROM busybox${SUFFIX}: ARG SUFFIX has no value (no default, no "
            "--build-arg): the base image is busybox") in messages(result)


def test_from_with_an_arg_given_at_conversion_time_converts() -> None:
    result = convert("ARG TAG\nFROM pytorch/pytorch:${TAG}\n", build_args={"TAG": "2.1"})
    assert "From: pytorch/pytorch:{{ TAG }}\n" in result.text and "TAG=2.1\n" in result.text


# 4. %files sources hold from where the output is written.

def convert_cli(tmp_path: pathlib.Path, *args: str) -> None:
    from defkit.cli import main

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["convert", *args]) == 0
    finally:
        os.chdir(cwd)


@pytest.fixture()
def context(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "ctx" / "src").mkdir(parents=True)
    (tmp_path / "ctx" / "app.py").write_text("print()\n")
    (tmp_path / "ctx" / "src" / "m.py").write_text("\n")
    (tmp_path / "ctx" / "Dockerfile").write_text(
        "FROM busybox\nCOPY app.py /app/\nCOPY src/ /app/src/\nCOPY . /all\n"
        "RUN --mount=type=bind,source=src,target=/m true\n")
    return tmp_path


def files_sources(path: pathlib.Path) -> list[str]:
    deffile = parse_text(path.read_text(), str(path))
    return [line.split()[0] for stage in deffile.stages for section in stage.sections
            if section.name == "files" and section.args == ""
            for line in section.body.strip().split("\n")]


def test_output_elsewhere_names_sources_from_its_directory(
        context: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (context / "out").mkdir()
    convert_cli(context, "ctx/Dockerfile", "-o", "out/app.def")
    out = context / "out" / "app.def"
    assert files_sources(out) == ["../ctx/app.py", "../ctx/src/", "../ctx", "../ctx/src"]
    for source in files_sources(out):
        assert (out.parent / source).exists(), source
    assert ("# Build context files are named relative to this file's directory (the context "
            "is ../ctx): build from there.\n") in out.read_text()
    err = capsys.readouterr().err
    assert ("out/app.def: info: build context files are named relative to this file's "
            "directory, the build context being ../ctx from there") in err


def test_output_with_an_explicit_context(context: pathlib.Path) -> None:
    (context / "df").mkdir()
    (context / "ctx" / "Dockerfile").rename(context / "df" / "Dockerfile")
    convert_cli(context, "df/Dockerfile", "--context", "ctx", "-o", "app.def")
    assert files_sources(context / "app.def") == ["ctx/app.py", "ctx/src/", "ctx", "ctx/src"]


def test_output_in_the_context_and_standard_output_name_sources_from_the_context(
        context: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    convert_cli(context, "ctx/Dockerfile", "-o", "ctx/app.def")
    assert files_sources(context / "ctx" / "app.def") == ["app.py", "src/", ".", "src"]
    capsys.readouterr()
    convert_cli(context, "ctx/Dockerfile")
    out = capsys.readouterr().out
    assert "    app.py /.defkit/2.1/app.py\n" in out
    assert "# Build context files are named relative to the build context" in out


def test_lint_finds_every_source_of_an_output_written_elsewhere(context: pathlib.Path) -> None:
    from defkit.lint.config import LintConfig
    from defkit.lint.linter import Source, lint_sources

    (context / "out").mkdir()
    convert_cli(context, "ctx/Dockerfile", "-o", "out/app.def")
    out = context / "out" / "app.def"
    [result] = lint_sources([Source(str(out), out.read_text(), LintConfig())])
    assert not [p for p in result.problems if p.code == "DK501"]


# 2. FROM scratch + ADD of a root file system archive: done before the image has a shell.

def section(result: Conversion, name: str, stage: int = -1) -> str:
    return parse_text(result.text, "out.def").stages[stage].script(name)


def test_rootfs_archive_then_copy_and_run() -> None:
    result = convert("FROM scratch\nADD rootfs.tar.xz /\nCOPY --chown=1:2 app.conf /etc/\n"
                     "WORKDIR /srv\nRUN make\nCOPY late.txt /late.txt\n")
    setup = section(result, "setup")
    assert setup.rstrip().endswith("defkit_extract rootfs.tar.xz /")
    files = parse_text(result.text, "out.def").stages[0].sections_named("files")[0].body
    assert "app.conf /etc/" in files and "late.txt /.defkit/6.1/late.txt" in files
    script = post(result)
    # --chown applied before the first RUN, by %post; later copies staged as usual.
    assert script.index("defkit_own /etc/app.conf 1:2 ''") < script.index("mkdir -p /srv") \
        < script.index("make") < script.index("defkit_copy /.defkit/6.1/late.txt /late.txt")
    assert "defkit_add" not in script
    assert subprocess.run(["sh", "-n"], input=setup.encode(), check=False).returncode == 0


def test_rootfs_archive_without_run_has_no_post() -> None:
    result = convert("FROM scratch\nADD rootfs.tar.gz /\nCOPY --chmod=600 key /etc/key\n"
                     "WORKDIR /root\n")
    assert "defkit_extract rootfs.tar.gz /" in section(result, "setup")
    assert "%post" not in result.text
    assert ("3:warning: --chown/--chmod cannot be applied in a stage without a shell (scratch, "
            "no RUN)") in messages(result)


def test_archive_extracted_in_the_build_context_seen_from_the_output() -> None:
    result = convert("FROM scratch\nADD base/rootfs.tar /\nRUN true\n", context_root="../ctx")
    assert "defkit_extract ../ctx/base/rootfs.tar /" in section(result, "setup")


def test_what_setup_cannot_keep_in_docker_order_is_said() -> None:
    result = convert("FROM busybox AS tools\nFROM scratch\nCOPY a /a\nADD rootfs.tar /\n"
                     "COPY --from=tools /bin/busybox /bin/\nRUN true\n")
    found = messages(result)
    assert any(m.startswith("4:warning: ADD: extracted by %setup, which Apptainer runs before "
                            "the %files copies of earlier steps") for m in found)
    assert any(m.startswith("5:warning: COPY --from: copied by %files from, which Apptainer "
                            "runs before %setup's extraction") for m in found)


def test_add_without_unpack_and_wildcards_are_copied_not_extracted() -> None:
    result = convert("FROM scratch\nADD --unpack=false a.tar /a.tar\nADD *.tar /all/\nRUN true\n")
    assert "%setup" not in result.text
    assert "a.tar /a.tar" in result.text


def test_an_image_based_stage_still_extracts_in_post() -> None:
    result = convert("FROM busybox\nADD rootfs.tar /opt/\n")
    assert "%setup" not in result.text and "defkit_add /.defkit/2.1/rootfs.tar /opt/" in post(result)


def test_add_of_a_url_from_args_is_a_download_not_a_file() -> None:
    result = convert("FROM scratch\nARG REPO=https://example.org/a.git\nARG REF=v1\n"
                     "ADD ${REPO}#${REF} /\n")
    assert "%setup" not in result.text and "%files" not in result.text
    assert ("4:warning: ADD https://example.org/a.git#v1 needs a shell to download; skipped "
            "(scratch)") in messages(result)
    result = convert("FROM busybox\nARG URL=https://example.org/f.txt\nADD $URL /f.txt\n")
    assert "defkit_fetch https://example.org/f.txt /.defkit/3.1/f.txt" in post(result)


def test_a_section_over_apptainers_64_kib_is_said_and_still_checked() -> None:
    dockerfile = "FROM busybox\n" + "".join(f"RUN echo {i} {'x' * 2000}\n" for i in range(40))
    result = convert_dockerfile(dockerfile, "Dockerfile")  # (its self-check runs)
    assert any("stage-0: %post is" in m and "more than the 64 KiB Apptainer reads" in m
               for m in messages(result))
