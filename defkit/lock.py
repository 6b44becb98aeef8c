"""Lock files: the registry digest of every `docker`/`oras` base of a definition, per stage and
architecture, in `FILE.def.lock` next to it.

    {"version": 1, "bases": [{"stage": "1", "bootstrap": "docker", "from": "alpine:3.19",
      "reference": "docker.io/library/alpine:3.19", "arch": "amd64",
      "digest": "sha256:...", "manifest": "sha256:..."}]}

`digest` is what the tag named when the lock was written (an index or a manifest); `manifest` the
image chosen for `arch` from it. A build with a lock fetches `digest` without asking the
registry what the tag names now, so a fresh machine pulls exactly those bytes. The file is JSON
(a subset of YAML), written atomically with sorted keys so it diffs well.

The registry client is imported only by the functions that talk to a registry.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional

from defkit.errors import BuildError, DefkitError
from defkit.model import DefFile, HeaderEntry, Stage

if TYPE_CHECKING:
    from defkit.registry.client import RegistryClient
    from defkit.registry.reference import ImageRef

LOCK_VERSION = 1
#: The bootstraps whose base is a registry reference a lock can pin.
REGISTRY_AGENTS = ("docker", "oras")
_PREFIXES = {"docker": "docker://", "oras": "oras://"}


@dataclass(frozen=True)
class LockEntry:
    stage: str  # the `Stage:` name, else the 1-based stage number
    bootstrap: str
    source: str  # the `From:` value as written (templated)
    reference: str  # canonical registry/repository:tag
    arch: str
    digest: str  # what the tag named when locked
    manifest: str  # the image for `arch`


@dataclass(frozen=True)
class Base:
    """A registry base of one stage of a definition."""

    stage: str
    bootstrap: str
    source: str
    entry: HeaderEntry  # the From: line, for messages

    def reference(self, stage: Stage) -> ImageRef:
        return parse_base(self.bootstrap, self.source, stage)


def lock_path(def_path: str) -> str:
    return def_path + ".lock"


def stage_key(stage: Stage, index: int) -> str:
    return stage.name or str(index + 1)


def parse_base(bootstrap: str, source: str, stage: Stage) -> ImageRef:
    """The image reference of a `From:` value, with the `Registry:`/`Namespace:` header keys as
    Apptainer combines them (docker) and an optional scheme prefix."""
    from defkit.registry.reference import parse_reference

    text = source.strip()
    for prefix in (_PREFIXES.get(bootstrap, ""), "//"):
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
    registry = (stage.header_value("registry") or "").strip() or None
    namespace = (stage.header_value("namespace") or "").strip() or None
    if bootstrap != "docker":
        registry = namespace = None
    return parse_reference(text, registry=registry, namespace=namespace)


def registry_bases(deffile: DefFile) -> list[Base]:
    bases = []
    for index, stage in enumerate(deffile.stages):
        bootstrap = (stage.bootstrap or "").strip()
        entry = stage.header_entry("from")
        if bootstrap in REGISTRY_AGENTS and entry is not None and entry.value.strip():
            bases.append(Base(stage_key(stage, index), bootstrap, entry.value.strip(), entry))
    return bases


def load_definition(def_path: str) -> DefFile:
    """The definition as a build without --build-arg sees it (defaults of %arguments)."""
    from defkit.parser import parse_file
    from defkit.templating import template

    return template(parse_file(def_path), {}, warn_unused=True).deffile


# --- the file ---------------------------------------------------------------------------------


def read_lock(path: str) -> list[LockEntry]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise BuildError(f"{path}: cannot read the lock file ({exc.strerror})") from None
    except ValueError as exc:
        raise BuildError(f"{path}: not a valid lock file ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        raise BuildError(f"{path}: not a defkit lock file of version {LOCK_VERSION}")
    entries = []
    fields = LockEntry.__dataclass_fields__
    for number, item in enumerate(data.get("bases") or [], 1):
        if not isinstance(item, dict) or set(item) != set(fields) \
                or not all(isinstance(value, str) for value in item.values()):
            raise BuildError(f"{path}: base {number} is malformed (needs {', '.join(fields)})")
        entries.append(LockEntry(**item))
    return entries


def write_lock(path: str, entries: Sequence[LockEntry]) -> None:
    data = {"version": LOCK_VERSION, "bases": [asdict(entry) for entry in entries]}
    from defkit.atomic import write_text

    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def pinned(def_path: str, stage: Stage, arch: str) -> Optional[LockEntry]:
    """The lock entry a build of this stage must use (None when the def has no lock file); an
    error when the lock exists but does not cover this base, as the build would otherwise
    quietly use whatever the tag names today."""
    path = lock_path(def_path)
    if not os.path.isfile(path):
        return None
    # An unnamed stage is keyed by its number, which the agent does not know; its From: and
    # bootstrap still tell it apart.
    key = stage.name
    source = (stage.header_value("from") or "").strip()
    candidates = [e for e in read_lock(path)
                  if (e.stage == key if key else e.stage.isdigit()) and e.source == source
                  and e.bootstrap == (stage.bootstrap or "").strip()]
    for entry in candidates:
        if entry.arch == arch:
            return entry
    if candidates:  # another arch of the same pinned tag: the pinned index has it too
        return dataclasses.replace(candidates[0], arch=arch, manifest="")
    raise BuildError(f"{path} does not pin From: {source}{' of stage ' + key if key else ''}: "
                     f"run `defkit lock {os.path.basename(def_path)}`")


# --- resolution (talks to the registry) -------------------------------------------------------


def platform_manifest(client: RegistryClient, ref: ImageRef, digest: str, arch: str) -> str:
    """The digest of the image for `arch` that `digest` (an index or a manifest) stands for."""
    from defkit.registry.platforms import is_index, select_platform

    manifest = client.get_manifest(ref.with_digest(digest))
    document = json.loads(manifest.data)
    if not is_index(manifest.media_type, document):
        return digest
    entries = [e for e in document.get("manifests") or [] if isinstance(e, dict)]
    return str(select_platform(entries, arch, str(ref)).get("digest", ""))


def resolve(def_path: str, archs: Sequence[str], client: RegistryClient) -> list[LockEntry]:
    """A lock entry for every registry base and arch, resolved now."""
    deffile = load_definition(def_path)
    entries = []
    for base in registry_bases(deffile):
        stage = _stage(deffile, base)
        try:
            ref = base.reference(stage)
            digest = client.resolve(ref)
            for arch in archs:
                entries.append(LockEntry(base.stage, base.bootstrap, base.source, str(ref), arch,
                                         digest, platform_manifest(client, ref, digest, arch)))
        except DefkitError as exc:
            raise _at(exc, def_path, base) from None
    return entries


@dataclass(frozen=True)
class Moved:
    base: Base
    entry: Optional[LockEntry]  # None: the lock does not have this base (the def changed)
    now: Optional[str]  # what the tag names now (None when the lock lacks the base)
    where: str  # path:line:col of the From: line


def check(def_path: str, client: RegistryClient, deffile: Optional[DefFile] = None
          ) -> list[Moved]:
    """The bases whose tag names another digest than the lock says (or that the lock lacks)."""
    deffile = deffile or load_definition(def_path)
    entries = read_lock(lock_path(def_path))
    moved = []
    for base in registry_bases(deffile):
        stage = _stage(deffile, base)
        where = f"{def_path}:{base.entry.span.line}:{base.entry.span.column}"
        mine = [e for e in entries if e.stage == base.stage and e.source == base.source]
        if not mine:
            moved.append(Moved(base, None, None, where))
            continue
        try:
            now = client.resolve(base.reference(stage))
        except DefkitError as exc:
            raise _at(exc, def_path, base) from None
        if mine[0].digest != now:
            moved.append(Moved(base, mine[0], now, where))
    return moved


def _stage(deffile: DefFile, base: Base) -> Stage:
    for index, stage in enumerate(deffile.stages):
        if stage_key(stage, index) == base.stage:
            return stage
    raise AssertionError(base.stage)


def _at(exc: DefkitError, def_path: str, base: Base) -> DefkitError:
    if exc.path is None:
        exc.path, exc.span = def_path, base.entry.span
    return exc

