"""A sidecar config as flat, comparable facts: routes, clusters, chains and RBAC policies.

Each fact has a stable key (what it is) and a value (what it says), so `diff` compares two
configs key by key and `graph` reads who may call what, both from the emitted config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mesh_components.emit.envoy.types import Json
from mesh_components.inspect import envoy_read as read
from mesh_components.inspect.model import Proxy


@dataclass(frozen=True, slots=True)
class RouteFact:
    """One route of a virtual host: where it sends traffic, and with which weights."""

    domains: tuple[str, ...]
    targets: tuple[tuple[str, int | None], ...]
    action: str


@dataclass(frozen=True, slots=True)
class PolicyFact:
    """One RBAC policy on an inbound chain: who, and which requests (as canonical JSON)."""

    principals: frozenset[str]
    permissions: str
    requests: str
    """The permissions as a reader reads them."""


def routes(proxy: Proxy) -> dict[str, RouteFact]:
    """`<route config> <virtual host> <match>` to the route's facts."""
    found = {}
    for site in read.route_sites(proxy.listeners):
        for host in site.route_config["virtual_hosts"]:
            for route in host["routes"]:
                key = (
                    f"{site.route_config['name']} {host['name']} {read.route_match(route['match'])}"
                )
                found[key] = _route_fact(host, route)
    return found


def _route_fact(host: Json, route: Json) -> RouteFact:
    domains = tuple(host["domains"])
    if "direct_response" in route:
        return RouteFact(domains, (), f"direct response {route['direct_response']['status']}")
    action = route["route"]
    rest = {k: v for k, v in action.items() if k not in ("cluster", "weighted_clusters")}
    return RouteFact(domains, tuple(read.route_target(action)), _canonical(rest))


def tcp_routes(proxy: Proxy) -> dict[str, RouteFact]:
    """TCP chains are routes too: `<chain>` to its cluster(s) and weights."""
    found = {}
    for listener in proxy.listeners:
        for chain in read.all_chains(listener):
            tcp = read.tcp_proxy(chain)
            if tcp is not None and read.http_manager(chain) is None:
                found[f"{chain['name']} tcp"] = RouteFact((), tuple(read.route_target(tcp)), "")
    return found


def clusters(proxy: Proxy) -> dict[str, dict[str, str]]:
    """Cluster name to its type, endpoints, SNI and accepted peer SANs."""
    found = {}
    for cluster in proxy.clusters:
        sni, sans = read.upstream_tls(cluster) or ("", [])
        found[cluster["name"]] = {
            "type": read.cluster_kind(cluster),
            "endpoints": ", ".join(read.endpoints(cluster)) or "-",
            "sni": sni or "-",
            "peer SANs": ", ".join(sans) or "-",
        }
    return found


def chains(proxy: Proxy) -> dict[str, str]:
    """`<listener> <chain>` to its match, for chains added or removed."""
    return {
        f"{listener['name']} {chain['name']}": read.chain_match(
            chain, default=chain is read.default_chain(listener)
        )
        for listener in proxy.listeners
        for chain in read.all_chains(listener)
    }


def policies(proxy: Proxy) -> dict[str, dict[str, PolicyFact]]:
    """Inbound chain name to its RBAC policies (an empty dict: RBAC that allows no one).
    Chains without RBAC are absent."""
    found = {}
    for listener in proxy.listeners:
        for chain in read.all_chains(listener):
            rules = read.rbac_rules(chain)
            if rules is not None and listener.get("traffic_direction") == "INBOUND":
                found[chain["name"]] = {
                    name: _policy_fact(body) for name, body in rules.get("policies", {}).items()
                }
    return found


def _policy_fact(body: Json) -> PolicyFact:
    principals = frozenset(
        read.string_match(p["authenticated"]["principal_name"]).removeprefix("= ")
        if "authenticated" in p
        else _canonical(p)
        for p in body.get("principals", [])
    )
    permissions = body.get("permissions", [])
    requests = " or ".join(read.permission_text(p) for p in permissions) or "nothing"
    return PolicyFact(principals, _canonical(permissions), requests)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
