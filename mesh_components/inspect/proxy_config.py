"""`proxy-config`: one workload's sidecar config as tables, like `istioctl proxy-config`.

Sections: listeners (chains, their match and filters), routes (virtual hosts, matches, weighted
clusters, timeouts), clusters (discovery, endpoints, TLS SNI and peer SANs) and secrets.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

from mesh_components.emit.envoy.types import Json
from mesh_components.inspect import envoy_read as read
from mesh_components.inspect.model import Proxy
from mesh_components.inspect.table import Cell, table


class Section(enum.StrEnum):
    LISTENERS = "listeners"
    ROUTES = "routes"
    CLUSTERS = "clusters"
    SECRETS = "secrets"
    ALL = "all"


def show(proxy: Proxy, section: Section) -> str:
    """The tables of `section` (every section for ALL), under a one-line heading."""
    heading = f"workload {proxy.workload}  identity {proxy.spiffe_id}"
    chosen = [s for s in _TABLES if section in (Section.ALL, s)]
    parts = [f"{s.value.upper()}\n{_TABLES[s](proxy)}" for s in chosen]
    return "\n\n".join([heading, *parts])


def raw(proxy: Proxy, section: Section) -> Json | list[Json]:
    """The config as Envoy reads it, for `-o json|yaml`."""
    if section is Section.ALL:
        return proxy.raw()
    if section is Section.ROUTES:
        return [site.route_config for site in read.route_sites(proxy.listeners)]
    chosen: dict[Section, Sequence[Json]] = {
        Section.LISTENERS: proxy.listeners,
        Section.CLUSTERS: proxy.clusters,
        Section.SECRETS: proxy.secrets,
    }
    return list(chosen[section])


def listeners_table(proxy: Proxy) -> str:
    rows: list[list[Cell]] = []
    for listener in proxy.listeners:
        for index, chain in enumerate(read.all_chains(listener)):
            first = index == 0
            rows.append(
                [
                    listener["name"] if first else "",
                    read.address(listener) if first else "",
                    listener.get("traffic_direction", "") if first else "",
                    chain["name"],
                    read.chain_match(chain, default=chain is read.default_chain(listener)),
                    read.filter_lines(chain),
                ]
            )
    return table(["LISTENER", "ADDRESS", "DIRECTION", "CHAIN", "MATCH", "FILTERS"], rows)


def routes_table(proxy: Proxy) -> str:
    rows: list[list[Cell]] = []
    for site in read.route_sites(proxy.listeners):
        where = f"{site.listener['name']}:{_port(site.chain)}"
        for host_index, host in enumerate(site.route_config["virtual_hosts"]):
            for index, route in enumerate(host["routes"]):
                first = index == 0
                rows.append(
                    [
                        site.route_config["name"] if first and host_index == 0 else "",
                        where if first and host_index == 0 else "",
                        host["name"] if first else "",
                        condense_domains(host["domains"]) if first else "",
                        read.route_match(route["match"]),
                        _route_action(route),
                        _timeout(route),
                    ]
                )
    headers = ["ROUTE CONFIG", "LISTENER:PORT", "VIRTUAL HOST", "DOMAINS", "MATCH", "TARGET"]
    return table([*headers, "TIMEOUT"], rows)


def _port(chain: Json) -> str:
    match = chain.get("filter_chain_match") or {}
    return str(match.get("destination_port", "*"))


def condense_domains(domains: Sequence[str]) -> list[str]:
    """`a` and `a:80` as one line `a[:80]`, keeping the domains' order."""
    listed = set(domains)
    lines = []
    for domain in domains:
        host, _, port = domain.rpartition(":")
        if port.isdigit() and host in listed:
            continue
        ports = sorted(d.rpartition(":")[2] for d in domains if d.rpartition(":")[0] == domain)
        lines.append(f"{domain}[:{','.join(ports)}]" if ports else domain)
    return lines


def _route_action(route: Json) -> list[str]:
    if "direct_response" in route:
        response = route["direct_response"]
        return [f"direct response {response['status']}"]
    action = route["route"]
    lines = _weighted(read.route_target(action))
    if "prefix_rewrite" in action:
        lines.append(f"rewrite prefix to {action['prefix_rewrite']}")
    return lines


def _weighted(targets: list[tuple[str, int | None]]) -> list[str]:
    total = sum(weight or 0 for _, weight in targets)
    return [
        name if weight is None else f"{name}  weight {weight} ({_percent(weight, total)})"
        for name, weight in targets
    ]


def _percent(weight: int, total: int) -> str:
    return f"{100 * weight / total:.0f}%" if total else "0%"


def _timeout(route: Json) -> str:
    if "route" not in route:
        return "-"
    timeout = route["route"].get("timeout")
    if timeout is None:
        return "15s (Envoy default)"
    return "none" if timeout == "0s" else str(timeout)


def clusters_table(proxy: Proxy) -> str:
    rows: list[list[Cell]] = []
    for cluster in proxy.clusters:
        tls = read.upstream_tls(cluster)
        found = read.endpoints(cluster)
        kind = read.cluster_kind(cluster)
        if not found:
            found = ["(the app's own destination)"] if kind == "ORIGINAL_DST" else ["(none)"]
        sni, sans = tls if tls else ("-", [])
        rows.append([cluster["name"], kind, found, sni or "-", sans or ["-"]])
    return table(["CLUSTER", "TYPE", "ENDPOINTS", "TLS SNI", "PEER SANS"], rows)


def secrets_table(proxy: Proxy) -> str:
    rows: list[list[Cell]] = [[s["name"], *_secret_source(s)] for s in proxy.secrets]
    text = table(["SECRET", "KIND", "FILES", "WATCHED DIRECTORY"], rows)
    cert = proxy.certificate
    if cert is not None:
        text += (
            f"\n\ndeployed identity certificate (Secret {cert.secret}): serial {cert.serial:x}, "
            f"expires {cert.not_after:%Y-%m-%d %H:%M} UTC, SANs {', '.join(cert.sans)}"
        )
    return text


def _secret_source(secret: Json) -> list[Cell]:
    for kind in ("tls_certificate", "validation_context"):
        if kind in secret:
            body = secret[kind]
            files = [
                f"{key}: {value['filename']}"
                for key, value in sorted(body.items())
                if isinstance(value, dict) and "filename" in value
            ]
            return [kind, files, body.get("watched_directory", {}).get("path", "-")]
    return ["unknown", [], "-"]


_TABLES: dict[Section, Callable[[Proxy], str]] = {
    Section.LISTENERS: listeners_table,
    Section.ROUTES: routes_table,
    Section.CLUSTERS: clusters_table,
    Section.SECRETS: secrets_table,
}
