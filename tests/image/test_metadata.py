"""inspect-metadata.json from a finished rootfs: Apptainer's shape and Go's encoding."""

from __future__ import annotations

import json
import pathlib

from defkit.metadata import go_json, inspect_metadata, inspect_metadata_json
from tests.sif.helpers import DEFINITION


def test_shape_from_rootfs(rootfs: pathlib.Path) -> None:
    meta = inspect_metadata(rootfs, DEFINITION.decode())
    assert list(meta) == ["data", "type"] and meta["type"] == "container"
    attrs = meta["data"]["attributes"]
    # Go struct field order (pkg/inspect.Attributes), empty ones omitted (no startscript here)
    assert list(attrs) == ["apps", "environment", "labels", "runscript", "test", "helpfile",
                           "deffile"]  # fmt: skip
    assert attrs["labels"] == {"Author": "Ada", "org.label-schema.schema-version": "1.0"}
    # 10-docker*.sh and 9*-environment.sh only, keyed by their path in the container
    assert attrs["environment"] == {
        "/.singularity.d/env/90-environment.sh":
            "#!/bin/sh\n# custom environment shell code should follow\n\nexport GREETING=hello",
        "/.singularity.d/env/91-environment.sh": "export FROM_POST=1",
    }  # fmt: skip
    assert attrs["runscript"] == '#!/bin/sh\n\necho "$GREETING" <world> & co'
    assert attrs["helpfile"] == "Says hello."
    assert attrs["deffile"] == DEFINITION.decode().rstrip("\n")
    assert attrs["apps"] == {
        "tool": {
            "environment": {"/scif/apps/tool/scif/env/90-environment.sh": "export TOOL=1"},
            "labels": {"AppLabel": "x"},
            "runscript": "#!/bin/sh\necho tool",
        }
    }


def test_json_is_go_encoded(rootfs: pathlib.Path) -> None:
    raw = inspect_metadata_json(rootfs, DEFINITION.decode())
    assert raw.startswith(b'{"data":{"attributes":{"apps":{"tool":')
    assert raw.endswith(b'},"type":"container"}')
    assert b"\\u003cworld\\u003e \\u0026 co" in raw and b"<" not in raw
    assert json.loads(raw) == inspect_metadata(rootfs, DEFINITION.decode())
    assert go_json({"k": "é\u2028"}) == '{"k":"é\\u2028"}'.encode()


def test_empty_rootfs(tmp_path: pathlib.Path) -> None:
    assert inspect_metadata(tmp_path, "") == {"data": {"attributes": {}}, "type": "container"}
    (tmp_path / ".singularity.d").mkdir()
    (tmp_path / ".singularity.d" / "labels.json").write_text("not json")
    assert inspect_metadata(tmp_path, "Bootstrap: scratch\n")["data"]["attributes"] == {
        "deffile": "Bootstrap: scratch"
    }


def test_symlinked_metadata_stays_inside(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root"
    (root / ".singularity.d").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("host file")
    # a hostile image points its runscript at a host file: read inside the rootfs, it is absent
    (root / ".singularity.d" / "runscript").symlink_to(secret)
    (root / ".singularity.d" / "test").symlink_to("../../secret")
    attrs = inspect_metadata(root, "")["data"]["attributes"]
    assert "runscript" not in attrs and "test" not in attrs
