"""The cache key of a build: sha256 over a canonical JSON document of every input that can change
the image (spec registry-cache-remote §4.2).

The document has one part per stage, each with its own key chained from the keys of the stages
it copies from (as BuildKit chains vertices): the stage's templated text, its base's identity
(file hash for `localimage`, manifest digest for `docker`/`oras`, the lock's when there is
one), the tree hash of each `%files` source, and the options every stage shares (arch, mode,
engine and version, build args, `--section`). The whole build adds the options of its end
(`--notest`, mksquashfs version and flags, SOURCE_DATE_EPOCH, output kind).

Secrets never enter the document in clear: a secret build arg's value, wherever it appears (the
args, the templated text), is replaced by `sha256(schema NUL "secret" NUL value)`. A salt is not
needed: the document is not published as a password hash, it only must not hold the value, and
the digest still changes the key when the secret changes.

Inputs that cannot be pinned (mirror bootstraps, `%setup`, network in `%post`) are listed under
`impure`; with a lifetime (`--cache-ttl`) the document also gets the current time bucket, so
such a key expires at most one lifetime after it was made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from defkit.cache.tree import StatCache, file_digest, tree_hash
from defkit.errors import BuildError, DefkitError
from defkit.model import DefFile, Stage

KEY_SCHEMA = "defkit-key/v1"

#: Agents whose base is pinned by a digest or a file hash; every other one fetches from mirrors.
_PINNABLE = frozenset({"docker", "oras", "localimage", "scratch"})
#: Commands in %post that fetch from the network (what the result depends on is not in the key).
_NETWORK = re.compile(
    r"\b(apt-get|apt|apk|dnf|yum|zypper|microdnf|pip3?|conda|mamba|micromamba|npm|yarn|cargo|"
    r"gem|go|curl|wget|git|spack)\b\s+(?:-\S+\s+)*(install|update|upgrade|add|clone|fetch|get|"
    r"pull|-[A-Za-z]*[Oo]\b|https?://)|\b(curl|wget)\b"
)

#: (stage, agent) -> the identity of a registry base ({"digest": ..., ...}).
RegistryResolver = Callable[[Stage, str], dict[str, str]]


@dataclass(frozen=True)
class KeyInputs:
    def_path: str
    deffile: DefFile  # templated
    build_args: Mapping[str, str]
    secrets: Collection[str]
    arch: str
    mode: str
    engine: str  # "native"
    engine_version: str
    sections: Sequence[str]
    notest: bool
    source_date_epoch: int
    mksquashfs: Mapping[str, Any]  # {"version": ..., "flags": [...]}
    output_kind: str  # "sif"
    force: bool = False  # --force also lets the metadata step replace files in the image
    ttl_seconds: Optional[int] = None
    now: Optional[float] = None  # for the TTL bucket (tests fix it)
    extra: Mapping[str, str] = field(default_factory=dict)  # salt / epoch from config
    # Where relative `%files` sources and local bases are found (default: the def file's
    # directory; a Dockerfile build's context). Not keyed itself: the checkout's path is not.
    context_dir: Optional[str] = None
    # Where absolute `%files` sources are read (the engine's `files_root`); not keyed itself.
    files_root: Optional[str] = None


@dataclass(frozen=True)
class CacheKey:
    key: str  # hex sha256 of the canonical document
    document: dict[str, Any]
    stage_keys: list[str]
    impure: list[str]  # why the key cannot pin everything (shown by --explain-key)
    base_digests: dict[str, str]  # registry reference -> the digest the key names

    @property
    def tag(self) -> str:
        return f"sha256-{self.key}"


def canonical(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string per document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def digest_of(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def secret_digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(
        f"{KEY_SCHEMA}\0secret\0{value}".encode()).hexdigest()


def _redacted(text: str, secrets: Mapping[str, str]) -> str:
    # Longest first, so a secret that contains another is replaced whole.
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, f"<secret {secret_digest(value)}>")
    return text


def compute_key(inputs: KeyInputs, *, resolve_registry: Optional[RegistryResolver] = None,
                stat_cache: Optional[StatCache] = None) -> CacheKey:
    """The key of a build. `resolve_registry` gives the identity of a `docker`/`oras` base (the
    engine passes one that reads the lock file, else asks the registry once)."""
    secret_values = {name: value for name, value in inputs.build_args.items()
                     if name in inputs.secrets}
    args = {name: (secret_digest(value) if name in secret_values else value)
            for name, value in inputs.build_args.items()}
    shared = {
        "arch": inputs.arch,
        "mode": inputs.mode,
        "engine": {"name": inputs.engine, "version": inputs.engine_version},
        "build_args": args,
        "sections": list(inputs.sections),
        "force": inputs.force,
        **({"extra": dict(inputs.extra)} if inputs.extra else {}),
    }
    impure: list[str] = []
    base_digests: dict[str, str] = {}
    def_dir = inputs.context_dir or os.path.dirname(inputs.def_path)
    lifetime: Optional[dict[str, int]] = None
    if inputs.ttl_seconds:
        now = inputs.now if inputs.now is not None else _now()
        lifetime = {"ttl": inputs.ttl_seconds, "bucket": int(now // inputs.ttl_seconds)}
    stage_keys: list[str] = []
    stage_docs: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for index, stage in enumerate(inputs.deffile.stages):
        label = stage.name or f"stage {index + 1}"
        agent = (stage.bootstrap or "").strip().lower()
        base = _base_identity(stage, agent, def_dir, resolve_registry, stat_cache)
        if "digest" in base and "reference" in base:
            base_digests[base["reference"]] = base["digest"]
        stage_impure = _impurities(stage, agent)
        impure += [f"{label}: {why}" for why in stage_impure]
        files, copied_from = _files(stage, def_dir, inputs.files_root, stat_cache)
        chained = {}
        for origin in copied_from:
            if origin not in names:
                raise BuildError(f"%files from {origin}: no earlier stage named {origin!r}",
                                 path=inputs.def_path, span=stage.span)
            chained[origin] = stage_keys[names[origin]]
        doc = {
            "schema": KEY_SCHEMA,
            "stage": index + 1,
            "text": _redacted(stage.raw, secret_values),
            "base": base,
            "files": files,
            "from": chained,
            "shared": shared,
        }
        if stage_impure and lifetime is not None:
            # A stage is reused on its own key (per-stage reuse): it expires as the build does.
            doc["lifetime"] = lifetime
        stage_keys.append(digest_of(doc))
        stage_docs.append({"key": stage_keys[-1], **doc})
        if stage.name:
            names[stage.name] = index
    document: dict[str, Any] = {
        "schema": KEY_SCHEMA,
        "stages": stage_docs,
        "final": {
            "notest": inputs.notest,
            "sections": list(inputs.sections),
            "mksquashfs": dict(inputs.mksquashfs),
            "source_date_epoch": inputs.source_date_epoch,
            "output": inputs.output_kind,
        },
        "impure": impure,
    }
    if impure and lifetime is not None:
        document["lifetime"] = lifetime
    return CacheKey(digest_of(document), document, stage_keys, impure, base_digests)


def _now() -> float:
    import time

    return time.time()


def _base_identity(stage: Stage, agent: str, def_dir: str,
                   resolve_registry: Optional[RegistryResolver],
                   stat_cache: Optional[StatCache]) -> dict[str, str]:
    if agent == "scratch":
        return {"agent": agent}
    if agent == "localimage":
        value = (stage.header_value("from") or "").strip()
        path = os.path.normpath(os.path.join(def_dir, os.path.expanduser(value)))
        try:
            info = os.stat(path)
            content = (tree_hash(path, follow=False, cache=stat_cache) if os.path.isdir(path)
                       else file_digest(path, info, stat_cache))
        except OSError as exc:
            raise BuildError(f"Bootstrap: localimage: {path}: {exc.strerror}") from None
        return {"agent": agent, "blake3": content}
    if agent in ("dockerfile", "buildkit"):
        # The context (the Dockerfile's COPY sources) and the Dockerfile, which may lie outside.
        value = (stage.header_value("from") or "").strip()
        context = os.path.normpath(os.path.join(def_dir, os.path.expanduser(value)))
        dockerfile = os.path.join(context, (stage.header_value("filename") or "").strip()
                                  or "Dockerfile")
        try:
            return {"agent": agent, "context": tree_hash(context, cache=stat_cache),
                    "dockerfile": file_digest(dockerfile, os.stat(dockerfile), stat_cache)}
        except OSError as exc:
            raise BuildError(f"Bootstrap: {agent}: {exc.filename}: {exc.strerror}") from None
    if agent in ("docker", "oras") and resolve_registry is not None:
        return {"agent": agent, **resolve_registry(stage, agent)}
    return {"agent": agent}  # the header (in the stage text) is all there is to key on


def _impurities(stage: Stage, agent: str) -> list[str]:
    found = []
    if agent not in _PINNABLE:
        found.append(f"Bootstrap: {agent} fetches from mirrors that change")
    if stage.sections_named("setup"):
        found.append("%setup runs on the host")
    for section in stage.sections_named("post"):
        match = _NETWORK.search(section.body)
        if match:
            found.append(f"%post uses the network ({match.group(0).strip()})")
            break
    return found


def _files(stage: Stage, def_dir: str, files_root: Optional[str],
           stat_cache: Optional[StatCache]) -> tuple[list[dict[str, Any]], list[str]]:
    """The tree hash of every host `%files` source (globs expanded as the engine does), and
    the stages copied from (their keys cover what is copied)."""
    from defkit.engine.steps import files_sections, rooted, rooted_matches, source_matches
    from defkit.safepath import Root

    entries: list[dict[str, Any]] = []
    copied_from: list[str] = []
    for section, origin in files_sections(stage):
        if origin is not None:
            copied_from.append(origin)
            continue
        for entry in section.files:
            root = def_dir if not os.path.isabs(entry.source) else "/"
            inside = rooted(entry.source, files_root)
            if inside is None:
                # (path as keyed, host path, follow): a host copy follows symlinks (`cp -L`).
                found = [(match, match, True) for match in source_matches(def_dir, entry.source)]
            else:
                # Matched in files_root as the build copies from it: symlinks kept.
                with Root(inside) as source:
                    try:
                        found = [(match, host, False)
                                 for match, host in rooted_matches(source, entry.source)]
                    except DefkitError as exc:
                        raise BuildError(f"%files: {exc.message}", span=entry.span) from None
            matches = []
            for match, host, follow in found:
                try:
                    digest = tree_hash(host, follow=follow, cache=stat_cache)
                except OSError as exc:
                    raise BuildError(f"%files: {entry.source}: {exc.strerror}",
                                     span=entry.span) from None
                matches.append({"path": os.path.relpath(match, root), "tree": digest})
            entries.append({"source": entry.source, "destination": entry.destination,
                            "matches": matches})
    return entries, sorted(set(copied_from))


__all__ = ["KEY_SCHEMA", "CacheKey", "KeyInputs", "canonical", "compute_key", "secret_digest"]
