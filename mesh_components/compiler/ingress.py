"""Ingress on the server side: which ingress sources one local service port lets in.

An ingress identity joins the port's RBAC rules (mTLS, like any mesh client). IP ranges become
plaintext rules keyed on the client's address. In open access mode, where any mesh certificate
is accepted, an ingress identity is refused on every port it was not declared for: its
certificate lives outside the mesh and must open only what the spec says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from mesh_components.compiler.access import _canonical_rules
from mesh_components.compiler.plan import AccessRule
from mesh_components.model import Identity, Ingress, MeshSpec, ServicePort, ServiceRef


def _entries(spec: MeshSpec, service: ServiceRef, port: ServicePort) -> Iterator[Ingress]:
    """The entries that open `service` on `port`, by namespace and name."""
    found = (i for i in spec.ingress if i.service_ref == service and port.port in i.ports)
    yield from sorted(found, key=lambda i: (i.namespace, i.name))


def _rules(
    ingress: Ingress, port: ServicePort, principals: tuple[str, ...], ranges: tuple[str, ...]
) -> list[AccessRule]:
    """One rule per HTTP rule on HTTP ports, else one rule for any request or connection."""
    name = f"ingress:{ingress.namespace}/{ingress.name}"
    http_rules = _canonical_rules(ingress.http_rules) if port.protocol.is_http else ()
    if not http_rules:
        return [AccessRule(name, principals, None, ranges)]
    return [
        AccessRule(f"{name}#{i}", principals, rule, ranges) for i, rule in enumerate(http_rules)
    ]


def identity_rules(
    spec: MeshSpec, service: ServiceRef, port: ServicePort
) -> tuple[AccessRule, ...]:
    """RBAC rules for the ingress identities declared on this port (mTLS)."""
    trust_domain = spec.settings.trust_domain
    found: list[AccessRule] = []
    for ingress in _entries(spec, service, port):
        if ingress.sources.identities:
            principals = sorted({s.spiffe_id(trust_domain) for s in ingress.sources.identities})
            found += _rules(ingress, port, tuple(principals), ())
    return tuple(found)


def plaintext_rules(
    spec: MeshSpec, service: ServiceRef, port: ServicePort
) -> tuple[AccessRule, ...]:
    """Rules for plaintext clients from the declared IP ranges on this port."""
    found: list[AccessRule] = []
    for ingress in _entries(spec, service, port):
        if ingress.sources.ip_ranges:
            ranges = canonical_ranges(ingress.sources.ip_ranges)
            found += _rules(ingress, port, (), ranges)
    return tuple(found)


def canonical_ranges(ranges: tuple[str, ...]) -> tuple[str, ...]:
    """CIDRs as networks, IPv4 first, sorted by address then prefix, without repeats."""
    networks = {ipaddress.ip_network(text, strict=False) for text in ranges}
    ordered = sorted(networks, key=lambda n: (n.version, n.network_address, n.prefixlen))
    return tuple(str(network) for network in ordered)


def refused_identities(spec: MeshSpec, service: ServiceRef, port: ServicePort) -> tuple[str, ...]:
    """Ingress identities that run no workload and were not declared for this port."""
    workloads = {w.identity for w in spec.workloads}
    declared = {s for i in _entries(spec, service, port) for s in i.sources.identities}
    ingress_only = ingress_identities(spec) - workloads - declared
    trust_domain = spec.settings.trust_domain
    return tuple(sorted(identity.spiffe_id(trust_domain) for identity in ingress_only))


def ingress_identities(spec: MeshSpec) -> set[Identity]:
    """Every identity some ingress entry lets in with mTLS (each is issued a certificate)."""
    return {identity for i in spec.ingress for identity in i.sources.identities}
