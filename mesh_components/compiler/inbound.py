"""The server side of a workload's plan: the local service ports it accepts, and who may call them.

A pod accepts the SNI of every Service that selects it (a root and a version service alike), each
on its own chain, so a policy on one service never leaks onto another that shares the pods.
"""

from __future__ import annotations

from mesh_components.compiler.access import inbound_access
from mesh_components.compiler.index import MeshIndex
from mesh_components.compiler.resilience import inbound_limits
from mesh_components.model import Workload
from mesh_components.plan import InboundPort


def inbound_ports(index: MeshIndex, workload: Workload) -> tuple[InboundPort, ...]:
    """One entry per (service selecting this workload, service port), sorted."""
    ports: list[InboundPort] = []
    for ref in index.services_of_workload.get(workload.ref, ()):
        for port in index.services[ref].ports:
            ports.append(
                InboundPort(
                    service=ref,
                    port=port.port,
                    target_port=index.target_port(ref, port),
                    protocol=port.protocol,
                    sni=index.fqdn(ref),
                    access=inbound_access(index, workload.identity, ref, port),
                    limits=inbound_limits(index.spec.destinations, ref, port),
                )
            )
    return tuple(sorted(ports, key=lambda p: (p.service, p.port)))
