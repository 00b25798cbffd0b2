"""kube-proxy's iptables mode, in the node namespace: ClusterIP:port → a Ready pod, at random.

Pod traffic to a ClusterIP leaves the pod by its default route and is DNATed on the node. The
node then masquerades it (marked as kube-proxy's KUBE-MARK-MASQ does, for every ClusterIP
connection like --masquerade-all): both pods sit on one bridge, so without SNAT the reply would
bypass the node and never be un-DNATed. A port with no Ready
endpoint is rejected with a TCP reset, as kube-proxy does. The whole table is replaced at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh_components.local import system
from mesh_components.local.services import BackendsOf, ServiceView

MASQUERADE_MARK = "0x4000"  # kube-proxy's KUBE-MARK-MASQ bit


def rules(services: Iterable[ServiceView], backends_of: BackendsOf) -> str:
    """The node's nat and filter tables for these Services and their endpoints."""
    nat = ["*nat", ":MLC-SERVICES - [0:0]"]
    jumps: list[str] = []
    rejects: list[str] = []
    chains: list[str] = []
    number = 0
    for service in services:
        if service.cluster_ip is None:
            continue
        ready = backends_of(service)
        for port in service.ports:
            match = f"-d {service.cluster_ip}/32 -p {port.protocol.lower()} --dport {port.port}"
            comment = f'-m comment --comment "{service.namespace}/{service.name}:{port.port}"'
            targets = [(b.ip, t) for b in ready if (t := b.ports.get(port.name)) is not None]
            if not targets:
                how = "tcp-reset" if port.protocol.upper() == "TCP" else "icmp-port-unreachable"
                rejects.append(f"-A MLC-REJECT {match} {comment} -j REJECT --reject-with {how}")
                continue
            chain = f"MLC-SVC-{number}"
            number += 1
            nat.append(f":{chain} - [0:0]")
            jumps.append(f"-A MLC-SERVICES {match} {comment} -j {chain}")
            chains += _spread(chain, targets, port.protocol.lower())
    nat += [
        "-A PREROUTING -j MLC-SERVICES",
        "-A OUTPUT -j MLC-SERVICES",
        f"-A POSTROUTING -m mark --mark {MASQUERADE_MARK}/{MASQUERADE_MARK} -j MASQUERADE",
        *jumps,
        *chains,
        "COMMIT",
    ]
    filters = [
        "*filter",
        ":MLC-REJECT - [0:0]",
        "-A INPUT -j MLC-REJECT",
        "-A FORWARD -j MLC-REJECT",
        "-A OUTPUT -j MLC-REJECT",
        *rejects,
        "COMMIT",
    ]
    return "\n".join(nat + filters) + "\n"


def _spread(chain: str, targets: list[tuple[str, int]], protocol: str) -> list[str]:
    """Pick the n-th of the remaining targets with probability 1/remaining (kube-proxy's way)."""
    lines = [f"-A {chain} -j MARK --set-xmark {MASQUERADE_MARK}/{MASQUERADE_MARK}"]
    for index, (ip, port) in enumerate(targets):
        remaining = len(targets) - index
        chance = (
            ""
            if remaining == 1
            else f"-m statistic --mode random --probability {1 / remaining:.5f} "
        )
        lines.append(f"-A {chain} -p {protocol} {chance}-j DNAT --to-destination {ip}:{port}")
    return lines


def apply(node_netns: str, text: str) -> None:
    system.run(["ip", "netns", "exec", node_netns, "iptables-restore"], stdin=text)
