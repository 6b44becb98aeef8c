"""`files_root`: absolute `%files`/`%appfiles` sources read inside a directory (a remote build's
unpacked context) instead of the host's `/`, in real sandbox builds. Relative sources still come
from the def file's directory; without `files_root` absolute sources are host paths, as before."""

from __future__ import annotations

import os
import pathlib

import pytest

from defkit.errors import BuildError
from tests.engine.engine.helpers import build_def, write_def


def _files_root(project: pathlib.Path) -> pathlib.Path:
    """A files root holding /srv/data.txt and /srv/tree/, a host canary beside it."""
    root = project / "files-root"
    (root / "srv" / "tree" / "sub").mkdir(parents=True)
    (root / "srv" / "data.txt").write_text("from the files root\n")
    (root / "srv" / "tree" / "sub" / "b.txt").write_text("bee\n")
    (project / "canary").mkdir()
    (project / "canary" / "secret.txt").write_text("host secret\n")
    return root


def _build(project: pathlib.Path, body: str, files_root: str | None = None) -> pathlib.Path:
    def_path = write_def(project, body)
    sandbox = project / "out"
    build_def(def_path, sandbox=str(sandbox), files_root=files_root)
    return sandbox


def test_absolute_sources_are_read_under_files_root(project: pathlib.Path) -> None:
    root = _files_root(project)
    (project / "local.txt").write_text("relative\n")
    out = _build(project, """
        %files
            /srv/data.txt /opt/data.txt
            /srv/tree
            /srv/*.txt /globbed/
            local.txt /opt/local.txt

        %appfiles tool
            /srv/data.txt data.txt
        """, files_root=str(root))
    assert (out / "opt/data.txt").read_text() == "from the files root\n"
    assert (out / "srv/tree/sub/b.txt").read_text() == "bee\n"
    assert (out / "globbed/data.txt").read_text() == "from the files root\n"
    assert (out / "opt/local.txt").read_text() == "relative\n"  # relative: the def's directory
    assert (out / "scif/apps/tool/data.txt").read_text() == "from the files root\n"


@pytest.mark.parametrize("source, message", [
    ("/srv/out/secret.txt", "does not exist"), ("/srv/abs/secret.txt", "does not exist"),
    ("/srv/ou*/secret.txt", "does not exist"), ("/../canary/secret.txt", "climbs above the root"),
])
def test_a_symlink_in_files_root_does_not_lead_out(project: pathlib.Path, source: str,
                                                   message: str) -> None:
    root = _files_root(project)
    canary = project / "canary"
    (root / "srv" / "out").symlink_to(os.path.relpath(canary, root / "srv"))
    (root / "srv" / "abs").symlink_to(canary)
    with pytest.raises(BuildError) as caught:
        _build(project, f"%files\n    {source} /stolen\n", files_root=str(root))
    assert message in str(caught.value)
    assert not (project / "out").exists()


def test_a_symlink_source_is_copied_as_a_symlink(project: pathlib.Path) -> None:
    root = _files_root(project)
    (root / "srv" / "abs").symlink_to(project / "canary")
    out = _build(project, "%files\n    /srv/abs /opt/abs\n", files_root=str(root))
    # The link itself, as `%files from STAGE` keeps links: what it names is not copied.
    assert os.readlink(out / "opt/abs") == str(project / "canary")


def test_without_files_root_absolute_sources_are_host_paths(project: pathlib.Path) -> None:
    _files_root(project)
    secret = project / "canary" / "secret.txt"
    out = _build(project, f"%files\n    {secret} /opt/host.txt\n")
    assert (out / "opt/host.txt").read_text() == "host secret\n"
