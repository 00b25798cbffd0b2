"""Envoy's vocabulary, spelled once: every `@type` URL and extension name the emitters use.

Resources are plain dicts (`Json`). `typed` builds an `Any` (a dict with `@type`); `Extension`
pairs an extension's name with its config type, as filters and transport sockets need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
"""One Envoy message as plain data, ready for YAML."""

_PREFIX = "type.googleapis.com/"

# xDS resources, as they appear in a DiscoveryResponse.
LISTENER = f"{_PREFIX}envoy.config.listener.v3.Listener"
CLUSTER = f"{_PREFIX}envoy.config.cluster.v3.Cluster"
SECRET = f"{_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret"

# Upstream HTTP options live in a map keyed by their message name, without the URL prefix.
HTTP_PROTOCOL_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP_PROTOCOL_OPTIONS = f"{_PREFIX}{HTTP_PROTOCOL_OPTIONS_KEY}"


def typed(url: str, **fields: Any) -> Json:
    """A protobuf `Any`: the message's fields plus its `@type`."""
    return {"@type": url, **fields}


@dataclass(frozen=True, slots=True)
class Extension:
    """An Envoy extension: the name it is configured under and its config message type."""

    name: str
    url: str

    def config(self, **fields: Any) -> Json:
        """`{name, typed_config}`, the shape of filters, transport sockets and monitors."""
        return {"name": self.name, "typed_config": typed(self.url, **fields)}


def _ext(name: str, message: str) -> Extension:
    return Extension(name, f"{_PREFIX}{message}")


ORIGINAL_DST = _ext(
    "envoy.filters.listener.original_dst",
    "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
)
TLS_INSPECTOR = _ext(
    "envoy.filters.listener.tls_inspector",
    "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
)
HTTP_CONNECTION_MANAGER = _ext(
    "envoy.filters.network.http_connection_manager",
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
)
TCP_PROXY = _ext(
    "envoy.filters.network.tcp_proxy",
    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
)
NETWORK_RBAC = _ext("envoy.filters.network.rbac", "envoy.extensions.filters.network.rbac.v3.RBAC")
HTTP_RBAC = _ext("envoy.filters.http.rbac", "envoy.extensions.filters.http.rbac.v3.RBAC")
ROUTER = _ext("envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router")
HEALTH_CHECK = _ext(
    "envoy.filters.http.health_check",
    "envoy.extensions.filters.http.health_check.v3.HealthCheck",
)
DOWNSTREAM_TLS = _ext(
    "envoy.transport_sockets.tls",
    "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
)
UPSTREAM_TLS = _ext(
    "envoy.transport_sockets.tls",
    "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
)
DNS_CLUSTER = _ext("envoy.clusters.dns", "envoy.extensions.clusters.dns.v3.DnsCluster")
DYNAMIC_FORWARD_PROXY_CLUSTER = _ext(
    "envoy.clusters.dynamic_forward_proxy",
    "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig",
)
HTTP_DYNAMIC_FORWARD_PROXY = _ext(
    "envoy.filters.http.dynamic_forward_proxy",
    "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig",
)
SNI_DYNAMIC_FORWARD_PROXY = _ext(
    "envoy.filters.network.sni_dynamic_forward_proxy",
    "envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig",
)
FILE_ACCESS_LOG = _ext(
    "envoy.access_loggers.file",
    "envoy.extensions.access_loggers.file.v3.FileAccessLog",
)
STDOUT_ACCESS_LOG = _ext(
    "envoy.access_loggers.stdout",
    "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
)
LOCAL_RATE_LIMIT = _ext(
    "envoy.filters.http.local_ratelimit",
    "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
)
FAULT = _ext("envoy.filters.http.fault", "envoy.extensions.filters.http.fault.v3.HTTPFault")
LUA = _ext("envoy.filters.http.lua", "envoy.extensions.filters.http.lua.v3.Lua")
LUA_PER_ROUTE = f"{_PREFIX}envoy.extensions.filters.http.lua.v3.LuaPerRoute"
PREVIOUS_HOSTS = _ext(
    "envoy.retry_host_predicates.previous_hosts",
    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
)
OPENTELEMETRY_TRACER = _ext(
    "envoy.tracers.opentelemetry", "envoy.config.trace.v3.OpenTelemetryConfig"
)
ZIPKIN_TRACER = _ext("envoy.tracers.zipkin", "envoy.config.trace.v3.ZipkinConfig")
DOWNSTREAM_CONNECTIONS_MONITOR = _ext(
    "envoy.resource_monitors.global_downstream_max_connections",
    "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
)


def socket_address(address: str, port: int) -> Json:
    """An `Address` for a listener, an endpoint or the admin interface."""
    return {"socket_address": {"address": address, "port_value": port}}
