"""Asking a pod's Envoy, through its admin port, whether it rejected a config update.

Admin binds 127.0.0.1 inside the pod, so the question is asked from inside the sidecar's own
namespaces, as its UID. `update` compares the `update_rejected` counters before and after a
volume swap, so a config that Envoy refuses is reported instead of silently not applying.
"""

from __future__ import annotations

from mesh_components.local.containers import python_for_everyone
from mesh_components.local.pod import Pod

ADMIN = "http://127.0.0.1:15000"
_ASK = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())\n"
)


def rejections(pod: Pod) -> dict[str, int]:
    """Every `*update_rejected` counter of the pod's Envoy ({} when it has none running)."""
    proxies = [c for c in pod.sidecars + pod.containers if c.runs == "envoy" and c.running]
    if not proxies:
        return {}
    url = f"{ADMIN}/stats?filter=update_rejected$"
    done = pod.exec(proxies[0], [python_for_everyone(), "-I", "-c", _ASK, url], timeout=10)
    if done.returncode != 0:
        return {}
    counters = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            counters[name.strip()] = int(value)
    return counters


def newly_rejected(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The counters that rose, as `name +n`."""
    return [
        f"{name} +{value - before.get(name, 0)}"
        for name, value in sorted(after.items())
        if value > before.get(name, 0)
    ]
