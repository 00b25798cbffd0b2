"""`local cluster up|down --name N`: a real control plane here, for kubectl and `pulumi up`.

`up` starts etcd, the API server, the controller manager and the scheduler (detached: they
outlive the command) and prints `KUBECONFIG=PATH` as its last line. `down` stops them and
removes the cluster's state directory. There is no node yet (issue 17): pods are created and
admitted, and wait to be scheduled.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil

from mesh_components.local.control_plane.plane import BINARIES, control_plane_folder, start, stop
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
    layout = Layout(check_name(args.name))
    if control_plane_folder(layout).exists():
        raise LocalRunnerError(
            f"cluster {layout.cluster} already has a control plane; "
            f"run `{PROGRAM} local cluster down --name {layout.cluster}` first"
        )
    plane = start(layout)
    print(f"cluster {layout.cluster}: API server on https://127.0.0.1:{plane.api_port}")
    print(f"KUBECONFIG={plane.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    layout = Layout(check_name(args.name))
    stopped = stop(layout)
    shutil.rmtree(control_plane_folder(layout), ignore_errors=True)
    for name in BINARIES:
        (layout.pids / f"{name}.pid").unlink(missing_ok=True)
    for folder in (layout.pids, layout.state):  # unless `local up` keeps a cluster there too
        with contextlib.suppress(OSError):
            folder.rmdir()
    print(f"cluster {layout.cluster}: stopped {stopped} control-plane processes")
    return 0
