"""Removing a cluster by name: processes from their pid files, namespaces by prefix, state dir.

Works without the runner (it may have been killed): everything it made is findable from the
cluster's name. Run by `down`, and by `up` before it starts, so leftovers never pile up.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from mesh_components.local import processes, system
from mesh_components.local.layout import Layout

DAEMON_PIDFILE = "runner.pid"


@dataclass(frozen=True, slots=True)
class Removed:
    processes: int
    namespaces: int
    state: bool

    def __str__(self) -> str:
        return (
            f"{self.processes} processes, {self.namespaces} network namespaces"
            f"{', the state dir' if self.state else ''}"
        )


def remove(layout: Layout) -> Removed:
    """Kill, delete and remove everything of `layout`'s cluster; what was found."""
    killed = 0
    runner = layout.state / DAEMON_PIDFILE
    if processes.kill_recorded(runner):
        killed += 1
    if layout.pids.is_dir():
        for pidfile in sorted(layout.pids.glob("*.pid")):
            killed += processes.kill_recorded(pidfile)
    namespaces = [name for name in system.netns_list() if layout.owns_netns(name)]
    for name in namespaces:
        system.run_quietly(["ip", "netns", "delete", name])
    existed = layout.state.exists()
    shutil.rmtree(layout.state, ignore_errors=True)
    return Removed(killed, len(namespaces), existed)


def leftovers(layout: Layout) -> list[str]:
    """What of the cluster is still there: namespaces, mounts, live processes, the state dir."""
    found = [f"netns {n}" for n in system.netns_list() if layout.owns_netns(n)]
    found += [f"mount {m}" for m in system.mountinfo() if _ours(m, layout)]
    if layout.pids.is_dir():
        for pidfile in layout.pids.glob("*.pid"):
            if processes.recorded(pidfile) is not None:
                found.append(f"process {pidfile.stem}")
    if layout.state.exists():
        found.append(f"state {layout.state}")
    return found


def _ours(mount: str, layout: Layout) -> bool:
    """Whether a mountinfo line mounts something of the cluster's: one of its network
    namespaces, or anything under its state directory (compared field by field: cluster
    `c1`'s names are the start of cluster `c12`'s)."""
    state = str(layout.state)
    for field in mount.split():
        if field == state or field.startswith(f"{state}/"):
            return True
        if field.startswith("/run/netns/") and layout.owns_netns(field.removeprefix("/run/netns/")):
            return True
    return False
