"""Egress on the outbound listener: allowed hosts and ranges outside the mesh, the passthrough
default, and their clusters.

- Plaintext HTTP by `Host`: a virtual host on the port's route config (shared with the mesh's
  HTTP services on that port), routed to a dynamic forward proxy cluster. Envoy resolves the
  Host itself and connects there, so an app cannot reach another address by forging `Host`.
- TLS by SNI: a chain matching the port, `transport_protocol: tls` and the server names; the
  SNI dynamic forward proxy resolves the SNI and connects there. `tls_inspector` runs only on
  these ports: elsewhere a server-first protocol would stall waiting for a ClientHello.
- TCP by IPv4 range: a chain matching the port and the ranges, to the original destination.
- Passthrough: the listener's default chain, and the catch-all virtual host of every HTTP
  chain, forward to the original destination instead of denying.

Nothing here uses mTLS: the peer is outside the mesh. The app's own TLS passes through intact.
"""

from __future__ import annotations

import ipaddress

from mesh_components import names
from mesh_components.compiler.plan import EgressPlan, EgressPort
from mesh_components.emit.envoy.consistency import InconsistentConfigError
from mesh_components.emit.envoy.observability import access_logs
from mesh_components.emit.envoy.types import (
    DYNAMIC_FORWARD_PROXY_CLUSTER,
    HTTP_DYNAMIC_FORWARD_PROXY,
    SNI_DYNAMIC_FORWARD_PROXY,
    TCP_PROXY,
    TLS_INSPECTOR,
    Json,
)
from mesh_components.model import MeshSettings

CONNECT_TIMEOUT = "5s"
EGRESS_DENIED = "this host is not an allowed egress destination for this workload\n"
# The app owns the timeout of a call outside the mesh (long polls, downloads): Envoy's default
# of 15 s would cut them.
_NO_TIMEOUT = "0s"


def dns_cache() -> Json:
    """One DNS cache shared by the HTTP and SNI forward proxies and their clusters; Envoy
    requires the same config wherever one name is used. IPv4 only, like the interception."""
    return {"name": names.EGRESS_DNS_CACHE, "dns_lookup_family": "V4_ONLY"}


# Listener.


def listener_filters(egress: EgressPlan) -> list[Json]:
    """`tls_inspector` after `original_dst`, enabled only on ports with TLS hosts."""
    tls_ports = [port.port for port in egress.ports if port.tls_hosts]
    if not tls_ports:
        return []
    ranges = [{"destination_port_range": {"start": p, "end": p + 1}} for p in tls_ports]
    enabled_on = ranges[0] if len(ranges) == 1 else {"or_match": {"rules": ranges}}
    return [{**TLS_INSPECTOR.config(), "filter_disabled": {"not_match": enabled_on}}]


def listener_options(egress: EgressPlan) -> Json:
    """With `tls_inspector` in use, a connection that sends nothing within its timeout (15 s,
    a server-first protocol) goes on unmatched to the default chain instead of being closed."""
    if not any(port.tls_hosts for port in egress.ports):
        return {}
    return {"continue_on_listener_filters_timeout": True}


def chains(egress: EgressPlan, settings: MeshSettings) -> list[Json]:
    """The chains that stand apart from the mesh's: TLS by SNI and TCP by range, per port."""
    found = []
    for port in egress.ports:
        if port.tls_hosts:
            found.append(_tls_chain(port, settings))
        if port.cidrs:
            found.append(_tcp_chain(port, settings))
    return found


def _tls_chain(port: EgressPort, settings: MeshSettings) -> Json:
    name = names.egress_chain("tls", port.port)
    match = {
        "destination_port": port.port,
        "transport_protocol": "tls",
        "server_names": list(port.tls_hosts),
    }
    forward = SNI_DYNAMIC_FORWARD_PROXY.config(dns_cache_config=dns_cache(), port_value=port.port)
    proxy = _tcp_proxy(name, names.EGRESS_TLS_CLUSTER, settings)
    return {"name": name, "filter_chain_match": match, "filters": [forward, proxy]}


def _tcp_chain(port: EgressPort, settings: MeshSettings) -> Json:
    name = names.egress_chain("tcp", port.port)
    match = {"destination_port": port.port, "prefix_ranges": [_cidr(c) for c in port.cidrs]}
    proxy = _tcp_proxy(name, names.EGRESS_PASSTHROUGH_CLUSTER, settings)
    return {"name": name, "filter_chain_match": match, "filters": [proxy]}


def _cidr(text: str) -> Json:
    network = ipaddress.IPv4Network(text)
    return {"address_prefix": str(network.network_address), "prefix_len": network.prefixlen}


def _tcp_proxy(chain: str, cluster: str, settings: MeshSettings) -> Json:
    stat_prefix = names.stat_prefix(chain)
    logs = access_logs(settings, "outbound")
    return TCP_PROXY.config(stat_prefix=stat_prefix, cluster=cluster, **logs)


def passthrough_chain(settings: MeshSettings) -> Json:
    """The default chain in passthrough mode: any other connection, to where the app sent it."""
    name = names.EGRESS_PASSTHROUGH_CHAIN
    return {"name": name, "filters": [_tcp_proxy(name, names.EGRESS_PASSTHROUGH_CLUSTER, settings)]}


# HTTP.


def http_only_ports(egress: EgressPlan, mesh_http_ports: set[int]) -> list[EgressPort]:
    """Ports with HTTP hosts and no mesh HTTP chain: they get an HTTP chain of their own."""
    return [p for p in egress.ports if p.http_hosts and p.port not in mesh_http_ports]


def http_filters(egress: EgressPlan, port: int) -> list[Json]:
    """The forward proxy's filter, before the router, on a port with HTTP hosts. It acts only
    on routes to its own cluster, so the mesh's routes on a shared port are untouched."""
    if not _http_hosts(egress, port):
        return []
    return [HTTP_DYNAMIC_FORWARD_PROXY.config(dns_cache_config=dns_cache())]


def route_config(egress: EgressPlan, port: int) -> Json:
    """The route config of a port with HTTP hosts and no mesh HTTP service."""
    deny = {
        "match": {"prefix": "/"},
        "direct_response": {"status": 403, "body": {"inline_string": EGRESS_DENIED}},
    }
    catch_all = {"name": names.DENY_VIRTUAL_HOST, "domains": ["*"], "routes": [deny]}
    empty = {
        "name": names.egress_route_config(port),
        "validate_clusters": False,
        "virtual_hosts": [catch_all],
    }
    return with_egress_hosts(empty, egress, port)


def with_egress_hosts(route_config: Json, egress: EgressPlan, port: int) -> Json:
    """`route_config` (its catch-all virtual host last) with the port's allowed hosts before
    the catch-all, and in passthrough mode a catch-all that forwards instead of denying."""
    hosts = _http_hosts(egress, port)
    if not hosts and not egress.passthrough:
        return route_config
    *named, catch_all = route_config["virtual_hosts"]
    if catch_all["domains"] != ["*"]:
        raise InconsistentConfigError([f"route config {route_config['name']!r} has no catch-all"])
    allowed = [_virtual_host(names.EGRESS_VIRTUAL_HOST, hosts, port, names.EGRESS_HTTP_CLUSTER)]
    if egress.passthrough:
        catch_all = _virtual_host(
            names.EGRESS_PASSTHROUGH_VIRTUAL_HOST, (), port, names.EGRESS_PASSTHROUGH_CLUSTER
        )
    return {**route_config, "virtual_hosts": [*named, *(allowed if hosts else []), catch_all]}


def _http_hosts(egress: EgressPlan, port: int) -> tuple[str, ...]:
    return next((p.http_hosts for p in egress.ports if p.port == port), ())


def _virtual_host(name: str, hosts: tuple[str, ...], port: int, cluster: str) -> Json:
    """Each host with and without `:port` (clients add it on a non-default port); no hosts
    means every host."""
    domains = [domain for host in hosts for domain in (host, f"{host}:{port}")] or ["*"]
    route = {"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": _NO_TIMEOUT}}
    return {"name": name, "domains": domains, "routes": [route]}


# Clusters.


def clusters(egress: EgressPlan) -> tuple[Json, ...]:
    """The forward proxies' clusters (HTTP, TLS) and the original-destination cluster, each
    only when something routes to it."""
    found = []
    if any(port.http_hosts for port in egress.ports):
        found.append(_forward_proxy_cluster(names.EGRESS_HTTP_CLUSTER))
    if any(port.tls_hosts for port in egress.ports):
        found.append(_forward_proxy_cluster(names.EGRESS_TLS_CLUSTER))
    if egress.passthrough or any(port.cidrs for port in egress.ports):
        found.append(original_destination_cluster())
    return tuple(found)


def _forward_proxy_cluster(name: str) -> Json:
    """Connects to the host that the request's `Host` (or the ClientHello's SNI) names."""
    return {
        "name": name,
        "connect_timeout": CONNECT_TIMEOUT,
        "lb_policy": "CLUSTER_PROVIDED",
        "cluster_type": DYNAMIC_FORWARD_PROXY_CLUSTER.config(dns_cache_config=dns_cache()),
    }


def original_destination_cluster() -> Json:
    """Connects to the address and port the app dialled, as iptables' redirect recorded it."""
    return {
        "name": names.EGRESS_PASSTHROUGH_CLUSTER,
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": CONNECT_TIMEOUT,
    }
