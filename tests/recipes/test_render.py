"""Matrix expansion, rendering, and the errors of a broken recipe or template: each one line
`path:line:col: error: ...` through the CLI, never a traceback."""

from __future__ import annotations

import pathlib
import textwrap

import pytest
from click.testing import CliRunner

from defkit.catalogue.matrix import expand
from defkit.cli import cli
from defkit.parser import parse_file


def test_matrix_follows_github_actions_include_and_exclude() -> None:
    """The example of GitHub's documentation ("Expanding or adding matrix configurations")."""
    points = expand([("fruit", ["apple", "pear"]), ("animal", ["cat", "dog"])], include=[
        {"color": "green"},
        {"color": "pink", "animal": "cat"},
        {"fruit": "apple", "shape": "circle"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ])
    assert points == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    assert expand([("os", ["a", "b"]), ("v", [1, 2])], exclude=[{"os": "a", "v": 2}]) == [
        {"os": "a", "v": 1}, {"os": "b", "v": 1}, {"os": "b", "v": 2}]


def _family(root: pathlib.Path, recipe: str, template: str, name: str = "demo") -> pathlib.Path:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "recipe.yaml").write_text(textwrap.dedent(recipe))
    (directory / f"{name}.def.j2").write_text(textwrap.dedent(template))
    return root


TEMPLATE = """\
Bootstrap: localimage
From: ./rootfs

%help
    demo {{ version }}

%labels
    org.demo.version {{ version }}

%runscript
    echo {{ greeting }}

%test
    true
"""
RECIPE = """\
description: A demo
variables:
  greeting: hi
matrix:
  version: ["1.0", "2.0"]
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), standalone_mode=False)
    # The group's handler (run_cli) is bypassed by CliRunner: map DefkitError as it does.
    from defkit.errors import DefkitError

    if isinstance(result.exception, DefkitError):
        return result.exception.exit_code, result.stdout, result.exception.format()
    assert result.exception is None, result.exception
    return int(result.return_value or 0), result.stdout, result.stderr


def test_list_show_and_render_a_user_catalogue(tmp_path: pathlib.Path) -> None:
    root = _family(tmp_path / "cat", RECIPE, TEMPLATE)
    code, out, _ = _run("recipes", "list", "--recipes-dir", str(root))
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[0] == "debian-minimal" or "demo" in out
    assert any(line.startswith("demo ") and "2 points" in line for line in lines)
    assert sum(line.split()[0] == "hello" for line in lines) == 1  # built-ins are listed too
    code, out, _ = _run("recipes", "show", "demo", "--recipes-dir", str(root))
    assert "version=1.0" in out and "version=2.0" in out
    code, out, err = _run("recipes", "render", "demo", "--recipes-dir", str(root))
    assert code == 2 and "2 matching points" in err
    code, out, _ = _run("recipes", "render", "demo", "--set", "version=2.0",
                        "--set", "greeting=hey", "--recipes-dir", str(root))
    assert code == 0 and "echo hey" in out and "org.demo.version 2.0" in out
    assert out.splitlines()[1] == ('# variables: {"greeting": "hey", "version": "2.0"}')
    code, out, _ = _run("recipes", "render", "demo", "--all", "-o", str(tmp_path / "out"),
                        "--recipes-dir", str(root))
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert code == 0 and written == ["demo_version-1.0.def", "demo_version-2.0.def"]
    assert out.split() == [str(tmp_path / "out" / name) for name in written]
    for name in written:
        parse_file(tmp_path / "out" / name)
    # A value outside the matrix renders a point of its own.
    code, out, _ = _run("recipes", "render", "demo", "--set", "version=3.1",
                        "--recipes-dir", str(root))
    assert code == 0 and "demo 3.1" in out


@pytest.mark.parametrize(("recipe", "template", "expected"), [
    ("matrix:\n  version: [\"1.0\"\n", TEMPLATE,
     "demo/recipe.yaml:3:1: error: invalid YAML"),
    ("matrix:\n  version: [1.10]\n", TEMPLATE,
     "demo/recipe.yaml:2:13: error: 1.1 is read as a number"),
    ("variables: {}\nmatrx: {}\n", TEMPLATE,
     "demo/recipe.yaml:2:1: error: unknown key 'matrx'; did you mean 'matrix'?"),
    ("matrix:\n  v: [a]\n  exclude: [{v: a}]\n", TEMPLATE,
     "demo/recipe.yaml:1:1: error: the matrix excludes every combination"),
    (RECIPE, TEMPLATE.replace("{{ greeting }}", "{{ greting }}"),
     "demo/demo.def.j2:11:1: error: undefined variable: 'greting' is undefined"),
    (RECIPE, TEMPLATE.replace("{{ greeting }}", "{% if %}"),
     "demo/demo.def.j2:11:1: error: template syntax: Expected an expression"),
    (RECIPE, TEMPLATE.replace("%test", "%tset"),
     "demo_version-1.0.def:15:1: error:"),
])
def test_errors_name_the_file_and_line(tmp_path: pathlib.Path, recipe: str, template: str,
                                       expected: str) -> None:
    root = _family(tmp_path, recipe, template)
    code, _, err = _run("recipes", "render", "demo", "--all", "-o", str(tmp_path / "out"),
                        "--recipes-dir", str(root))
    assert code != 0
    assert err.startswith(str(tmp_path / expected) if expected.startswith("demo/")
                          else expected), err
    assert "\n" not in err.strip()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_rendered_parse_error_names_the_template(tmp_path: pathlib.Path) -> None:
    root = _family(tmp_path, RECIPE, TEMPLATE.replace("%test", "%tset"))
    _, _, err = _run("recipes", "render", "demo", "--set", "version=1.0",
                     "--recipes-dir", str(root))
    assert "(rendered from demo/demo.def.j2)" in err


def test_unknown_family_suggests_a_name() -> None:
    code, _, err = _run("recipes", "show", "pytorch")
    assert code == 2 and "did you mean 'pytorch-cuda'" in err


def test_two_points_with_one_file_name_are_refused(tmp_path: pathlib.Path) -> None:
    recipe = RECIPE + 'filename: "same"\n'
    root = _family(tmp_path, recipe, TEMPLATE)
    code, _, err = _run("recipes", "render", "demo", "--all", "-o", str(tmp_path / "out"),
                        "--recipes-dir", str(root))
    assert code == 2 and "two points render to same.def" in err


def test_a_family_lock_is_written_beside_each_rendered_point(tmp_path: pathlib.Path) -> None:
    code, out, _ = _run("recipes", "render", "hello", "--set", "language=de", "-o",
                        str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello-de.def", "hello-de.def.lock"]
    from defkit.lock import read_lock

    assert read_lock(str(tmp_path / "hello-de.def.lock")) == []


def test_a_set_of_an_unknown_variable_is_refused() -> None:
    code, _, err = _run("recipes", "render", "hello", "--set", "langauge=fr")
    assert code == 2 and "--set langauge: hello has no such variable; did you mean 'language'?" in err


def test_a_template_variable_without_default_can_be_set(tmp_path: pathlib.Path) -> None:
    root = _family(tmp_path, RECIPE, TEMPLATE.replace("true", "test {{ site }} = x"))
    code, out, err = _run("recipes", "render", "demo", "--set", "version=1.0", "--set", "site=x",
                          "--recipes-dir", str(root))
    assert code == 0, err
    assert "test x = x" in out
    code, _, err = _run("recipes", "render", "demo", "--set", "version=1.0",
                        "--recipes-dir", str(root))
    assert code == 2 and "'site' is undefined" in err
