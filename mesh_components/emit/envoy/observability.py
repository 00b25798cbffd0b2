"""Access logs and tracing: one JSON line per request or connection on the sidecar's stdout,
and spans to an OTLP or Zipkin collector when the mesh declares one.

The access log names the peer's SPIFFE identity on both sides: the caller's on inbound chains
(`downstream_peer`), the server's on outbound ones (`upstream_peer`).
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.envoy.types import (
    DNS_CLUSTER,
    HTTP_PROTOCOL_OPTIONS,
    HTTP_PROTOCOL_OPTIONS_KEY,
    OPENTELEMETRY_TRACER,
    STDOUT_ACCESS_LOG,
    ZIPKIN_TRACER,
    Json,
    socket_address,
    typed,
)
from mesh_components.model import MeshSettings, TracingProtocol

# Command operators print "-" (or null in JSON) where they do not apply, e.g. HTTP fields on a
# TCP connection. RESPONSE_FLAGS says why Envoy answered itself: UF (connect failure), UO
# (circuit breaker), URX (retries exhausted), RL (rate limited), FI (fault), NR (no route).
_FIELDS = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "authority": "%REQ(:AUTHORITY)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "duration_ms": "%DURATION%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "downstream_peer": "%DOWNSTREAM_PEER_URI_SAN%",
    "upstream_peer": "%UPSTREAM_PEER_URI_SAN%",
    "request_id": "%REQ(X-REQUEST-ID)%",
}
_OTLP_TIMEOUT = "0.250s"
_COLLECTOR_CONNECT_TIMEOUT = "1s"
_ZIPKIN_PATH = "/api/v2/spans"


def access_logs(settings: MeshSettings, direction: str) -> Json:
    """`{access_log: [...]}` for an HTTP connection manager or a tcp_proxy, or {} when off."""
    if not settings.observability.access_logs:
        return {}
    fields = {"direction": direction, **_FIELDS}
    logger = STDOUT_ACCESS_LOG.config(log_format={"json_format": fields})
    return {"access_log": [logger]}


def tracing(plan: WorkloadPlan, settings: MeshSettings) -> Json:
    """`{tracing: ...}` for an HTTP connection manager, or {} without a collector."""
    declared = settings.observability.tracing
    if declared is None:
        return {}
    service = f"{plan.workload.name}.{plan.workload.namespace}"
    if declared.protocol is TracingProtocol.OTLP:
        grpc = {"envoy_grpc": {"cluster_name": names.TRACING_CLUSTER}, "timeout": _OTLP_TIMEOUT}
        provider = OPENTELEMETRY_TRACER.config(grpc_service=grpc, service_name=service)
    else:
        host = declared.address.rpartition(":")[0]
        provider = ZIPKIN_TRACER.config(
            collector_cluster=names.TRACING_CLUSTER,
            collector_endpoint=_ZIPKIN_PATH,
            collector_endpoint_version="HTTP_JSON",
            collector_hostname=host,
        )
    return {
        "tracing": {"provider": provider, "random_sampling": {"value": declared.sampling_percent}}
    }


def tracing_cluster(settings: MeshSettings) -> Json | None:
    """The collector, by DNS, in plaintext (the proxy's own connections bypass the redirect).
    OTLP is gRPC, so HTTP/2."""
    declared = settings.observability.tracing
    if declared is None:
        return None
    host, _, port = declared.address.rpartition(":")
    endpoint = {"endpoint": {"address": socket_address(host, int(port))}}
    cluster: Json = {
        "name": names.TRACING_CLUSTER,
        "connect_timeout": _COLLECTOR_CONNECT_TIMEOUT,
        "cluster_type": DNS_CLUSTER.config(respect_dns_ttl=True, dns_lookup_family="V4_PREFERRED"),
        "load_assignment": {
            "cluster_name": names.TRACING_CLUSTER,
            "endpoints": [{"lb_endpoints": [endpoint]}],
        },
    }
    if declared.protocol is TracingProtocol.OTLP:
        options = typed(HTTP_PROTOCOL_OPTIONS, explicit_http_config={"http2_protocol_options": {}})
        cluster["typed_extension_protocol_options"] = {HTTP_PROTOCOL_OPTIONS_KEY: options}
    return cluster
