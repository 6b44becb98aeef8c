"""End to end: convert a Dockerfile, build it with defkit's engine on a local busybox base
(the `FROM busybox` header is pointed at a busybox rootfs directory), run it, and check that it
behaves as `docker build` + `docker run` would: ENV, WORKDIR, ENTRYPOINT/CMD arguments, COPY
ownership and placement, ARG/--build-arg, RUN isolation, multi-stage builds."""

from __future__ import annotations

import os
import pathlib
import shutil
import tarfile
from collections.abc import Sequence
from typing import Optional

import pytest

from defkit.convert import convert_dockerfile

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if shutil.which("mksquashfs") is None or shutil.which("unshare") is None:
        pytest.skip("squashfs-tools and util-linux are needed")
    if os.geteuid() != 0:
        pytest.skip("the e2e build runs as root")
    from defkit.engine.busybox_rootfs import make_busybox_rootfs

    return make_busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


class Project:
    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.sif = ""

    def file(self, name: str, text: str, mode: int = 0o644) -> pathlib.Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    def build(self, dockerfile: str, build_args: Optional[dict[str, str]] = None,
              def_name: str = "image.def", **convert_options: object) -> str:
        """Convert `dockerfile`, write the .def as `def_name` (relative to the context) and
        build it from the context directory."""
        from defkit.engine.engine import build

        ignore = self.root / ".dockerignore"
        result = convert_dockerfile(
            dockerfile, "Dockerfile", arch="amd64",
            dockerignore=ignore.read_text() if ignore.exists() else None,
            **convert_options,  # type: ignore[arg-type]
        )
        rootfs = self.root.parent / "rootfs"
        text = result.text.replace("Bootstrap: docker\nFrom: busybox\n",
                                   f"Bootstrap: localimage\nFrom: {rootfs}\n")
        assert "Bootstrap: docker" not in text
        path = self.file(def_name, text)
        cwd = os.getcwd()
        os.chdir(self.root)  # %files sources are relative to where the build runs
        try:
            built = build(str(path), workdir=str(self.root.parent / "work"), force=True,
                          output=str(self.root.parent / "image.sif"),
                          source_date_epoch=1700000000, build_args=build_args or {},
                          progress=lambda event: None)
        finally:
            os.chdir(cwd)
        self.sif = built.output
        return text

    def action(self, action: str, args: Sequence[str] = ()) -> tuple[int, str]:
        from defkit.runtime import run_action

        code, out = run_action(self.sif, action, list(args), capture=True,
                               environ={"PATH": "/usr/bin:/bin", "HOME": "/root"})
        return code, out.decode()

    def run(self, *args: str) -> str:
        code, out = self.action("run", args)
        assert code == 0, out
        return out

    def exec(self, *args: str) -> str:
        code, out = self.action("exec", args)
        assert code == 0, out
        return out


@pytest.fixture()
def project(tmp_path: pathlib.Path, busybox_rootfs: pathlib.Path) -> Project:
    """The build context is `ctx/`; the base rootfs and the engine's work dir are outside it."""
    shutil.copytree(busybox_rootfs, tmp_path / "rootfs", symlinks=True)
    (tmp_path / "work").mkdir()
    (tmp_path / "ctx").mkdir()
    return Project(tmp_path / "ctx")


def test_env_is_seen_by_later_runs_and_at_run_time(project: Project) -> None:
    project.build("""FROM busybox
ENV GREETING="hello world" LEGACY_FORM=x
ENV PATH=/opt/tools:$PATH
RUN echo "$GREETING|$LEGACY_FORM|$PATH" > /build-env.txt && sh -c 'echo "$GREETING"' > /child.txt
""")
    assert project.exec("cat", "/build-env.txt").startswith("hello world|x|/opt/tools:")
    assert project.exec("cat", "/child.txt") == "hello world\n"  # exported: children see it
    out = project.exec("sh", "-c", 'echo "$GREETING|$PATH"')
    assert out.startswith("hello world|/opt/tools:")


def test_workdir_is_created_and_is_the_cwd_of_runs_and_of_run(project: Project) -> None:
    project.build("""FROM busybox
WORKDIR /srv
WORKDIR app
RUN pwd > here.txt && cd /tmp
RUN pwd >> here.txt
CMD ["pwd"]
""")
    assert project.exec("cat", "/srv/app/here.txt") == "/srv/app\n/srv/app\n"  # cd did not leak
    assert project.run() == "/srv/app\n"


def test_entrypoint_exec_form_with_cmd_defaults(project: Project) -> None:
    project.build("""FROM busybox
ENTRYPOINT ["echo", "entry point"]
CMD ["default", "args; not a command"]
""")
    assert project.run() == "entry point default args; not a command\n"
    assert project.run("given", "two words") == "entry point given two words\n"


def test_cmd_only_is_replaced_by_run_arguments(project: Project) -> None:
    project.build("""FROM busybox
CMD echo "from cmd: $0"
""")
    assert project.run() == "from cmd: /bin/sh\n"
    assert project.run("echo", "replaced") == "replaced\n"


def test_shell_form_entrypoint_ignores_arguments_and_cmd(project: Project) -> None:
    project.build("""FROM busybox
ENTRYPOINT echo fixed
CMD ["ignored"]
""")
    assert project.run() == "fixed\n"
    assert project.run("also", "ignored") == "fixed\n"


def test_copy_ownership_mode_and_placement(project: Project) -> None:
    project.file("app.conf", "conf\n")
    project.file("tree/a.txt", "a\n")
    project.file("tree/sub/b.txt", "b\n")
    project.file("run.sh", "#!/bin/sh\necho run\n", 0o755)
    project.build("""FROM busybox
WORKDIR /app
COPY --chown=1234:5678 app.conf ./etc/
COPY --chmod=600 tree /opt/tree
COPY run.sh bin/run
RUN test -f /app/etc/app.conf && test ! -e /opt/tree/tree
""")
    assert project.exec("stat", "-c", "%u:%g %n", "/app/etc/app.conf") == \
        "1234:5678 /app/etc/app.conf\n"
    assert project.exec("cat", "/opt/tree/a.txt", "/opt/tree/sub/b.txt") == "a\nb\n"
    assert project.exec("stat", "-c", "%a", "/opt/tree/sub/b.txt") == "600\n"
    assert project.exec("/app/bin/run") == "run\n"
    assert project.exec("sh", "-c", "test -e /.defkit || echo clean") == "clean\n"


def test_copy_happens_after_earlier_runs(project: Project) -> None:
    project.file("version.txt", "from the context\n")
    project.build("""FROM busybox
RUN mkdir -p /data && echo "from a RUN" > /data/version.txt
COPY version.txt /data/
RUN cp /data/version.txt /data/seen-by-later-run.txt
""")
    assert project.exec("cat", "/data/seen-by-later-run.txt") == "from the context\n"


def test_arg_defaults_and_build_time_override(project: Project) -> None:
    dockerfile = """FROM busybox
ARG FLAVOUR=vanilla
ARG UNSET
RUN echo "$FLAVOUR ${UNSET:-unset}" > /arg.txt
ENV KEPT=$FLAVOUR
"""
    project.build(dockerfile)
    assert project.exec("cat", "/arg.txt") == "vanilla unset\n"
    assert project.exec("sh", "-c", 'echo "$KEPT ${FLAVOUR:-no-arg-at-run-time}"') == \
        "vanilla no-arg-at-run-time\n"
    project.build(dockerfile, build_args={"FLAVOUR": "chocolate", "UNSET": "set"})
    assert project.exec("cat", "/arg.txt") == "chocolate set\n"
    assert project.exec("sh", "-c", 'echo "$KEPT"') == "chocolate\n"


def test_each_run_is_its_own_shell_without_errexit(project: Project) -> None:
    project.build("""FROM busybox
RUN false; echo "docker's sh -c has no -e" > /one.txt
RUN set -e; export LEAK=yes; exit 0
RUN echo "${LEAK:-no leak}" > /two.txt
""")
    assert project.exec("cat", "/one.txt", "/two.txt") == "docker's sh -c has no -e\nno leak\n"


def test_multi_stage_copy_from_and_from_stage(project: Project) -> None:
    project.build("""FROM busybox AS build
ENV STAGE=build
RUN mkdir -p /out && echo artefact > /out/artefact.txt

FROM build AS tested
RUN echo "$STAGE inherited" > /inherited.txt

FROM busybox
COPY --from=tested /out /dist
COPY --from=tested /inherited.txt /
""")
    assert project.exec("cat", "/dist/artefact.txt", "/inherited.txt") == \
        "artefact\nbuild inherited\n"
    assert project.exec("sh", "-c", 'echo "${STAGE:-not in the final stage}"') == \
        "not in the final stage\n"


def test_add_extracts_local_archives_and_heredocs(project: Project) -> None:
    (project.root / "pkg").mkdir()
    (project.root / "pkg" / "tool.txt").write_text("tool\n")
    with tarfile.open(project.root / "pkg.tar.gz", "w:gz") as archive:
        archive.add(project.root / "pkg", arcname="pkg")
    project.build("""FROM busybox
ADD pkg.tar.gz /opt/
COPY <<EOF /etc/motd
welcome
EOF
RUN <<EOF
set -e
cat /opt/pkg/tool.txt /etc/motd > /combined.txt
EOF
""")
    assert project.exec("cat", "/combined.txt") == "tool\nwelcome\n"


def test_labels_are_in_the_image(project: Project) -> None:
    import json

    from tests.engine.engine.helpers import defkit

    project.build("""FROM busybox
LABEL org.opencontainers.image.title="My tool" version=2.0
""")
    inspected = defkit("inspect", "--json", project.sif)
    assert inspected.returncode == 0, inspected.stderr
    labels = json.loads(inspected.stdout)["data"]["attributes"]["labels"]
    assert labels["org.opencontainers.image.title"] == "My tool"
    assert labels["version"] == "2.0"


def test_dockerignore_keeps_excluded_files_out_of_the_image(project: Project) -> None:
    project.file(".dockerignore", "image.def\n.env\n**/*.tmp\n")
    project.file(".env", "SECRET=1\n")
    project.file("app/main.sh", "echo main\n")
    project.file("app/cache/x.tmp", "tmp\n")
    project.build("""FROM busybox
WORKDIR /app
COPY . .
""")
    listing = project.exec("find", "/app", "-type", "f")
    assert sorted(listing.split()) == ["/app/.dockerignore", "/app/app/main.sh"]


def test_paths_absolute_once_expanded_are_not_joined(project: Project) -> None:
    """Issue 13.1: `WORKDIR $APPDIR` after `WORKDIR /tmp` is $APPDIR, as are COPY destinations
    and VOLUMEs that start with a variable."""
    project.file("a.txt", "a\n")
    project.build("""FROM busybox
ENV APPDIR=/opt/app
WORKDIR /tmp
WORKDIR $APPDIR
RUN pwd > here.txt
COPY a.txt $APPDIR/copied/
VOLUME $APPDIR/data
CMD ["pwd"]
""")
    assert project.exec("cat", "/opt/app/here.txt") == "/opt/app\n"
    assert project.exec("cat", "/opt/app/copied/a.txt") == "a\n"
    assert project.exec("sh", "-c", "test -d /opt/app/data && ! test -e /tmp/opt && echo ok") \
        == "ok\n"
    assert project.run() == "/opt/app\n"


def test_a_derived_arg_default_follows_its_build_argument(project: Project) -> None:
    """Issue 13.3: `ARG V=v${MAJOR}` is derived again from a --build-arg for MAJOR."""
    project.build("""FROM busybox
ARG MAJOR=1
ARG V=v${MAJOR}.0
RUN echo "$V" > /v.txt
""", build_args={"MAJOR": "2"})
    assert project.exec("cat", "/v.txt") == "v2.0\n"


def test_an_output_written_outside_the_context_builds(project: Project) -> None:
    """Issue 13.4: `defkit convert ctx/Dockerfile -o out/app.def` names the context's files
    from out/, where `defkit build out/app.def` looks for them."""
    project.file("a.txt", "a\n")
    project.file("dir/b.txt", "b\n")
    text = project.build("""FROM busybox
COPY a.txt /app/
COPY dir /app/dir
RUN cat /app/a.txt /app/dir/b.txt > /app/both.txt
""", def_name="../out/app.def", context_root="../ctx")
    assert "    ../ctx/a.txt /.defkit/2.1/a.txt\n" in text
    assert project.exec("cat", "/app/both.txt") == "a\nb\n"


def test_a_base_image_made_from_a_rootfs_archive(project: Project) -> None:
    """Issue 13.2: `FROM scratch` + `ADD rootfs.tar.gz /` (how official base images are made),
    then COPY and RUN: the archive is extracted before the image has a shell, owners kept."""
    rootfs = project.root.parent / "rootfs"

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if info.name.endswith("srv/owned"):
            info.uid, info.gid = 1234, 2345
        return info

    (rootfs / "srv").mkdir()
    (rootfs / "srv" / "owned").write_text("x\n")
    with tarfile.open(project.root / "rootfs.tar.gz", "w:gz") as archive:
        archive.add(rootfs, arcname=".", filter=owned)
    project.file("app.conf", "conf\n")
    text = project.build("""FROM scratch
ADD rootfs.tar.gz /
COPY --chown=7:8 app.conf /etc/app.conf
RUN echo "built with $(cat /etc/app.conf)" > /built.txt
CMD ["cat", "/built.txt"]
""")
    assert "%setup" in text and "defkit_extract rootfs.tar.gz /" in text
    assert project.run() == "built with conf\n"
    assert project.exec("stat", "-c", "%u:%g", "/srv/owned") == "1234:2345\n"
    assert project.exec("stat", "-c", "%u:%g", "/etc/app.conf") == "7:8\n"
