"""`defkit plan` against real builds: its keys are the ones `defkit build` uses, a build
turns its miss into a hit, a dependant waits for its base and is keyed once the base exists,
and the registry cache is probed. Also: the `hello` family built rootless, its %test run."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from tests.engine.engine.helpers import defkit
from tests.registry_fixture import RunningRegistry

APP = """\
Bootstrap: localimage
From: hello-fr.sif

%help
    Depends on hello-fr.

%runscript
    echo "app on $(cat /opt/hello/language)"

%test
    test "$(cat /opt/hello/language)" = fr
"""


def _plan(*args: str) -> dict[str, Any]:
    done = defkit("plan", "--fakeroot", "--format", "json", *args)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _names(plan: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """(name, level, keyed) of each miss, sorted by level then name (levels come in order)."""
    found = [(b["name"], b["level"], b["key"] is not None) for b in plan["builds"]]
    assert [level for _, level, _ in found] == sorted(level for _, level, _ in found)
    return sorted(found, key=lambda item: (item[1], item[0]))


def _entry(plan: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [b for b in plan["builds"] if b["name"] == name]
    assert isinstance(found, dict)
    return found


def _run_script(entry: dict[str, Any]) -> str:
    """Run a plan entry's job script as CI would; returns its stderr."""
    # `defkit` in the script is this virtualenv's.
    path = f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", entry["script"]],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": path})
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_after_each_build_the_plan_lists_only_the_remaining_misses(
        workspace: pathlib.Path) -> None:
    render = defkit("recipes", "render", "hello", "--all", "-o", "rendered")
    assert render.returncode == 0, render.stderr
    (workspace / "rendered" / "app.def").write_text(APP)

    first = _plan("rendered")
    assert _names(first) == [("hello-de", 0, True), ("hello-en", 0, True),
                             ("hello-fr", 0, True), ("app", 1, False)]
    app = _entry(first, "app")
    assert app["needs"] == ["hello-fr"] and app["requires"] == ["rendered/hello-fr.def"]

    # The job's script builds with the key the plan announced.
    fr = _entry(first, "hello-fr")
    log = _run_script(fr)
    assert f"cache stored {fr['key']}" in log
    second = _plan("rendered")
    assert _names(second) == [("app", 0, True), ("hello-de", 0, True), ("hello-en", 0, True)]
    assert [c["name"] for c in second["cached"]] == ["hello-fr"]

    log = _run_script(_entry(second, "app"))
    assert f"cache stored {_entry(second, 'app')['key']}" in log
    assert _names(_plan("rendered")) == [("hello-de", 0, True), ("hello-en", 0, True)]

    # A fresh checkout (no outputs): the cached base is placed to key its dependant.
    (workspace / "rendered" / "hello-fr.sif").unlink()
    (workspace / "rendered" / "app.sif").unlink()
    third = _plan("rendered")
    assert _names(third) == [("hello-de", 0, True), ("hello-en", 0, True)]
    assert (workspace / "rendered" / "hello-fr.sif").exists()
    (workspace / "rendered" / "hello-fr.sif").unlink()
    refused = defkit("plan", "--fakeroot", "--no-fetch", "rendered")
    assert refused.returncode == 2 and "--no-fetch" in refused.stderr


def test_the_hello_family_builds_rootless_and_passes_its_test(workspace: pathlib.Path) -> None:
    done = defkit("recipes", "render", "hello", "--set", "language=de", "-o", "rendered")
    assert done.returncode == 0, done.stderr
    built = defkit("build", "--engine", "native", "--fakeroot", "rendered/hello-de.def")
    assert built.returncode == 0, built.stderr
    # The build ran the rendered %test (its commands are traced).
    assert "--> %test" in built.stderr
    assert "+ test 'Hallo, tester!' '=' 'Hallo, tester!'" in built.stderr
    ran = defkit("run", "rendered/hello-de.sif", "Welt")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "Hallo, Welt!\n"
    tested = defkit("test", "rendered/hello-de.sif")
    assert tested.returncode == 0, tested.stderr


def test_the_registry_cache_is_probed(workspace: pathlib.Path,
                                      registry: RunningRegistry) -> None:
    repo = f"oras://{registry.host}/defkit/plan-cache"
    done = defkit("recipes", "render", "hello", "--set", "language=en", "-o", "rendered")
    assert done.returncode == 0
    plan = _plan("--cache-from", repo, "--cache-to", repo, "rendered/hello-en.def")
    (entry,) = plan["builds"]
    assert "--cache-to" in entry["script"]
    _run_script(entry)
    (workspace / "rendered" / "hello-en.sif").unlink()
    fresh = {"DEFKIT_CACHE_DIR": str(workspace / "empty-cache")}
    again = defkit("plan", "--fakeroot", "--cache-from", repo, "rendered/hello-en.def",
                   env=fresh)
    assert again.returncode == 0, again.stderr
    found = json.loads(again.stdout)
    assert found["builds"] == []
    assert found["cached"] == [{"name": "hello-en", "def": "rendered/hello-en.def",
                                "key": entry["key"], "where": repo}]
    dead = defkit("plan", "--fakeroot", "--cache-from", "oras://127.0.0.1:9/x",
                  "rendered/hello-en.def", env=fresh)
    assert dead.returncode == 0 and "warning: cache oras://127.0.0.1:9/x unreachable" in dead.stderr
    assert len(json.loads(dead.stdout)["builds"]) == 1


def test_a_cycle_is_refused(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.def").write_text("Bootstrap: localimage\nFrom: b.sif\n")
    (tmp_path / "b.def").write_text("Bootstrap: localimage\nFrom: a.sif\n")
    done = defkit("plan", ".")
    assert done.returncode == 2
    assert "error: builds bootstrap from each other: a -> b -> a" in done.stderr
