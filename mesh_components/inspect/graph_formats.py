"""A mesh graph as Mermaid (renders in GitHub and docs), Graphviz DOT, or SVG through `dot`.

Namespaces are subgraphs; services are rounded, workloads are boxes. Allowed calls are solid
arrows labelled with the port and allowed requests, splits are dashed with their weights,
denied calls are red crossed arrows, and a service's pods are dotted lines to their workload.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect.graph import Edge, EdgeKind, MeshGraph, Node, NodeKind

_MERMAID_ARROWS = {
    EdgeKind.CALL: "-->",
    EdgeKind.DENIED: "--x",
    EdgeKind.SPLIT: "-.->",
    EdgeKind.ADDRESSES: "-->",
    EdgeKind.SERVES: "-.-",
}
_DOT_STYLES = {
    EdgeKind.CALL: "color=darkgreen",
    EdgeKind.DENIED: "color=red, fontcolor=red, style=dashed, arrowhead=tee",
    EdgeKind.SPLIT: "style=dashed, color=blue, fontcolor=blue",
    EdgeKind.ADDRESSES: "color=gray30",
    EdgeKind.SERVES: "style=dotted, arrowhead=none, color=gray50",
}


def _id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


# Every drawing carries this line, so `write` replaces only a file that `graph` drew.
SIGNATURE = "drawn by mesh_components graph"


def mermaid(graph: MeshGraph) -> str:
    lines = [f"%% {SIGNATURE}", "flowchart LR"]
    for namespace in graph.namespaces():
        lines.append(f'  subgraph {_id("ns:" + namespace)}["namespace {namespace}"]')
        for node in (n for n in graph.nodes if n.namespace == namespace):
            lines.append(f"    {_id(node.key)}{_mermaid_shape(node)}")
        lines.append("  end")
    for edge in graph.edges:
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        arrow = _MERMAID_ARROWS[edge.kind]
        lines.append(f"  {_id(edge.source)} {arrow}{label} {_id(edge.target)}")
    denied = [str(i) for i, e in enumerate(graph.edges) if e.kind is EdgeKind.DENIED]
    if denied:
        lines.append(f"  linkStyle {','.join(denied)} stroke:red,color:red")
    return "\n".join(lines) + "\n"


def _mermaid_shape(node: Node) -> str:
    if node.kind is NodeKind.SERVICE:
        return f'(["{node.name}"])'
    return f'["{node.name}"]'


def dot(graph: MeshGraph) -> str:
    lines = [f"// {SIGNATURE}", "digraph mesh {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    lines.append('  edge [fontname="Helvetica", fontsize=10];')
    for namespace in graph.namespaces():
        lines.append(f'  subgraph "cluster_{namespace}" {{')
        lines.append(f'    label="namespace {namespace}"; style=rounded;')
        for node in (n for n in graph.nodes if n.namespace == namespace):
            shape = "shape=box, style=rounded" if node.kind is NodeKind.SERVICE else "shape=box"
            lines.append(f'    "{node.key}" [label="{node.name}", {shape}];')
        lines.append("  }")
    lines += [f"  {_dot_edge(edge)}" for edge in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_edge(edge: Edge) -> str:
    label = edge.label.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{edge.source}" -> "{edge.target}" [label="{label}", {_DOT_STYLES[edge.kind]}];'


def svg(graph: MeshGraph) -> str:
    """SVG drawn by Graphviz's `dot`, which must be installed."""
    binary = shutil.which("dot")
    if binary is None:
        fix = (
            "install Graphviz (apt-get install graphviz, brew install graphviz), "
            "or write -o mesh.dot or -o mesh.mmd (or --format dot|mermaid)"
        )
        raise MeshValidationError(
            [Problem("-o", "graphviz-missing", "Graphviz `dot` on PATH", "no `dot`", fix)]
        )
    done = subprocess.run(
        [binary, "-Tsvg"], input=dot(graph), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise MeshValidationError(
            [
                Problem(
                    "-o",
                    "graphviz-failed",
                    "dot to draw the graph",
                    done.stderr.strip(),
                    "report this as a bug",
                )
            ]
        )
    prolog, _, rest = done.stdout.partition("\n")
    return f"{prolog}\n<!-- {SIGNATURE} -->\n{rest}"


_BY_FORMAT = {"mermaid": mermaid, "dot": dot, "svg": svg}
FORMATS = tuple(_BY_FORMAT)
"""`graph --format`."""
_BY_SUFFIX = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot", ".svg": "svg"}


def drawing(graph: MeshGraph, format_: str) -> str:
    """The graph in one of FORMATS."""
    return _BY_FORMAT[format_](graph)


def write(graph: MeshGraph, path: Path, format_: str | None = None) -> None:
    """Write `format_`, or else the format the file's suffix names."""
    chosen = format_ or _BY_SUFFIX.get(path.suffix.lower())
    if chosen is None:
        fix = (
            "name the file mesh.mmd (Mermaid), mesh.dot (Graphviz) or mesh.svg (needs "
            "Graphviz), or pass --format mermaid|dot|svg"
        )
        raise MeshValidationError(
            [
                Problem(
                    "-o",
                    "graph-unknown-format",
                    ".mmd, .dot or .svg",
                    repr(path.suffix or path.name),
                    fix,
                )
            ]
        )
    text = drawing(graph, chosen)
    if path.exists() and not _drawn_by_us(path):
        raise MeshValidationError(
            [
                Problem(
                    "-o",
                    "graph-output-exists",
                    "a new file, or a drawing `graph` wrote earlier",
                    f"{path}, which `graph` did not write",
                    "name another file, or remove that one yourself if it should go",
                )
            ]
        )
    path.write_text(text, encoding="utf-8")


def _drawn_by_us(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return SIGNATURE.encode() in head
