"""The inspect verbs: `proxy-config`, `explain`, `diff` and `graph`.

`add_commands(commands)` registers them on the main parser. Bad input (an unknown workload, a
malformed HOST:PORT) raises MeshValidationError, which the main CLI prints as one paragraph
and turns into exit code 2. Reports are drawn by `terminal.console`: rich on a terminal, the
plain text of the goldens in a pipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect import diff_text, explain_text, graph_formats
from mesh_components.inspect.diff import diff
from mesh_components.inspect.explain import Request, Verdict, explain
from mesh_components.inspect.graph import mesh_graph
from mesh_components.inspect.model import InspectedMesh, Proxy
from mesh_components.inspect.proxy_config import Section, blocks, raw
from mesh_components.inspect.sources import load_mesh
from mesh_components.model import WorkloadRef
from mesh_components.terminal.console import show, show_data
from mesh_components.terminal.parser import Commands, MeshParser, add_output_format, add_verb
from mesh_components.terminal.redact import printable

_PATH_HELP = (
    "a spec file, a directory holding mesh.yaml, a Pulumi project, a render directory, "
    "or REV:path in git"
)

_PROXY_CONFIG_EXAMPLES = """
python -m mesh_components proxy-config examples/bookstore --workload bookbuyer/bookbuyer routes
python -m mesh_components proxy-config rendered/ --workload bookstore/bookstore-v1 -o yaml
python -m mesh_components proxy-config . --workload bookbuyer/bookbuyer   # a Pulumi project
"""
_EXPLAIN_EXAMPLES = """
python -m mesh_components explain examples/bookstore --from bookbuyer/bookbuyer \\
    --to bookstore.bookstore:14001 --path /books-bought \\
    --header client-app=bookbuyer --header user-agent=go-http-client/1.1
python -m mesh_components explain examples/bookstore --from bookthief/bookthief \\
    --to bookstore.bookstore:14001

exit codes: 0 allowed, 1 denied or unroutable, 2 bad input
"""
_DIFF_EXAMPLES = """
python -m mesh_components diff examples/bookstore new/mesh.yaml
python -m mesh_components diff HEAD~1:examples/bookstore examples/bookstore
python -m mesh_components diff rendered-before/ rendered-after/   # also shows rotating certs
python -m mesh_components diff examples/bookstore . -o json       # a spec against a program

exit codes: 0 no differences, 1 differences, 2 bad input
"""
_GRAPH_EXAMPLES = """
python -m mesh_components graph examples/bookstore              # Mermaid on stdout
python -m mesh_components graph examples/bookstore -o mesh.dot
python -m mesh_components graph examples/bookstore -o mesh.svg  # needs Graphviz `dot`
python -m mesh_components graph examples/bookstore --format dot | dot -Tpng > mesh.png
"""

# On a terminal: verdicts, diff lines and headings in colour (the text itself is unchanged).
_EXPLAIN_STYLES = (
    (r"\bALLOWED\b|: allowed$|(?<= )allowed(?= by)|\bmatches:", "green"),
    (r"\b(DENIED|UNROUTABLE)\b|does not match", "red"),
    (r"(?m)^(request|from|client side:|backend|verdict:)", "bold"),
    (r"(?m)^ +server ", "bold"),
)
_DIFF_STYLES = (
    (r"(?m)^ *\+ .*$", "green"),
    (r"(?m)^ *- .*$", "red"),
    (r"(?m)^ *~ .*$", "yellow"),
    (r"(?m)^(---|\+\+\+) .*$", "bold"),
    (r"(?m)^summary:.*$|^no differences$", "bold"),
)


def add_commands(commands: Commands) -> None:
    """Register the four verbs on the main CLI's subparsers."""
    _proxy_config(commands)
    _explain(commands)
    _diff(commands)
    _graph(commands)


class _IntermixedParser(MeshParser):
    """Lets the optional SECTION follow options (`PATH --workload X routes`): Python 3.11's
    argparse would fill an optional positional, empty, together with PATH and then reject
    SECTION as unrecognized."""

    _inside = False

    def parse_known_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._inside:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def _proxy_config(commands: Commands) -> None:
    parser = add_verb(
        commands,
        "proxy-config",
        "show one workload's sidecar config as tables",
        _PROXY_CONFIG_EXAMPLES,
    )
    parser.add_argument("source", metavar="PATH", help=_PATH_HELP)
    # The main parser's subparsers build plain parsers; this one needs intermixed parsing.
    parser.__class__ = _IntermixedParser
    parser.add_argument("--workload", required=True, metavar="NS/NAME", help="the workload")
    parser.add_argument("section", nargs="?", default="all", choices=[s.value for s in Section])
    add_output_format(parser)
    parser.set_defaults(run=_run_proxy_config)


def _run_proxy_config(args: argparse.Namespace) -> int:
    mesh = load_mesh(args.source)
    proxy = _proxy(mesh, args.workload, "--workload")
    section = Section(args.section)
    with _edited_files(mesh):
        if args.output == "table":
            show(blocks(proxy, section))
        else:
            show_data(raw(proxy, section), args.output)
    return 0


def _explain(commands: Commands) -> None:
    parser = add_verb(
        commands,
        "explain",
        "follow one request through the proxies and their policies",
        _EXPLAIN_EXAMPLES,
    )
    parser.add_argument("source", metavar="PATH", help=_PATH_HELP)
    parser.add_argument(
        "--from", dest="client", required=True, metavar="NS/WORKLOAD", help="the calling workload"
    )
    parser.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="HOST:PORT",
        help="what the app dials, as it writes it",
    )
    parser.add_argument("--path", default="/", help="HTTP path, query included (default: /)")
    parser.add_argument("--method", default="GET", help="HTTP method (default: GET)")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a request header; repeat for more (host=... overrides Host)",
    )
    add_output_format(parser)
    parser.set_defaults(run=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
    host, port = _host_port(args.target)
    request = Request(host, port, args.method.upper(), args.path, _headers(args.header))
    mesh = load_mesh(args.source)
    client = _proxy(mesh, args.client, "--from")
    with _edited_files(mesh):
        result = explain(mesh, client, request)
        if args.output == "table":
            show([explain_text.render(result)], _EXPLAIN_STYLES)
        else:
            show_data(dataclasses.asdict(result), args.output)
    return 0 if result.verdict is Verdict.ALLOWED else 1


def _diff(commands: Commands) -> None:
    parser = add_verb(
        commands, "diff", "what changes between two meshes, per workload", _DIFF_EXAMPLES
    )
    parser.add_argument("old", help=_PATH_HELP)
    parser.add_argument("new", help=_PATH_HELP)
    add_output_format(parser)
    parser.set_defaults(run=_run_diff)


def _run_diff(args: argparse.Namespace) -> int:
    old, new = load_mesh(args.old), load_mesh(args.new)
    with _edited_files(old, new):
        result = diff(old, new)
        if args.output == "table":
            show([diff_text.render(result, args.old, args.new)], _DIFF_STYLES)
        else:
            show_data(dataclasses.asdict(result), args.output)
    return 0 if result.empty else 1


def _graph(commands: Commands) -> None:
    parser = add_verb(
        commands, "graph", "draw who may call whom: Mermaid, DOT or SVG", _GRAPH_EXAMPLES
    )
    parser.add_argument("source", metavar="PATH", help=_PATH_HELP)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help="write the drawing to mesh.mmd, mesh.dot or mesh.svg (default: stdout)",
    )
    parser.add_argument(
        "--format",
        choices=graph_formats.FORMATS,
        help="mermaid, dot or svg (default: from the file name's suffix; mermaid on stdout)",
    )
    parser.set_defaults(run=_run_graph)


def _run_graph(args: argparse.Namespace) -> int:
    mesh = load_mesh(args.source)
    with _edited_files(mesh):
        graph = mesh_graph(mesh)
    if args.output is None:
        # The emitters escape every name and label; printable is the terminal's own guard.
        print(printable(graph_formats.drawing(graph, args.format or "mermaid")), end="")
        return 0
    graph_formats.write(graph, args.output, args.format)
    print(f"wrote {args.output}")
    return 0


@contextmanager
def _edited_files(*meshes: InspectedMesh) -> Iterator[None]:
    """A render directory is files anyone could have edited: Envoy config of a shape `render`
    never writes is a problem naming the directory, not a traceback. A mesh compiled here
    gets no such cover: a failure reading it is our bug, and shows as one."""
    try:
        yield
    except (LookupError, TypeError, AttributeError, ValueError) as error:
        edited = [mesh.source for mesh in meshes if mesh.from_files]
        if not edited:
            raise
        expected = "Envoy config as `render` writes it"
        found = f"config it cannot read ({type(error).__name__}: {error})"
        fix = "render the directory again (if nobody edited it, please report a bug)"
        problem = Problem(" and ".join(edited), "inspect-render-unreadable", expected, found, fix)
        raise MeshValidationError([problem]) from None


def _proxy(mesh: InspectedMesh, given: str, flag: str) -> Proxy:
    namespace, slash, name = given.partition("/")
    proxy = mesh.proxy(WorkloadRef(namespace, name)) if slash else None
    if proxy is None:
        known = ", ".join(str(w) for w in mesh.workloads()) or "none"
        fix = f"pass {flag} NAMESPACE/NAME, one of: {known}"
        raise MeshValidationError(
            [
                Problem(
                    flag,
                    "inspect-unknown-workload",
                    f"a workload of {mesh.source}",
                    repr(given),
                    fix,
                )
            ]
        )
    return proxy


def _host_port(target: str) -> tuple[str, int]:
    """HOST:PORT, HOST a DNS name, an IPv4 address or a bracketed IPv6 one ([::1]:80), PORT
    in ASCII digits (str.isdigit would take '٤' for 4)."""
    host, colon, port = target.rpartition(":")
    if colon and _PORT.fullmatch(port) and 0 < int(port) < 65536:
        address = _host(host)
        if address is not None:
            return address, int(port)
    fix = "write what the app dials, with its port: --to bookstore.bookstore:14001"
    raise MeshValidationError(
        [
            Problem(
                "--to",
                "inspect-bad-target",
                "HOST:PORT: a DNS name, an IPv4 address or a bracketed IPv6 address, "
                "and a port from 1 to 65535",
                repr(target),
                fix,
            )
        ]
    )


_PORT = re.compile(r"[0-9]{1,5}")
# A DNS name as an app dials it: letters of either case, an optional final dot.
_DNS_LABEL = r"[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*\.?")
_DNS_NAME_MAX = 253
_IPV4_LIKE = re.compile(r"[0-9.]+")


def _host(given: str) -> str | None:
    """The host as explain matches it (an IPv6 address without its brackets), or None."""
    if given.startswith("[") and given.endswith("]") and "%" not in given:  # no zone: any text
        return _ip(given[1:-1], ipaddress.IPv6Address)
    if _IPV4_LIKE.fullmatch(given):  # then it must be one: not 999.1.1.1
        return _ip(given, ipaddress.IPv4Address)
    if _DNS_NAME.fullmatch(given) and len(given.rstrip(".")) <= _DNS_NAME_MAX:
        return given
    return None


def _ip(given: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str | None:
    try:
        return str(kind(given))
    except ValueError:
        return None


def _headers(given: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            fix = "write each header as --header NAME=VALUE (--header client-app=bookbuyer)"
            raise MeshValidationError(
                [Problem("--header", "inspect-bad-header", "NAME=VALUE", repr(item), fix)]
            )
        pairs.append((name.strip().lower(), value))
    return tuple(sorted(pairs))
