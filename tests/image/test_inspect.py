"""defkit inspect: SIF with and without inspect-metadata.json, sandbox, CLI text and JSON."""

from __future__ import annotations

import json
import pathlib

import pytest
from click.testing import CliRunner

from defkit.cli import cli
from defkit.cli.errors import run_cli
from defkit.errors import DefkitError
from defkit.image.inspect import inspect_image
from defkit.metadata import inspect_metadata_json
from defkit.sif.writer import write_sif
from tests.sif.helpers import DEFINITION, needs_tools

pytestmark = needs_tools


def make_sif(out: pathlib.Path, rootfs: pathlib.Path, squashfs: pathlib.Path,
             metadata: bool = True) -> pathlib.Path:  # fmt: skip
    meta = inspect_metadata_json(rootfs, DEFINITION.decode()) if metadata else None
    write_sif(out, definition=DEFINITION, inspect_metadata=meta, squashfs_path=squashfs,
              arch="amd64")  # fmt: skip
    return out


def test_metadata_and_fallback_agree(
    tmp_path: pathlib.Path, rootfs: pathlib.Path, squashfs: pathlib.Path
) -> None:
    with_meta = inspect_image(make_sif(tmp_path / "m.sif", rootfs, squashfs))
    from_files = inspect_image(make_sif(tmp_path / "f.sif", rootfs, squashfs, metadata=False))
    sandbox = inspect_image(rootfs)
    assert with_meta.source == "inspect-metadata.json" and from_files.source == "files"
    for name in ("labels", "deffile", "runscript", "test", "helpfile", "environment", "apps"):
        assert getattr(with_meta, name) == getattr(from_files, name) == getattr(sandbox, name)
    assert with_meta.labels["Author"] == "Ada"
    assert with_meta.arch == sandbox.arch == "amd64"
    assert [d.datatype for d in with_meta.descriptors] == ["DEFFILE", "GENERIC_JSON", "PARTITION"]
    assert with_meta.descriptors[2].partition == "squashfs primary amd64"
    assert with_meta.uuid is not None and sandbox.descriptors == ()
    assert with_meta.extra == {"deterministic_times": True}


def test_bad_inputs(tmp_path: pathlib.Path) -> None:
    with pytest.raises(DefkitError, match="no such file"):
        inspect_image(tmp_path / "missing.sif")
    text = tmp_path / "plain.txt"
    text.write_text("hello")
    with pytest.raises(DefkitError, match="not a SIF image"):
        inspect_image(text)


@pytest.fixture()
def sif(tmp_path: pathlib.Path, rootfs: pathlib.Path, squashfs: pathlib.Path) -> pathlib.Path:
    return make_sif(tmp_path / "img.sif", rootfs, squashfs)


def test_cli_text(sif: pathlib.Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(sif)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Architecture: amd64" in out and "Author: Ada" in out
    assert "=== /.singularity.d/env/90-environment.sh ===" in out
    assert "PARTITION (squashfs primary amd64)" in out
    assert "GENERIC_JSON inspect-metadata.json" in out
    labels = CliRunner().invoke(cli, ["inspect", "--labels", str(sif)]).output
    assert labels == "Author: Ada\norg.label-schema.schema-version: 1.0\n"
    runscript = CliRunner().invoke(cli, ["inspect", "-r", str(sif)]).output
    assert runscript == '#!/bin/sh\n\necho "$GREETING" <world> & co\n'
    deffile = CliRunner().invoke(cli, ["inspect", "--deffile", str(sif)]).output
    assert deffile == DEFINITION.decode()


def test_cli_json(sif: pathlib.Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", "--json", str(sif)])
    data = json.loads(result.output)
    assert data["type"] == "container"
    assert data["data"]["attributes"]["labels"]["Author"] == "Ada"
    assert data["image"]["arch"] == "amd64"
    assert [d["offset"] for d in data["image"]["descriptors"]][0] == 32176
    only = json.loads(CliRunner().invoke(cli, ["inspect", "--json", "--test", str(sif)]).output)
    assert only["data"]["attributes"] == {"test": "#!/bin/sh\n\ntest -x /bin/busybox"}


def test_cli_errors_are_one_line(
    tmp_path: pathlib.Path, sif: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short.sif"
    short.write_bytes(sif.read_bytes()[:5000])  # inside the descriptor table
    for target, message in ((tmp_path / "missing.sif", "no such file"),
                            (short, "truncated")):  # fmt: skip
        assert run_cli(cli, ["inspect", str(target)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_reads_images_written_by_siftool(
    tmp_path: pathlib.Path, squashfs: pathlib.Path, rootfs: pathlib.Path
) -> None:
    """An independent writer (random UUID, real times, no inspect-metadata.json)."""
    from defkit.image.verify import verify_image
    from tests.sif.helpers import siftool

    deffile = tmp_path / "test.def"
    deffile.write_bytes(DEFINITION)
    sif = tmp_path / "siftool.sif"
    siftool("new", str(sif))
    siftool("add", "--datatype", "1", "--groupid", "1", str(sif), str(deffile))
    siftool("add", "--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", "2",
            "--groupid", "1", str(sif), str(squashfs))  # fmt: skip
    assert verify_image(sif) == []
    info = inspect_image(sif)
    assert info.source == "files" and info.deffile == DEFINITION.decode().rstrip("\n")
    assert info.labels == inspect_image(rootfs).labels and info.labels["Author"] == "Ada"
    assert info.apps == inspect_image(rootfs).apps
    assert info.arch == "amd64" and info.extra == {"deterministic_times": False}
    only_def = tmp_path / "def-only.sif"
    siftool("new", str(only_def))
    siftool("add", "--datatype", "1", str(only_def), str(deffile))
    assert inspect_image(only_def).deffile is not None
    assert verify_image(only_def) == ["0 primary system partitions (exactly one expected)"]


def test_symlinks_resolve_inside_the_image(tmp_path: pathlib.Path) -> None:
    from defkit.squashfs import make_squashfs

    root = tmp_path / "root"
    sd = root / ".singularity.d"
    sd.mkdir(parents=True)
    (root / "opt").mkdir()
    (root / "opt" / "run.sh").write_text("#!/bin/sh\necho linked\n")
    (root / "opt" / "labels.json").write_text('{"Via": "absolute link"}')
    (sd / "runscript").symlink_to("../opt/run.sh")
    (sd / "labels.json").symlink_to("/opt/labels.json")  # absolute: the image's /opt
    (sd / "test").symlink_to("../../../../../../etc/hostname")  # climbs no higher than /
    (sd / "env").symlink_to("/opt")  # a directory symlink
    (root / "opt" / "95-environment.sh").write_text("export X=1\n")
    sqfs = tmp_path / "l.sqfs"
    make_squashfs(root, sqfs, source_date_epoch=0)
    sif = tmp_path / "l.sif"
    write_sif(sif, definition=DEFINITION, inspect_metadata=None, squashfs_path=sqfs,
              arch="amd64")  # fmt: skip
    for info in (inspect_image(sif), inspect_image(root)):
        assert info.runscript == "#!/bin/sh\necho linked"
        assert info.labels == {"Via": "absolute link"}
        assert info.test is None
        assert info.environment == {"/.singularity.d/env/95-environment.sh": "export X=1"}
