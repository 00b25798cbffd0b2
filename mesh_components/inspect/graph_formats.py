"""A mesh graph as Mermaid (renders in GitHub and docs), Graphviz DOT, or SVG through `dot`.

Namespaces are subgraphs; services are rounded, workloads are boxes. Allowed calls are solid
arrows labelled with the port and allowed requests, splits are dashed with their weights,
denied calls are red crossed arrows, and a service's pods are dotted lines to their workload.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect.graph import Edge, EdgeKind, MeshGraph, Node, NodeKind
from mesh_components.terminal.redact import printable

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


# Mermaid's entity codes (`#124;`) spell any character inside a quoted label. Besides what
# would end the label or the edge (`"`, `|`), the entity mark itself, what HTML or Markdown
# labels would read (`<`, `>`, `&`, a backtick), and anything but printable ASCII (a newline
# or an ESC would reach the file and the terminal raw) are spelled so.
_MERMAID_SPECIAL = re.compile(r'[^ -~]|["#&<>`|]')


def _mermaid_text(text: str) -> str:
    """`text` as it may stand inside a quoted Mermaid label."""
    return _MERMAID_SPECIAL.sub(lambda match: f"#{ord(match.group())};", text)


# Every drawing carries this line, so `write` replaces only a file that `graph` drew.
SIGNATURE = "drawn by mesh_components graph"


def mermaid(graph: MeshGraph) -> str:
    lines = [f"%% {SIGNATURE}", "flowchart LR"]
    for namespace in graph.namespaces():
        title = _mermaid_text(f"namespace {namespace}")
        lines.append(f'  subgraph {_id("ns:" + namespace)}["{title}"]')
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
        return f'(["{_mermaid_text(node.name)}"])'
    return f'["{_mermaid_text(node.name)}"]'


def dot(graph: MeshGraph) -> str:
    lines = [f"// {SIGNATURE}", "digraph mesh {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    lines.append('  edge [fontname="Helvetica", fontsize=10];')
    for namespace in graph.namespaces():
        lines.append(f'  subgraph "{_dot_text("cluster_" + namespace)}" {{')
        lines.append(f'    label="{_dot_text("namespace " + namespace)}"; style=rounded;')
        for node in (n for n in graph.nodes if n.namespace == namespace):
            shape = "shape=box, style=rounded" if node.kind is NodeKind.SERVICE else "shape=box"
            lines.append(f'    "{_dot_text(node.key)}" [label="{_dot_text(node.name)}", {shape}];')
        lines.append("  }")
    lines += [f"  {_dot_edge(edge)}" for edge in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_edge(edge: Edge) -> str:
    source, target, label = (_dot_text(text) for text in (edge.source, edge.target, edge.label))
    return f'"{source}" -> "{target}" [label="{label}", {_DOT_STYLES[edge.kind]}];'


def _dot_text(text: str) -> str:
    """`text` as it may stand inside a quoted DOT string: a control or bidi character shown as
    an escape (`printable`), then backslashes and quotes escaped, so nothing ends the string
    and adds attributes (`URL="javascript:..."` would become a link in the SVG); a newline is
    DOT's own line break."""
    escaped = printable(text).replace("\\", "\\\\").replace('"', '\\"')
    return escaped.replace("\n", "\\n")


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
    """Write `format_`, or else the format the file's suffix names. A new file is created,
    never through a link; an existing one is replaced only when `graph` drew it, and only as a
    whole (a file beside it, renamed over it)."""
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
    try:
        existing = path.lstat()
    except FileNotFoundError:
        _create(path, text)
        return
    if stat.S_ISLNK(existing.st_mode):
        raise _output_problem(
            "graph-output-is-link",
            "a new file, or a drawing `graph` wrote earlier",
            f"{path}, a symbolic link",
            "name the file itself, not a link: a link could point anywhere",
        )
    if not (stat.S_ISREG(existing.st_mode) and _drawn_by_us(path)):
        raise _exists(path)
    _replace(path, text, stat.S_IMODE(existing.st_mode))


def _create(path: Path, text: str) -> None:
    """A new file at `path`: O_EXCL fails on anything already there, a dangling link included,
    and O_NOFOLLOW never opens through one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, 0o666)
    except FileExistsError:  # it appeared since we looked
        raise _exists(path) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def _replace(path: Path, text: str, mode: int) -> None:
    """`text` written beside `path`, then renamed over it: a rename replaces a link that took
    the drawing's place meanwhile, and never writes through it."""
    descriptor, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(text)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def _drawn_by_us(path: Path) -> bool:
    """Whether `path` is a regular file that starts with our SIGNATURE. Opened without
    following a link, and without blocking on a FIFO."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        head = handle.read(4096)
    return SIGNATURE.encode() in head


def _exists(path: Path) -> MeshValidationError:
    return _output_problem(
        "graph-output-exists",
        "a new file, or a drawing `graph` wrote earlier",
        f"{path}, which `graph` did not write",
        "name another file, or remove that one yourself if it should go",
    )


def _output_problem(code: str, expected: str, found: str, fix: str) -> MeshValidationError:
    return MeshValidationError([Problem("-o", code, expected, found, fix)])
