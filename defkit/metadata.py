"""Apptainer's `inspect-metadata.json` (the SIF generic-JSON object `apptainer inspect` prefers).

Apptainer builds it by running `apptainer inspect --all` on the finished rootfs and storing
`json.Marshal` of `pkg/inspect.Metadata`. We collect the same files and encode the same way:

    {"data":{"attributes":{"apps":{...},"environment":{"/.singularity.d/env/90-environment.sh":
    "..."},"labels":{...},"runscript":"...","test":"...","helpfile":"...","deffile":"...",
    "startscript":"..."}},"type":"container"}

Struct fields in Go's declaration order, map keys sorted, empty values omitted (`omitempty`), file
contents with trailing newlines removed (inspect's `strings.TrimRight(value, "\n")`), and Go's
HTML-safe escaping of `<`, `>`, `&`, U+2028 and U+2029.

It lives with the engine, which writes it (`pack`, `layout_meta`); `defkit.image` reads it back.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Protocol, Union

from defkit.errors import DefkitError
from defkit.printable import printable
from defkit.safepath import Root

PathLike = Union[str, "os.PathLike[str]"]

METADATA_JSON = "inspect-metadata.json"
SINGULARITY_D = "/.singularity.d"
#: Metadata is 6 levels deep (data.attributes.apps.NAME.labels.KEY); deeper is hostile. Bounded
#: before decoding, because json.loads recurses in C and raises RecursionError near 1,000 levels.
MAX_JSON_DEPTH = 32
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_TEXT_KEYS = ("deffile", "runscript", "test", "startscript", "helpfile")
_MAP_KEYS = ("labels", "environment")
SCIF_APPS = "/scif/apps"
_SCRIPTS = (
    ("runscript", "runscript"),
    ("test", "test"),
    ("helpfile", "runscript.help"),
    ("startscript", "startscript"),
)


class ImageTree(Protocol):
    """Files of an image; paths are absolute as seen inside the container."""

    def read(self, path: str) -> bytes | None:
        """The regular file at `path`, or None if it is missing or not a regular file."""

    def listdir(self, path: str) -> list[str]:
        """Sorted names in the directory `path` ([] when it is missing)."""


class DirTree:
    """A sandbox directory (or a rootfs being built)."""

    def __init__(self, root: PathLike) -> None:
        self.root = os.path.abspath(os.fspath(root))

    def read(self, path: str) -> bytes | None:
        try:
            root = Root(self.root)
        except OSError:
            return None
        with root:
            return root.read_file(path)  # never blocks on a FIFO, never leaves the root

    def listdir(self, path: str) -> list[str]:
        try:
            with Root(self.root) as root:
                return sorted(root.listdir(path))
        except (OSError, DefkitError):
            return []


def collect_metadata(tree: ImageTree, definition_text: str | None) -> dict[str, Any]:
    """The Metadata dict from an image's files; `definition_text` wins over the stored def."""
    attributes = _attributes(tree, SINGULARITY_D, docker_env=True)
    deffile = definition_text
    if deffile is None:
        raw = tree.read(f"{SINGULARITY_D}/Singularity")
        deffile = raw.decode("utf-8", "replace") if raw is not None else None
    apps: dict[str, Any] = {}
    for name in tree.listdir(SCIF_APPS):
        scif = f"{SCIF_APPS}/{name}/scif"
        if tree.listdir(scif):  # Apptainer: `[ -d "$app/scif" ]`
            apps[name] = _attributes(tree, scif, docker_env=False)
    ordered: dict[str, Any] = {}
    if apps:
        ordered["apps"] = apps
    for key in ("environment", "labels", "runscript", "test", "helpfile"):
        if attributes.get(key):
            ordered[key] = attributes[key]
    if deffile:
        ordered["deffile"] = _trim(deffile)
    if attributes.get("startscript"):
        ordered["startscript"] = attributes["startscript"]
    return {"data": {"attributes": ordered}, "type": "container"}


def inspect_metadata(rootfs: PathLike, definition_text: str) -> dict[str, Any]:
    """The metadata dict read from a finished rootfs's `/.singularity.d` (and `/scif/apps`)."""
    return collect_metadata(DirTree(rootfs), definition_text)


def inspect_metadata_json(rootfs: PathLike, definition_text: str) -> bytes:
    """`inspect_metadata` serialised as Go's `json.Marshal` would, as stored in the SIF."""
    return go_json(inspect_metadata(rootfs, definition_text))


def go_json(value: Any) -> bytes:
    """Compact JSON with Go's escaping; dict order is kept (callers order struct fields)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    return text.encode("utf-8")


def _attributes(tree: ImageTree, base: str, *, docker_env: bool) -> dict[str, Any]:
    """labels, environment, runscript, test, helpfile, startscript found under `base`."""
    out: dict[str, Any] = {}
    labels_raw = tree.read(f"{base}/labels.json")
    if labels_raw is not None:
        out["labels"] = _labels(labels_raw)
    env: dict[str, str] = {}
    names = tree.listdir(f"{base}/env")
    # Apptainer's globs: env/10-docker*.sh (container level only), then env/9*-environment.sh.
    wanted = [n for n in names if docker_env and n.startswith("10-docker") and n.endswith(".sh")]
    wanted += [n for n in names if n.startswith("9") and n.endswith("-environment.sh")]
    for name in wanted:
        raw = tree.read(f"{base}/env/{name}")
        if raw is not None:
            env[f"{base}/env/{name}"] = _trim(raw.decode("utf-8", "replace"))
    if env:
        out["environment"] = dict(sorted(env.items()))
    for key, filename in _SCRIPTS:
        raw = tree.read(f"{base}/{filename}")
        if raw is not None:
            out[key] = _trim(raw.decode("utf-8", "replace"))
    return out


class JsonDepthError(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH (not decoded at all)."""


class MetadataError(DefkitError):
    """inspect-metadata.json is not the object Apptainer's `inspect.Metadata` would decode."""


def parse_json(raw: bytes) -> Any:
    """JSON from untrusted bytes: ValueError when invalid, nested deeper than MAX_JSON_DEPTH, or
    holding NaN/Infinity (Go's decoder rejects them). Invalid UTF-8 becomes U+FFFD, as in Go."""
    depth = 0
    for match in _JSON_TOKEN.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise JsonDepthError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        elif token in (b"]", b"}"):
            depth -= 1

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw.decode("utf-8", "replace"), parse_constant=refuse)


def check_metadata(value: Any) -> dict[str, Any]:
    """`value` if it has the shape of `inspect.Metadata` (every part optional), else
    MetadataError naming the first misplaced part, e.g. "data.attributes.labels.A: a list"."""
    _expect_object(value, "the document")
    if not isinstance(value.get("type", ""), str):
        raise _wrong("type", value["type"], "a string")
    data = value.get("data", {})
    _expect_object(data, "data")
    attributes = data.get("attributes", {})
    _expect_object(attributes, "data.attributes")
    _check_attributes(attributes, "data.attributes")
    apps = attributes.get("apps", {})
    _expect_object(apps, "data.attributes.apps")
    for name, app in apps.items():
        _expect_object(app, f"data.attributes.apps.{name}")
        _check_attributes(app, f"data.attributes.apps.{name}")
    return value  # type: ignore[no-any-return]


def _check_attributes(attributes: dict[str, Any], where: str) -> None:
    for key in _TEXT_KEYS:
        if key in attributes and not isinstance(attributes[key], str):
            raise _wrong(f"{where}.{key}", attributes[key], "a string")
    for key in _MAP_KEYS:
        mapping = attributes.get(key, {})
        _expect_object(mapping, f"{where}.{key}")
        for name, item in mapping.items():
            if not isinstance(item, str):
                raise _wrong(f"{where}.{key}.{name}", item, "a string")


def _expect_object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _wrong(where, value, "an object")


def _wrong(where: str, value: Any, wanted: str) -> MetadataError:
    return MetadataError(printable(f"{METADATA_JSON}: {where} is {_kind(value)}, "
                                   f"not {wanted}"))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object"}  # fmt: skip
    return names.get(type(value), "a value")


def _labels(raw: bytes) -> dict[str, str]:
    try:
        parsed = parse_json(raw)
    except ValueError:
        return {}  # Apptainer warns and carries on with no labels
    if not isinstance(parsed, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in sorted(parsed.items())}


def _trim(text: str) -> str:
    return text.rstrip("\n")
