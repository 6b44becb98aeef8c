"""The CI examples use the plan as `defkit plan` writes it: the GitHub workflow has a job for
each matrix output its plan step accepts, every level after the first waits for the one
before; the GitLab pipeline triggers the generated child pipeline, whose template exists."""

from __future__ import annotations

import pathlib
import re
from typing import Any

from click.testing import CliRunner
from ruamel.yaml import YAML

from defkit.cli import cli
from tests.shared import REPO

CI = REPO / "examples" / "ci"


def _load(name: str) -> dict[str, Any]:
    document = YAML(typ="safe").load((CI / name).read_text())
    assert isinstance(document, dict)
    return document


def test_github_workflow_consumes_every_matrix_it_accepts() -> None:
    workflow = _load("github-actions.yml")
    jobs = workflow["jobs"]
    plan = jobs["plan"]
    accepted = re.search(r"matrix_\[([0-9]+)\]_\[([0-9]+)\]", plan["steps"][-1]["run"])
    assert accepted is not None
    names = {f"matrix_{level}_{part}" for level in accepted.group(1)
             for part in accepted.group(2)}
    assert set(plan["outputs"]) == names | {"count"}
    used: dict[str, str] = {}
    for name, job in jobs.items():
        if name == "plan":
            continue
        found = re.search(r"needs\.plan\.outputs\.(matrix_\d+_\d+)\)", job["strategy"]["matrix"])
        assert found is not None, name
        used[found.group(1)] = name
        assert job["strategy"]["fail-fast"] is False
        level = int(found.group(1).split("_")[1])
        needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
        earlier = {job_name for matrix, job_name in used.items()
                   if int(matrix.split("_")[1]) == level - 1}
        assert "plan" in needs and earlier <= set(needs), name
        assert job["steps"][-1]["env"]["SCRIPT"] == "${{ matrix.script }}"
    assert set(used) == names
    assert "--cache-from" in plan["steps"][-1]["run"] and "--cache-to" in plan["steps"][-1]["run"]


def test_gitlab_pipeline_triggers_the_generated_child() -> None:
    pipeline = _load("gitlab-ci.yml")
    template = _load("gitlab-defkit-build.yml")
    assert ".defkit-build" in template
    assert pipeline["include"] == [{"local": "gitlab-defkit-build.yml"}]
    script = " ".join(pipeline["plan"]["script"])
    assert "--format gitlab --gitlab-template gitlab-defkit-build.yml -o child-pipeline.yml" in script
    assert pipeline["plan"]["artifacts"]["paths"] == ["child-pipeline.yml"]
    trigger = pipeline["build"]["trigger"]
    assert trigger["include"] == [{"artifact": "child-pipeline.yml", "job": "plan"}]
    assert trigger["strategy"] == "depend"


def test_a_gitlab_template_without_the_hidden_job_is_refused(tmp_path: pathlib.Path) -> None:
    template = tmp_path / "t.yml"
    template.write_text("build:\n  image: x\n")
    result = CliRunner().invoke(cli, ["plan", "--format", "gitlab", "--gitlab-template",
                                      str(template), str(tmp_path)], standalone_mode=False)
    assert result.exception is not None
    assert "must define the job .defkit-build" in str(result.exception)
