"""The package's layering, read from its imports with `ast` (every import counts: module level,
inside functions, and under TYPE_CHECKING), and the public API in `defkit/__init__.py`.

Layers, lowest first; a module imports only from its own layer or lower ones:

    core (parser, model, errors, writer, templating, runner, atomic, ...: modules at the top)
    <- lint, convert, dockerfile, engine, registry, cache, image, sif, lock, runtime, catalogue,
       plan
    <- report <- cli (and __main__)

Within a layer, units (a top-level module or a subpackage) must not import each other in a
cycle. `import defkit` itself (for `__version__`) is allowed anywhere: the package's
`__init__` imports nothing from defkit at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import defkit

PACKAGE = Path(defkit.__file__).parent
MIDDLE = frozenset(
    {"lint", "convert", "dockerfile", "engine", "registry", "cache", "image", "sif", "lock",
     "runtime", "catalogue", "plan", "remote", "remote_build", "serve"}  # fmt: skip
)
LAYER_OF = {"report": 2, "cli": 3, "__main__": 3}

# Imports against the intended order, each a cycle still to be broken. Remove an entry when its
# imports are gone; never add one.
KNOWN_BACK_EDGES = frozenset(
    {
        # sif.oras reads the created label of a SIF it pushes with image.inspect, which reads
        # SIFs through sif; the fix is the ORAS transfer (sif.oras, and sif.publish that uses
        # it) a unit of its own above sif and image.
        ("sif", "image"),
        # cache.hook reports through engine.context's events and builds cache.stage (restoring
        # a stage's rootfs, engine work that extracts and packs with the engine); cache.key
        # matches %files with engine.steps. The fix is the events down a layer, the %files
        # matching into the core, and the stage cache (with the part of cache.hook that makes
        # it) into the engine, as safepath, squashfs, the image metadata and the platform
        # selection were moved.
        ("cache", "engine"),
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every defkit module or package `path` imports (the names imported from a package too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _unit(module: str) -> str:
    """`defkit.lint.rules.x` -> `lint`; `defkit.parser` -> `parser`; `defkit` -> `defkit`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _layer(unit: str) -> int:
    return 1 if unit in MIDDLE else LAYER_OF.get(unit, 0)


def _unit_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the `importer -> imported` module pairs behind the edge."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, set[str]]] = {}
    for name, path in modules.items():
        if name == "defkit":
            continue  # the API facade: checked by test_init_imports_nothing_at_run_time
        for target in _imports(path):
            if target not in modules or target == "defkit":
                continue
            source_unit, target_unit = _unit(name), _unit(target)
            if source_unit != target_unit:
                graph.setdefault(source_unit, {}).setdefault(target_unit, set()).add(
                    f"{name} -> {target}"
                )
    return graph


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for other in sorted(edges.get(unit, ())):
            if other not in index:
                visit(other)
                low[unit] = min(low[unit], low[other])
            elif other in stack:
                low[unit] = min(low[unit], index[other])
        if low[unit] == index[unit]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for unit in sorted(edges):
        if unit not in index:
            visit(unit)
    return found


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        pair
        for source, targets in _unit_graph().items()
        for target, pairs in targets.items()
        if _layer(target) > _layer(source)
        for pair in sorted(pairs)
    ]
    assert upward == []


def test_no_cycles_between_units() -> None:
    graph = _unit_graph()
    edges = {
        source: {target for target in targets if (source, target) not in KNOWN_BACK_EDGES}
        for source, targets in graph.items()
    }
    cycles = _cycles(edges)
    detail = {
        " <-> ".join(cycle): sorted(
            pair for unit in cycle for target in cycle for pair in graph[unit].get(target, ())
        )
        for cycle in cycles
    }
    assert detail == {}


def test_every_known_back_edge_is_still_there() -> None:
    """An entry whose imports are gone is removed, so the list never hides a new cycle."""
    graph = _unit_graph()
    gone = sorted(edge for edge in KNOWN_BACK_EDGES if edge[1] not in graph.get(edge[0], {}))
    assert gone == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_init_imports_nothing_at_run_time() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    runtime_imports = [
        node.module
        for node in tree.body  # module level only: the TYPE_CHECKING block is an `if`
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("defkit")
    ]
    assert runtime_imports == []


def test_import_defkit_loads_no_submodule() -> None:
    code = (
        "import sys, defkit; "
        "print(sorted(m for m in sys.modules if m.startswith(('defkit.', 'lark', 'click'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_to_its_definition() -> None:
    import importlib

    assert sorted(defkit.__all__) == sorted([*defkit._SOURCES, "__version__"])
    for name, module in defkit._SOURCES.items():
        assert getattr(defkit, name) is getattr(importlib.import_module(module), name), name
    assert set(defkit.__all__) <= set(dir(defkit))


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        defkit.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("defkit.no_such_name did not raise")


def test_public_api_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "app.def"
    path.write_text("Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n  echo hi\n")
    deffile = defkit.parse_file(path)
    assert [entry.key for entry in deffile.stages[0].header] == ["bootstrap", "from"]
    assert defkit.parse_text(defkit.format_deffile(deffile)) == defkit.parse_text(path.read_text())
    conversion = defkit.convert_dockerfile("FROM alpine:3.20\nRUN echo hi\n", "Dockerfile")
    assert "From: alpine:3.20" in conversion.text
    try:
        defkit.parse_text("Bootstrap: docker\nFrom alpine\n", "bad.def")
    except defkit.DefParseError as exc:
        assert isinstance(exc, defkit.DefkitError)
    else:
        raise AssertionError("a header line without a colon parsed")
