"""The converter's self-check (`emit.check_rendered`): what it writes, read back by defkit's .def
parser and templated, is what it wrote."""

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
    "line",
    ["%files", "  %post", "\u00a0%x", "bootstrap: docker", "BootStrap:x", "boot\u017ftrap:x",
     "echo 100% done\n  %test", "# bootstrap: no\n%env"],
)
def test_a_script_line_that_starts_a_section_or_stage_is_caught(line: str) -> None:
    stage = plan()
    stage.post.add_raw(line)
    with pytest.raises(RenderError, match="would start a (stage|section)|does not read back"):
        render_def([stage], [], check=True)


def test_undeclared_placeholder_is_caught() -> None:
    stage = plan()
    stage.post.add("echo {{ X }}")
    with pytest.raises(RenderError, match="X is not defined"):
        render_def([stage], [], check=True)
    stage.arguments["X"] = "1"
    render_def([stage], [], check=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [("header", "al#pine"), ("header", "alpine\\"), ("label", "#k"),
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


def test_a_files_path_starting_with_a_hash_is_quoted_not_read_as_a_comment() -> None:
    result = convert_dockerfile("FROM alpine\nCOPY #notes /x\n", "Dockerfile")
    files = parse_text(result.text).stages[0].sections[0].files
    assert [entry.source for entry in files] == ["#notes"]


def test_a_continuation_line_that_would_start_a_section_stays_joined() -> None:
    result = convert_dockerfile("FROM alpine\nRUN echo a \\\n%post b\n", "Dockerfile")
    names = [section.name for section in parse_text(result.text).stages[0].sections]
    assert names.count("post") == 1
    assert "echo a %post b" in result.text


@pytest.mark.parametrize(
    "instruction",
    ['LABEL a="{{ A }}"', "MAINTAINER {{A}}", "USER {{ A }}", "EXPOSE {{A}}", "VOLUME /{{A}}",
     "STOPSIGNAL {{A}}", "HEALTHCHECK CMD {{A}}"],
)
def test_literal_placeholders_stay_text_with_a_warning(instruction: str) -> None:
    # Apptainer would substitute `{{ A }}` (and stop: A is no build argument of the .def).
    result = convert_dockerfile(f"FROM alpine\n{instruction}\n", "Dockerfile")
    parse_text(result.text)
    assert "{ {" in result.text
    assert any("build-argument syntax" in note.message and note.line == 2
               for note in result.notes)


def test_literal_placeholders_in_paths_and_images() -> None:
    result = convert_dockerfile("FROM alpine\nCOPY {{A}} /x\n", "Dockerfile")
    assert "{{A}}" not in result.text
    assert any(note.message.startswith("COPY skipped") for note in result.notes)
    with pytest.raises(ConvertError) as info:
        convert_dockerfile("FROM {{A}}\n", "Dockerfile")
    assert ":1:1: error: FROM '{{A}}': not a valid image reference" in info.value.format()


@pytest.mark.parametrize("space", ["\u2003", "\u3000", "\x85", "\u00a0"])
def test_a_script_line_behind_unicode_space_that_starts_a_section_is_staged(space: str) -> None:
    # Apptainer trims Go's unicode.IsSpace before looking for `%`: such a line starts a section.
    source = f"FROM alpine\nRUN <<EOF\necho\n{space}%post x\nEOF\n"
    result = convert_dockerfile(source, "Dockerfile")
    assert [s.name for s in parse_text(result.text).stages[0].sections].count("post") == 1


def test_percent_signs_inside_script_lines_pass() -> None:
    stage = plan()
    stage.post.add("printf '%s\\n' 100%", "date +%Y", "x=1 # bootstrap: later")
    text = render_def([stage], [], check=True)
    assert [s.name for s in parse_text(text).stages] == ["s"]


@pytest.mark.parametrize("path", ["a\u00a0b", "a\vb", "{x}", "a{b}{", "#x", "a#b"])
def test_files_paths_with_unusual_characters_read_back(path: str) -> None:
    stage = plan()
    stage.files.append((path, "/dst"))
    text = render_def([stage], [], check=True)
    entries = parse_text(text).stages[0].sections[0].files
    assert (entries[-1].source, entries[-1].destination) == (path, "/dst")


def test_a_files_path_apptainer_cannot_read_back_is_caught() -> None:
    stage = plan()
    stage.files.append(("it's", "/dst"))  # a single quote opens a token that never closes
    with pytest.raises(RenderError, match="%files would be read as"):
        render_def([stage], [], check=True)
