"""The converter over the 197 real Dockerfiles in ../shared/corpus/dockerfiles (issue 4's checks).

* at least 98 % of all 197 files convert (Windows-based ones too: converted with a warning that
  Apptainer cannot build or run them); a file that does not convert fails with a positioned error;
* every output parses with defkit's .def parser and templates with its own %arguments;
* every script section passes `sh -n` (here-document bodies run by another SHELL: `bash -n`).
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

from defkit.parser import parse_text
from defkit.templating import template
from tests.convert.corpus import converted, corpus_files

SCRIPT_SECTIONS = ("setup", "post", "environment", "runscript", "test", "startscript")
_BASH_BODY = re.compile(
    r"exec '?(/usr)?/bin/bash'?[^\n]*\"\$\(cat <<'(DEFKIT_RUN\w*)'\n(.*?)\n\2\n", re.DOTALL
)


def test_corpus_is_there() -> None:
    assert len(corpus_files()) == 197


def test_at_least_98_percent_convert() -> None:
    outcomes = converted()
    ok = [o for o in outcomes if o.conversion is not None]
    for outcome in outcomes:
        if outcome.error is not None:
            message = outcome.error.format()
            assert re.match(r"^[^:]+:\d+:\d+: error: ", message), message
    assert len(ok) / len(outcomes) >= 0.98, [o.error.format() for o in outcomes if o.error]


def test_windows_images_convert_with_a_warning() -> None:
    windows = [
        o for o in converted()
        if o.conversion is not None
        and any("Windows base image" in note.message for note in o.conversion.notes)
    ]
    # StefanScherer x5, tianon cygwin x2, python windowsservercore, tensorflow windows_rbe.
    assert len(windows) == 9
    for outcome in windows:
        assert outcome.conversion is not None
        note = next(n for n in outcome.conversion.notes if "Windows base image" in n.message)
        assert note.severity == "warning"
        source_line = outcome.path.read_text(encoding="utf-8").split("\n")[note.line - 1]
        assert source_line.lstrip().upper().startswith("FROM"), (outcome.path, note)


def test_outputs_parse_and_template() -> None:
    for outcome in converted():
        if outcome.conversion is None:
            continue
        deffile = parse_text(outcome.conversion.text, f"{outcome.path}.def")
        assert len(deffile.stages) == len(outcome.conversion.stages)
        templated = template(deffile, {})
        assert len(templated.deffile.stages) == len(deffile.stages)


def _scripts() -> list[tuple[str, str, str]]:
    """(label, shell, text) for every script section of every converted file, templated."""
    scripts = []
    for outcome in converted():
        if outcome.conversion is None:
            continue
        deffile = template(parse_text(outcome.conversion.text, str(outcome.path)), {}).deffile
        for stage in deffile.stages:
            for name in SCRIPT_SECTIONS:
                body = stage.script(name)
                if not body:
                    continue
                label = f"{outcome.path.name} [{stage.name}] %{name}"
                scripts.append((label, "sh", body))
                for match in _BASH_BODY.finditer(body):
                    scripts.append((label + " (bash RUN)", "bash", match.group(3) + "\n"))
    return scripts


def _syntax_error(item: tuple[str, str, str]) -> str:
    label, shell, text = item
    result = subprocess.run([shell, "-n"], input=text.encode(), capture_output=True, check=False)
    return f"{label}: {result.stderr.decode().strip()}" if result.returncode else ""


def test_every_script_section_passes_sh_n() -> None:
    scripts = _scripts()
    assert len(scripts) > 300
    assert any(shell == "bash" for _label, shell, _text in scripts)
    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = [error for error in pool.map(_syntax_error, scripts) if error]
    assert failures == []
