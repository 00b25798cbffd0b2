"""The tree reads as the architecture: no module imports one that imports it back, packages
depend on each other in one direction, and the package root holds only what every layer uses.

Imports are read from the source with `ast`: at the top of a module, inside functions and under
`if TYPE_CHECKING:` alike. `from pkg import name` imports the submodule `pkg.name` when there is
one, else `pkg` itself (its `__init__`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import mesh_components

PACKAGE = Path(mesh_components.__file__).parent
ROOT_MODULES_AT_MOST = 10


def _modules() -> dict[str, Path]:
    """Every module under mesh_components by dotted name; a package is its `__init__`."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, source: str, *, is_package: bool = False) -> Iterator[str]:
    """The modules of mesh_components that module `name` imports anywhere in `source`."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in MODULES else base
                if target in MODULES:
                    yield target


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        imported = _imported(name, path.read_text(), is_package=path.name == "__init__.py")
        graph[name] = set(imported) - {name}
    return graph


GRAPH = _graph()


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """At least one cycle (a path back to its start) for every group of nodes that reach each
    other: a depth-first walk meets each such group through an edge back onto its own path."""
    on_path: list[str] = []
    done: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        on_path.append(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                found.append([*on_path[on_path.index(target) :], target])
            elif target not in done:
                visit(target)
        on_path.pop()
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node)
    return found


def _part(module: str) -> str:
    """The top-level package (or root module) a module belongs to."""
    return ".".join(module.split(".")[:2])


def test_imports_are_read_everywhere_in_a_module() -> None:
    source = """
from typing import TYPE_CHECKING
import mesh_components.pulumi.handle
from mesh_components import errors, build
from mesh_components.pki import MeshCA, ca_file
if TYPE_CHECKING:
    from mesh_components.pulumi.mesh import Mesh
def later():
    from mesh_components.cli import demo
"""
    assert set(_imported("mesh_components.x", source)) == {
        "mesh_components.pulumi.handle",
        "mesh_components.errors",
        "mesh_components",
        "mesh_components.pki",
        "mesh_components.pki.ca_file",
        "mesh_components.pulumi.mesh",
        "mesh_components.cli.demo",
    }


def test_relative_imports_resolve_from_the_importing_module() -> None:
    source = "from . import authority\nfrom ..model import refs\nfrom .rollover import MeshTrust"
    assert set(_imported("mesh_components.pki.ca_file", source)) == {
        "mesh_components.pki.authority",
        "mesh_components.model.refs",
        "mesh_components.pki.rollover",
    }


def test_the_import_graph_sees_the_modules_and_their_imports() -> None:
    assert "mesh_components.pulumi.handle" in GRAPH["mesh_components.pulumi.lifecycle"]
    assert "mesh_components.cli.demo" in GRAPH["mesh_components.cli.app"]  # inside a function


def test_a_cycle_is_found_with_its_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycles(GRAPH) == []


def test_no_package_imports_one_that_imports_it_back() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        packages.setdefault(_part(module), set()).update(
            _part(target) for target in targets if _part(target) != _part(module)
        )
    assert _cycles(packages) == []


def test_the_package_root_holds_only_a_few_shared_modules() -> None:
    root = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(root) <= ROOT_MODULES_AT_MOST, root


def test_every_package_says_what_it_is_for() -> None:
    silent = [
        str(path.relative_to(PACKAGE.parent))
        for path in sorted(PACKAGE.rglob("__init__.py"))
        if not (ast.get_docstring(ast.parse(path.read_text())) or "").strip()
    ]
    assert silent == []
