"""Reading the emitted Envoy dicts back: filter chains, filters, route configs, cluster targets.

The inspect tools see the config the way Envoy does, so every fact they print is looked up
here, in one place, from the same fields Envoy reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mesh_components.emit.envoy.consistency import all_chains
from mesh_components.emit.envoy.types import (
    HTTP_CONNECTION_MANAGER,
    HTTP_RBAC,
    NETWORK_RBAC,
    TCP_PROXY,
    Json,
)

__all__ = ["all_chains"]


def address(listener_or_endpoint: Json) -> str:
    """`host:port` of a listener or an endpoint's socket address."""
    socket = listener_or_endpoint["address"]["socket_address"]
    return f"{socket['address']}:{socket['port_value']}"


def short_name(extension: str) -> str:
    """`envoy.filters.network.tcp_proxy` reads as `tcp_proxy`."""
    return extension.rsplit(".", 1)[-1]


def find_filter(chain: Json, extension: str) -> Json | None:
    """A chain's network filter's typed config, by extension name."""
    found = [f["typed_config"] for f in chain.get("filters", []) if f["name"] == extension]
    return found[0] if found else None


def http_manager(chain: Json) -> Json | None:
    return find_filter(chain, HTTP_CONNECTION_MANAGER.name)


def tcp_proxy(chain: Json) -> Json | None:
    return find_filter(chain, TCP_PROXY.name)


def default_chain(listener: Json) -> Json | None:
    chain: Json | None = listener.get("default_filter_chain")
    return chain


def rbac_rules(chain: Json) -> Json | None:
    """The RBAC rules a chain enforces (network or HTTP filter), or None when it has none."""
    network = find_filter(chain, NETWORK_RBAC.name)
    if network is not None:
        rules: Json = network["rules"]
        return rules
    manager = http_manager(chain)
    for http_filter in (manager or {}).get("http_filters", []):
        if http_filter["name"] == HTTP_RBAC.name:
            http_rules: Json = http_filter["typed_config"]["rules"]
            return http_rules
    return None


def filter_lines(chain: Json) -> list[str]:
    """One line per network filter, saying what it does: RBAC's verdict, where traffic goes."""
    lines = []
    for network_filter in chain.get("filters", []):
        config = network_filter["typed_config"]
        name = short_name(network_filter["name"])
        if network_filter["name"] == HTTP_CONNECTION_MANAGER.name:
            inner = [_http_filter_line(f) for f in config["http_filters"]]
            lines.append(f"{name}: routes {config['route_config']['name']}; {', '.join(inner)}")
        elif network_filter["name"] == NETWORK_RBAC.name:
            lines.append(f"{name}: {rbac_summary(config['rules'])}")
        elif network_filter["name"] == TCP_PROXY.name:
            lines.append(f"{name} -> {', '.join(n for n, _ in route_target(config))}")
        else:
            lines.append(name)
    return lines


def _http_filter_line(http_filter: Json) -> str:
    name = short_name(http_filter["name"])
    if http_filter["name"] == HTTP_RBAC.name:
        return f"{name} ({rbac_summary(http_filter['typed_config']['rules'])})"
    return name


def rbac_summary(rules: Json) -> str:
    """`allow 2 policies`, or `deny all` for an allow list that names no one."""
    count = len(rules.get("policies", {}))
    if rules.get("action", "ALLOW") == "ALLOW" and count == 0:
        return "deny all"
    return f"{rules.get('action', 'ALLOW').lower()} {count} polic{'y' if count == 1 else 'ies'}"


def chain_match(chain: Json, *, default: bool = False) -> str:
    """A filter chain match as one short phrase."""
    if default:
        return "no other chain matches (default)"
    match = chain.get("filter_chain_match")
    if match is None:
        return "any connection"
    parts = []
    if "destination_port" in match:
        parts.append(f"port {match['destination_port']}")
    if match.get("prefix_ranges"):
        parts.append(f"addresses {_ranges(match['prefix_ranges'])}")
    if "transport_protocol" in match:
        parts.append(match["transport_protocol"])
    if match.get("server_names"):
        parts.append(f"SNI {', '.join(match['server_names'])}")
    if match.get("source_prefix_ranges"):
        parts.append(f"from {_ranges(match['source_prefix_ranges'])}")
    return ", ".join(parts) or "any connection"


def _ranges(prefixes: list[Json]) -> str:
    """CIDR ranges (`prefix_ranges`, `source_prefix_ranges`) as `a/n, b/m`."""
    return ", ".join(f"{r['address_prefix']}/{r['prefix_len']}" for r in prefixes)


@dataclass(frozen=True, slots=True)
class RouteSite:
    """A route config and where it is served: the listener and the chain embedding it."""

    listener: Json
    chain: Json
    route_config: Json


def route_sites(listeners: tuple[Json, ...]) -> Iterator[RouteSite]:
    """Every route config embedded in the listeners, with its listener and chain, in order.
    A config shared by two chains (permissive plaintext) is listed once, at its first chain."""
    seen: set[str] = set()
    for listener in listeners:
        for chain in all_chains(listener):
            manager = http_manager(chain)
            if manager is None or manager["route_config"]["name"] in seen:
                continue
            seen.add(manager["route_config"]["name"])
            yield RouteSite(listener, chain, manager["route_config"])


def route_target(action: Json) -> list[tuple[str, int | None]]:
    """(cluster, weight) pairs a route or tcp_proxy sends to; weight None for a single cluster."""
    if "cluster" in action:
        return [(action["cluster"], None)]
    weighted = action.get("weighted_clusters", {}).get("clusters", [])
    return [(c["name"], int(c.get("weight", 0))) for c in weighted]


def route_match(match: Json) -> str:
    """A route match as one phrase: `prefix /`, `path /ready`, plus header conditions."""
    parts = [f"{kind} {match[kind]}" for kind in ("prefix", "path") if kind in match]
    if "safe_regex" in match:
        parts.append(f"regex {match['safe_regex']['regex']}")
    for header in match.get("headers", []):
        parts.append(f"header {header['name']} {string_match(header.get('string_match', {}))}")
    return ", ".join(parts)


def string_match(matcher: Json) -> str:
    """A StringMatcher as `= x`, `^= x` (prefix) or `~ regex`."""
    if "exact" in matcher:
        return f"= {matcher['exact']}"
    if "prefix" in matcher:
        return f"^= {matcher['prefix']}"
    if "safe_regex" in matcher:
        return f"~ {matcher['safe_regex']['regex']}"
    return str(matcher)


def cluster_kind(cluster: Json) -> str:
    """STRICT_DNS (the DNS cluster extension), ORIGINAL_DST, STATIC, ..."""
    if "cluster_type" in cluster:
        return (
            "STRICT_DNS"
            if cluster["cluster_type"]["name"] == "envoy.clusters.dns"
            else cluster["cluster_type"]["name"]
        )
    return str(cluster.get("type", "EDS"))


def endpoints(cluster: Json) -> list[str]:
    """`host:port` of every endpoint; none for ORIGINAL_DST (the app's own destination)."""
    assignment = cluster.get("load_assignment", {})
    return [
        address(lb["endpoint"])
        for group in assignment.get("endpoints", [])
        for lb in group.get("lb_endpoints", [])
    ]


def upstream_tls(cluster: Json) -> tuple[str, list[str]] | None:
    """(SNI, SAN matchers) of an mTLS upstream cluster, or None for a plaintext one."""
    socket = cluster.get("transport_socket")
    if socket is None:
        return None
    context = socket["typed_config"]
    return context.get("sni", ""), san_matchers(context)


def san_matchers(tls_context: Json) -> list[str]:
    """A TLS context's peer SAN check, each as `= uri` or `^= prefix`."""
    common = tls_context.get("common_tls_context", {})
    validation = common.get("combined_validation_context", {}).get("default_validation_context", {})
    return [string_match(m["matcher"]) for m in validation.get("match_typed_subject_alt_names", [])]


def permission_text(permission: Json) -> str:
    """An RBAC permission as one phrase: `path ~ /books-bought and :method = GET`."""
    if permission.get("any"):
        return "any request"
    if "and_rules" in permission:
        return " and ".join(permission_text(p) for p in permission["and_rules"]["rules"])
    if "or_rules" in permission:
        inner = " or ".join(permission_text(p) for p in permission["or_rules"]["rules"])
        return f"({inner})"
    if "url_path" in permission:
        return f"path {string_match(permission['url_path']['path'])}"
    if "header" in permission:
        header = permission["header"]
        return f"{header['name']} {string_match(header.get('string_match', {}))}"
    return str(permission)


def compact_permission(permission: Json) -> str:
    """A permission as a short label: `GET /books-bought` (`~` for a regex), `+N headers`."""
    rules = permission["and_rules"]["rules"] if "and_rules" in permission else [permission]
    methods, path, headers = [], "", 0
    for rule in rules:
        if rule.get("any"):
            continue
        if "url_path" in rule:
            path = _compact_string(rule["url_path"]["path"])
        elif rule.get("header", {}).get("name") == ":method":
            methods.append(_compact_string(rule["header"]["string_match"]))
        elif "or_rules" in rule:
            methods += [compact_permission(r) for r in rule["or_rules"]["rules"]]
        else:
            headers += 1
    parts = [
        "|".join(methods),
        path,
        f"+{headers} header{'s' if headers > 1 else ''}" if headers else "",
    ]
    return " ".join(p for p in parts if p) or "any request"


def _compact_string(matcher: Json) -> str:
    if "exact" in matcher:
        return str(matcher["exact"])
    if "prefix" in matcher:
        return f"{matcher['prefix']}*"
    return f"~{matcher.get('safe_regex', {}).get('regex', '?')}"
