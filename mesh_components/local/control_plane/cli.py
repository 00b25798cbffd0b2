"""`local cluster up|down --name N`: a real control plane here, for kubectl and `pulumi up`.

`up` starts etcd, the API server, the controller manager, the scheduler and the node (the
local runner as kubelet, kube-proxy and DNS, see `node`), all detached so that they outlive the
command, and prints `KUBECONFIG=PATH` as its last line. `down` stops the node first (its pods
end, its network goes), then the control plane, and removes the cluster's state directory;
it fails naming anything left behind.
"""

from __future__ import annotations

import argparse
import signal

from mesh_components.local import cleanup, processes, system
from mesh_components.local.control_plane.plane import start, stop
from mesh_components.local.daemon import launch
from mesh_components.local.layout import Layout, check_name
from mesh_components.local.system import LocalRunnerError
from mesh_components.terminal.parser import PROGRAM, Commands, add_verb


def add_cluster_verbs(verbs: Commands) -> None:
    """`local cluster up|down`, added to the `local` verbs."""
    cluster = add_verb(
        verbs,
        "cluster",
        "a real Kubernetes control plane here (etcd, API server, controllers, scheduler)",
        f"{PROGRAM} local cluster up --name dev\n"
        f"export KUBECONFIG=...   # the path up printed\n"
        f"{PROGRAM} local cluster down --name dev",
    )
    actions = cluster.add_subparsers(required=True, metavar="ACTION")
    up = add_verb(actions, "up", "start it; prints KUBECONFIG=PATH", f"{PROGRAM} local cluster up")
    up.add_argument("--name", default="local", help="the cluster's name (default: local)")
    up.set_defaults(run=_up)
    down = add_verb(
        actions, "down", "stop it and remove its state", f"{PROGRAM} local cluster down"
    )
    down.add_argument("--name", default="local", help="the cluster's name (default: local)")
    down.set_defaults(run=_down)


def _up(args: argparse.Namespace) -> int:
    system.require()
    layout = Layout(check_name(args.name))
    if layout.state.exists():
        raise LocalRunnerError(
            f"cluster {layout.cluster} exists already; "
            f"run `{PROGRAM} local cluster down --name {layout.cluster}` first"
        )
    plane = start(layout)
    try:
        pid = _start_node(layout)
    except BaseException:
        stop(layout)
        cleanup.remove(layout)
        raise
    print(f"cluster {layout.cluster}: API server on https://127.0.0.1:{plane.api_port}, "
          f"node {layout.cluster} (pid {pid}, log {layout.log})")  # fmt: skip
    print(f"KUBECONFIG={plane.kubeconfig}")
    return 0


def _start_node(layout: Layout) -> int:
    """Start the node's process; its pid once it is registered and watching."""
    return launch("mesh_components.local.control_plane.node_daemon", layout.cluster, what="node")


def _down(args: argparse.Namespace) -> int:
    system.require()
    layout = Layout(check_name(args.name))
    node = processes.recorded(layout.state / cleanup.DAEMON_PIDFILE)
    if node is not None:  # It ends its pods gracefully enough, and removes its network.
        processes.signal_group(node, signal.SIGTERM)
        processes.wait_gone(node, NODE_STOP_TIMEOUT)
    stopped = stop(layout)
    removed = cleanup.remove(layout)
    left = cleanup.leftovers(layout)
    if left:
        raise LocalRunnerError(f"could not remove: {', '.join(left)}")
    node_said = "no node was running" if node is None else "stopped the node (1 process)"
    print(f"cluster {layout.cluster}: {node_said} and {stopped} control-plane processes; "
          f"removed {removed}")  # fmt: skip
    return 0


NODE_STOP_TIMEOUT = 60.0
