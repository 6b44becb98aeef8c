"""`defkit push`/`pull` of SIFs (oras://) against a real docker-registry, the manifest checked
over plain HTTP with httpx (not defkit's client), `Bootstrap: oras`, and `build TARGET SOURCE`."""

from __future__ import annotations

import hashlib
import os
import pathlib

import httpx
import pytest

from defkit.sif.oras import SIF_CONFIG, SIF_LAYER, push_sif
from tests.registry.images import defkit, push_busybox, write_def
from tests.registry_fixture import RunningRegistry

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.path.exists("/etc/subuid"),
                                reason="needs root or a user namespace")


@pytest.fixture(scope="module")
def sif(tmp_path_factory: pytest.TempPathFactory, registry: RunningRegistry) -> pathlib.Path:
    """A SIF built by defkit from an image the test pushed."""
    directory = tmp_path_factory.mktemp("sif")
    push_busybox(registry, "oras/base")
    deffile = write_def(directory, f"{registry.host}/oras/base:1",
                        "\n%labels\n    Owner tests\n%runscript\n    echo from the sif\n",
                        name="app.def")
    done = defkit("build", "-q", "--engine", "native", str(deffile), cache=directory / "cache")
    assert done.returncode == 0, done.stderr
    return directory / "app.sif"


def test_push_pull_round_trip(registry: RunningRegistry, sif: pathlib.Path,
                              tmp_path: pathlib.Path) -> None:
    target = f"oras://{registry.host}/oras/app:v1"
    done = defkit("push", str(sif), target, "--annotation", "org.example.team=hpc",
                  cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "pulled.sif"
    since = len(registry.request_log())
    done = defkit("pull", target, "-o", str(out), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == sif.read_bytes()
    # The tag is read once (its digest computed from the bytes), then the SIF by digest.
    requests = [(r.method, r.path.rsplit("/", 2)[-2]) for r in registry.request_log()[since:]
                if r.status < 400]
    assert requests == [("GET", "manifests"), ("GET", "blobs")], requests
    done = defkit("pull", target, cache=tmp_path / "cache", cwd=tmp_path)  # Apptainer's name
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "app_v1.sif").read_bytes() == sif.read_bytes()
    assert defkit("pull", target, "-o", str(out), cache=tmp_path / "cache").returncode == 2

    # What `apptainer pull oras://` reads, checked without defkit's client.
    answer = httpx.get(f"{registry.url}/v2/oras/app/manifests/v1",
                       headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert answer.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"
    manifest = answer.json()
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == SIF_CONFIG == "application/vnd.sylabs.sif.config.v1+json"
    assert manifest["config"]["digest"] == ("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe"
                                            "77e8310c060f61caaff8a")
    assert manifest["config"]["size"] == 2 and manifest["config"]["data"] == "e30="
    assert httpx.get(f"{registry.url}/v2/oras/app/blobs/{manifest['config']['digest']}"
                     ).content == b"{}"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SIF_LAYER == "application/vnd.sylabs.sif.layer.v1.sif"
    assert layer["digest"] == "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()
    assert layer["size"] == sif.stat().st_size
    assert layer["annotations"] == {"org.opencontainers.image.title": "app.sif"}
    assert manifest["annotations"]["org.example.team"] == "hpc"
    assert manifest["annotations"]["org.opencontainers.image.created"].endswith("Z")


def test_chunked_upload(registry: RunningRegistry, sif: pathlib.Path) -> None:
    before = len(registry.request_log())
    with registry.client() as client:
        pushed = push_sif(client, str(sif), registry.ref("oras/chunked:1"),
                          chunk_size=256 * 1024)
    patches = [r for r in registry.request_log()[before:] if r.method == "PATCH"]
    assert len(patches) == -(-pushed.size // (256 * 1024))
    blob = httpx.get(f"{registry.url}/v2/oras/chunked/manifests/1",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
                     ).json()["layers"][0]["digest"]
    assert httpx.get(f"{registry.url}/v2/oras/chunked/blobs/{blob}").content == sif.read_bytes()


def test_bootstrap_oras(registry: RunningRegistry, sif: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:
    cache = tmp_path / "cache"
    assert defkit("push", str(sif), f"oras://{registry.host}/oras/base-sif:1",
                  cache=cache).returncode == 0
    deffile = write_def(tmp_path, f"{registry.host}/oras/base-sif:1",
                        "\n%post\n    echo on top > /added\n", bootstrap="oras")
    done = defkit("build", "-q", "--engine", "native", str(deffile), cache=cache)
    assert done.returncode == 0, done.stderr
    image = tmp_path / "image.sif"
    assert defkit("exec", str(image), "cat", "/added", cache=cache).stdout == "on top\n"
    assert defkit("run", str(image), cache=cache).stdout == "from the sif\n"


def test_build_target_source(registry: RunningRegistry, sif: pathlib.Path,
                             tmp_path: pathlib.Path) -> None:
    """Apptainer's `build TARGET SOURCE` with every kind of SOURCE."""
    cache = tmp_path / "cache"
    assert defkit("push", str(sif), f"oras://{registry.host}/oras/target-source:1",
                  cache=cache).returncode == 0
    sources = {"oras": f"oras://{registry.host}/oras/target-source:1",
               "docker": f"docker://{registry.host}/oras/base:1", "sif": str(sif)}
    for kind, source in sources.items():
        out = tmp_path / f"{kind}.sif"
        done = defkit("build", "-q", str(out), source, cache=cache)
        assert done.returncode == 0, (source, done.stderr)
    assert defkit("run", str(tmp_path / "oras.sif"), cache=cache).stdout == "from the sif\n"
    assert defkit("run", str(tmp_path / "docker.sif"),
                  cache=cache).stdout == "entry default cmd\n"
    sandbox = tmp_path / "box"
    done = defkit("build", "-q", "--sandbox", str(sandbox), str(sif), cache=cache)
    assert done.returncode == 0, done.stderr
    (sandbox / "marker").write_text("sandbox\n")
    done = defkit("build", "-q", str(tmp_path / "again.sif"), str(sandbox), cache=cache)
    assert done.returncode == 0, done.stderr
    assert defkit("exec", str(tmp_path / "again.sif"), "cat", "/marker",
                  cache=cache).stdout == "sandbox\n"
    done = defkit("build", "-q", f"docker://{registry.host}/oras/base:1", cache=cache)
    assert done.returncode == 2 and "name the image to write" in done.stderr


def test_pull_refuses_what_apptainer_refuses(registry: RunningRegistry,
                                             tmp_path: pathlib.Path) -> None:
    push_busybox(registry, "oras/not-a-sif")
    out = tmp_path / "x.sif"
    done = defkit("pull", f"oras://{registry.host}/oras/not-a-sif:1", "-o", str(out),
                  cache=tmp_path / "cache")
    assert done.returncode == 1
    assert done.stderr.strip().endswith("not a SIF artifact: the manifest must have exactly one "
                                        "layer, it has 2")
    assert not out.exists()
    done = defkit("push", __file__, f"oras://{registry.host}/oras/x:1", cache=tmp_path / "c")
    assert done.returncode == 1 and "not a SIF image" in done.stderr


def test_library_says_what_is_missing(tmp_path: pathlib.Path) -> None:
    # Sylabs' library (the default without a `Library:` header) cannot be reached from here.
    deffile = write_def(tmp_path, "alpine:3.19", bootstrap="library")
    done = defkit("build", "-q", "--engine", "native", str(deffile), cache=tmp_path / "cache")
    assert done.returncode == 1
    assert done.stderr.startswith(f"{deffile}:2:1: error: Bootstrap: library: cannot reach "
                                  "the library at library.sylabs.io")
    assert len(done.stderr.strip().splitlines()) == 1
