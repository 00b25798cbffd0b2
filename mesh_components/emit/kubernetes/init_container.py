"""The init container that installs the interception rules before the sidecar and the app start.

One shell script, given as an explicit command, replaces the pod's IPv4 nat table and IPv6
filter table with `iptables-restore` and `ip6tables-restore` (each table swapped atomically, so
a re-run gives the same rules, never duplicates), then prints what the kernel now holds.
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.kubernetes import iptables
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.model.settings import Interception, MeshSettings

LOCK_FILE = "/dev/shm/xtables.lock"
"""iptables-legacy locks /run/xtables.lock, which a read-only root file system refuses (exit 4,
measured); /dev/shm stays writable. The nf_tables backend takes no lock and ignores it."""

_IPV4_END = "MESH_IPV4_RULES"
_IPV6_END = "MESH_IPV6_RULES"


def init_container(
    settings: MeshSettings, interception: Interception, probe_ports: tuple[int, ...]
) -> Json:
    """The container, as the Kubernetes API spells it: root, NET_ADMIN and NET_RAW only."""
    return {
        "name": names.INIT_CONTAINER,
        "image": settings.proxy.init_image,
        "command": ["/bin/sh", "-c", script(settings, interception, probe_ports)],
        "env": [{"name": "XTABLES_LOCKFILE", "value": LOCK_FILE}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
        "securityContext": _security_context(),
    }


def _security_context() -> Json:
    """Root, because iptables needs it; NET_ADMIN to change tables, NET_RAW for legacy iptables."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": False,
        "runAsUser": 0,
    }


def script(settings: MeshSettings, interception: Interception, probe_ports: tuple[int, ...]) -> str:
    """The shell script: both rule sets from quoted here-documents, `set -eu`, then a report.

    A kernel booted without IPv6 has no IPv6 to close, so that step is skipped there, loudly.
    """
    ipv4 = iptables.render(iptables.ipv4_rules(settings, interception, probe_ports))
    ipv6 = iptables.render(iptables.ipv6_rules(settings, interception, probe_ports))
    return "\n".join(
        [
            "set -eu",
            _require("iptables-restore", "traffic would bypass the sidecar"),
            "echo 'mesh-init: redirecting IPv4 TCP through the sidecar'",
            f"iptables-restore <<'{_IPV4_END}'",
            ipv4 + _IPV4_END,
            "if [ -e /proc/net/if_inet6 ]; then",
            _require("ip6tables-restore", "IPv6 would bypass the mesh"),
            "echo 'mesh-init: closing IPv6 (the sidecar listens on IPv4 only)'",
            f"ip6tables-restore <<'{_IPV6_END}'",
            ipv6 + _IPV6_END,
            "ip6tables-save -t filter",
            "else",
            "echo 'mesh-init: this kernel has no IPv6; nothing to close'",
            "fi",
            "iptables-save -t nat",
            "echo 'mesh-init: done'",
            "",
        ]
    )


def _require(tool: str, otherwise: str) -> str:
    """A shell line that stops the pod, saying why, when the init image lacks `tool`.
    `otherwise` goes inside single quotes, so it must not contain one."""
    assert "'" not in otherwise
    message = f"mesh-init: this image has no {tool}, so {otherwise}; use an init image that has it"
    return f"command -v {tool} >/dev/null 2>&1 || {{ echo '{message}' >&2; exit 1; }}"
