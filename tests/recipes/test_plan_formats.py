"""The plan's outputs against the rules of their consumers: GitHub Actions (256 jobs per matrix,
1 MB of job outputs), GitLab (job names, `needs` within the pipeline, earlier stages, at most
50), Slurm (a script bash accepts that chains one array per level with afterok)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Any

import pytest
from ruamel.yaml import YAML

from defkit.plan import formats
from defkit.plan.graph import Build, ordered
from defkit.plan.probe import AFTER, LOCAL, MISS, BuildOptions, Plan, Planned

KEY = "sha256-" + "ab" * 32
GITLAB_RESERVED = {"image", "services", "stages", "types", "before_script", "after_script",
                   "variables", "cache", "include", "workflow", "default"}


def _plan(count: int, *, dependants: int = 0, fan_in: int = 1, hits: int = 0,
          tmp: pathlib.Path = pathlib.Path("/work/ci")) -> Plan:
    """`count` independent misses, `hits` cached builds, and `dependants` builds each
    bootstrapping from `fan_in` of the first builds (level 1)."""
    builds = [Build(f"image-{i:04d}", str(tmp / f"image-{i:04d}.def"),
                    str(tmp / f"image-{i:04d}.sif"), ()) for i in range(count + hits)]
    for j in range(dependants):
        needs = tuple(f"image-{i:04d}" for i in range(fan_in))
        builds.append(Build(f"app-{j}", str(tmp / f"app-{j}.def"), str(tmp / f"app-{j}.sif"),
                            needs))
    by_name = {b.name: b for b in builds}
    planned = []
    for build in ordered(builds):
        if build.name.startswith("app"):
            planned.append(Planned(build, AFTER, None, level=1,
                                   requires=tuple(by_name[n] for n in build.needs)))
        elif int(build.name[-4:]) >= count:
            planned.append(Planned(build, LOCAL, KEY))
        else:
            planned.append(Planned(build, MISS, KEY))
    options = BuildOptions(fakeroot=True, cache_from=("oras://ghcr.io/site/cache",),
                           cache_to="oras://ghcr.io/site/cache")
    return Plan(tuple(planned), options)


def _outputs(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        assert name and "\n" not in value
        found[name] = value
    return found


def test_github_matrices_hold_at_most_256_jobs_each() -> None:
    plan = _plan(600, dependants=3)
    text = formats.github(plan)
    assert len(text.encode()) < 1024 * 1024  # GitHub's limit on a job's outputs
    outputs = _outputs(text)
    assert outputs["count"] == "603" and outputs["levels"] == "2"
    names = json.loads(outputs["matrices"])
    assert names == ["matrix_0_0", "matrix_0_1", "matrix_0_2", "matrix_1_0"]
    seen: list[str] = []
    for name in names:
        matrix = json.loads(outputs[name])
        assert set(matrix) == {"include"}
        assert 1 <= len(matrix["include"]) <= 256
        level = int(name.split("_")[1])
        for entry in matrix["include"]:
            assert entry["level"] == level
            assert all(need in seen for need in entry["needs"])  # an earlier level built it
        seen += [entry["name"] for entry in matrix["include"]]
    assert len(seen) == len(set(seen)) == 603
    app = json.loads(outputs["matrix_1_0"])["include"][0]
    assert app["script"].splitlines() == [
        "test -e /work/ci/image-0000.sif || defkit build --fakeroot --cache-from "
        "oras://ghcr.io/site/cache --cache-to oras://ghcr.io/site/cache /work/ci/image-0000.def",
        "rm -f /work/ci/app-0.sif",
        "defkit build --fakeroot --cache-from oras://ghcr.io/site/cache --cache-to "
        "oras://ghcr.io/site/cache /work/ci/app-0.def",
    ]


def test_github_with_nothing_to_build() -> None:
    outputs = _outputs(formats.github(_plan(0, hits=2)))
    assert outputs == {"count": "0", "levels": "0", "matrices": "[]"}


def _gitlab(plan: Plan, **options: str) -> dict[str, Any]:
    document = YAML(typ="safe").load(formats.gitlab(plan, **options))
    assert isinstance(document, dict)
    return document


def _check_gitlab(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stages = document["stages"]
    jobs = {name: job for name, job in document.items()
            if name not in ("stages", "include") and not name.startswith(".")}
    assert jobs
    for name, job in jobs.items():
        assert isinstance(name, str) and 0 < len(name) <= 255
        assert name not in GITLAB_RESERVED and not name.startswith(".")
        assert job["stage"] in stages
        assert job["script"] and all(isinstance(line, str) for line in job["script"])
        for need in job.get("needs", []):
            assert need in jobs, f"{name} needs {need}, not in the pipeline"
            assert stages.index(jobs[need]["stage"]) < stages.index(job["stage"])
        assert len(job.get("needs", [])) <= 50
    return jobs


def test_gitlab_child_pipeline_follows_the_job_and_needs_rules() -> None:
    plan = _plan(5, dependants=2, hits=3)
    template = ".defkit-build:\n  image: debian:12\n  tags: [userns]\n"
    document = _gitlab(plan, template=template)
    assert document[".defkit-build"] == {"image": "debian:12", "tags": ["userns"]}
    jobs = _check_gitlab(document)
    assert len(jobs) == 7  # misses only
    assert jobs["defkit:app-0"]["needs"] == ["defkit:image-0000"]
    assert jobs["defkit:app-0"]["extends"] == ".defkit-build"
    assert jobs["defkit:image-0001"]["needs"] == []
    assert jobs["defkit:image-0001"]["variables"] == {"DEFKIT_DEF": "/work/ci/image-0001.def",
                                                      "DEFKIT_KEY": KEY}


def test_gitlab_more_than_50_needs_falls_back_to_stage_order() -> None:
    jobs = _check_gitlab(_gitlab(_plan(60, dependants=1, fan_in=60)))
    assert "needs" not in jobs["defkit:app-0"]
    assert jobs["defkit:app-0"]["stage"] == "defkit-1"


def test_gitlab_job_names_are_cut_and_cleaned() -> None:
    long = "x" * 300 + " $(rm)"
    assert formats.gitlab_job_name(long) == ("defkit:" + "x" * 300)[:255]
    assert formats.gitlab_job_name("a b;c") == "defkit:a-b-c"


def test_gitlab_with_nothing_to_build_still_has_a_job() -> None:
    jobs = _check_gitlab(_gitlab(_plan(0, hits=1)))
    assert list(jobs) == ["defkit:nothing-to-build"]


def test_slurm_submits_one_array_per_level_chained_by_afterok(tmp_path: pathlib.Path) -> None:
    plan = _plan(3, dependants=2, hits=1)
    script = formats.slurm(plan, sbatch_options=["--partition=build"], max_parallel=2)
    path = tmp_path / "submit.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    # A stand-in sbatch that records its arguments and the batch script it reads on stdin.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        '#!/bin/bash\nn=$(( $(find "$LOG" -name "*.args" | wc -l) + 1 ))\n'
        'printf "%s\\n" "$@" > "$LOG/$n.args"\ncat > "$LOG/$n.batch"\necho "$((1000 + n));cluster"\n')
    (bin_dir / "sbatch").chmod(0o755)
    log = tmp_path / "log"
    log.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log)}
    done = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines() == ["level 0: job 1001 (3 builds)",
                                        "level 1: job 1002 (2 builds)"]
    first = (log / "1.args").read_text().splitlines()
    second = (log / "2.args").read_text().splitlines()
    assert "--array=0-2%2" in first and "--kill-on-invalid-dep=yes" in first
    assert not any(arg.startswith("--dependency") for arg in first)
    assert "--array=0-1%2" in second and "--dependency=afterok:1001" in second
    assert "--kill-on-invalid-dep=yes" in second and "--partition=build" in second
    # Each task runs its own build; an index outside the array fails.
    batch = log / "2.batch"
    tasks = subprocess.run(["bash", "-n", str(batch)], capture_output=True)
    assert tasks.returncode == 0
    assert "/work/ci/app-1.def" in batch.read_text()
    wrong = subprocess.run(["bash", str(batch)], env={**env, "SLURM_ARRAY_TASK_ID": "7"},
                           capture_output=True, text=True)
    assert wrong.returncode == 1 and "no build 7" in wrong.stderr


@pytest.mark.parametrize("format_", ["json", "github", "gitlab", "slurm"])
def test_every_format_from_the_cli(tmp_path: pathlib.Path, format_: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty def set is a usage error; a plan written with -o is atomic and complete."""
    from click.testing import CliRunner

    from defkit.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["plan", "--format", format_], standalone_mode=False)
    assert result.exception is not None and "nothing to plan" in str(result.exception)
    bad = CliRunner().invoke(cli, ["plan", "--cache-from", "ghcr.io/x", "--recipes", "hello"],
                             standalone_mode=False)
    assert bad.exception is not None and "oras://" in str(bad.exception)
