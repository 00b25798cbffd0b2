"""Route configurations: outbound by Host with weighted splits, inbound to the local app,
probe routes, and the Prometheus route to the admin interface.

Every route config is embedded inline in its HTTP connection manager (see listeners.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh_components import names
from mesh_components.emit.envoy.types import Json
from mesh_components.model import Probe
from mesh_components.plan import Destination, InboundPort, OutboundPort, WeightedUpstream

NOT_A_DESTINATION = "this host is not a mesh destination that this workload may call\n"
_NOT_FOUND = "not found: this port serves only /stats/prometheus\n"
_NOT_A_PROBE = "not found: this port serves only the pod's health probes\n"


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
    return names.upstream_cluster(backend.upstream.service, backend.upstream.port)


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
    route = {"match": _all(), "route": upstream_target(destination.backends)}
    name = names.outbound_virtual_host(destination.service)
    return _virtual_host(name, destination.domains, [route])


def inbound_route_config(port: InboundPort) -> Json:
    """Everything to the app. Per-request authorization is RBAC's job, on this one route."""
    route = {"match": _all(), "route": {"cluster": names.local_cluster(port.target_port)}}
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], [route])
    return _route_config(names.inbound_route_config(port.service, port.port), [host])


def probe_route_config(kind: str, probes: Sequence[Probe]) -> Json:
    """The kubelet's probes of one kind, to the app in plaintext.

    Only the probe's own path is forwarded: the listener is plaintext, so anything broader
    would open the app to the network without mTLS. With one probe, its path is served as it
    is. With several (one per container), the probe of container `c` is reached at exactly
    `/c` and rewritten to the probe's path, so the Kubernetes side must rewrite each probe's
    path to `/<container>`.
    """
    if len(probes) == 1:
        routes = [_probe_route({"path": _without_query(probes[0].path)}, probes[0])]
    else:
        routes = [_probe_route({"path": f"/{p.container}"}, p, rewrite=True) for p in probes]
    routes.append(_direct_response(_all(), 404, _NOT_A_PROBE))
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], routes)
    return _route_config(names.probe_route_config(kind), [host])


def _without_query(path: str) -> str:
    """Envoy's `path` match ignores the query string, so the match must not contain one."""
    return path.partition("?")[0]


def _probe_route(match: Json, probe: Probe, *, rewrite: bool = False) -> Json:
    action: Json = {"cluster": names.local_cluster(probe.port)}
    if rewrite:
        action["prefix_rewrite"] = probe.path
    return {"match": match, "route": action}


def prometheus_route_config() -> Json:
    """Only the admin interface's Prometheus page; the rest of the admin API stays private."""
    scrape = {"match": {"path": names.PROMETHEUS_PATH}, "route": {"cluster": names.ADMIN_CLUSTER}}
    other = _direct_response(_all(), 404, _NOT_FOUND)
    host = _virtual_host(names.LOCAL_VIRTUAL_HOST, ["*"], [scrape, other])
    return _route_config(names.PROMETHEUS_ROUTE_CONFIG, [host])
