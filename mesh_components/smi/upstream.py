"""OSM's UpstreamTrafficSetting (`policy.openservicemesh.io/v1alpha1`) as a `destinations:` entry.

What maps, and how:
- `connectionSettings.tcp` and `.http` are the service's circuit breakers (`maxConnections`,
  `maxRequests`, `maxPendingRequests`, `maxRetries`), its `connectTimeout`, and its pool's
  `maxRequestsPerConnection`. A limit OSM left unset (unlimited there) takes this mesh's default.
- `rateLimit.local.http` per second is the service's local rate limit; OSM's `burst` counts
  requests above the rate, so the bucket holds `requests + burst`. `httpRoutes[].path` (an RE2
  regex on the path) with a local limit is a rate-limited route.

What does not map is a problem that names it: per-minute and per-hour buckets (a bucket refilled
once a minute is not a rate per second), other response codes or headers for limited requests,
connection rate limits (`rateLimit.local.tcp`) and global rate limiting.
"""

from __future__ import annotations

from mesh_components.errors import Problem
from mesh_components.model import (
    CircuitBreakers,
    ConnectionPool,
    Destination,
    DestinationRoute,
    Duration,
    HttpRule,
    PathMatch,
    PathMatchKind,
    RateLimit,
)
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, Fields, service_in

VERSIONS = ("v1alpha1",)
_SPEC = ("host", "connectionSettings", "rateLimit", "httpRoutes")
_TCP = ("maxConnections", "connectTimeout")
_HTTP = ("maxRequests", "maxRequestsPerConnection", "maxPendingRequests", "maxRetries")
_LOCAL_HTTP = ("requests", "unit", "burst", "responseStatusCode")
_GLOBAL = (
    "global rate limiting needs a rate limit service this mesh does not configure: remove it, "
    "or use a local limit (`rateLimit.local.http`)"
)
_REASONS = {
    "global": _GLOBAL,
    "tcp": (
        "connection rate limits are not supported: limit requests (`rateLimit.local.http`), "
        "or cap connections with `connectionSettings.tcp.maxConnections`"
    ),
    "responseHeadersToAdd": (
        f"limited requests get the header {'x-mesh-rate-limited'!r} and no others: remove it"
    ),
}
_TOO_MANY_REQUESTS = 429


def destination_of(doc: Document, problems: list[Problem]) -> Destination | None:
    """The mesh's destination settings for one UpstreamTrafficSetting, or None on problems."""
    before = len(problems)
    spec = Fields(doc.body.get("spec"), f"{doc.path}.spec", problems, _SPEC)
    service = _service(spec, doc.namespace)
    connections = spec.child("connectionSettings", ("tcp", "http"))
    tcp = None if connections is None else connections.child("tcp", _TCP)
    http = None if connections is None else connections.child("http", _HTTP)
    limits = spec.child("rateLimit", ("local",), reasons=_REASONS)
    local = None if limits is None else limits.child("local", ("http",), reasons=_REASONS)
    rate_limit = (
        None if local is None else _rate_limit(local.child("http", _LOCAL_HTTP, reasons=_REASONS))
    )
    routes = tuple(
        route
        for entry in spec.entries("httpRoutes", ("path", "rateLimit"))
        if (route := _route(entry)) is not None
    )
    connect_timeout = None if tcp is None else _duration(tcp, "connectTimeout")
    breakers = _circuit_breakers(tcp, http)
    per_connection = None if http is None else http.number("maxRequestsPerConnection")
    if len(problems) > before or service is None:
        return None
    return Destination(
        service,
        doc.namespace,
        connect_timeout=connect_timeout,
        circuit_breakers=breakers,
        connection_pool=(
            None
            if per_connection is None
            else ConnectionPool(max_requests_per_connection=per_connection)
        ),
        rate_limit=rate_limit,
        routes=routes,
    )


def _service(spec: Fields, namespace: str) -> str | None:
    """The Service's name from `name` or its DNS name in the object's own namespace."""
    host = spec.text("host", required=True)
    if host is None:
        return None
    name = service_in(host, namespace)
    if name is None:
        expected = f"a Service of the setting's namespace: name, or name.{namespace}.svc..."
        fix = "create the UpstreamTrafficSetting in the Service's namespace, as OSM requires"
        spec.report(spec.at("host"), INVALID, expected, repr(host), fix)
        return None
    return name


def _circuit_breakers(tcp: Fields | None, http: Fields | None) -> CircuitBreakers | None:
    defaults = CircuitBreakers()
    connections = None if tcp is None else tcp.number("maxConnections")
    requests = pending = retries = None
    if http is not None:
        requests, pending = http.number("maxRequests"), http.number("maxPendingRequests")
        retries = http.number("maxRetries")
    if (connections, requests, pending, retries) == (None, None, None, None):
        return None
    return CircuitBreakers(
        max_connections=defaults.max_connections if connections is None else connections,
        max_pending_requests=defaults.max_pending_requests if pending is None else pending,
        max_requests=defaults.max_requests if requests is None else requests,
        max_retries=retries,
    )


def _duration(fields: Fields, key: str) -> Duration | None:
    """A Kubernetes duration with one unit (`5s`, `250ms`, `1m`)."""
    text = fields.text(key)
    if text is None:
        return None
    parsed = Duration.parse(text)
    if parsed is None:
        fix = "write one whole number and one unit (ms, s, m or h), e.g. '1500ms'"
        fields.report(fields.at(key), INVALID, "a duration such as 5s", repr(text), fix)
    return parsed


def _rate_limit(http: Fields | None) -> RateLimit | None:
    if http is None:
        return None
    requests, unit = http.number("requests", required=True), http.text("unit", required=True)
    burst = http.number("burst")
    status = http.number("responseStatusCode")
    if status not in (None, _TOO_MANY_REQUESTS):
        fix = "remove it: limited requests are answered 429 (Too Many Requests)"
        http.report(http.at("responseStatusCode"), INVALID, "429", str(status), fix)
    if unit is not None and unit != "second":
        fix = "write the limit per second (a bucket refilled once a minute or hour differs)"
        http.report(http.at("unit"), INVALID, "second", repr(unit), fix)
    if requests is None or unit != "second":
        return None
    return RateLimit(requests, None if not burst else requests + burst)


def _route(entry: Fields) -> DestinationRoute | None:
    path = entry.text("path", required=True)
    limits = entry.child("rateLimit", ("local",), required=True, reasons=_REASONS)
    local = None if limits is None else limits.child("local", _LOCAL_HTTP, True, _REASONS)
    rate_limit = _rate_limit(local)
    if path is None or rate_limit is None:
        return None
    match = HttpRule(path=PathMatch(PathMatchKind.REGEX, path))
    return DestinationRoute(match=match, rate_limit=rate_limit)
