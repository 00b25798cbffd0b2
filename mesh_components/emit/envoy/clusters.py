"""Clusters: one mTLS upstream per backend service port, the local app ports (health-checked
ones for TCP probes, TLS ones for HTTPS probes), the admin interface (for the Prometheus
listener) and the deny cluster.

Upstreams resolve a headless companion Service by DNS (Envoy balances over ready pod IPs), or,
for a headless destination, keep the pod IP the app dialled (original destination).
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.envoy.secrets import upstream_tls
from mesh_components.emit.envoy.types import (
    DNS_CLUSTER,
    HTTP_PROTOCOL_OPTIONS,
    HTTP_PROTOCOL_OPTIONS_KEY,
    UPSTREAM_TLS,
    Json,
    socket_address,
    typed,
)
from mesh_components.model import MeshSettings, Probe, ProbeAction
from mesh_components.names import VolumePaths
from mesh_components.plan import Upstream, WorkloadPlan

CONNECT_TIMEOUT = "5s"
# Conservative ejection of failing pods, on by default (OSM shipped without it): five errors
# in a row (connect failures included) eject a pod for 30 s, never more than half the pods.
OUTLIER_DETECTION = {
    "consecutive_5xx": 5,
    "interval": "10s",
    "base_ejection_time": "30s",
    "max_ejection_percent": 50,
}
_HEALTH_CHECK_INTERVAL = "1s"
_LOCALHOST = "127.0.0.1"


def clusters(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> tuple[Json, ...]:
    """Every cluster of the workload's sidecar: upstreams, local ports, local TLS ports (for
    HTTPS probes), health-checked local ports (for TCP probes), admin, deny."""
    http2_ports = {p.target_port for p in plan.inbound if p.protocol.needs_http2_upstream}
    http2_ports |= {p.port for p in plan.probes if p.action is ProbeAction.GRPC}
    # A port that only HTTPS probes use gets no plaintext cluster: nothing would route to it.
    plaintext = {p.target_port for p in plan.inbound}
    plaintext |= {p.port for p in plan.probes if not _https(p)}
    tls_probed = sorted({p.port for p in plan.probes if _https(p)})
    tcp_probed = sorted({p.port for p in plan.probes if p.action is ProbeAction.TCP})
    return (
        *(upstream_cluster(upstream, paths) for upstream in plan.upstreams()),
        *(local_cluster(port, http2=port in http2_ports) for port in sorted(plaintext)),
        *(local_tls_cluster(port) for port in tls_probed),
        *(health_check_cluster(port) for port in tcp_probed),
        _static(names.ADMIN_CLUSTER, _LOCALHOST, settings.proxy.ports.admin),
        deny_cluster(),
    )


def _https(probe: Probe) -> bool:
    return probe.action is ProbeAction.HTTP and probe.https


def upstream_cluster(upstream: Upstream, paths: VolumePaths) -> Json:
    """mTLS to one backend service port. gRPC and HTTP/2 ports speak HTTP/2 upstream."""
    name = names.upstream_cluster(upstream.service, upstream.port)
    cluster = {
        "name": name,
        "connect_timeout": CONNECT_TIMEOUT,
        **_discovery(name, upstream),
        "transport_socket": upstream_tls(upstream, paths),
        "outlier_detection": dict(OUTLIER_DETECTION),
    }
    if upstream.protocol.needs_http2_upstream:
        cluster["typed_extension_protocol_options"] = _http2_options()
    return cluster


def _discovery(name: str, upstream: Upstream) -> Json:
    """Original destination for headless services, else strict DNS on the companion's
    absolute name and the target port (the connection goes straight to a pod).

    Strict DNS is the `envoy.clusters.dns` extension: Envoy 1.40 deprecates the Cluster's own
    `respect_dns_ttl` and `dns_refresh_rate`. Each address returned is its own endpoint.
    """
    if upstream.keeps_original_destination:
        return {"type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED"}
    dns = DNS_CLUSTER.config(respect_dns_ttl=True, dns_lookup_family="V4_PREFERRED")
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
