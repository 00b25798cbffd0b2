"""Destination settings resolved for one service port: a port's entry over its service's
entry, over the defaults. The cluster side (limits, ejection, pools) belongs to the service that
owns the cluster; the route side (timeouts, retries, routes, mirror) to the service the client
calls; the inbound side (rate limits, faults) to the service whose sidecar receives the call.
"""

from __future__ import annotations

from dataclasses import replace

from mesh_components.compiler.plan import ClusterPolicy, InboundLimits, LimitedRoute
from mesh_components.model import (
    CircuitBreakers,
    ConnectionPool,
    OutlierDetection,
    RetryBudget,
    ServicePort,
    ServiceRef,
)
from mesh_components.model.destination import (
    DEFAULT_CONNECT_TIMEOUT,
    Destination,
    resolve,
)

Entries = tuple[Destination, ...]


def cluster_policy(entries: Entries, service: ServiceRef, port: ServicePort) -> ClusterPolicy:
    """The backend's own limits. Retries are bounded by a budget unless a fixed cap is set."""
    found = resolve(entries, service, port.port) or Destination(service.name, service.namespace)
    breakers = found.circuit_breakers or CircuitBreakers()
    if breakers.max_retries is None and breakers.retry_budget is None:
        breakers = replace(breakers, retry_budget=RetryBudget())
    return ClusterPolicy(
        connect_timeout=found.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        circuit_breakers=breakers,
        outlier_detection=found.outlier_detection or OutlierDetection(),
        connection_pool=found.connection_pool or ConnectionPool(),
    )


def route_settings(entries: Entries, service: ServiceRef, port: ServicePort) -> Destination:
    """The called service's entry for `port`, or an empty one (every default)."""
    return resolve(entries, service, port.port) or Destination(service.name, service.namespace)


def inbound_limits(entries: Entries, service: ServiceRef, port: ServicePort) -> InboundLimits:
    """What the destination's own sidecar enforces on an HTTP port (nothing on TCP)."""
    found = resolve(entries, service, port.port)
    if found is None or not port.protocol.is_http:
        return InboundLimits()
    routes = tuple(
        LimitedRoute(route.match, route.rate_limit)
        for route in found.routes
        if route.rate_limit is not None
    )
    return InboundLimits(rate_limit=found.rate_limit, routes=routes, fault=found.fault)
