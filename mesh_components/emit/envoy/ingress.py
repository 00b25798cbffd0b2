"""Ingress on the inbound listener: plaintext chains for declared IP ranges, and the refusal of
ingress identities on ports they were not declared for.

A plaintext chain matches the app port, `raw_buffer` and the clients' source ranges, so only
those addresses reach it; its RBAC filter then checks each rule's ranges (and HTTP match). Every
other connection keeps needing mTLS: without TLS and outside the ranges, nothing matches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import replace

from mesh_components import names
from mesh_components.compiler.plan import InboundPort
from mesh_components.emit.envoy.types import HTTP_RBAC, NETWORK_RBAC, Json

FiltersOf = Callable[[InboundPort, str], list[Json]]
"""How the inbound listener builds a chain's filters for a port (RBAC, limits, the app)."""

REFUSED_POLICY = "ingress-identities-not-declared-here"


def plaintext_chains(ports: Sequence[InboundPort], filters_of: FiltersOf) -> list[Json]:
    """One chain per app port that some ingress entry opens to IP ranges, sorted by port."""
    by_target: dict[int, list[InboundPort]] = {}
    for port in sorted(ports, key=lambda p: (p.service, p.port)):
        if port.plaintext:
            by_target.setdefault(port.target_port, []).append(port)
    return [_chain(target, found, filters_of) for target, found in sorted(by_target.items())]


def _chain(target_port: int, ports: list[InboundPort], filters_of: FiltersOf) -> Json:
    """Plaintext has no SNI, so services sharing an app port share the chain: the first one's
    route config, limits and protocol, and every port's plaintext rules."""
    rules = tuple(rule for port in ports for rule in port.plaintext)
    chain_port = replace(ports[0], access=rules, refused=())
    name = names.ingress_plaintext_chain(target_port)
    ranges = sorted({r for rule in rules for r in rule.source_ranges}, key=_range_order)
    match = {
        "destination_port": target_port,
        "transport_protocol": "raw_buffer",
        "source_prefix_ranges": [cidr_range(text) for text in ranges],
    }
    return {"name": name, "filter_chain_match": match, "filters": filters_of(chain_port, name)}


def _range_order(text: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(text)
    return network.version, int(network.network_address), network.prefixlen


def cidr_range(text: str) -> Json:
    """Envoy's CidrRange for a CIDR that validation has accepted."""
    network = ipaddress.ip_network(text)
    return {"address_prefix": str(network.network_address), "prefix_len": network.prefixlen}


def refusal_http_filters(port: InboundPort) -> list[Json]:
    """An RBAC DENY in front of everything else, when ingress identities must be refused."""
    if not port.refused:
        return []
    return [HTTP_RBAC.config(rules=_deny(port.refused))]


def refusal_network_filters(port: InboundPort, stat_prefix: str) -> list[Json]:
    if not port.refused:
        return []
    return [NETWORK_RBAC.config(stat_prefix=stat_prefix, rules=_deny(port.refused))]


def _deny(principals: tuple[str, ...]) -> Json:
    ids = [{"authenticated": {"principal_name": {"exact": p}}} for p in principals]
    policy = {"permissions": [{"any": True}], "principals": ids}
    return {"action": "DENY", "policies": {REFUSED_POLICY: policy}}
