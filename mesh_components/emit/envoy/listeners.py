"""Listeners: outbound (one chain per destination port), inbound (mTLS by SNI, then RBAC), the
plaintext probe listeners and the Prometheus listener.

Each HTTP connection manager embeds its route config inline, so a listener and its routes
change together in one atomic file update.
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh_components import names
from mesh_components.compiler.plan import (
    EgressPort,
    InboundPort,
    OutboundPort,
    WeightedUpstream,
    WorkloadPlan,
)
from mesh_components.emit.envoy import egress, ingress, metrics, rbac, routes
from mesh_components.emit.envoy.consistency import InconsistentConfigError, all_chains
from mesh_components.emit.envoy.http_filters import inbound_http_filters
from mesh_components.emit.envoy.observability import access_logs, tracing
from mesh_components.emit.envoy.secrets import downstream_tls
from mesh_components.emit.envoy.types import (
    HEALTH_CHECK,
    HTTP_CONNECTION_MANAGER,
    ORIGINAL_DST,
    ROUTER,
    TCP_PROXY,
    TLS_INSPECTOR,
    Json,
    socket_address,
)
from mesh_components.model import (
    AppMetrics,
    MeshSettings,
    MtlsMode,
    Probe,
    ProbeAction,
    ProbeKind,
    ProxyPorts,
)
from mesh_components.names import VolumePaths

_ANY_ADDRESS = "0.0.0.0"


def listeners(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> tuple[Json, ...]:
    """Every listener of the workload's sidecar, in a fixed order."""
    ports = settings.proxy.ports
    found = [
        outbound_listener(plan, settings),
        inbound_listener(plan, settings, paths),
        *probe_listeners(plan, ports),
        prometheus_listener(ports.prometheus, plan.app_metrics),
    ]
    return tuple(listener for listener in found if listener is not None)


def embedded_route_configs(listeners: Sequence[Json]) -> tuple[Json, ...]:
    """The route configs inlined in the listeners' HTTP connection managers, each name once
    (a permissive plaintext chain shares its route config with the TLS chain)."""
    found: dict[str, Json] = {}
    for listener in listeners:
        for chain in all_chains(listener):
            for network_filter in chain["filters"]:
                route_config = network_filter["typed_config"].get("route_config")
                if route_config is not None:
                    found.setdefault(route_config["name"], route_config)
    return tuple(found.values())


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


def _tcp_proxy(stat_name: str, target: Json, **options: object) -> Json:
    return TCP_PROXY.config(stat_prefix=names.stat_prefix(stat_name), **target, **options)


# Outbound.


def outbound_listener(plan: WorkloadPlan, settings: MeshSettings) -> Json | None:
    """The app's outgoing connections, redirected here by iptables. A chain per destination
    port, matched on the port alone: ClusterIPs and pod IPs are unknown at render time; then
    the egress chains (`egress.py`), and a default chain that denies or, in passthrough mode,
    forwards to the original destination.

    No http_inspector, and tls_inspector only on ports with egress TLS hosts: server-first
    protocols (MySQL) send nothing first and would stall until the inspector times out. None
    at all when the workload may reach nothing: its connections are refused.
    """
    if not plan.outbound and not plan.egress.reaches_anything:
        return None
    chains = [_outbound_chain(outbound, plan, settings) for outbound in plan.outbound]
    mesh_http = {outbound.port for outbound in plan.outbound if outbound.protocol.is_http}
    chains += [
        _egress_http_chain(port, plan, settings)
        for port in egress.http_only_ports(plan.egress, mesh_http)
    ]
    chains += egress.chains(plan.egress, settings)
    port = settings.proxy.ports.outbound
    listener = _listener(names.OUTBOUND_LISTENER, port, "OUTBOUND", chains)
    listener["listener_filters"] = [ORIGINAL_DST.config(), *egress.listener_filters(plan.egress)]
    listener.update(egress.listener_options(plan.egress))
    if plan.egress.passthrough:
        listener["default_filter_chain"] = egress.passthrough_chain(settings)
    else:
        listener["default_filter_chain"] = _deny_chain(settings)
    return listener


def _outbound_chain(port: OutboundPort, plan: WorkloadPlan, settings: MeshSettings) -> Json:
    name = names.outbound_chain(port.port)
    logs = access_logs(settings, "outbound")
    if port.protocol.is_http:
        route_config = routes.outbound_route_config(port)
        route_config = egress.with_egress_hosts(route_config, plan.egress, port.port)
        network_filter = _outbound_http(name, route_config, port.port, plan, settings)
    else:
        backends = _only_backends(port)
        idle = port.destinations[0].policy.idle_timeout
        options = {} if idle is None else {"idle_timeout": idle.envoy}
        network_filter = _tcp_proxy(name, routes.tcp_proxy_target(backends), **options, **logs)
    return {
        "name": name,
        "filter_chain_match": {"destination_port": port.port},
        "filters": [network_filter],
    }


def _outbound_http(
    name: str, route_config: Json, port: int, plan: WorkloadPlan, settings: MeshSettings
) -> Json:
    return _http_connection_manager(
        name,
        route_config,
        egress.http_filters(plan.egress, port),
        strip_trailing_host_dot=True,
        upgrade_configs=[{"upgrade_type": "websocket"}],
        **access_logs(settings, "outbound"),
        **tracing(plan, settings),
    )


def _egress_http_chain(port: EgressPort, plan: WorkloadPlan, settings: MeshSettings) -> Json:
    """Egress HTTP hosts on a port that carries no mesh HTTP service."""
    name = names.egress_chain("http", port.port)
    route_config = egress.route_config(plan.egress, port.port)
    return {
        "name": name,
        "filter_chain_match": {"destination_port": port.port},
        "filters": [_outbound_http(name, route_config, port.port, plan, settings)],
    }


def _only_backends(port: OutboundPort) -> Sequence[WeightedUpstream]:
    """A TCP port carries one destination: without IPs, two could not be told apart."""
    if len(port.destinations) != 1:
        found = len(port.destinations)
        raise InconsistentConfigError([f"TCP port {port.port} has {found} destinations, not 1"])
    return port.destinations[0].backends


def _deny_chain(settings: MeshSettings) -> Json:
    """Any other port is denied explicitly. Measured on Envoy 1.40: tcp_proxy to the empty
    deny cluster closes the connection at once (`cluster.deny.upstream_cx_none_healthy`),
    even for a client that sends nothing; the RBAC filter, which allows no one, acts only on
    the first bytes and is the backstop should the deny cluster ever gain an endpoint."""
    stat_prefix = names.stat_prefix(names.OUTBOUND_DENY_CHAIN)
    filters = [
        rbac.deny_all_filter(stat_prefix),
        _tcp_proxy(
            stat_prefix, {"cluster": names.DENY_CLUSTER}, **access_logs(settings, "outbound")
        ),
    ]
    return {"name": names.OUTBOUND_DENY_CHAIN, "filters": filters}


# Inbound.


def inbound_listener(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> Json | None:
    """Connections to the app's ports, redirected here by iptables. original_dst restores the
    app port (without it every chain would see this listener's port); tls_inspector reads SNI."""
    if not plan.inbound:
        return None
    open_ports = [port for port in plan.inbound if not _closed_tcp(port)]
    chains = [_inbound_tls_chain(port, plan, settings, paths) for port in open_ports]
    chains += ingress.plaintext_chains(
        plan.inbound, lambda port, chain: _inbound_filters(port, chain, plan, settings)
    )
    if not chains:
        return None
    if settings.mtls is MtlsMode.PERMISSIVE:
        plaintext = [p for p in plan.inbound if p.protocol.is_http or p.access is None]
        chains += [
            _inbound_plaintext_chain(port, plan, settings)
            for port in _first_per_target_port(plaintext)
        ]
        unchecked = [port for port in plan.inbound if port.access is None]
        chains += [
            _inbound_tls_passthrough_chain(port, settings)
            for port in _first_per_target_port(unchecked)
        ]
    listener = _listener(names.INBOUND_LISTENER, settings.proxy.ports.inbound, "INBOUND", chains)
    listener["listener_filters"] = [ORIGINAL_DST.config(), TLS_INSPECTOR.config()]
    return listener


def _inbound_tls_chain(
    port: InboundPort, plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths
) -> Json:
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
        "transport_socket": downstream_tls(
            settings.trust_domain, paths, _handshake_allow_list(port)
        ),
        "filters": _inbound_filters(port, name, plan, settings),
    }


def _closed_tcp(port: InboundPort) -> bool:
    """A TCP port nobody may call gets no chain, so its connections are closed at once (an
    empty SAN list would mean "no SAN check", the opposite)."""
    return not port.protocol.is_http and port.access == ()


def _handshake_allow_list(port: InboundPort) -> tuple[str, ...] | None:
    """TCP ports with access rules accept only their allowed identities in the handshake
    (see `secrets.downstream_tls`)."""
    if port.protocol.is_http or port.access is None:
        return None
    return tuple(sorted({principal for rule in port.access for principal in rule.principals}))


def _first_per_target_port(ports: Sequence[InboundPort]) -> list[InboundPort]:
    """Plaintext has no SNI, so services sharing a target port would give identical matches,
    which Envoy rejects. Keep one chain per target port: the first port by (service, port).
    Its RBAC filter decides, and no principal matches plaintext, so with access rules the
    plaintext chain denies whatever port was kept."""
    first: dict[int, InboundPort] = {}
    for port in sorted(ports, key=lambda p: (p.service, p.port)):
        first.setdefault(port.target_port, port)
    return sorted(first.values(), key=lambda p: p.target_port)


def _inbound_plaintext_chain(port: InboundPort, plan: WorkloadPlan, settings: MeshSettings) -> Json:
    """Permissive mode: clients outside the mesh, without TLS."""
    name = names.inbound_chain(port.service, port.port, tls=False)
    match = {"destination_port": port.target_port, "transport_protocol": "raw_buffer"}
    filters = _inbound_filters(port, name, plan, settings)
    return {"name": name, "filter_chain_match": match, "filters": filters}


def _inbound_tls_passthrough_chain(port: InboundPort, settings: MeshSettings) -> Json:
    """Permissive mode: a client outside the mesh that speaks TLS itself (to an app serving
    TLS) reaches the app undecrypted. Mesh clients always send the service's SNI and land on
    its mTLS chain, which Envoy prefers to this one (no `server_names`). Only on ports without
    access rules: in someone else's TLS the sidecar sees no identity to check."""
    name = names.inbound_tls_passthrough_chain(port.service, port.port)
    target = {"cluster": names.local_cluster(port.target_port)}
    proxy = _tcp_proxy(name, target, **access_logs(settings, "inbound"))
    match = {"destination_port": port.target_port, "transport_protocol": "tls"}
    return {"name": name, "filter_chain_match": match, "filters": [proxy]}


def _inbound_filters(
    port: InboundPort, chain: str, plan: WorkloadPlan, settings: MeshSettings
) -> list[Json]:
    """RBAC (when access is restricted) in front of the app, per request or per connection;
    for HTTP also the destination's rate limit and faults (`http_filters`)."""
    logs = access_logs(settings, "inbound")
    if port.protocol.is_http:
        refusal = ingress.refusal_http_filters(port)
        http_filters = [*refusal, *inbound_http_filters(port, names.stat_prefix(chain))]
        observe = {**logs, **tracing(plan, settings)}
        return [_inbound_http(port, chain, http_filters, observe)]
    target = {"cluster": names.local_cluster(port.target_port)}
    stat_name = names.stat_prefix(chain)
    network_filters = ingress.refusal_network_filters(port, stat_name)
    if port.access is not None:
        network_filters.append(rbac.network_filter(port.access, stat_name))
    return [*network_filters, _tcp_proxy(chain, target, **logs)]


def _inbound_http(port: InboundPort, chain: str, http_filters: list[Json], observe: Json) -> Json:
    """The client's identity reaches the app in XFCC; SANITIZE_SET drops a forged header.

    Paths are normalised before RBAC judges them (`/public/../private` is `/private`, `%2F`
    is `/`, `//` is `/`), and the app receives the path RBAC judged, so a path trick cannot
    pass a prefix rule and reach another route.
    """
    return _http_connection_manager(
        chain,
        routes.inbound_route_config(port),
        http_filters,
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
        normalize_path=True,
        merge_slashes=True,
        path_with_escaped_slashes_action="UNESCAPE_AND_FORWARD",
        upgrade_configs=[{"upgrade_type": "websocket"}],
        **observe,
    )


# Probes and metrics.


def probe_listeners(plan: WorkloadPlan, ports: ProxyPorts) -> list[Json]:
    """Plaintext listeners for the kubelet's probes: one per probe kind in use, then the
    health-check listener when a tcpSocket probe is rewritten. Where each probe lands is
    `routes.probe_target`, the rule the Kubernetes side follows too.

    The kubelet probes from the node, so they bind every address.
    """
    found = []
    for kind in ProbeKind:
        probes = [p for p in plan.probes if p.kind is kind and p.action is not ProbeAction.TCP]
        if probes:
            found.append(_probe_listener(kind, probes, routes.probe_listener_port(kind, ports)))
    tcp_probes = [p for p in plan.probes if p.action is ProbeAction.TCP]
    if tcp_probes:
        found.append(_health_check_listener(tcp_probes, ports.health_check))
    return found


def _probe_listener(kind: ProbeKind, probes: list[Probe], port: int) -> Json:
    """HTTP, HTTPS and gRPC probes of one kind, each answered at its own path only (see
    `routes.probe_route_config`). Never a tcp_proxy: this port is outside the mTLS redirect,
    so a raw pass-through would hand the whole app port to anyone reaching the pod."""
    name = names.probe_listener(kind.value)
    grpc = [names.GRPC_HEALTH_PREFIX for p in probes if p.action is ProbeAction.GRPC]
    _one_each(name, grpc, "several gRPC probes")
    route_config = routes.probe_route_config(kind.value, probes)
    chain = {"name": name, "filters": [_http_connection_manager(name, route_config)]}
    return _listener(name, port, "INBOUND", [chain])


def _one_each(listener: str, keys: list[str], what: str) -> None:
    """Validation rejects probes that one listener could not tell apart."""
    if len(set(keys)) != len(keys):
        raise InconsistentConfigError([f"listener {listener!r} cannot tell apart {what}"])


def _health_check_listener(probes: list[Probe], port: int) -> Json:
    """Rewritten tcpSocket probes: one health_check filter per container, matching its own
    path, answers from an active TCP health check of the app port. The kubelet's own TCP
    connect would pass even with the app dead (iptables hands it to the inbound listener)."""
    name = names.probe_listener(names.HEALTH_CHECK_PROBES)
    pairs = sorted({(names.probe_path(p.container), p.port) for p in probes})
    _one_each(name, [path for path, _ in pairs], "TCP probes on several ports of one container")
    checks = [_health_check_filter(path, port) for path, port in pairs]
    route_config = routes.health_check_route_config()
    chain = {"name": name, "filters": [_http_connection_manager(name, route_config, checks)]}
    return _listener(name, port, "INBOUND", [chain])


def _health_check_filter(path: str, app_port: int) -> Json:
    """200 while the app port's health-check cluster is healthy, else 503; never forwarded.
    Envoy also answers 503 once it drains."""
    return HEALTH_CHECK.config(
        pass_through_mode=False,
        headers=[{"name": ":path", "string_match": {"exact": path}}],
        cluster_min_healthy_percentages={names.health_check_cluster(app_port): {"value": 100}},
    )


def prometheus_listener(port: int, app: AppMetrics | None = None) -> Json:
    """Prometheus scrapes the admin interface's stats page here, and the kubelet probes the
    sidecar's readiness (the admin port stays local; see `routes.prometheus_route_config`).
    With `app`, the stats page ends with the app's own metrics (metrics.py)."""
    name = names.PROMETHEUS_LISTENER
    route_config = routes.prometheus_route_config(app)
    merging = [] if app is None else [metrics.merge_filter()]
    chain = {"name": name, "filters": [_http_connection_manager(name, route_config, merging)]}
    return _listener(name, port, "INBOUND", [chain])
