"""`defkit recipes lock`: every point's registry base pinned in the family's lock; `render -o`
hands each point its share, which the build's key then names (pinned by the lock)."""

from __future__ import annotations

import json
import pathlib

from tests.engine.engine.helpers import defkit
from tests.registry.images import push_busybox
from tests.registry_fixture import RunningRegistry

TEMPLATE = """\
Bootstrap: docker
From: {{ registry }}/lib/base:{{ tag }}

%help
    base {{ tag }}

%labels
    org.demo.tag {{ tag }}

%runscript
    echo {{ tag }}

%test
    true
"""


def test_lock_pins_every_point_and_render_splits_it(tmp_path: pathlib.Path,
                                                    registry: RunningRegistry) -> None:
    first = push_busybox(registry, "lib/base", "1")
    second = push_busybox(registry, "lib/base", "2", extra=[b""])
    family = tmp_path / "cat" / "demo"
    family.mkdir(parents=True)
    (family / "recipe.yaml").write_text(
        f'variables:\n  registry: "{registry.host}"\nmatrix:\n  tag: ["1", "2"]\n')
    (family / "demo.def.j2").write_text(TEMPLATE)
    catalogue = str(tmp_path / "cat")

    done = defkit("recipes", "lock", "demo", "--arch", "amd64", "--insecure",
                  "--recipes-dir", catalogue)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "(2 bases)" in done.stderr
    lock = json.loads((family / "demo.lock").read_text())
    with registry.client() as client:
        digests = [client.resolve(first), client.resolve(second)]
    assert sorted(entry["digest"] for entry in lock["bases"]) == sorted(digests)

    out = tmp_path / "out"
    done = defkit("recipes", "render", "demo", "--all", "-o", str(out), "--recipes-dir", catalogue)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "demo_tag-1.def", "demo_tag-1.def.lock", "demo_tag-2.def", "demo_tag-2.def.lock"]
    for tag in ("1", "2"):
        (entry,) = json.loads((out / f"demo_tag-{tag}.def.lock").read_text())["bases"]
        assert entry["source"].endswith(f"/lib/base:{tag}")
    key = defkit("build", "--explain-key", "--arch", "amd64", "--insecure",
                 str(out / "demo_tag-2.def"))
    assert key.returncode == 0, key.stderr
    base = json.loads(key.stdout)["document"]["stages"][0]["base"]
    assert base["pinned-by"] == "lock"
    assert base["digest"] == digests[1]
