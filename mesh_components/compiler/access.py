"""Who may call what: the access decisions of policy mode, on the client side and the server side.

The server's RBAC is the enforcement. The client side only keeps a workload's config to the
destinations some policy lets it reach, so config size follows dependencies, not mesh size.
"""

from __future__ import annotations

from mesh_components.compiler.index import MeshIndex
from mesh_components.compiler.plan import AccessRule
from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    HttpRule,
    Identity,
    Protocol,
    ServicePort,
    ServiceRef,
)


def opens_port(policy: AccessPolicy, port: ServicePort) -> bool:
    """Whether `policy` lets traffic onto this service port at all."""
    if port.protocol is Protocol.TCP:
        return policy.applies_to_tcp(port.port)
    return policy.applies_to_http()


def covers(index: MeshIndex, policy: AccessPolicy, service: ServiceRef, pod: Identity) -> bool:
    """Whether `policy`'s destination includes `service` served by pods of identity `pod`.

    A policy on a split's root service covers the split's backends too.
    """
    destination = policy.destination
    if destination.service is not None:
        return destination.service == service or destination.service in index.roots_of_backend.get(
            service, ()
        )
    return destination.identity == pod


def inbound_access(
    index: MeshIndex, pod: Identity, service: ServiceRef, port: ServicePort
) -> tuple[AccessRule, ...] | None:
    """The RBAC rules for one local service port, or None when any mesh identity may call."""
    if index.spec.settings.access is AccessMode.OPEN:
        return None
    candidates = (
        *index.policies_of_service.get(service, ()),
        *(
            p
            for root in index.roots_of_backend.get(service, ())
            for p in index.policies_of_service.get(root, ())
        ),
        *index.policies_of_identity.get(pod, ()),
    )
    applicable = {p for p in candidates if covers(index, p, service, pod) and opens_port(p, port)}
    trust_domain = index.spec.settings.trust_domain
    rules: list[AccessRule] = []
    for policy in sorted(applicable, key=lambda p: (p.namespace, p.name)):
        principals = tuple(sorted({s.spiffe_id(trust_domain) for s in policy.sources}))
        http_rules = _canonical_rules(policy.http_rules) if port.protocol.is_http else ()
        name = f"{policy.namespace}/{policy.name}"
        if not http_rules:
            rules.append(AccessRule(name, principals))
        rules.extend(
            AccessRule(f"{name}#{i}", principals, rule) for i, rule in enumerate(http_rules)
        )
    return tuple(rules)


def _canonical_rules(rules: tuple[HttpRule, ...]) -> tuple[HttpRule, ...]:
    """Rules as a sorted set with sorted fields, so declaration order never changes the config."""
    canonical = {
        HttpRule(
            path=rule.path,
            methods=tuple(sorted(set(rule.methods))),
            headers=tuple(sorted(set(rule.headers), key=lambda h: (h.name, h.regex))),
        )
        for rule in rules
    }
    return tuple(sorted(canonical, key=repr))


def reachable_services(index: MeshIndex, client: Identity) -> tuple[ServiceRef, ...]:
    """Services a client's config should include (any port). Open mode: all of them."""
    if index.spec.settings.access is AccessMode.OPEN:
        return tuple(sorted(index.services))
    found: set[ServiceRef] = set()
    for policy in index.policies_of_source.get(client, ()):
        destination = policy.destination
        if destination.identity is not None:
            found.update(index.services_of_identity.get(destination.identity, ()))
        elif destination.service in index.services:
            found.add(destination.service)
            split = index.split_of_root.get(destination.service)
            found.update(split.backend_refs() if split else ())
    found.update(
        root for backend in tuple(found) for root in index.roots_of_backend.get(backend, ())
    )
    return tuple(sorted(s for s in found if s in index.services))


def may_call(index: MeshIndex, client: Identity, service: ServiceRef, port: ServicePort) -> bool:
    """Whether some policy lets `client` reach `service` on `port` (through a split's backends)."""
    if index.spec.settings.access is AccessMode.OPEN:
        return True
    split = index.split_of_root.get(service)
    if split is not None:
        return any(
            _may_call_backend(index, client, ServiceRef(split.namespace, b.service), port.port)
            for b in split.backends
            if b.weight > 0
        )
    return _may_call_direct(index, client, service, port)


def _may_call_backend(index: MeshIndex, client: Identity, backend: ServiceRef, number: int) -> bool:
    service = index.services.get(backend)
    port = next((p for p in service.ports if p.port == number), None) if service else None
    return port is not None and _may_call_direct(index, client, backend, port)


def _may_call_direct(
    index: MeshIndex, client: Identity, service: ServiceRef, port: ServicePort
) -> bool:
    pods = index.identities(service)
    return any(
        opens_port(policy, port) and any(covers(index, policy, service, pod) for pod in pods)
        for policy in index.policies_of_source.get(client, ())
    )
