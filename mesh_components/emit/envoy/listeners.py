"""Listeners: outbound (one chain per destination port), inbound (mTLS by SNI, then RBAC), the
plaintext probe listeners and the Prometheus listener.

Each HTTP connection manager embeds its route config inline, so a listener and its routes
change together in one atomic file update.
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh_components import names
from mesh_components.emit.envoy import rbac, routes
from mesh_components.emit.envoy.consistency import InconsistentConfigError
from mesh_components.emit.envoy.secrets import downstream_tls
from mesh_components.emit.envoy.types import (
    HTTP_CONNECTION_MANAGER,
    ORIGINAL_DST,
    ROUTER,
    TCP_PROXY,
    TLS_INSPECTOR,
    Json,
    socket_address,
)
from mesh_components.model import MeshSettings, MtlsMode, Probe, ProbeAction, ProbeKind, ProxyPorts
from mesh_components.names import VolumePaths
from mesh_components.plan import InboundPort, OutboundPort, WeightedUpstream, WorkloadPlan

_ANY_ADDRESS = "0.0.0.0"


def listeners(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> tuple[Json, ...]:
    """Every listener of the workload's sidecar, in a fixed order."""
    ports = settings.proxy.ports
    found = [
        outbound_listener(plan, ports.outbound),
        inbound_listener(plan, settings, paths),
        *probe_listeners(plan, ports),
        prometheus_listener(ports.prometheus),
    ]
    return tuple(listener for listener in found if listener is not None)


def embedded_route_configs(listeners: Sequence[Json]) -> tuple[Json, ...]:
    """The route configs inlined in the listeners' HTTP connection managers, each name once
    (a permissive plaintext chain shares its route config with the TLS chain)."""
    found: dict[str, Json] = {}
    for listener in listeners:
        for chain in _chains(listener):
            for network_filter in chain["filters"]:
                route_config = network_filter["typed_config"].get("route_config")
                if route_config is not None:
                    found.setdefault(route_config["name"], route_config)
    return tuple(found.values())


def _chains(listener: Json) -> list[Json]:
    default = listener.get("default_filter_chain")
    return [*listener["filter_chains"], *([default] if default else [])]


def _listener(name: str, port: int, direction: str, chains: list[Json]) -> Json:
    return {
        "name": name,
        "stat_prefix": names.stat_prefix(name),
        "address": socket_address(_ANY_ADDRESS, port),
        "traffic_direction": direction,
        "filter_chains": chains,
    }


def _http_connection_manager(
    stat_name: str, route_config: Json, filters: Sequence[Json] = (), **options: object
) -> Json:
    """AUTO codec: HTTP/1.1 and HTTP/2 with prior knowledge (h2c gRPC) on the same port."""
    return HTTP_CONNECTION_MANAGER.config(
        stat_prefix=names.stat_prefix(stat_name),
        codec_type="AUTO",
        route_config=route_config,
        http_filters=[*filters, ROUTER.config()],
        **options,
    )


def _tcp_proxy(stat_name: str, target: Json) -> Json:
    return TCP_PROXY.config(stat_prefix=names.stat_prefix(stat_name), **target)


# Outbound.


def outbound_listener(plan: WorkloadPlan, port: int) -> Json | None:
    """The app's outgoing connections, redirected here by iptables. A chain per destination
    port, matched on the port alone: ClusterIPs and pod IPs are unknown at render time.

    No tls_inspector or http_inspector: server-first protocols (MySQL) send nothing first and
    would stall until the inspector times out. None at all when the workload may reach
    nothing, because Envoy rejects a listener without filter chains.
    """
    if not plan.outbound:
        return None
    chains = [_outbound_chain(outbound) for outbound in plan.outbound]
    listener = _listener(names.OUTBOUND_LISTENER, port, "OUTBOUND", chains)
    listener["listener_filters"] = [ORIGINAL_DST.config()]
    listener["default_filter_chain"] = _deny_chain()
    return listener


def _outbound_chain(port: OutboundPort) -> Json:
    name = names.outbound_chain(port.port)
    if port.protocol.is_http:
        route_config = routes.outbound_route_config(port)
        network_filter = _http_connection_manager(name, route_config)
    else:
        network_filter = _tcp_proxy(name, routes.tcp_proxy_target(_only_backends(port)))
    return {
        "name": name,
        "filter_chain_match": {"destination_port": port.port},
        "filters": [network_filter],
    }


def _only_backends(port: OutboundPort) -> Sequence[WeightedUpstream]:
    """A TCP port carries one destination: without IPs, two could not be told apart."""
    if len(port.destinations) != 1:
        found = len(port.destinations)
        raise InconsistentConfigError([f"TCP port {port.port} has {found} destinations, not 1"])
    return port.destinations[0].backends


def _deny_chain() -> Json:
    """Any other port is denied explicitly. Measured on Envoy 1.40: tcp_proxy to the empty
    deny cluster closes the connection at once (`cluster.deny.upstream_cx_none_healthy`),
    even for a client that sends nothing; the RBAC filter, which allows no one, acts only on
    the first bytes and is the backstop should the deny cluster ever gain an endpoint."""
    stat_prefix = names.stat_prefix(names.OUTBOUND_DENY_CHAIN)
    filters = [
        rbac.deny_all_filter(stat_prefix),
        _tcp_proxy(stat_prefix, {"cluster": names.DENY_CLUSTER}),
    ]
    return {"name": names.OUTBOUND_DENY_CHAIN, "filters": filters}


# Inbound.


def inbound_listener(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> Json | None:
    """Connections to the app's ports, redirected here by iptables. original_dst restores the
    app port (without it every chain would see this listener's port); tls_inspector reads SNI."""
    if not plan.inbound:
        return None
    trust_domain = settings.trust_domain
    chains = [_inbound_tls_chain(port, trust_domain, paths) for port in plan.inbound]
    if settings.mtls is MtlsMode.PERMISSIVE:
        chains += [_inbound_plaintext_chain(port) for port in _first_per_target_port(plan.inbound)]
    listener = _listener(names.INBOUND_LISTENER, settings.proxy.ports.inbound, "INBOUND", chains)
    listener["listener_filters"] = [ORIGINAL_DST.config(), TLS_INSPECTOR.config()]
    return listener


def _inbound_tls_chain(port: InboundPort, trust_domain: str, paths: VolumePaths) -> Json:
    """mTLS for one service port, chosen by SNI: a pod selected by several services (a root
    and its version) accepts each one's SNI on its own chain."""
    name = names.inbound_chain(port.service, port.port)
    match = {
        "destination_port": port.target_port,
        "transport_protocol": "tls",
        "server_names": [port.sni],
    }
    return {
        "name": name,
        "filter_chain_match": match,
        "transport_socket": downstream_tls(trust_domain, paths),
        "filters": _inbound_filters(port, name),
    }


def _first_per_target_port(ports: Sequence[InboundPort]) -> list[InboundPort]:
    """Plaintext has no SNI, so services sharing a target port would give identical matches,
    which Envoy rejects. Keep one chain per target port: the first port by (service, port).
    Its RBAC filter decides, and no principal matches plaintext, so with access rules the
    plaintext chain denies whatever port was kept."""
    first: dict[int, InboundPort] = {}
    for port in sorted(ports, key=lambda p: (p.service, p.port)):
        first.setdefault(port.target_port, port)
    return sorted(first.values(), key=lambda p: p.target_port)


def _inbound_plaintext_chain(port: InboundPort) -> Json:
    """Permissive mode: clients outside the mesh, without TLS."""
    name = names.inbound_chain(port.service, port.port, tls=False)
    match = {"destination_port": port.target_port, "transport_protocol": "raw_buffer"}
    return {"name": name, "filter_chain_match": match, "filters": _inbound_filters(port, name)}


def _inbound_filters(port: InboundPort, chain: str) -> list[Json]:
    """RBAC (when access is restricted) in front of the app, per request or per connection."""
    if port.protocol.is_http:
        http_filters = [] if port.access is None else [rbac.http_filter(port.access)]
        return [_inbound_http(port, chain, http_filters)]
    target = {"cluster": names.local_cluster(port.target_port)}
    stat_name = names.stat_prefix(chain)
    network_filters = [] if port.access is None else [rbac.network_filter(port.access, stat_name)]
    return [*network_filters, _tcp_proxy(chain, target)]


def _inbound_http(port: InboundPort, chain: str, http_filters: list[Json]) -> Json:
    """The client's identity reaches the app in XFCC; SANITIZE_SET drops a forged header."""
    return _http_connection_manager(
        chain,
        routes.inbound_route_config(port),
        http_filters,
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
    )


# Probes and metrics.


def _probe_port(kind: ProbeKind, ports: ProxyPorts) -> int:
    by_kind = {
        ProbeKind.LIVENESS: ports.liveness_probe,
        ProbeKind.READINESS: ports.readiness_probe,
        ProbeKind.STARTUP: ports.startup_probe,
    }
    return by_kind[kind]


def probe_listeners(plan: WorkloadPlan, ports: ProxyPorts) -> list[Json]:
    """Plaintext listeners for the kubelet's HTTP probes, one per probe kind in use.

    The kubelet probes from the node, so they bind every address. Routing is in
    `routes.probe_route_config`. HTTPS, TCP and gRPC probes get no listener here: a later
    issue covers them.
    """
    found = []
    for kind in ProbeKind:
        probes = sorted(
            (p for p in plan.probes if p.kind is kind and _answered_here(p)),
            key=lambda p: p.container,
        )
        if probes:
            found.append(_probe_listener(kind, probes, _probe_port(kind, ports)))
    return found


def _answered_here(probe: Probe) -> bool:
    return probe.action is ProbeAction.HTTP and not probe.https


def _probe_listener(kind: ProbeKind, probes: list[Probe], port: int) -> Json:
    name = names.probe_listener(kind.value)
    route_config = routes.probe_route_config(kind.value, probes)
    chain = {"name": name, "filters": [_http_connection_manager(name, route_config)]}
    return _listener(name, port, "INBOUND", [chain])


def prometheus_listener(port: int) -> Json:
    """Prometheus scrapes the admin interface's stats page here; the admin port stays local."""
    name = names.PROMETHEUS_LISTENER
    route_config = routes.prometheus_route_config()
    chain = {"name": name, "filters": [_http_connection_manager(name, route_config)]}
    return _listener(name, port, "INBOUND", [chain])
