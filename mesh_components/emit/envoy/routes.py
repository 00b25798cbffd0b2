"""Route configurations: outbound by Host with weighted splits, inbound to the local app,
probe routes (and the one rule for where a rewritten probe goes), and the Prometheus route.

Every route config is embedded inline in its HTTP connection manager (see listeners.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh_components import names
from mesh_components.compiler.plan import (
    Destination,
    InboundPort,
    OutboundPort,
    RoutePolicy,
    Upstream,
    WeightedUpstream,
)
from mesh_components.emit.envoy import metrics
from mesh_components.emit.envoy.http_filters import fraction, per_route_rate_limit
from mesh_components.emit.envoy.types import PREVIOUS_HOSTS, Json
from mesh_components.model import (
    AppMetrics,
    HttpRule,
    PathMatchKind,
    Probe,
    ProbeAction,
    ProbeKind,
    ProxyPorts,
)

NOT_A_DESTINATION = "this host is not a mesh destination that this workload may call\n"
_NOT_FOUND = "not found: this port serves only /stats/prometheus and /ready\n"
_NOT_A_PROBE = "not found: this port serves only the pod's health probes\n"

# The inbound side sets no timeout: the client's sidecar owns the request's timeout and
# retries (its destination settings), so the server side must not cut it shorter.
_NO_TIMEOUT = {"timeout": "0s"}
# A retry goes to another pod when there is one: a flaky pod does not get the retry too.
_RETRY_HOST_SELECTION_ATTEMPTS = 3


def _all() -> Json:
    """Matches every path. Each use gets its own dict: a shared one would become a YAML alias."""
    return {"prefix": "/"}


def upstream_target(backends: Sequence[WeightedUpstream]) -> Json:
    """Where a route or tcp_proxy sends traffic: the cluster itself when there is one backend,
    else weighted clusters with the weights as declared (a 0-weight backend stays idle)."""
    if len(backends) == 1:
        return {"cluster": _cluster(backends[0])}
    clusters = [{"name": _cluster(b), "weight": b.weight} for b in backends]
    return {"weighted_clusters": {"clusters": clusters}}


def tcp_proxy_target(backends: Sequence[WeightedUpstream]) -> Json:
    """As `upstream_target`, for tcp_proxy, whose weighted clusters must weigh at least 1
    (HTTP routes accept 0): an idle backend is left out; its cluster stays defined."""
    return upstream_target([b for b in backends if b.weight > 0])


def _cluster(backend: WeightedUpstream) -> str:
    return _upstream_cluster(backend.upstream)


def _upstream_cluster(upstream: Upstream) -> str:
    return names.upstream_cluster(upstream.service, upstream.port)


def _route_config(name: str, virtual_hosts: list[Json]) -> Json:
    # Inline route configs check their clusters by default. When one volume swap adds a cluster
    # and a route to it, Envoy may apply LDS before CDS and then reject the listener until the
    # next swap (measured here). Our consistency check already guarantees every cluster exists.
    return {"name": name, "validate_clusters": False, "virtual_hosts": virtual_hosts}


def _virtual_host(name: str, domains: Sequence[str], routes: list[Json]) -> Json:
    return {"name": name, "domains": list(domains), "routes": routes}


def _direct_response(match: Json, status: int, body: str) -> Json:
    return {"match": match, "direct_response": {"status": status, "body": {"inline_string": body}}}


def outbound_route_config(port: OutboundPort) -> Json:
    """One virtual host per destination, chosen by Host. Any other host gets an explicit 403,
    never Envoy's default 404 and never a fallback to some service on this port."""
    hosts = [_destination_host(d) for d in port.destinations]
    deny = _direct_response(_all(), 403, NOT_A_DESTINATION)
    hosts.append(_virtual_host(names.DENY_VIRTUAL_HOST, ["*"], [deny]))
    return _route_config(names.outbound_route_config(port.port), hosts)


def _destination_host(destination: Destination) -> Json:
    """The declared routes in their order (the first match wins), then the weighted split.
    Every route carries the destination's timeout, retries and mirror."""
    policy = destination.policy
    routes = [
        {
            "match": request_match(rule.match),
            "route": _action(policy, {"cluster": _upstream_cluster(rule.backend)}),
        }
        for rule in policy.rules
    ]
    routes.append(
        {"match": _all(), "route": _action(policy, upstream_target(destination.backends))}
    )
    name = names.outbound_virtual_host(destination.service)
    return _virtual_host(name, destination.domains, routes)


def _action(policy: RoutePolicy, target: Json) -> Json:
    action: Json = {**target, "timeout": policy.timeout.envoy}
    if policy.idle_timeout is not None:
        action["idle_timeout"] = policy.idle_timeout.envoy
    retries = policy.retries
    if retries.attempts > 0:
        retry: Json = {
            "retry_on": ",".join(retries.retry_on),
            "num_retries": retries.attempts,
            "retry_host_predicate": [PREVIOUS_HOSTS.config()],
            "host_selection_retry_max_attempts": _RETRY_HOST_SELECTION_ATTEMPTS,
        }
        if retries.per_try_timeout is not None:
            retry["per_try_timeout"] = retries.per_try_timeout.envoy
        action["retry_policy"] = retry
    if policy.mirror is not None:
        mirror = {
            "cluster": _upstream_cluster(policy.mirror.upstream),
            "runtime_fraction": {"default_value": fraction(policy.mirror.percent)},
        }
        action["request_mirror_policies"] = [mirror]
    return action


def request_match(rule: HttpRule) -> Json:
    """A route match: the path (without its query) and every header; methods as `:method`.
    Regexes are RE2 and match the whole path or value."""
    path = rule.path
    match: Json
    if path is None:
        match = _all()
    elif path.kind is PathMatchKind.EXACT:
        match = {"path": path.value}
    elif path.kind is PathMatchKind.PREFIX:
        match = {"prefix": path.value}
    else:
        match = {"safe_regex": {"regex": path.value}}
    headers = [_regex_header(h.name, h.regex) for h in rule.headers]
    if rule.methods:
        headers.append(_regex_header(":method", "|".join(rule.methods)))
    return {**match, "headers": headers} if headers else match


def _regex_header(name: str, regex: str) -> Json:
    return {"name": name, "string_match": {"safe_regex": {"regex": regex}}}


def inbound_route_config(port: InboundPort) -> Json:
    """Everything to the app; a route with its own rate limit first, each in declared order.
    Per-request authorization is RBAC's job, as a filter in front of every route."""
    local = names.local_cluster(port.target_port)
    stat_prefix = names.stat_prefix(names.inbound_chain(port.service, port.port))
    routes = [
        {
            "match": request_match(limited.match),
            "route": {"cluster": local, **_NO_TIMEOUT},
            "typed_per_filter_config": per_route_rate_limit(limited.rate_limit, stat_prefix),
        }
        for limited in port.limits.routes
    ]
    routes.append({"match": _all(), "route": {"cluster": local, **_NO_TIMEOUT}})
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], routes)
    return _route_config(names.inbound_route_config(port.service, port.port), [host])


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Where the kubelet sends a probe once it is rewritten: a sidecar port, and for HTTP the
    path. The one rule both sides follow (Envoy routes, Kubernetes probes). The kubelet always
    speaks plaintext to the sidecar: an HTTPS probe becomes an HTTP one."""

    action: ProbeAction
    port: int
    path: str = ""


def probe_listener_port(kind: ProbeKind, ports: ProxyPorts) -> int:
    by_kind = {
        ProbeKind.LIVENESS: ports.liveness_probe,
        ProbeKind.READINESS: ports.readiness_probe,
        ProbeKind.STARTUP: ports.startup_probe,
    }
    return by_kind[kind]


def probe_target(probe: Probe, ports: ProxyPorts) -> ProbeTarget:
    """HTTP and HTTPS: the kind's listener at `/<container>` (plain HTTP; the sidecar speaks
    TLS to an HTTPS app). gRPC: the kind's listener (the kubelet sends no path). TCP: an HTTP
    probe of the health-check listener at `/<container>`."""
    if probe.action is ProbeAction.TCP:
        return ProbeTarget(ProbeAction.HTTP, ports.health_check, names.probe_path(probe.container))
    port = probe_listener_port(probe.kind, ports)
    if probe.action is ProbeAction.GRPC:
        return ProbeTarget(ProbeAction.GRPC, port)
    return ProbeTarget(ProbeAction.HTTP, port, names.probe_path(probe.container))


def probe_route_config(kind: str, probes: Sequence[Probe]) -> Json:
    """The kubelet's HTTP, HTTPS and gRPC probes of one kind, to the app.

    Only each probe's own request is forwarded: the listener is plaintext and outside mTLS,
    so anything broader would open the app to the network without mTLS or policy. The probe
    of container `c` is reached at exactly `/c` and rewritten to its own path, query
    included, over TLS when the probe is HTTPS; a gRPC probe (one per kind) is the gRPC
    health service. Anything else is a 404.
    """
    routes = [_probe_route(p) for p in sorted(probes, key=lambda p: p.container)]
    routes.append(_direct_response(_all(), 404, _NOT_A_PROBE))
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], routes)
    return _route_config(names.probe_route_config(kind), [host])


def _probe_route(probe: Probe) -> Json:
    if probe.action is ProbeAction.GRPC:
        cluster = names.local_cluster(probe.port)
        return {"match": {"prefix": names.GRPC_HEALTH_PREFIX}, "route": {"cluster": cluster}}
    cluster = (
        names.local_tls_cluster(probe.port) if probe.https else names.local_cluster(probe.port)
    )
    # A `path` match ignores the query, so `:path` must also be exact: nothing a caller adds
    # reaches the app. The kubelet sends no query; the rewrite restores the probe's own.
    path = names.probe_path(probe.container)
    exact = {"name": ":path", "string_match": {"exact": path}}
    match = {"path": path, "headers": [exact]}
    return {"match": match, "route": {"cluster": cluster, "prefix_rewrite": probe.path}}


def health_check_route_config() -> Json:
    """Behind the health-check filters, which answer the rewritten TCP probes: a 404."""
    routes = [_direct_response(_all(), 404, _NOT_A_PROBE)]
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], routes)
    return _route_config(names.probe_route_config(names.HEALTH_CHECK_PROBES), [host])


def prometheus_route_config(app: AppMetrics | None = None) -> Json:
    """Only two read-only admin pages: Prometheus stats, and readiness for the kubelet's probes
    of the sidecar itself (the admin interface binds 127.0.0.1, out of the kubelet's reach).

    With `app`, the stats route has the merging filter add the app's metrics, and every other
    route turns that filter off (see metrics.py)."""
    admin = {"cluster": names.ADMIN_CLUSTER}
    scrape = {"match": {"path": names.PROMETHEUS_PATH}, "route": admin}
    ready = {"match": {"path": names.PROXY_READY_PATH}, "route": dict(admin)}
    other = _direct_response(_all(), 404, _NOT_FOUND)
    if app is not None:
        scrape["typed_per_filter_config"] = metrics.merge_route_config(app)
        for route in (ready, other):
            route["typed_per_filter_config"] = metrics.merge_disabled()
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], [scrape, ready, other])
    return _route_config(names.PROMETHEUS_ROUTE_CONFIG, [host])
