"""The server side of a workload's plan: the local service ports it accepts, and who may call them.

A pod accepts the SNI of every Service that selects it (a root and a version service alike), each
on its own chain, so a policy on one service never leaks onto another that shares the pods.
Ingress entries add their identities to a port's rules and their IP ranges as plaintext rules.
"""

from __future__ import annotations

from mesh_components.compiler import ingress
from mesh_components.compiler.access import inbound_access
from mesh_components.compiler.index import MeshIndex
from mesh_components.compiler.plan import AccessRule, InboundPort
from mesh_components.compiler.resilience import inbound_limits
from mesh_components.model import AccessMode, ServicePort, ServiceRef, Workload


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
                    access=_access(index, workload, ref, port),
                    limits=inbound_limits(index.spec.destinations, ref, port),
                    plaintext=ingress.plaintext_rules(index.spec, ref, port),
                    refused=_refused(index, ref, port),
                )
            )
    return tuple(sorted(ports, key=lambda p: (p.service, p.port)))


def _access(
    index: MeshIndex, workload: Workload, ref: ServiceRef, port: ServicePort
) -> tuple[AccessRule, ...] | None:
    """The policies' rules, and the ingress identities declared for this port."""
    access = inbound_access(index, workload.identity, ref, port)
    if access is None:
        return None
    return (*access, *ingress.identity_rules(index.spec, ref, port))


def _refused(index: MeshIndex, ref: ServiceRef, port: ServicePort) -> tuple[str, ...]:
    """Open mode lets every mesh certificate in; ingress identities only where declared."""
    if index.spec.settings.access is not AccessMode.OPEN:
        return ()
    return ingress.refused_identities(index.spec, ref, port)
