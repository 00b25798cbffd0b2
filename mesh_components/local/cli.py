"""`python -m mesh_components local up|update|down|status|curl`: rendered manifests, run here.

`up` starts a detached runner (see `daemon`) and returns once every pod is Ready; `update`,
`down` and `status` talk to it through the cluster's state dir; `curl` sends traffic from
inside a pod. Everything needs Linux and root; without them each verb says so in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
from pathlib import Path
from typing import Any

from mesh_components.local import cleanup, processes, system, traffic
from mesh_components.local.control_plane.cli import add_cluster_verbs
from mesh_components.local.daemon import launch
from mesh_components.local.layout import Layout, check_name
from mesh_components.local.manifests import read_dir
from mesh_components.local.system import LocalRunnerError
from mesh_components.terminal.console import Table, is_terminal, show, show_data
from mesh_components.terminal.parser import PROGRAM, Commands, add_output_format, add_verb

UPDATE_TIMEOUT = 400.0
_STATUS_STYLES = ((r"\bReady\b", "green"), (r"warning:.*", "bold yellow"))


def add_commands(commands: Commands) -> None:
    """The `local` command and its verbs, added to the main parser's subcommands."""
    local = add_verb(
        commands,
        "local",
        "run rendered manifests here, with real Envoys (Linux, root)",
        f"{PROGRAM} render examples/bookstore -o k8s/ --ca-file ca.secret.yaml --new-ca\n"
        f"{PROGRAM} local up k8s/\n"
        f"{PROGRAM} local curl http://bookstore.bookstore:14001/books-bought "
        "--from bookbuyer/bookbuyer -n 10\n"
        f"{PROGRAM} local down",
    )
    verbs = local.add_subparsers(required=True, metavar="VERB")
    up = add_verb(
        verbs,
        "up",
        "start a local cluster; returns once every pod is Ready",
        f"{PROGRAM} local up k8s/\n{PROGRAM} local up k8s-canary/ --name canary",
    )
    up.add_argument("dir", type=Path, help="the output directory of `render`")
    _name(up)
    up.set_defaults(run=_up)
    update = add_verb(
        verbs,
        "update",
        "apply changed manifests (hot reload, rollouts)",
        f"{PROGRAM} local update k8s/   # after rendering again into k8s/",
    )
    update.add_argument("dir", type=Path, help="the output directory of `render`")
    _name(update)
    update.set_defaults(run=_update)
    down = add_verb(
        verbs,
        "down",
        "remove the cluster and everything it created",
        f"{PROGRAM} local down\n{PROGRAM} local down --name canary",
    )
    _name(down)
    down.set_defaults(run=_down)
    status = add_verb(
        verbs,
        "status",
        "pods, readiness, IPs and Services",
        f"{PROGRAM} local status\n{PROGRAM} local status -o json",
    )
    _name(status)
    add_output_format(status)
    status.set_defaults(run=_status)
    _curl(verbs)
    add_cluster_verbs(verbs)


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="local", help="the cluster's name (default: %(default)s)")


def _curl(verbs: Commands) -> None:
    curl = add_verb(
        verbs,
        "curl",
        "send requests from inside a pod, as its app's UID",
        f"{PROGRAM} local curl http://bookstore.bookstore:14001/books-bought "
        "--from bookbuyer/bookbuyer -n 20\n"
        f"{PROGRAM} local curl mysql.bookwarehouse:3306 --tcp --from bookwarehouse/bookwarehouse",
    )
    curl.add_argument("url", help="http://host:port/path, or host:port with --tcp")
    curl.add_argument("--from", dest="source", required=True, metavar="NS/WORKLOAD")
    curl.add_argument("-n", "--count", type=int, default=1, help="requests (default: 1)")
    curl.add_argument("--tcp", action="store_true", help="TCP: read a greeting, echo a line")
    curl.add_argument("-X", "--method", default="GET")
    curl.add_argument("-H", "--header", action="append", default=[], metavar="NAME: VALUE")
    curl.add_argument("-d", "--data", default=None, help="request body")
    _name(curl)
    curl.set_defaults(run=_curl_run)


def _up(args: argparse.Namespace) -> int:
    system.require()
    layout = Layout(check_name(args.name))
    directory = args.dir.resolve()
    read_dir(directory)  # Bad input is reported here, before anything is created.
    if layout.state.exists():
        print(f"removing leftovers of cluster {layout.cluster}: {cleanup.remove(layout)}")
    pid = launch("mesh_components.local.daemon", layout.cluster, str(directory), what="runner")
    print(f"cluster {layout.cluster} is up (runner pid {pid}, state {layout.state})")
    return _status(args)


def _update(args: argparse.Namespace) -> int:
    system.require()
    read_dir(args.dir)
    reply = _ask(Layout(check_name(args.name)), {"op": "update", "dir": str(args.dir.resolve())})
    print(f"updated: {reply['message']}")
    return 0


def _down(args: argparse.Namespace) -> int:
    system.require()
    layout = Layout(check_name(args.name))
    runner = processes.recorded(layout.state / cleanup.DAEMON_PIDFILE)
    by_runner = cleanup.Removed(0, 0, False)
    with contextlib.suppress(LocalRunnerError):  # No runner: remove what is left by name.
        by_runner = _removed(_ask(layout, {"op": "down"}, timeout=120))
        if runner is not None and processes.wait_gone(runner, 10):
            by_runner = _total(by_runner, cleanup.Removed(1, 0, False))  # the runner itself
    removed = _total(by_runner, cleanup.remove(layout))
    left = cleanup.leftovers(layout)
    if left:
        raise LocalRunnerError(f"could not remove: {', '.join(left)}")
    print(f"cluster {layout.cluster} is down (removed {removed})")
    return 0


def _removed(reply: dict[str, Any]) -> cleanup.Removed:
    """What the runner's `down` removed, from its reply (nothing, from a runner that does not
    say)."""
    counts = reply.get("removed") or {}
    return cleanup.Removed(
        int(counts.get("processes", 0)),
        int(counts.get("namespaces", 0)),
        bool(counts.get("state", False)),
    )


def _total(*parts: cleanup.Removed) -> cleanup.Removed:
    """The runner's removals and the by-name cleanup's after it, as one count."""
    return cleanup.Removed(
        sum(p.processes for p in parts),
        sum(p.namespaces for p in parts),
        any(p.state for p in parts),
    )


def _status(args: argparse.Namespace) -> int:
    layout = Layout(check_name(args.name))
    status = read_status(layout)
    stale = processes.recorded(layout.state / cleanup.DAEMON_PIDFILE) is None
    output = getattr(args, "output", "table")  # `up` prints the status too
    if output != "table":
        show_data({**status, "stale": stale}, output)
        return 0
    head = f"cluster {status['cluster']}: node namespace {status['node']}, DNS {status['dns']}"
    if stale:
        head += "\n  warning: its runner is not running, so this is stale: run `local down`"
    if is_terminal(sys.stdout):
        show([head, _pods_table(status), _services_table(status)], _STATUS_STYLES)
    else:
        print("\n".join([head, *_status_lines(status)]))
    return 0


def _status_lines(status: dict[str, Any]) -> list[str]:
    """The status as a pipe gets it, one line per pod and Service (stable for scripts)."""
    lines = []
    for pod in status["pods"]:
        ready = "Ready" if pod["ready"] else pod["phase"]
        lines.append(
            f"  pod {pod['namespace']}/{pod['name']:<34} {pod['ip']:<12} {ready:<11} "
            f"restarts {_restarts(pod)}"
        )
    for svc in status["services"]:
        ports = ",".join(map(str, svc["ports"]))
        lines.append(
            f"  service {svc['namespace']}/{svc['name']:<30} {svc['clusterIP']:<12} {ports}"
        )
    return lines


def _restarts(pod: dict[str, Any]) -> str:
    return str(sum(c["restarts"] for c in pod["containers"]))


def _pods_table(status: dict[str, Any]) -> Table:
    rows = tuple(
        (
            f"{pod['namespace']}/{pod['name']}",
            pod["ip"],
            "Ready" if pod["ready"] else pod["phase"],
            _restarts(pod),
        )
        for pod in status["pods"]
    )
    return Table(("POD", "IP", "STATUS", "RESTARTS"), rows)


def _services_table(status: dict[str, Any]) -> Table:
    rows = tuple(
        (f"{svc['namespace']}/{svc['name']}", svc["clusterIP"], ",".join(map(str, svc["ports"])))
        for svc in status["services"]
    )
    return Table(("SERVICE", "CLUSTER IP", "PORTS"), rows)


def _curl_run(args: argparse.Namespace) -> int:
    system.require()
    layout = Layout(check_name(args.name))
    where = app_of(read_status(layout), args.source)
    headers = dict(_header(h) for h in args.header)
    request = traffic.Request(
        args.url,
        count=args.count,
        tcp=args.tcp,
        method=args.method,
        headers=headers,
        body=args.data,
    )
    result = traffic.send(where, layout.bin / "client.py", request)
    print(result.summary())
    return 0 if not result.failures() else 1


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep:
        raise LocalRunnerError(f"-H {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def app_of(status: dict[str, Any], source: str) -> traffic.Exec:
    namespace, _, workload = source.partition("/")
    for pod in status["pods"]:
        if (
            pod["namespace"] == namespace
            and pod["workload"].split("/")[1] == workload
            and pod["ready"]
        ):
            for container in pod["containers"]:
                if container["runs"] == "stub" and container["pid"]:
                    return traffic.Exec(container["pid"], container["uid"], container["gid"])
    raise LocalRunnerError(f"no Ready pod with an app for {source!r} (see `local status`)")


def read_status(layout: Layout) -> dict[str, Any]:
    try:
        status: dict[str, Any] = json.loads(layout.status_file.read_text())
    except (OSError, ValueError):
        raise LocalRunnerError(
            f"cluster {layout.cluster} is not up (start it with `local up DIR`)"
        ) from None
    return status


def _ask(
    layout: Layout, request: dict[str, Any], timeout: float = UPDATE_TIMEOUT
) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(layout.control_socket))
        except OSError:
            raise LocalRunnerError(
                f"cluster {layout.cluster} has no runner (start it with `local up DIR`)"
            ) from None
        try:
            conn.sendall(json.dumps(request).encode() + b"\n")
            reply: dict[str, Any] = json.loads(conn.makefile().readline() or "{}")
        except TimeoutError:
            raise LocalRunnerError(
                f"cluster {layout.cluster}'s runner did not answer within {timeout:g} s "
                f"(its log: {layout.log}); run `local down` and `local up` again"
            ) from None
        except (OSError, ValueError) as error:
            raise LocalRunnerError(
                f"cluster {layout.cluster}'s runner broke off its answer ({error})"
            ) from None
    if not reply.get("ok"):
        raise LocalRunnerError(str(reply.get("error", "the runner did not answer")))
    return reply
