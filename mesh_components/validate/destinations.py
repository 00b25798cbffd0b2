"""Checks of destination settings: what they name exists, values are in range, and they agree.

A setting that could not take effect is an error, never silently ignored: HTTP settings on a
TCP-only destination, a per-try timeout longer than the route timeout, a mirror that copies
traffic to the backend that already serves it, a rate limit on a split root (clients reach the
backends' sidecars, never the root's).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import (
    CircuitBreakers,
    ConnectionPool,
    Destination,
    Duration,
    MeshSpec,
    OutlierDetection,
    RateLimit,
    Service,
    ServicePort,
    ServiceRef,
)
from mesh_components.model.destination import RETRY_CONDITIONS, effective_timeout, resolve
from mesh_components.validate._common import (
    Check,
    counted_twice,
    in_port_range,
    is_dns_subdomain,
    service_path,
    services_by_ref,
)
from mesh_components.validate.policies import rule_problems

_PERCENT = "a percentage from 0 to 100"
_POSITIVE = "a whole number of at least 1"


def destination_path(destination: Destination) -> str:
    """`destinations[shop/web]`, or `destinations[shop/web:8080]` for one port."""
    port = "" if destination.port is None else f":{destination.port}"
    return f"destinations[{destination.namespace}/{destination.service}{port}]"


def _ports(destination: Destination, service: Service) -> list[ServicePort]:
    return [p for p in service.ports if destination.port in (None, p.port)]


def _resolved(spec: MeshSpec) -> Iterator[tuple[Destination, Service]]:
    """Each entry whose service (and port) exists, with its service."""
    services = services_by_ref(spec)
    for destination in spec.destinations:
        service = services.get(destination.ref)
        if service is not None and _ports(destination, service):
            yield destination, service


def targets(spec: MeshSpec) -> Iterator[Problem]:
    services = services_by_ref(spec)
    for destination in spec.destinations:
        at, service = destination_path(destination), services.get(destination.ref)
        if service is None:
            known = sorted(r.name for r in services if r.namespace == destination.namespace)
            close = difflib.get_close_matches(destination.service, known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else "declare the service, or fix the name"
            expected = f"a service declared in namespace {destination.namespace!r}"
            found = repr(destination.service)
            yield Problem(f"{at}.service", "destination-unknown-service", expected, found, fix)
        elif not _ports(destination, service):
            numbers = ", ".join(str(p.port) for p in service.ports)
            fix = "name one of its ports, or leave 'port' out to cover them all"
            expected = f"a port of {service_path(service)} ({numbers})"
            found = str(destination.port)
            yield Problem(f"{at}.port", "destination-unknown-port", expected, found, fix)


def duplicates(spec: MeshSpec) -> Iterator[Problem]:
    keys = ((d.namespace, d.service, d.port) for d in spec.destinations)
    for (namespace, service, port), count in counted_twice(keys).items():
        at = destination_path(Destination(service, namespace, port))
        expected = "one entry per service, and one per service port"
        fix = "merge the entries into one"
        yield Problem(at, "destination-duplicate", expected, f"{count} of them", fix)


def http_only(spec: MeshSpec) -> Iterator[Problem]:
    """Request-level settings need an HTTP port to act on."""
    for destination, service in _resolved(spec):
        if any(p.protocol.is_http for p in _ports(destination, service)):
            continue
        for key in _http_keys(destination):
            at = f"{destination_path(destination)}.{key}"
            expected = "an HTTP, HTTP/2 or gRPC port (TCP carries bytes, not requests)"
            fix = f"remove {key!r}, or declare the port's protocol if it speaks HTTP"
            yield Problem(at, "destination-http-only", expected, "only TCP ports", fix)


def _http_keys(destination: Destination) -> list[str]:
    keys = [
        key
        for key, value in (
            ("timeout", destination.timeout),
            ("retries", destination.retries),
            ("rateLimit", destination.rate_limit),
            ("fault", destination.fault),
            ("mirror", destination.mirror),
        )
        if value is not None
    ]
    keys += ["routes"] if destination.routes else []
    pool = destination.connection_pool
    if pool is not None:
        http = ("max_requests_per_connection", "max_concurrent_streams", "http2_keepalive")
        keys += [f"connectionPool.{_camel(k)}" for k in http if getattr(pool, k) is not None]
    return keys


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def durations(spec: MeshSpec) -> Iterator[Problem]:
    for destination in spec.destinations:
        at = destination_path(destination)
        for key, value, whole in _durations(destination):
            if value.millis == 0 or (whole and not value.whole_seconds):
                rule = "whole seconds, at least 1s" if whole else "more than 0"
                fix = f"use a duration of {rule}"
                yield Problem(f"{at}.{key}", "destination-duration-invalid", rule, str(value), fix)


def _durations(destination: Destination) -> Iterator[tuple[str, Duration, bool]]:
    """(key, value, whole seconds only) of every duration that 0 cannot mean "none" for."""
    if destination.connect_timeout is not None:
        yield "connectTimeout", destination.connect_timeout, False
    retries = destination.retries
    if retries is not None and retries.per_try_timeout is not None:
        yield "retries.perTryTimeout", retries.per_try_timeout, False
    outlier = destination.outlier_detection
    if outlier is not None:
        yield "outlierDetection.interval", outlier.interval, False
        yield "outlierDetection.baseEjectionTime", outlier.base_ejection_time, False
    pool = destination.connection_pool
    if pool is not None:
        yield "connectionPool.tcpKeepalive.time", pool.tcp_keepalive.time, True
        yield "connectionPool.tcpKeepalive.interval", pool.tcp_keepalive.interval, True
        if pool.http2_keepalive is not None:
            yield "connectionPool.http2Keepalive.interval", pool.http2_keepalive.interval, False
            yield "connectionPool.http2Keepalive.timeout", pool.http2_keepalive.timeout, False
    if destination.fault is not None and destination.fault.delay is not None:
        yield "fault.delay.duration", destination.fault.delay.duration, False


def per_try_timeouts(spec: MeshSpec) -> Iterator[Problem]:
    """A try may not outlast the request: its retries could never happen."""
    for destination, service in _resolved(spec):
        retry = destination.retries
        if retry is None or retry.per_try_timeout is None:
            continue
        for port in _ports(destination, service):
            merged = resolve(spec.destinations, service.ref, port.port)
            timeout = effective_timeout(merged, port.protocol)
            if merged is None or merged.retries is not retry or not port.protocol.is_http:
                continue
            if timeout.millis and retry.per_try_timeout > timeout:
                at = f"{destination_path(destination)}.retries.perTryTimeout"
                expected = f"at most the request timeout of port {port.port} ({timeout})"
                fix = "shorten it, or lengthen 'timeout' (which bounds every try together)"
                found, code = str(retry.per_try_timeout), "destination-per-try-timeout-too-long"
                yield Problem(at, code, expected, found, fix)


def retries(spec: MeshSpec) -> Iterator[Problem]:
    for destination in spec.destinations:
        at, retry = f"{destination_path(destination)}.retries", destination.retries
        if retry is None:
            continue
        if retry.attempts < 0:
            fix = "use 0 for no retries, or the number of retries after the first try"
            found = str(retry.attempts)
            yield Problem(f"{at}.attempts", "destination-retries-negative", "0 or more", found, fix)
        for index, condition in enumerate(retry.retry_on):
            if condition not in RETRY_CONDITIONS:
                close = difflib.get_close_matches(condition, RETRY_CONDITIONS, n=1)
                fix = f"did you mean {close[0]!r}?" if close else "use Envoy's retry conditions"
                expected = f"one of {', '.join(RETRY_CONDITIONS)}"
                code = "destination-retry-on-unknown"
                yield Problem(f"{at}.retryOn[{index}]", code, expected, repr(condition), fix)


def limits(spec: MeshSpec) -> Iterator[Problem]:
    """Circuit breakers, outlier detection and pool sizes: 0 would block all traffic."""
    for destination in spec.destinations:
        at = destination_path(destination)
        for key, value, least in _limits(destination):
            if value < least:
                rule = _POSITIVE if least else "0 or more"
                fix = "raise it, or leave it out for the default"
                yield Problem(f"{at}.{key}", "destination-limit-invalid", rule, str(value), fix)
        breakers = destination.circuit_breakers
        if breakers and breakers.max_retries is not None and breakers.retry_budget is not None:
            expected = "either a fixed maxRetries or a retryBudget"
            fix = "keep one: a budget scales with the traffic, a fixed cap does not"
            found = "both"
            code = "destination-retry-limit-conflict"
            yield Problem(f"{at}.circuitBreakers", code, expected, found, fix)


def _limits(destination: Destination) -> Iterator[tuple[str, int, int]]:
    """(key, value, least allowed) of every integer limit set."""
    breakers = destination.circuit_breakers or CircuitBreakers()
    yield "circuitBreakers.maxConnections", breakers.max_connections, 1
    yield "circuitBreakers.maxPendingRequests", breakers.max_pending_requests, 1
    yield "circuitBreakers.maxRequests", breakers.max_requests, 1
    if breakers.max_retries is not None:
        yield "circuitBreakers.maxRetries", breakers.max_retries, 0
    if breakers.retry_budget is not None:
        yield "circuitBreakers.retryBudget.minConcurrency", breakers.retry_budget.min_concurrency, 0
    outlier = destination.outlier_detection or OutlierDetection()
    yield "outlierDetection.consecutive5xx", outlier.consecutive_5xx, 1
    pool = destination.connection_pool or ConnectionPool()
    yield "connectionPool.tcpKeepalive.probes", pool.tcp_keepalive.probes, 1
    if pool.max_requests_per_connection is not None:
        yield "connectionPool.maxRequestsPerConnection", pool.max_requests_per_connection, 1
    if pool.max_concurrent_streams is not None:
        yield "connectionPool.maxConcurrentStreams", pool.max_concurrent_streams, 1


def percents(spec: MeshSpec) -> Iterator[Problem]:
    for destination in spec.destinations:
        at = destination_path(destination)
        for key, value in _percents(destination):
            if not 0 <= value <= 100:
                fix = "write a percentage such as 10 or 0.5"
                yield Problem(
                    f"{at}.{key}", "destination-percent-invalid", _PERCENT, str(value), fix
                )


def _percents(destination: Destination) -> Iterator[tuple[str, float]]:
    breakers, outlier = destination.circuit_breakers, destination.outlier_detection
    if breakers is not None and breakers.retry_budget is not None:
        yield "circuitBreakers.retryBudget.percent", breakers.retry_budget.percent
    if outlier is not None:
        yield "outlierDetection.maxEjectionPercent", outlier.max_ejection_percent
    fault = destination.fault
    if fault is not None and fault.delay is not None:
        yield "fault.delay.percent", fault.delay.percent
    if fault is not None and fault.abort is not None:
        yield "fault.abort.percent", fault.abort.percent
    if destination.mirror is not None:
        yield "mirror.percent", destination.mirror.percent


def rate_limits(spec: MeshSpec) -> Iterator[Problem]:
    for destination in spec.destinations:
        at = destination_path(destination)
        if destination.rate_limit is not None:
            yield from _rate_limit(f"{at}.rateLimit", destination.rate_limit)
        for index, route in enumerate(destination.routes):
            if route.rate_limit is not None:
                yield from _rate_limit(f"{at}.routes[{index}].rateLimit", route.rate_limit)


def _rate_limit(at: str, limit: RateLimit) -> Iterator[Problem]:
    fix = "allow at least 1 request per second; to refuse every request, use a policy"
    if limit.requests_per_second < 1:
        found = str(limit.requests_per_second)
        code = "destination-rate-limit-invalid"
        yield Problem(f"{at}.requestsPerSecond", code, _POSITIVE, found, fix)
    if limit.burst is not None and limit.burst < 1:
        code = "destination-rate-limit-invalid"
        yield Problem(f"{at}.burst", code, _POSITIVE, str(limit.burst), "raise it, or leave it out")


def faults(spec: MeshSpec) -> Iterator[Problem]:
    for destination in spec.destinations:
        fault, at = destination.fault, f"{destination_path(destination)}.fault"
        if fault is None:
            continue
        if fault.delay is None and fault.abort is None:
            expected, fix = "a delay, an abort or both", "add 'delay' or 'abort', or remove 'fault'"
            yield Problem(at, "destination-fault-empty", expected, "neither", fix)
        if fault.abort is not None and not 200 <= fault.abort.status <= 599:
            expected, fix = "an HTTP status from 200 to 599", "use a status such as 503"
            found = str(fault.abort.status)
            code = "destination-fault-status-invalid"
            yield Problem(f"{at}.abort.status", code, expected, found, fix)


def mirrors(spec: MeshSpec) -> Iterator[Problem]:
    services = services_by_ref(spec)
    splits = {split.root_ref: split for split in spec.splits}
    for destination, service in _resolved(spec):
        mirror = destination.mirror
        if mirror is None:
            continue
        at = f"{destination_path(destination)}.mirror.service"
        split = splits.get(service.ref)
        serving = {service.name} | ({b.service for b in split.backends} if split else set())
        serving |= {r.backend for r in destination.routes if r.backend}
        if mirror.service in serving:
            expected = "a shadow service that does not already serve this destination"
            fix = "mirror to a separate shadow service: a backend would get every copy twice"
            code = "destination-mirror-same-backend"
            yield Problem(at, code, expected, repr(mirror.service), fix)
        else:
            yield from _backend(at, destination, service, mirror.service, services)


def routes(spec: MeshSpec) -> Iterator[Problem]:
    services = services_by_ref(spec)
    for destination, service in _resolved(spec):
        for index, route in enumerate(destination.routes):
            at = f"{destination_path(destination)}.routes[{index}]"
            yield from rule_problems(f"{at}.match", route.match, prefix="route")
            if route.backend is None and route.rate_limit is None:
                expected, fix = "a backend, a rate limit or both", "add one, or remove the route"
                yield Problem(at, "destination-route-no-effect", expected, "neither", fix)
            if route.backend is not None:
                yield from _backend(f"{at}.backend", destination, service, route.backend, services)


def _backend(
    at: str,
    destination: Destination,
    service: Service,
    name: str,
    services: dict[ServiceRef, Service],
) -> Iterator[Problem]:
    """A route's backend or a mirror: a service of the namespace serving the same ports."""
    backend = services.get(ServiceRef(service.namespace, name))
    if backend is None:
        expected = f"a service declared in namespace {service.namespace!r}"
        fix = "declare it, or fix the name"
        yield Problem(at, "destination-backend-unknown", expected, repr(name), fix)
        return
    if backend.headless:
        expected, fix = "a service with a cluster IP", "route to a service that is not headless"
        yield Problem(at, "destination-backend-headless", expected, "headless", fix)
    have = {(p.port, p.protocol) for p in backend.ports}
    for port in _ports(destination, service):
        if port.protocol.is_http and (port.port, port.protocol) not in have:
            expected = f"port {port.port} ({port.protocol}) on {service_path(backend)}"
            fix = f"add port {port.port} ({port.protocol}) to {service_path(backend)}"
            yield Problem(at, "destination-backend-port-missing", expected, "no such port", fix)


def headless_routing(spec: MeshSpec) -> Iterator[Problem]:
    """A headless service's client dials the pod itself: there is no backend to choose."""
    for destination, service in _resolved(spec):
        if service.headless and (destination.routes or destination.mirror):
            at = destination_path(destination)
            key = "routes" if destination.routes else "mirror"
            expected = "a service with a cluster IP (clients of a headless one pick the pod)"
            fix = f"remove {key!r}, or give the service a cluster IP"
            yield Problem(f"{at}.{key}", "destination-headless-routing", expected, "headless", fix)


def inbound_on_split_roots(spec: MeshSpec) -> Iterator[Problem]:
    """Clients send a split root's traffic to its backends' chains, never the root's."""
    roots = {split.root_ref for split in spec.splits}
    for destination in spec.destinations:
        if destination.ref not in roots:
            continue
        pairs = (("rateLimit", destination.rate_limit), ("fault", destination.fault))
        keys = [key for key, value in pairs if value is not None]
        keys += [f"routes[{i}].rateLimit" for i, r in enumerate(destination.routes) if r.rate_limit]
        for key in keys:
            at = f"{destination_path(destination)}.{key}"
            expected = "a setting on the split's backends, whose sidecars receive the traffic"
            fix = "set it on each backend service instead"
            code = "destination-inbound-on-split-root"
            yield Problem(at, code, expected, "a split root", fix)


def tracing(spec: MeshSpec) -> Iterator[Problem]:
    trace = spec.settings.observability.tracing
    if trace is None:
        return
    at = "mesh.observability.tracing"
    host, _, port = trace.address.rpartition(":")
    if not (is_dns_subdomain(host) and port.isdigit() and in_port_range(int(port))):
        expected = "host:port, a DNS name and a port, e.g. 'otel-collector.observability:4317'"
        fix = "write the collector's service name and port"
        yield Problem(
            f"{at}.address", "tracing-address-invalid", expected, repr(trace.address), fix
        )
    if not 0 <= trace.sampling_percent <= 100:
        fix = "write a percentage such as 1 or 0.1"
        found = str(trace.sampling_percent)
        yield Problem(f"{at}.samplingPercent", "tracing-sampling-invalid", _PERCENT, found, fix)


CODES = (
    "destination-backend-headless",
    "destination-backend-port-missing",
    "destination-backend-unknown",
    "destination-duplicate",
    "destination-duration-invalid",
    "destination-fault-empty",
    "destination-fault-status-invalid",
    "destination-headless-routing",
    "destination-http-only",
    "destination-inbound-on-split-root",
    "destination-limit-invalid",
    "destination-mirror-same-backend",
    "destination-per-try-timeout-too-long",
    "destination-percent-invalid",
    "destination-rate-limit-invalid",
    "destination-retries-negative",
    "destination-retry-limit-conflict",
    "destination-retry-on-unknown",
    "destination-route-no-effect",
    "destination-unknown-port",
    "destination-unknown-service",
    "route-header-invalid",
    "route-method-invalid",
    "route-path-invalid",
    "route-regex-invalid",
    "tracing-address-invalid",
    "tracing-sampling-invalid",
)

CHECKS: tuple[Check, ...] = (
    targets,
    duplicates,
    http_only,
    durations,
    per_try_timeouts,
    retries,
    limits,
    percents,
    rate_limits,
    faults,
    mirrors,
    routes,
    headless_routing,
    inbound_on_split_roots,
    tracing,
)
