"""The client side of a workload's plan: which destinations it may call, on which ports, split how.

Outbound chains match on the destination port only (ClusterIPs and pod IPs are unknown when we
compile), and HTTP picks the service by Host. So one port carries either HTTP-family services,
told apart by Host, or exactly one TCP service; anything else is a conflict that validation reports.
"""

from __future__ import annotations

from collections import defaultdict

from mesh_components import names
from mesh_components.compiler.access import may_call, reachable_services
from mesh_components.compiler.index import MeshIndex
from mesh_components.compiler.plan import (
    Destination,
    MirrorTarget,
    OutboundPort,
    RoutePolicy,
    RouteRule,
    Upstream,
    WeightedUpstream,
)
from mesh_components.compiler.resilience import cluster_policy, route_settings
from mesh_components.model import Protocol, Retries, Service, ServicePort, ServiceRef, Workload
from mesh_components.model.destination import effective_timeout

_Entry = tuple[Protocol, Destination]


def outbound_ports(index: MeshIndex, client: Workload) -> tuple[OutboundPort, ...]:
    """Everything `client` may reach, grouped by the port its app dials."""
    grouped = _destinations_by_port(index, client)
    conflicts = _conflicts(grouped)
    if conflicts:
        raise AssertionError(f"outbound port conflicts reached the compiler: {conflicts}")
    return tuple(_outbound_port(port, entries) for port, entries in sorted(grouped.items()))


def port_conflicts(index: MeshIndex, client: Workload) -> dict[int, tuple[ServiceRef, ...]]:
    """Ports on which `client` would reach services that no chain match can tell apart."""
    return _conflicts(_destinations_by_port(index, client))


def _destinations_by_port(index: MeshIndex, client: Workload) -> dict[int, list[_Entry]]:
    """Resolved once per identity and namespace (all that it depends on), then shared: by
    validation's graph checks and the compiler, and by the workloads of one identity."""
    return index.memo(
        ("destinations_by_port", client.identity, client.namespace),
        lambda: _resolve_destinations(index, client),
    )


def _resolve_destinations(index: MeshIndex, client: Workload) -> dict[int, list[_Entry]]:
    grouped: dict[int, list[_Entry]] = defaultdict(list)
    for ref in reachable_services(index, client.identity):
        service = index.services[ref]
        for port in service.ports:
            if may_call(index, client.identity, ref, port):
                dialed = index.target_port(ref, port) if service.headless else port.port
                destination = _destination(index, client, service, port, dialed)
                grouped[dialed].append((port.protocol, destination))
    return {
        port: _absorb_split_backends(index, client, port, entries)
        for port, entries in grouped.items()
    }


def _absorb_split_backends(
    index: MeshIndex, client: Workload, port: int, entries: list[_Entry]
) -> list[_Entry]:
    """On a TCP port, a split's root and its backends share the port number by design, and
    without IPs a connection to a backend's ClusterIP cannot be told from one to the root's.
    So the root's chain takes the port, and every connection on it follows the split's weights,
    but only when the client may call every backend it would then reach; otherwise the
    entries stay apart and validation reports the conflict.
    """
    if len(entries) < 2 or any(protocol is not Protocol.TCP for protocol, _ in entries):
        return entries
    roots = [d.service for _, d in entries if d.service in index.split_of_root]
    if len(roots) != 1:
        return entries
    split = index.split_of_root[roots[0]]
    served = {d.service for _, d in entries} - {roots[0]}
    weighted = [ServiceRef(split.namespace, b.service) for b in split.backends if b.weight > 0]
    if served <= set(split.backend_refs()) and all(
        _may_call_port(index, client, backend, port) for backend in weighted
    ):
        return [entry for entry in entries if entry[1].service == roots[0]]
    return entries


def _may_call_port(index: MeshIndex, client: Workload, service: ServiceRef, number: int) -> bool:
    port = next((p for p in index.services[service].ports if p.port == number), None)
    return port is not None and may_call(index, client.identity, service, port)


def _conflicts(grouped: dict[int, list[_Entry]]) -> dict[int, tuple[ServiceRef, ...]]:
    return {
        port: tuple(d.service for _, d in entries)
        for port, entries in sorted(grouped.items())
        if len(entries) > 1 and any(protocol is Protocol.TCP for protocol, _ in entries)
    }


def _outbound_port(port: int, entries: list[_Entry]) -> OutboundPort:
    tcp = entries[0][0] is Protocol.TCP
    return OutboundPort(
        port=port,
        protocol=Protocol.TCP if tcp else Protocol.HTTP,
        destinations=tuple(sorted((d for _, d in entries), key=lambda d: d.service)),
    )


def _destination(
    index: MeshIndex, client: Workload, service: Service, port: ServicePort, dialed: int
) -> Destination:
    """The same for every client of one namespace: resolved once, shared."""
    return index.memo(
        ("destination", service.ref, port, client.namespace, dialed),
        lambda: _resolve_destination(index, client, service, port, dialed),
    )


def _resolve_destination(
    index: MeshIndex, client: Workload, service: Service, port: ServicePort, dialed: int
) -> Destination:
    split = index.split_of_root.get(service.ref)
    backends: tuple[WeightedUpstream, ...]
    if split is None:
        backends = (WeightedUpstream(_upstream(index, service, port), 1),)
    else:
        backends = tuple(
            WeightedUpstream(
                _upstream_on(index, ServiceRef(split.namespace, b.service), port), b.weight
            )
            for b in sorted(split.backends, key=lambda b: b.service)
        )
    domains = _domains(index, service, client.namespace, dialed) if port.protocol.is_http else ()
    policy = _route_policy(index, service, port)
    return Destination(service=service.ref, domains=domains, backends=backends, policy=policy)


def _route_policy(index: MeshIndex, service: Service, port: ServicePort) -> RoutePolicy:
    """The called service's timeouts, retries, routes and mirror on this port. Route and
    mirror backends are services of its namespace serving the same port (validated)."""
    found = route_settings(index.spec.destinations, service.ref, port)
    timeout = effective_timeout(found, port.protocol)
    if not port.protocol.is_http:
        return RoutePolicy(timeout, found.idle_timeout, Retries(attempts=0))
    rules = tuple(
        RouteRule(
            route.match, _upstream_on(index, ServiceRef(service.namespace, route.backend), port)
        )
        for route in found.routes
        if route.backend is not None
    )
    mirror = None
    if found.mirror is not None:
        shadow = ServiceRef(service.namespace, found.mirror.service)
        mirror = MirrorTarget(_upstream_on(index, shadow, port), found.mirror.percent)
    retries = found.retries or Retries()
    return RoutePolicy(timeout, found.idle_timeout, retries, rules, mirror)


def _upstream_on(index: MeshIndex, backend: ServiceRef, root_port: ServicePort) -> Upstream:
    service = index.services[backend]
    port = next(p for p in service.ports if p.port == root_port.port)
    return _upstream(index, service, port)


def _upstream(index: MeshIndex, service: Service, port: ServicePort) -> Upstream:
    """One per service port in the mesh, shared by every destination that sends to it."""
    return index.memo(
        ("upstream", service.ref, port), lambda: _resolve_upstream(index, service, port)
    )


def _resolve_upstream(index: MeshIndex, service: Service, port: ServicePort) -> Upstream:
    cluster_domain = index.spec.settings.cluster_domain
    trust_domain = index.spec.settings.trust_domain
    return Upstream(
        service=service.ref,
        port=port.port,
        target_port=index.target_port(service.ref, port),
        protocol=port.protocol,
        address="" if service.headless else names.companion_address(service.ref, cluster_domain),
        sni=index.fqdn(service.ref),
        peer_identities=tuple(i.spiffe_id(trust_domain) for i in index.identities(service.ref)),
        policy=cluster_policy(index.spec.destinations, service.ref, port),
    )


def _domains(
    index: MeshIndex, service: Service, client_namespace: str, port: int
) -> tuple[str, ...]:
    """Every Host a client can use: short names only within its own namespace."""
    ref = service.ref
    hosts = [f"{ref.name}.{ref.namespace}", f"{ref.name}.{ref.namespace}.svc", index.fqdn(ref)]
    if ref.namespace == client_namespace:
        hosts.insert(0, ref.name)
    if service.headless:
        hosts.append(f"*.{index.fqdn(ref)}")
    return tuple(host for plain in hosts for host in (plain, f"{plain}:{port}"))
