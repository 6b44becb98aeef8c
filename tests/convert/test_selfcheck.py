"""The converter's self-check (`emit.check_rendered`): what it writes reads back as written."""

from __future__ import annotations

import pytest

from defkit.convert import ConvertError, convert_dockerfile
from defkit.convert.emit import RenderError, StagePlan, render_def
from defkit.parser import parse_text


def plan() -> StagePlan:
    stage = StagePlan(name="s", header=[("Bootstrap", "docker"), ("From", "alpine"), ("Stage", "s")])
    stage.post.add("echo hello")
    stage.labels["a"] = "b c"
    stage.files.append(("a b", "/x y"))
    return stage


def test_a_good_plan_passes_and_parses() -> None:
    text = render_def([plan(), plan()], ["preamble"], check=True)
    deffile = parse_text(text)
    assert [s.name for s in deffile.stages] == ["s", "s"]
    assert deffile.stages[0].sections[0].files[0].source == "a b"


@pytest.mark.parametrize(
    "line", ["%files", "  %post", "\u00a0%x", "bootstrap: docker", "BootStrap:x"]
)
def test_a_script_line_that_starts_a_section_or_stage_is_caught(line: str) -> None:
    stage = plan()
    stage.post.add_raw(line)
    with pytest.raises(RenderError, match="would start a stage or a section"):
        render_def([stage], [], check=True)


def test_undeclared_placeholder_is_caught() -> None:
    stage = plan()
    stage.post.add("echo {{ X }}")
    with pytest.raises(RenderError, match="undeclared"):
        render_def([stage], [], check=True)
    stage.arguments["X"] = "1"
    render_def([stage], [], check=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [("header", "al#pine"), ("header", "alpine\\"), ("header", ""), ("label", "#k"),
     ("files", 'a"b'), ("argument", "X= 1")],
)
def test_values_that_would_be_misread_are_caught(field: str, value: str) -> None:
    stage = plan()
    if field == "header":
        stage.header[1] = ("From", value)
    elif field == "label":
        stage.labels[value] = "v"
    elif field == "files":
        stage.files.append((value, "/dst"))
    else:
        key, _, val = value.partition("=")
        stage.arguments[key] = val
        stage.post.add(f"echo {{{{ {key} }}}}")
    with pytest.raises(RenderError):
        render_def([stage], [], check=True)


def test_invalid_image_references_are_conversion_errors() -> None:
    with pytest.raises(ConvertError) as info:
        convert_dockerfile("FROM debi#an:12\n", "Dockerfile")
    assert info.value.format().startswith("Dockerfile:1:1: error: FROM 'debi#an:12'")


def test_label_key_read_as_a_comment_is_skipped_with_a_warning() -> None:
    result = convert_dockerfile('FROM alpine\nLABEL "#k"=v ok=1\n', "Dockerfile")
    assert "    ok 1\n" in result.text and "#k" not in result.text.split("%labels")[1]
    assert any("starts with '#'" in note.message for note in result.notes)
