"""Run what the converter generates: the runscript (Docker's ENTRYPOINT/CMD rules) and the
COPY/ADD helpers, with `sh`, in a temporary directory (no container needed)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import tarfile

import pytest

from defkit.convert import helpers
from defkit.convert.runscript import Process, build_runscript, shell_form

SH = ("/bin/sh", "-c")


def run_runscript(process: Process, args: list[str], tmp_path: pathlib.Path) -> list[str]:
    """Run the generated %runscript with `args`; `show` prints its argv, one per line."""
    script = build_runscript(process, None)
    assert script is not None
    show = tmp_path / "show"
    show.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    show.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    body = script.render()
    result = subprocess.run(["sh", "-c", body, "runscript", *args], capture_output=True,
                            text=True, env=env, check=True)
    return result.stdout.splitlines()


def test_entrypoint_exec_and_cmd_defaults(tmp_path: pathlib.Path) -> None:
    process = Process().with_entrypoint(("show", "a b", "it's")).with_cmd(("--x", "$HOME"))
    assert run_runscript(process, [], tmp_path) == ["[a b]", "[it's]", "[--x]", "[$HOME]"]
    # Run-time arguments replace CMD, never append to it.
    assert run_runscript(process, ["one", "two words"], tmp_path) == [
        "[a b]", "[it's]", "[one]", "[two words]"]


def test_cmd_only_is_replaced_by_arguments(tmp_path: pathlib.Path) -> None:
    process = Process().with_cmd(("show", "default"))
    assert run_runscript(process, [], tmp_path) == ["[default]"]
    assert run_runscript(process, ["show", "mine"], tmp_path) == ["[mine]"]


def test_shell_form_cmd_runs_with_sh(tmp_path: pathlib.Path) -> None:
    process = Process().with_cmd(shell_form(SH, 'show "$((1 + 2))" | cat'))
    assert run_runscript(process, [], tmp_path) == ["[3]"]


def test_shell_form_entrypoint_ignores_cmd_and_arguments(tmp_path: pathlib.Path) -> None:
    process = Process().with_entrypoint(shell_form(SH, "show fixed")).with_cmd(("ignored",))
    assert run_runscript(process, [], tmp_path) == ["[fixed]"]
    assert run_runscript(process, ["also", "ignored"], tmp_path) == ["[fixed]"]


def test_entrypoint_resets_an_inherited_cmd() -> None:
    parent = Process().with_cmd(("sh", "-c", "echo base"))
    child = parent.new_stage().with_entrypoint(("/usr/bin/env",))
    assert child.cmd == ()
    same_stage = Process().with_cmd(("x",)).with_entrypoint(("e",))
    assert same_stage.cmd == ("x",)  # a CMD of the same stage survives


def test_no_entrypoint_or_cmd_keeps_the_base_runscript() -> None:
    assert build_runscript(Process(), "/app") is None


def sh_helpers(tmp_path: pathlib.Path, commands: str) -> None:
    script = helpers.COPY + helpers.COPY_ALL + helpers.DECOMPRESSOR + helpers.ADD + "\nset -e\n" + commands
    subprocess.run(["sh", "-ec", script], cwd=tmp_path, check=True, capture_output=True)


@pytest.fixture()
def staged(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "s" / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "s" / "dir" / "sub" / "f").write_text("f")
    (tmp_path / "s" / "dir" / ".hidden").write_text("h")
    (tmp_path / "s" / "file.txt").write_text("x")
    return tmp_path


def test_copy_file_into_directory_and_to_a_name(staged: pathlib.Path) -> None:
    sh_helpers(staged, "defkit_copy s/file.txt out/\ndefkit_copy s/file.txt named/new.txt\n"
               "mkdir existing\ndefkit_copy s/file.txt existing\n")
    assert (staged / "out" / "file.txt").read_text() == "x"
    assert (staged / "named" / "new.txt").read_text() == "x"
    assert (staged / "existing" / "file.txt").read_text() == "x"


def test_copy_directory_copies_its_contents(staged: pathlib.Path) -> None:
    (staged / "dst").mkdir()
    sh_helpers(staged, "defkit_copy s/dir dst\n")
    assert (staged / "dst" / "sub" / "f").read_text() == "f"
    assert (staged / "dst" / ".hidden").exists()
    assert not (staged / "dst" / "dir").exists()  # never nested, unlike cp -r


def test_chown_and_chmod_apply_to_what_was_copied(staged: pathlib.Path) -> None:
    me = f"{os.getuid()}:{os.getgid()}"
    sh_helpers(staged, f"defkit_copy s/dir dst {me} 640\ndefkit_copy s/file.txt one/ {os.getuid()} 600\n")
    assert oct((staged / "dst" / "sub" / "f").stat().st_mode & 0o777) == oct(0o640)
    assert oct((staged / "one" / "file.txt").stat().st_mode & 0o777) == oct(0o600)


def test_copy_all_copies_every_wildcard_match(staged: pathlib.Path) -> None:
    sh_helpers(staged, "defkit_copy_all s bin/\n")
    assert (staged / "bin" / "file.txt").exists()
    assert (staged / "bin" / "sub" / "f").exists()  # a matched directory: its contents


def test_add_extracts_a_local_archive_and_copies_other_files(staged: pathlib.Path) -> None:
    with tarfile.open(staged / "a.tar.gz", "w:gz") as archive:
        archive.add(staged / "s" / "dir", arcname="pkg")
    sh_helpers(staged, "defkit_add a.tar.gz vendor\ndefkit_add s/file.txt plain/\n")
    assert (staged / "vendor" / "pkg" / "sub" / "f").read_text() == "f"
    assert (staged / "plain" / "file.txt").exists()


def test_add_copies_a_compressed_file_that_is_not_a_tar(staged: pathlib.Path) -> None:
    import gzip

    (staged / "notes.txt.gz").write_bytes(gzip.compress(b"just text\n"))
    sh_helpers(staged, "defkit_add notes.txt.gz out/\n")
    assert gzip.decompress((staged / "out" / "notes.txt.gz").read_bytes()) == b"just text\n"


def test_dockerignore_prunes_a_staged_context(tmp_path: pathlib.Path) -> None:
    from defkit.convert import dockerignore

    context = tmp_path / "ctx"
    for name in ["app.py", "debug.log", "keep.log", "sub/x.log", "sub/y.pyc", "a/b/c.pyc",
                 ".git/HEAD", ".env", "node_modules/m/index.js", "docs/a.md", "docs/deep/b.md",
                 "src/main.py"]:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text("x")
    patterns = dockerignore.parse(
        "# comment\n*.log\n!keep.log\n**/*.pyc\n.git\n/.env\nnode_modules/\ndocs/*.md\n"
    )
    script = dockerignore.helper(patterns) + '\ndefkit_ignore "$1" "$2"\n'
    subprocess.run(["sh", "-ec", script, "sh", str(context), "."], check=True)
    left = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert left == ["app.py", "docs/deep/b.md", "keep.log", "src/main.py", "sub/x.log"]
    # A source below the context root is matched with its context path.
    (tmp_path / "s2").mkdir()
    (tmp_path / "s2" / "y.pyc").write_text("x")
    (tmp_path / "s2" / "ok.txt").write_text("x")
    subprocess.run(["sh", "-ec", script, "sh", str(tmp_path / "s2"), "sub"], check=True)
    assert sorted(p.name for p in (tmp_path / "s2").iterdir()) == ["ok.txt"]
