"""`defkit build Dockerfile` and `Bootstrap: dockerfile`/`buildkit`, end to end: a Dockerfile FROM
an image in the real local docker-registry, converted and built by the native engine (no Docker,
BuildKit or Apptainer), then run; the converter's warnings shown with Dockerfile positions."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.registry.images import defkit, push_busybox
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.path.exists("/etc/subuid"),
                                reason="needs root or a user namespace")

DOCKERFILE = """\
FROM {base} AS build
ARG GREETING=hello
ENV APP=/opt/app
WORKDIR /opt/app
COPY hello.txt ./
RUN echo "$GREETING from the build stage" > greeting

FROM {base}
COPY --from=build /opt/app /opt/app
ENV APP=/opt/app
USER nobody
HEALTHCHECK CMD true
ENTRYPOINT ["/bin/cat"]
CMD ["/opt/app/greeting"]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory,
            registry: RunningRegistry) -> pathlib.Path:
    directory = tmp_path_factory.mktemp("dockerfile-project")
    push_busybox(registry, "dockerfile/base")
    context = directory / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=f"{registry.host}/dockerfile/base:1"))
    (context / "hello.txt").write_text("hello file\n")
    return directory


def test_build_a_dockerfile_and_run_it(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    cache = tmp_path / "cache"
    done = defkit("build", "-F", "--build-arg", "GREETING=hi",
                  str(project / "app" / "Dockerfile"), cache=cache, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    image = project / "app" / "app.sif"  # named after the context directory
    assert image.is_file()
    # Where the image cannot be Docker's, it says so, at the Dockerfile's line.
    dockerfile = str(project / "app" / "Dockerfile")
    assert f"warning: {dockerfile}:11:1: USER nobody" in done.stderr
    assert f"warning: {dockerfile}:12:1: HEALTHCHECK" in done.stderr
    assert f"building {dockerfile} -> {image}" in done.stderr
    # ENTRYPOINT + CMD, the ARG given, the COPY from the context and from the other stage.
    ran = defkit("run", str(image), cache=cache)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hi from the build stage\n"
    shown = defkit("exec", str(image), "/bin/sh", "-c", 'echo "$APP"; cat /opt/app/hello.txt',
                   cache=cache)
    assert shown.stdout == "/opt/app\nhello file\n", shown.stderr
    # The same Dockerfile and context again (from elsewhere): a cache hit; another build arg:
    # a miss.
    again = defkit("build", "-F", "--build-arg", "GREETING=hi", "-o", str(tmp_path / "b.sif"),
                   str(project / "app" / "Dockerfile"), cache=cache)
    assert again.returncode == 0 and "cache hit" in again.stderr, again.stderr
    assert (tmp_path / "b.sif").read_bytes() == image.read_bytes()
    other = defkit("build", "-F", "-o", str(tmp_path / "c.sif"),
                   str(project / "app" / "Dockerfile"), cache=cache)
    assert other.returncode == 0 and "cache miss" in other.stderr, other.stderr
    assert defkit("run", str(tmp_path / "c.sif"), cache=cache).stdout == (
        "hello from the build stage\n")


def test_target_and_context_options(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """`--target` stops at a stage; `--context` is where COPY finds its sources."""
    elsewhere = tmp_path / "ctx"
    elsewhere.mkdir()
    (elsewhere / "hello.txt").write_text("from another context\n")
    out = tmp_path / "build.sif"
    done = defkit("build", "--target", "build", "--context", str(elsewhere), "-o", str(out),
                  str(project / "app" / "Dockerfile"), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    shown = defkit("exec", str(out), "/bin/cat", "/opt/app/hello.txt", "/opt/app/greeting",
                   cache=tmp_path / "cache")
    assert shown.stdout == "from another context\nhello from the build stage\n", shown.stderr


@pytest.mark.parametrize("agent", ["dockerfile", "buildkit"])
def test_bootstrap_dockerfile_in_a_def(agent: str, project: pathlib.Path,
                                       tmp_path: pathlib.Path) -> None:
    """Apptainer 1.5's header keys: From (the context), Target, BuildArgs; the def's own sections
    run on the result."""
    deffile = tmp_path / "app.def"
    deffile.write_text(f"Bootstrap: {agent}\nFrom: {project / 'app'}\nTarget: build\n"
                       "BuildArgs: GREETING=howdy\n\n%post\n    echo extra > /extra\n\n"
                       "%runscript\n    cat /opt/app/greeting /extra\n")
    done = defkit("build", "--engine", "native", str(deffile), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    ran = defkit("run", str(tmp_path / "app.sif"), cache=tmp_path / "cache")
    assert ran.stdout == "howdy from the build stage\nextra\n", ran.stderr


def test_dockerfile_errors_are_one_line(tmp_path: pathlib.Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY --from=nowhere /a /b\n")
    done = defkit("build", str(tmp_path / "Dockerfile"), cache=tmp_path / "cache")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Dockerfile" in lines[0]
    assert not list(tmp_path.glob("*.sif"))
    missing = defkit("build", str(tmp_path / "nope" / "Dockerfile"), cache=tmp_path / "cache")
    assert missing.returncode != 0 and "no such file" in missing.stderr, missing.stderr


def test_which_sources_are_dockerfiles(tmp_path: pathlib.Path) -> None:
    from defkit.engine.dockerfile import default_output, is_dockerfile

    for name in ("Dockerfile", "app.Dockerfile", "Dockerfile.dev", "Containerfile"):
        assert is_dockerfile(str(tmp_path / name)), name
    (tmp_path / "dockerfiles").mkdir()  # a sandbox directory named so
    for name in ("image.def", "Dockerfile.def", "dockerfiles", "app.sif"):
        assert not is_dockerfile(str(tmp_path / name)), name
    assert default_output(str(tmp_path / "app" / "Dockerfile")) == str(tmp_path / "app" /
                                                                      "app.sif")
    assert default_output(str(tmp_path / "web.Dockerfile")) == str(tmp_path / "web.sif")
    assert default_output(str(tmp_path / "Dockerfile.dev")) == str(tmp_path / "dev.sif")
