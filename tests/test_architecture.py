"""The shape of the code: layers that import only layers below them, no import cycles, one
public name per thing, modules of a readable size, test modules that do not import each other.

The import graph is built from the source with `ast`, imports inside functions included.
Imports under `if TYPE_CHECKING:` never run, so they do not make cycles; they still must not
reach a higher layer.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import REPO

SIM = REPO / "sim"
# the pipeline, lowest first: a module may import its own layer and the layers before it
LAYERS = ["base", "scenario", "sampling", "engine", "results", "runner", "analysis", "plots", "report",
          "interface"]
BASE = {"errors", "io", "vocab", "periods", "processes", "formats", "version"}
INTERFACE = {"api", "cli", "__main__"}
MAX_LINES = 400
# public names that several modules define on purpose, and why
SHARED_NAMES = {"register": "every command module of sim/cli registers its command under this one name"}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(SIM.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "facade"  # sim/__init__.py: the public API, imported lazily by name
    top = parts[1]
    if top in BASE:
        return "base"
    if top in INTERFACE:
        return "interface"
    assert top in LAYERS, f"{module}: a folder that is not a layer ({', '.join(LAYERS)})"
    return top


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(sim module imported, only for type checking) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for sub in node.body:
                typing_only.update(id(n) for n in ast.walk(sub))
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from sim.engine import kernels` imports the module sim.engine.kernels
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        for name in names:
            if name == "sim" or name.startswith("sim."):
                while name not in MODULES:  # `import sim.x.y` of a name inside a module
                    name = name.rsplit(".", 1)[0]
                out.append((name, id(node) in typing_only))
    return out


GRAPH = {m: imports(p) for m, p in MODULES.items()}


def test_every_folder_is_a_layer_and_every_module_has_one() -> None:
    assert {layer(m) for m in MODULES} <= set(LAYERS) | {"facade"}
    for folder in (p for p in SIM.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert folder.name in LAYERS or folder.name in INTERFACE, folder


def upward_imports(graph: dict[str, list[tuple[str, bool]]]) -> list[str]:
    """Every import from a module to a module of a higher layer."""
    bad = []
    for mod, deps in graph.items():
        here = layer(mod)
        for dep, _typing in deps:
            there = layer(dep)
            if here == "facade":
                continue
            if there == "facade":
                bad.append(f"{mod} imports the package facade `sim` (import from the layer instead)")
            elif LAYERS.index(there) > LAYERS.index(here):
                bad.append(f"{mod} ({here}) imports {dep} ({there})")
    return bad


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Import cycles of a graph {module: [modules it imports]} (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in graph.get(m, []):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)
    return cycles


def runtime_graph(graph: dict[str, list[tuple[str, bool]]]) -> dict[str, list[str]]:
    """The imports that run; importing sim.x.y also runs sim/x/__init__.py."""
    out = {}
    for m, deps in graph.items():
        edges = {d for d, typing_only in deps if not typing_only and d != m}
        for d in list(edges):
            parents = (".".join(d.split(".")[:k]) for k in range(2, len(d.split("."))))
            # inside its own package the package is already (being) imported
            edges |= {p for p in parents if p in MODULES and p != m and not m.startswith(p + ".")}
        out[m] = sorted(edges)
    return out


def test_no_import_reaches_a_higher_layer() -> None:
    bad = upward_imports(GRAPH)
    assert not bad, "\n".join(bad)


def test_the_runtime_import_graph_has_no_cycle() -> None:
    cycles = find_cycles(runtime_graph(GRAPH))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_catch_what_they_are_for() -> None:
    """An upward import, an import of the facade and a cycle are found (a pass means something)."""
    assert upward_imports({"sim.engine.batch": [("sim.plots.fan", False)]}) == [
        "sim.engine.batch (engine) imports sim.plots.fan (plots)"]
    assert upward_imports({"sim.engine.batch": [("sim.plots.fan", True)]})  # type-only still counts
    assert upward_imports({"sim.results.folder": [("sim", False)]})
    assert not upward_imports({"sim.plots.fan": [("sim.engine.batch", False), ("sim.errors", False)]})
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"]}) == [["a", "b", "c", "a"]]
    assert not find_cycles({"a": ["b"], "b": ["c"], "c": []})
    g = runtime_graph({"sim.engine.batch": [("sim.engine.flow", True), ("sim.results.folder", False)]})
    assert g["sim.engine.batch"] == ["sim.results", "sim.results.folder"]


def test_one_public_name_per_thing() -> None:
    """No two modules define a public function or class of the same name (re-exports aside)."""
    where: dict[str, list[str]] = defaultdict(list)
    for mod, path in MODULES.items():
        if path.name == "__init__.py" and mod == "sim":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                where[node.name].append(mod)
    dup = {n: ms for n, ms in where.items() if len(ms) > 1 and n not in SHARED_NAMES}
    assert not dup, dup


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_of_a_readable_size(module: str) -> None:
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{module}: {n} lines (split it where a reader would: one job a module)"


def test_test_modules_do_not_import_each_other() -> None:
    """Shared builders live in tests/helpers.py, tests/bad_scenarios.py and tests/regression.py."""
    bad = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for m in mods:
                leaf = m.split(".")[-1]
                if leaf.startswith("test_") or leaf == "conftest" or m.startswith("tests."):
                    bad.append(f"{path.name} imports {m}")
    assert not bad, bad


def test_the_public_api_is_listed() -> None:
    import sim

    listed = set(dir(sim))
    for name in sim.__all__:
        assert name in listed, name
        assert getattr(sim, name) is not None, name


def test_the_vocabulary_agrees_with_the_format_and_the_engine() -> None:
    """Names kept in several places for a reason (a pydantic Literal, a registry) agree."""
    import typing

    from sim.engine.events import HANDLERS
    from sim.sampling.designs import make_design
    from sim.scenario import events, schema
    from sim.vocab import DESIGNS, FREQUENCIES, METRICS, TABLE_METRICS

    assert typing.get_args(schema.Output.model_fields["frequency"].annotation) == FREQUENCIES
    assert set(events.EVENT_TYPES) == set(HANDLERS), "an event type has no handler (or a handler no type)"
    for kind in DESIGNS:
        assert make_design(kind, 8, 0).kind == kind
    for table, names in TABLE_METRICS.items():
        assert all(table in METRICS[m].tables for m in names)
    for cls in typing.get_args(typing.get_args(events.Event)[0]):
        assert set(cls.VALUES) <= set(cls.model_fields), cls


def test_no_file_names_a_path_outside_the_repository() -> None:
    """A user's clone has only the repository: its data, docs and tests must not point elsewhere."""
    outside = re.compile("|".join([re.escape("../" + "shared"), re.escape("/" + "work/")]))
    skip = {".git", "outputs", "__pycache__", ".venv", ".venv-ci", ".pytest_cache", ".hypothesis"}
    hits = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        generated = any(p.startswith(".venv") or p.endswith(".egg-info") for p in rel.parts)
        if path.is_dir() or set(rel.parts) & skip or generated:
            continue
        if path.suffix in {".png", ".parquet", ".npy"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        hits += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside.search(line)]
    assert not hits, hits
