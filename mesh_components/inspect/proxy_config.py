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
from mesh_components.terminal.console import Block, Cell, Table, plain


class Section(enum.StrEnum):
    LISTENERS = "listeners"
    ROUTES = "routes"
    CLUSTERS = "clusters"
    SECRETS = "secrets"
    ALL = "all"


def show(proxy: Proxy, section: Section) -> str:
    """The tables of `section` as plain text (what a pipe gets)."""
    return plain(blocks(proxy, section))


def blocks(proxy: Proxy, section: Section) -> list[Block]:
    """The tables of `section` (every section for ALL), under a one-line heading."""
    heading = f"workload {proxy.workload}  identity {proxy.spiffe_id}"
    chosen = [s for s in _TABLES if section in (Section.ALL, s)]
    return [heading, *(block for s in chosen for block in _TABLES[s](proxy))]


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


def listeners_table(proxy: Proxy) -> list[Block]:
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
    headers = ("LISTENER", "ADDRESS", "DIRECTION", "CHAIN", "MATCH", "FILTERS")
    return [Table(headers, _rows(rows), title="LISTENERS")]


def routes_table(proxy: Proxy) -> list[Block]:
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
    headers = ("ROUTE CONFIG", "LISTENER:PORT", "VIRTUAL HOST", "DOMAINS", "MATCH", "TARGET")
    return [Table((*headers, "TIMEOUT"), _rows(rows), title="ROUTES")]


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


def clusters_table(proxy: Proxy) -> list[Block]:
    rows: list[list[Cell]] = []
    for cluster in proxy.clusters:
        tls = read.upstream_tls(cluster)
        found = read.endpoints(cluster)
        kind = read.cluster_kind(cluster)
        if not found:
            found = ["(the app's own destination)"] if kind == "ORIGINAL_DST" else ["(none)"]
        sni, sans = tls if tls else ("-", [])
        rows.append([cluster["name"], kind, found, sni or "-", sans or ["-"]])
    headers = ("CLUSTER", "TYPE", "ENDPOINTS", "TLS SNI", "PEER SANS")
    return [Table(headers, _rows(rows), title="CLUSTERS")]


def secrets_table(proxy: Proxy) -> list[Block]:
    rows: list[list[Cell]] = [[s["name"], *_secret_source(s)] for s in proxy.secrets]
    headers = ("SECRET", "KIND", "FILES", "WATCHED DIRECTORY")
    found: list[Block] = [Table(headers, _rows(rows), title="SECRETS")]
    cert = proxy.certificate
    if cert is not None:
        found.append(
            f"deployed identity certificate (Secret {cert.secret}): serial {cert.serial:x}, "
            f"expires {cert.not_after:%Y-%m-%d %H:%M} UTC, SANs {', '.join(cert.sans)}"
        )
    return found


def _rows(rows: list[list[Cell]]) -> tuple[tuple[Cell, ...], ...]:
    return tuple(tuple(row) for row in rows)


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


_TABLES: dict[Section, Callable[[Proxy], list[Block]]] = {
    Section.LISTENERS: listeners_table,
    Section.ROUTES: routes_table,
    Section.CLUSTERS: clusters_table,
    Section.SECRETS: secrets_table,
}
