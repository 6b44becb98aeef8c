"""Metadata written after %post: labels.json merge order and format, runscript/startscript/test
files, help, %environment, the def file and its history, SCIF apps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from defkit.engine import layout
from defkit.engine.layout_apps import appinstall_script, create_apps
from defkit.engine.layout_meta import build_date, labels_json, shebang_script, write_metadata
from tests.engine.agents.helpers import busybox_rootfs, in_rootfs, stage

DEF = """Bootstrap: localimage
From: ./busybox-rootfs

%help
    Say hello.

%labels
    Author me
    inherited from-def
    from-post from-def

%environment
    export GREETING=Hello

%runscript
    echo "$GREETING" "$@"

%startscript
#!/bin/sh -e
echo start

%test
    test "$GREETING" = Hello
"""


@pytest.fixture()
def rootfs(tmp_path: Path) -> Path:
    root = busybox_rootfs(tmp_path / "rootfs")
    layout.make_base_env(str(root), overwrite=True)
    return root


def test_build_date_format() -> None:
    assert build_date(0) == "Thursday_1_January_1970_0:0:0_UTC"
    assert build_date(1700000000) == "Tuesday_14_November_2023_22:13:20_UTC"


def test_labels_json_is_go_marshal_indent() -> None:
    assert labels_json({"b": "2", "a": "<&>"}) == (
        '{\n\t"a": "\\u003c\\u0026\\u003e",\n\t"b": "2"\n}')
    assert labels_json({}) == "{}"


def test_shebang_rules() -> None:
    assert shebang_script("  echo hi", "") == "#!/bin/sh\n\n  echo hi\n"
    assert shebang_script("#!/bin/bash  \necho hi", "-x # c") == "#!/bin/bash -x \n\necho hi\n"
    assert shebang_script("  #!/usr/bin/env python3\nprint(1)", "") == (
        "#!/usr/bin/env python3\n\nprint(1)\n")
    # Apptainer's quirk: blank lines before the #! give an empty interpreter line.
    assert shebang_script("\n#!/bin/bash\necho", "") == "\n\n#!/bin/bash\necho\n"


def test_labels_merge_order(rootfs: Path) -> None:
    (rootfs / ".singularity.d" / "labels.json").write_text(json.dumps(
        {"inherited": "from-base", "org.label-schema.build-arch": "from-base"}))
    (rootfs / ".build.labels").write_text("from-post set-in-post\nAuthor post\n")
    warnings = write_metadata(str(rootfs), stage(DEF), definition_text=DEF,
                              source_date_epoch=0, arch="amd64")
    text = (rootfs / ".singularity.d" / "labels.json").read_text()
    assert not text.endswith("\n") and "\n\t\"Author\"" in text
    labels = json.loads(text)
    assert labels["inherited"] == "from-base"  # %labels never override without --force
    assert labels["from-post"] == "set-in-post"
    assert labels["Author"] == "post"
    assert labels["org.label-schema.build-arch"] == "amd64"  # build labels override
    assert labels["org.label-schema.build-date"] == "Thursday_1_January_1970_0:0:0_UTC"
    assert labels["org.label-schema.usage.singularity.deffile.bootstrap"] == "localimage"
    assert labels["org.label-schema.usage.singularity.deffile.from"] == "./busybox-rootfs"
    assert labels["org.label-schema.usage"] == "/.singularity.d/runscript.help"
    assert not (rootfs / ".build.labels").exists()
    assert any("inherited already exists" in w for w in warnings)
    write_metadata(str(rootfs), stage(DEF), definition_text=DEF, source_date_epoch=0,
                   arch="amd64", force=True)
    assert json.loads((rootfs / ".singularity.d" / "labels.json").read_text())[
        "inherited"] == "from-def"


def test_scripts_environment_help_and_definition(rootfs: Path) -> None:
    write_metadata(str(rootfs), stage(DEF), definition_text=DEF, source_date_epoch=0,
                   arch="amd64")
    sd = rootfs / ".singularity.d"
    assert (sd / "runscript").read_text().startswith("#!/bin/sh\n\n    echo")
    assert (sd / "startscript").read_text().startswith("#!/bin/sh -e\n\necho start\n")
    assert (sd / "runscript.help").read_text().strip() == "Say hello."
    assert os.stat(sd / "runscript.help").st_mode & 0o777 == 0o644
    assert (sd / "Singularity").read_text() == DEF
    assert "export GREETING=Hello" in (sd / "env" / "90-environment.sh").read_text()
    assert in_rootfs(rootfs, ["/.singularity.d/actions/run", "a b"]).stdout == "Hello a b\n"
    assert in_rootfs(rootfs, ["/.singularity.d/actions/test"]).returncode == 0
    # A second build on top: the old def moves to the history; help stays without --force.
    write_metadata(str(rootfs), stage(DEF.replace("Say hello.", "Other")), definition_text="2",
                   source_date_epoch=0, arch="amd64")
    assert (sd / "bootstrap_history" / "Apptainer0").read_text() == DEF
    assert (sd / "Singularity").read_text() == "2"
    assert (sd / "runscript.help").read_text().strip() == "Say hello."


def test_environment_file_created_when_missing(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / ".singularity.d" / "env").mkdir(parents=True)
    from defkit.engine.layout_meta import append_environment

    append_environment(str(root), "export A=1")
    assert (root / ".singularity.d" / "env" / "90-environment.sh").read_text() == (
        "#!/bin/sh\n\nexport A=1\n")


def test_section_gate_skips_sections(rootfs: Path) -> None:
    write_metadata(str(rootfs), stage(DEF), definition_text=DEF, source_date_epoch=0,
                   arch="amd64", section_enabled=lambda name: name == "labels")
    assert "There is no runscript" in (rootfs / ".singularity.d" / "runscript").read_text()
    assert "Author" in json.loads((rootfs / ".singularity.d" / "labels.json").read_text())


APPS = """Bootstrap: scratch

%appinstall foo
    echo installing foo

%apprun foo
    echo "running foo with $*"

%appenv foo
    export FOO_ENV=yes

%applabels foo
    Maintainer someone

%appfiles foo
    data.txt share/data.txt

%apphelp foo
    foo helps

%apptest bar-baz
    true
"""


def test_scif_apps(rootfs: Path, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("payload")
    globals_94 = create_apps(str(rootfs), stage(APPS), src_dir=str(tmp_path))
    app = rootfs / "scif" / "apps" / "foo"
    for sub in ("bin", "lib", "scif/env"):
        assert (app / sub).is_dir()
    assert (rootfs / "scif" / "data" / "foo" / "output").is_dir()
    assert (app / "share" / "data.txt").read_text() == "payload"
    assert json.loads((app / "scif" / "labels.json").read_text()) == {
        "Maintainer": "someone", "SCIF_APP_NAME": "foo"}
    assert (app / "scif" / "runscript").read_text().startswith("#!/bin/sh\n\n")
    assert (app / "scif" / "runscript.help").read_text().strip() == "foo helps"
    assert globals_94 is not None
    assert "SCIF_APPRUN_foo=\"/scif/apps/foo/scif/runscript\"" in globals_94
    assert "SCIF_APPROOT_bar_baz=/scif/apps/bar_baz" in globals_94
    assert (rootfs / ".singularity.d" / "env" / "94-appsbase.sh").read_text() == globals_94
    out = in_rootfs(rootfs, ["/.singularity.d/actions/run", "x"], env={"APPTAINER_APPNAME": "foo"})
    assert out.stdout == "running foo with x\n"
    out = in_rootfs(rootfs, ["/.singularity.d/actions/exec", "/bin/sh", "-c",
                             'echo "$FOO_ENV $SCIF_APPNAME $SCIF_APPROOT_foo"'],
                    env={"SINGULARITY_APPNAME": "foo"})
    assert out.stdout == "yes foo /scif/apps/foo\n"
    out = in_rootfs(rootfs, ["/.singularity.d/actions/run"], env={"APPTAINER_APPNAME": "nope"})
    assert out.returncode == 1 and "Could not locate the container application: nope" in out.stdout


def test_appinstall_script() -> None:
    script = appinstall_script(stage(APPS))
    assert script.startswith("\ncd /\n. /scif/apps/foo/scif/env/01-base.sh\n\ncd /scif/apps/foo\n")
    assert "echo installing foo" in script and script.endswith("\ncd /\n")
    assert script.count("cd /scif/apps/") == 2  # every app, in app order
