"""Clusters: one mTLS upstream per backend service port, the local app ports (health-checked
ones for TCP probes, TLS ones for HTTPS probes, and the app's metrics port when they are
merged), the admin interface (for the Prometheus listener) and the deny cluster.

Upstreams resolve a headless companion Service by DNS (Envoy balances over ready pod IPs), or,
for a headless destination, keep the pod IP the app dialled (original destination).
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.compiler.plan import Upstream, WorkloadPlan
from mesh_components.emit.envoy import egress
from mesh_components.emit.envoy.observability import tracing_cluster
from mesh_components.emit.envoy.secrets import upstream_tls
from mesh_components.emit.envoy.shared import share
from mesh_components.emit.envoy.types import (
    DNS_CLUSTER,
    HTTP_PROTOCOL_OPTIONS,
    HTTP_PROTOCOL_OPTIONS_KEY,
    UPSTREAM_TLS,
    Json,
    socket_address,
    typed,
)
from mesh_components.model import (
    CircuitBreakers,
    ConnectionPool,
    Duration,
    MeshSettings,
    OutlierDetection,
    Probe,
    ProbeAction,
    Protocol,
)
from mesh_components.names import VolumePaths

CONNECT_TIMEOUT = "5s"
_HEALTH_CHECK_INTERVAL = "1s"
_LOCALHOST = "127.0.0.1"


def clusters(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> tuple[Json, ...]:
    """Every cluster of the workload's sidecar: upstreams, egress, local ports, local TLS ports
    (for HTTPS probes), health-checked local ports (for TCP probes), the app's metrics port
    (when merged), admin, deny."""
    http2_ports = {p.target_port for p in plan.inbound if p.protocol.needs_http2_upstream}
    http2_ports |= {p.port for p in plan.probes if p.action is ProbeAction.GRPC}
    # A port that only HTTPS probes use gets no plaintext cluster: nothing would route to it.
    plaintext = {p.target_port for p in plan.inbound}
    plaintext |= {p.port for p in plan.probes if not _https(p)}
    tls_probed = sorted({p.port for p in plan.probes if _https(p)})
    tcp_probed = sorted({p.port for p in plan.probes if p.action is ProbeAction.TCP})
    collector = tracing_cluster(settings)
    return (
        *(upstream_cluster(u, paths, settings.proxy.dns_refresh) for u in plan.upstreams()),
        *egress.clusters(plan.egress),
        *(() if collector is None else (collector,)),
        *(local_cluster(port, http2=port in http2_ports) for port in sorted(plaintext)),
        *(local_tls_cluster(port) for port in tls_probed),
        *(health_check_cluster(port) for port in tcp_probed),
        *(() if plan.app_metrics is None else (app_metrics_cluster(plan.app_metrics.port),)),
        _static(names.ADMIN_CLUSTER, _LOCALHOST, settings.proxy.ports.admin),
        deny_cluster(),
    )


def _https(probe: Probe) -> bool:
    return probe.action is ProbeAction.HTTP and probe.https


def upstream_cluster(upstream: Upstream, paths: VolumePaths, dns_refresh: Duration) -> Json:
    """mTLS to one backend service port, built once per upstream and shared by every caller."""
    key = ("upstream cluster", upstream, paths, dns_refresh)
    return share(key, lambda: _upstream_cluster(upstream, paths, dns_refresh))


def _upstream_cluster(upstream: Upstream, paths: VolumePaths, dns_refresh: Duration) -> Json:
    """mTLS to one backend service port, with the backend's limits, ejection and pool.
    gRPC and HTTP/2 ports speak HTTP/2 upstream."""
    name, policy = names.upstream_cluster(upstream.service, upstream.port), upstream.policy
    pool = policy.connection_pool
    cluster = {
        "name": name,
        "connect_timeout": policy.connect_timeout.envoy,
        **_discovery(name, upstream, dns_refresh),
        "transport_socket": upstream_tls(upstream, paths),
        "circuit_breakers": circuit_breakers(policy.circuit_breakers),
        "upstream_connection_options": {"tcp_keepalive": _tcp_keepalive(pool)},
    }
    if policy.outlier_detection.enabled:
        cluster["outlier_detection"] = outlier_detection(policy.outlier_detection)
    if upstream.protocol.is_http:
        cluster["typed_extension_protocol_options"] = _upstream_http_options(
            upstream.protocol, pool
        )
    return cluster


def circuit_breakers(limits: CircuitBreakers) -> Json:
    """One threshold set (default priority). Past a limit the sidecar answers 503 at once
    (response flag UO); `track_remaining` publishes the headroom as gauges."""
    threshold: Json = {
        "priority": "DEFAULT",
        "max_connections": limits.max_connections,
        "max_pending_requests": limits.max_pending_requests,
        "max_requests": limits.max_requests,
        "track_remaining": True,
    }
    if limits.max_retries is not None:
        threshold["max_retries"] = limits.max_retries
    if limits.retry_budget is not None:
        budget = limits.retry_budget
        threshold["retry_budget"] = {
            "budget_percent": {"value": float(budget.percent)},
            "min_retry_concurrency": budget.min_concurrency,
        }
    return {"thresholds": [threshold]}


def outlier_detection(settings: OutlierDetection) -> Json:
    """Consecutive errors (connect failures included) eject a pod, for longer each time."""
    return {
        "consecutive_5xx": settings.consecutive_5xx,
        "interval": settings.interval.envoy,
        "base_ejection_time": settings.base_ejection_time.envoy,
        "max_ejection_percent": settings.max_ejection_percent,
    }


def _tcp_keepalive(pool: ConnectionPool) -> Json:
    """Envoy takes whole seconds here (validation requires them)."""
    keepalive = pool.tcp_keepalive
    return {
        "keepalive_time": keepalive.time.millis // 1000,
        "keepalive_interval": keepalive.interval.millis // 1000,
        "keepalive_probes": keepalive.probes,
    }


def _upstream_http_options(protocol: Protocol, pool: ConnectionPool) -> Json:
    common: Json = {"idle_timeout": pool.idle_timeout.envoy}
    if pool.max_requests_per_connection is not None:
        common["max_requests_per_connection"] = pool.max_requests_per_connection
    if not protocol.needs_http2_upstream:
        explicit: Json = {"http_protocol_options": {}}
    else:
        http2: Json = {}
        if pool.max_concurrent_streams is not None:
            http2["max_concurrent_streams"] = pool.max_concurrent_streams
        if pool.http2_keepalive is not None:
            ping = pool.http2_keepalive
            http2["connection_keepalive"] = {
                "interval": ping.interval.envoy,
                "timeout": ping.timeout.envoy,
            }
        explicit = {"http2_protocol_options": http2}
    options = typed(
        HTTP_PROTOCOL_OPTIONS, common_http_protocol_options=common, explicit_http_config=explicit
    )
    return {HTTP_PROTOCOL_OPTIONS_KEY: options}


def _discovery(name: str, upstream: Upstream, refresh: Duration) -> Json:
    """Original destination for headless services, else strict DNS on the companion's
    absolute name and the target port (the connection goes straight to a pod).

    Strict DNS is the `envoy.clusters.dns` extension: Envoy 1.40 deprecates the Cluster's own
    `respect_dns_ttl` and `dns_refresh_rate`. Each address returned is its own endpoint.
    Every `refresh` (plus up to a fifth of it, so sidecars started together spread their
    queries), whatever the TTL: CoreDNS answers with 5 s, and Envoy waits out its refresh rate
    after an empty answer, so honouring either would keep a Ready pod idle for seconds.
    """
    if upstream.keeps_original_destination:
        return {"type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED"}
    dns = DNS_CLUSTER.config(
        dns_refresh_rate=refresh.envoy,
        dns_jitter=Duration(max(1, refresh.millis // 5)).envoy,
        respect_dns_ttl=False,
        dns_lookup_family="V4_PREFERRED",
    )
    return {
        "cluster_type": dns,
        "load_assignment": _load_assignment(name, upstream.address, upstream.target_port),
    }


def _http2_options() -> Json:
    options = typed(HTTP_PROTOCOL_OPTIONS, explicit_http_config={"http2_protocol_options": {}})
    return {HTTP_PROTOCOL_OPTIONS_KEY: options}


def _load_assignment(name: str, address: str, port: int) -> Json:
    endpoint = {"endpoint": {"address": socket_address(address, port)}}
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint]}]}


def _static(name: str, address: str, port: int) -> Json:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": CONNECT_TIMEOUT,
        "load_assignment": _load_assignment(name, address, port),
    }


def local_cluster(port: int, *, http2: bool = False) -> Json:
    """The app on 127.0.0.1. A gRPC or HTTP/2 service port gets HTTP/2 (h2c) here too."""
    cluster = _static(names.local_cluster(port), _LOCALHOST, port)
    if http2:
        cluster["typed_extension_protocol_options"] = _http2_options()
    return cluster


def local_tls_cluster(port: int) -> Json:
    """The app's HTTPS port on 127.0.0.1, for HTTPS probes (answered as plain HTTP on the
    probe listeners). Like the kubelet's own HTTPS probe: no certificate of ours, the app's
    certificate not checked (the kubelet never checked it), no SNI (the kubelet sends none to
    a pod IP), and TLS 1.2 or 1.3 (Envoy's client default stops at 1.2: measured on 1.40, a
    TLS 1.3-only app then fails the probe)."""
    cluster = _static(names.local_tls_cluster(port), _LOCALHOST, port)
    versions = {
        "tls_minimum_protocol_version": "TLSv1_2",
        "tls_maximum_protocol_version": "TLSv1_3",
    }
    cluster["transport_socket"] = UPSTREAM_TLS.config(common_tls_context={"tls_params": versions})
    return cluster


def app_metrics_cluster(port: int) -> Json:
    """The app's metrics port on 127.0.0.1, which the Prometheus listener's merging filter
    asks in HTTP/1.1 (the app's own protocol on that port does not matter to a scrape). The
    sidecar's own connections are never redirected by iptables, so this reaches the app."""
    return _static(names.app_metrics_cluster(port), _LOCALHOST, port)


def health_check_cluster(port: int) -> Json:
    """The app port, TCP-checked every second whether or not traffic flows: it never carries
    any, and `no_traffic_interval` would otherwise stretch the checks to 60 s. One failed
    connect marks it down and one success up, so a rewritten TCP probe follows the app
    within about a second."""
    cluster = _static(names.health_check_cluster(port), _LOCALHOST, port)
    check = {
        "timeout": _HEALTH_CHECK_INTERVAL,
        "interval": _HEALTH_CHECK_INTERVAL,
        "no_traffic_interval": _HEALTH_CHECK_INTERVAL,
        "unhealthy_threshold": 1,
        "healthy_threshold": 1,
        "tcp_health_check": {},
    }
    cluster["health_checks"] = [check]
    return cluster


def deny_cluster() -> Json:
    """No endpoints: the target of the outbound listener's deny chain, never reached."""
    return {
        "name": names.DENY_CLUSTER,
        "type": "STATIC",
        "connect_timeout": CONNECT_TIMEOUT,
        "load_assignment": {"cluster_name": names.DENY_CLUSTER},
    }
