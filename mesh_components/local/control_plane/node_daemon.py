"""The node's process: `python -m mesh_components.local.control_plane.node_daemon NAME` runs
cluster NAME's node (see `node`) until SIGTERM, detached from `local cluster up`.

It prints `ready` (or `error: ...`) on its stdout for the waiting `local cluster up`, then logs
to `<state>/runner.log`. SIGTERM kills its pods and removes its network; the control plane is
stopped by `local cluster down` after it.
"""

from __future__ import annotations

import os
import signal
import sys

from mesh_components.errors import MeshError
from mesh_components.local.control_plane.node import ApiNode
from mesh_components.local.control_plane.plane import running
from mesh_components.local.daemon import detach_stdout, log_to
from mesh_components.local.layout import Layout, check_name


def main(name: str) -> int:
    layout = Layout(check_name(name))
    node = ApiNode(layout.cluster, running(layout).api())
    try:
        node.run()
    except MeshError as error:
        print(f"error: {error}", flush=True)
        return 2
    except Exception as error:  # Reported to `local cluster up`, which prints it.
        print(f"error: {type(error).__name__}: {error}", flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: _exit(node))
    log_to(layout.log)
    print("ready", flush=True)
    detach_stdout()
    while True:
        signal.pause()


def _exit(node: ApiNode) -> None:
    node.stop()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
