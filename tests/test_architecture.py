"""The layers hold: no autoseg package imports one above it, none imports an independent sibling, and the package
graph has no cycles. The layer list is read from pyproject.toml's import-linter contract (the one
docs/architecture.md shows); the package graph is computed here from every import statement, function-level
ones included, so a failure names the file and line of each edge that broke. import-linter's own check runs too
(it also finds cycles between the modules of one package)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autoseg"


def layers() -> list[tuple[set[str], bool]]:
    """Top to bottom: (the layer's packages, whether they are independent siblings)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    result = []
    for layer in contract["layers"]:
        independent = ":" not in layer
        names = {name.strip().strip("()") for name in layer.replace(":", "|").split("|")}
        result.append((names, independent))
    return result


def top_level(module: str) -> str | None:
    """'autoseg.planning.run' -> 'planning'; None for modules outside autoseg and for autoseg itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "autoseg" and len(parts) > 1 else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if not node.level:
        base = node.module or ""
    else:
        parts = module.split(".")
        parts = parts if is_package else parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    # `from autoseg import cli` imports the package autoseg.cli
    return [f"{base}.{alias.name}" if base == "autoseg" else base for alias in node.names]


def package_edges() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> ['autoseg/x/y.py:12', ...] for every import between two of
    autoseg's top-level packages or modules."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        source = top_level(module)
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in imported_modules(node, module, path.name == "__init__.py"):
                imported = top_level(target)
                if imported is not None and imported != source:
                    edges[(source, imported)].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return edges


def layer_of(package: str, table: list[tuple[set[str], bool]]) -> int:
    return next((i for i, (names, _) in enumerate(table) if package in names), -1)


def test_every_package_has_a_layer():
    table = layers()
    packages = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    missing = sorted(p for p in packages if layer_of(p, table) < 0)
    assert not missing, (
        f"packages without a layer: {missing}; place each in pyproject.toml's import-linter "
        "contract and in docs/architecture.md"
    )


def test_no_package_imports_upward_or_an_independent_sibling():
    table = layers()
    broken = []
    for (source, target), where in sorted(package_edges().items()):
        here, there = layer_of(source, table), layer_of(target, table)
        if there < 0 or here < 0:
            continue  # test_every_package_has_a_layer names these
        if there < here:
            broken.append(f"{source} -> {target} (upward): {', '.join(where)}")
        elif there == here and table[here][1]:
            broken.append(f"{source} -> {target} (independent siblings): {', '.join(where)}")
    assert not broken, "imports against the layers:\n" + "\n".join(broken)


def test_the_package_graph_has_no_cycles():
    graph: dict[str, set[str]] = defaultdict(set)
    edges = package_edges()
    for source, target in edges:
        graph[source].add(target)
    cycle = find_cycle(graph)
    assert cycle is None, (
        "package cycle: "
        + " -> ".join(cycle)
        + "\n"
        + "\n".join(f"{a} -> {b}: {', '.join(edges[(a, b)])}" for a, b in zip(cycle, cycle[1:]))
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search, colouring nodes)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_relative_imports_resolve_to_their_package():
    node = ast.parse("from ..data import dataset\nfrom . import ops").body
    assert imported_modules(node[0], "autoseg.planning.run", False) == ["autoseg.data"]
    assert imported_modules(node[1], "autoseg.networks", True) == ["autoseg.networks"]


def test_architecture_doc_lists_the_contract_layers():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    block = doc.split("```text\n", 1)[1].split("```", 1)[0]
    listed = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert listed == contract["layers"], "docs/architecture.md's layer block differs from pyproject.toml's contract"


def test_import_linter_contracts_are_kept():
    pytest.importorskip("importlinter")
    # The package's own entry point through this interpreter: no dependence on a console script on PATH.
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    result = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
