"""Images the registry tests push and build from: a busybox rootfs as the first layer (made by
defkit.engine.busybox_rootfs, so no network), small layers on top, and def files naming them."""

from __future__ import annotations

import functools
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any, Optional

from defkit.arch import host_arch
from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.registry.client import OCI_INDEX, OCI_MANIFEST
from defkit.registry.reference import ImageRef
from tests.engine.agents.helpers import tar_bytes, tree_entries
from tests.registry_fixture import RunningRegistry, push_test_image

CONFIG: dict[str, Any] = {
    "architecture": host_arch(), "os": "linux",
    "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=from the image"],
               "Entrypoint": ["/bin/echo", "entry"], "Cmd": ["default", "cmd"],
               "Labels": {"org.example.base": "busybox"}},
}


@functools.lru_cache(maxsize=1)
def busybox_layer() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(make_busybox_rootfs(os.path.join(tmp, "rootfs")))
        (root / "etc" / "removed-later").write_text("gone\n")
        (root / "opt" / "data").mkdir(parents=True)
        (root / "opt" / "data" / "old").write_text("old\n")
        return tar_bytes(tree_entries(root))


def top_layer() -> bytes:
    """A whiteout, an opaque directory and a symlink over the busybox layer."""
    return tar_bytes([
        ("etc/.wh.removed-later", b""),
        ("opt/data", None),
        ("opt/data/.wh..wh..opq", b""),
        ("opt/data/new", b"new\n"),
        ("opt/link", "->data/new"),
    ])


def push_busybox(registry: RunningRegistry, repo: str, tag: str = "1", *,
                 compression: str = "gzip", extra: Sequence[bytes] = (),
                 config: Optional[dict[str, Any]] = None) -> ImageRef:
    return push_test_image(registry, repo, tag, [busybox_layer(), top_layer(), *extra],
                           config or CONFIG, compression=compression)


def push_index(registry: RunningRegistry, repo: str, tag: str,
               platforms: dict[str, bytes]) -> ImageRef:
    """A multi-arch index: per "os/arch[/variant]" an image whose extra layer holds /arch with
    that name (each image pushed by digest first)."""
    entries = []
    with registry.client() as client:
        for platform, marker in platforms.items():
            os_name, architecture, *variant = platform.split("/")
            config = {**CONFIG, "architecture": architecture}
            pushed = push_busybox(registry, repo, "tmp-" + architecture + "".join(variant),
                                  extra=[tar_bytes([("arch", marker)])], config=config)
            manifest = client.get_manifest(pushed)
            entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": manifest.digest,
                                     "size": len(manifest.data),
                                     "platform": {"os": os_name, "architecture": architecture}}
            if variant:
                entry["platform"]["variant"] = variant[0]
            entries.append(entry)
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                            "manifests": entries}).encode()
        ref = registry.ref(f"{repo}:{tag}")
        return ref.with_digest(client.put_manifest(ref, OCI_INDEX, index))


def write_def(directory: pathlib.Path, image: str, body: str = "", *,
              bootstrap: str = "docker", name: str = "image.def") -> pathlib.Path:
    path = directory / name
    path.write_text(f"Bootstrap: {bootstrap}\nFrom: {image}\n{body}", encoding="utf-8")
    return path


def defkit(*args: str, cache: pathlib.Path, env: Optional[dict[str, str]] = None,
           cwd: Optional[pathlib.Path] = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess with its own blob store."""
    full = {**os.environ, "DEFKIT_CACHE_DIR": str(cache), **(env or {})}
    return subprocess.run([sys.executable, "-m", "defkit", *args], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def blob_gets(registry: RunningRegistry, since: int = 0) -> list[str]:
    return [r.path for r in registry.request_log()[since:]
            if r.method == "GET" and ("/blobs/" in r.path or "/manifests/" in r.path)]


def leftovers(cache: pathlib.Path) -> list[str]:
    """Temporary files a failed download might have left in the store."""
    return [str(p) for p in cache.rglob("*") if p.name.endswith(".part")]
