"""The way out of the mesh for one workload: its egress rules merged per destination port.

Rules of the workload's namespace apply when their selector and ServiceAccount pick it. Hosts
and ranges from several rules on one port are merged (sorted, each once), because one chain
per port and kind is all a listener can tell apart.
"""

from __future__ import annotations

from collections import defaultdict

from mesh_components.compiler.index import MeshIndex
from mesh_components.compiler.plan import EgressPlan, EgressPort, OutboundPort
from mesh_components.model import EgressMode, EgressRule, Protocol, Workload

_KINDS = ("http", "tls", "tcp")


def egress_plan(index: MeshIndex, workload: Workload) -> EgressPlan:
    """The egress allowances of `workload`, by port, and the mesh's egress mode."""
    rules = [rule for rule in index.spec.egress if rule.applies_to(workload)]
    passthrough = index.spec.settings.egress is EgressMode.PASSTHROUGH
    return EgressPlan(passthrough=passthrough, ports=_ports(rules))


def _ports(rules: list[EgressRule]) -> tuple[EgressPort, ...]:
    found: dict[int, dict[str, set[str]]] = defaultdict(lambda: {kind: set() for kind in _KINDS})
    for rule in rules:
        for kind, names, ports in _allowances(rule):
            for port in ports:
                found[port][kind].update(names)
    return tuple(
        EgressPort(
            port=port,
            http_hosts=tuple(sorted(kinds["http"])),
            tls_hosts=tuple(sorted(kinds["tls"])),
            cidrs=tuple(sorted(kinds["tcp"])),
        )
        for port, kinds in sorted(found.items())
    )


def _allowances(rule: EgressRule) -> list[tuple[str, tuple[str, ...], tuple[int, ...]]]:
    found = []
    if rule.http is not None:
        found.append(("http", rule.http.hosts, rule.http.ports))
    if rule.tls is not None:
        found.append(("tls", rule.tls.hosts, rule.tls.ports))
    if rule.tcp is not None:
        found.append(("tcp", rule.tcp.cidrs, rule.tcp.ports))
    return found


def egress_conflicts(
    outbound: tuple[OutboundPort, ...], egress: EgressPlan
) -> dict[int, tuple[str, Protocol]]:
    """Egress ports that would change how the workload's mesh traffic is matched, with the kind
    of allowance and the mesh port's protocol.

    An IP range would take any connection to an address in it, a mesh ClusterIP included, away
    from the mesh chain on its port (addresses are unknown at compile time, so no range can be
    proven clear). Hosts cannot share a TCP mesh port: its chain takes every connection.
    """
    mesh = {port.port: port.protocol for port in outbound}
    found: dict[int, tuple[str, Protocol]] = {}
    for port in egress.ports:
        protocol = mesh.get(port.port)
        if protocol is None:
            continue
        if port.cidrs:
            found[port.port] = ("tcp", protocol)
        elif protocol is Protocol.TCP and (port.http_hosts or port.tls_hosts):
            found[port.port] = ("http" if port.http_hosts else "tls", protocol)
    return found
