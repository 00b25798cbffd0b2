"""How clients reach a destination (a service, or one of its ports), and how it defends itself.

A `Destination` declares timeouts, retries, circuit breakers, outlier detection, connection-pool
settings, routing rules and a mirror (applied by every client's sidecar), and a local rate limit
and fault injection (applied by the destination's own sidecar). Each block left out keeps the
defaults in this module; `docs/resilience.md` compares them with OSM's, Istio's and Linkerd's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mesh_components.model.policy import HttpRule
from mesh_components.model.refs import ServiceRef
from mesh_components.model.service import Protocol

_DURATION = re.compile(r"(0|[1-9][0-9]{0,8})(ms|s|m|h)")
_UNITS = (("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


@dataclass(frozen=True, order=True, slots=True)
class Duration:
    """A length of time in whole milliseconds, written `250ms`, `15s`, `5m` or `1h`."""

    millis: int

    @classmethod
    def parse(cls, text: str) -> Duration | None:
        """The duration `text` spells (one number and one unit), or None."""
        match = _DURATION.fullmatch(text)
        if match is None:
            return None
        number, unit = match.groups()
        return cls(int(number) * dict(_UNITS)[unit])

    @classmethod
    def seconds(cls, count: int) -> Duration:
        return cls(count * 1000)

    def __str__(self) -> str:
        """The largest unit that writes it exactly: `90s`, `5m`, `1500ms`."""
        if self.millis == 0:
            return "0s"
        for unit, size in _UNITS:
            if self.millis % size == 0 and self.millis >= size:
                return f"{self.millis // size}{unit}"
        return f"{self.millis}ms"

    @property
    def envoy(self) -> str:
        """Envoy's (protobuf JSON) spelling: seconds with a decimal fraction."""
        whole, rest = divmod(self.millis, 1000)
        return f"{whole}s" if not rest else f"{whole}.{rest:03d}s"

    @property
    def whole_seconds(self) -> bool:
        return self.millis % 1000 == 0


# The retry conditions Envoy's router knows (`x-envoy-retry-on` and `x-envoy-retry-grpc-on`),
# less the two that need a list of codes or headers the spec has no key for.
RETRY_CONDITIONS = (
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
)

# Only failures where the request never reached the app: safe for POSTs too.
SAFE_RETRY_CONDITIONS = ("connect-failure", "refused-stream", "reset-before-request")


@dataclass(frozen=True, slots=True)
class Retries:
    """`attempts` retries after the first try, on `retry_on` conditions, each try bounded by
    `per_try_timeout` (the route timeout covers all of them together)."""

    attempts: int = 2
    retry_on: tuple[str, ...] = SAFE_RETRY_CONDITIONS
    per_try_timeout: Duration | None = None


@dataclass(frozen=True, order=True, slots=True)
class RetryBudget:
    """Retries in flight to one backend may be `percent` of its active requests (and at least
    `min_concurrency`), so retries cannot multiply the load of a failing backend."""

    percent: float = 20
    min_concurrency: int = 3


@dataclass(frozen=True, order=True, slots=True)
class CircuitBreakers:
    """Limits on one client sidecar's traffic to one backend port; beyond them it answers 503
    at once instead of queueing. `max_retries` (a fixed cap) and `retry_budget` exclude each
    other; with neither, the default retry budget applies."""

    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024
    max_retries: int | None = None
    retry_budget: RetryBudget | None = None


@dataclass(frozen=True, order=True, slots=True)
class OutlierDetection:
    """Eject a pod after `consecutive_5xx` errors in a row (connect failures included) for
    `base_ejection_time` (longer each time), never more than `max_ejection_percent` of pods."""

    enabled: bool = True
    consecutive_5xx: int = 5
    interval: Duration = Duration(10 * 1000)
    base_ejection_time: Duration = Duration(30 * 1000)
    max_ejection_percent: int = 50


@dataclass(frozen=True, order=True, slots=True)
class TcpKeepalive:
    """TCP keepalive on upstream connections: a dead peer is found after about
    `time + interval * probes` of silence. Whole seconds (the kernel's unit)."""

    time: Duration = Duration(300 * 1000)
    interval: Duration = Duration(30 * 1000)
    probes: int = 3


@dataclass(frozen=True, order=True, slots=True)
class Http2Keepalive:
    """HTTP/2 PING every `interval`; no answer within `timeout` closes the connection."""

    interval: Duration
    timeout: Duration = Duration(5 * 1000)


@dataclass(frozen=True, order=True, slots=True)
class ConnectionPool:
    """Upstream connections to one backend port: how long an idle one is kept, how many
    requests one HTTP/1 connection carries (None: no limit), how many streams one HTTP/2
    connection multiplexes (None: Envoy's), and keepalives."""

    idle_timeout: Duration = Duration(3_600_000)
    max_requests_per_connection: int | None = None
    max_concurrent_streams: int | None = None
    tcp_keepalive: TcpKeepalive = field(default_factory=TcpKeepalive)
    http2_keepalive: Http2Keepalive | None = None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket in the destination's sidecar (per pod): `requests_per_second` refilled
    every second, up to `burst` (default: one second's worth). Beyond it: 429."""

    requests_per_second: int
    burst: int | None = None

    @property
    def max_tokens(self) -> int:
        return self.requests_per_second if self.burst is None else self.burst


@dataclass(frozen=True, slots=True)
class FaultDelay:
    """Hold `percent` of requests for `duration` before they reach the app."""

    duration: Duration
    percent: float = 100


@dataclass(frozen=True, slots=True)
class FaultAbort:
    """Answer `percent` of requests with `status` instead of the app."""

    status: int
    percent: float = 100


@dataclass(frozen=True, slots=True)
class Fault:
    """Fault injection for resilience testing, applied by the destination's sidecar."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


@dataclass(frozen=True, slots=True)
class Mirror:
    """A copy of `percent` of requests goes to `service` (same namespace, same port); its
    answers are dropped."""

    service: str
    percent: float = 100


@dataclass(frozen=True, slots=True)
class DestinationRoute:
    """Requests matching `match` go to `backend` (a service in the destination's namespace),
    and/or are limited by `rate_limit` in the destination's sidecar. Routes are tried in
    declaration order; the first match wins."""

    match: HttpRule = field(default_factory=HttpRule)
    backend: str | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """Settings for calls to a service, on every port (`port` None) or on one port.

    A port's entry overrides the service's entry key by key (a block such as `retries`
    replaces the service's block whole). Every key left out keeps its default.
    """

    service: str
    namespace: str
    port: int | None = None
    timeout: Duration | None = None
    idle_timeout: Duration | None = None
    connect_timeout: Duration | None = None
    retries: Retries | None = None
    circuit_breakers: CircuitBreakers | None = None
    outlier_detection: OutlierDetection | None = None
    connection_pool: ConnectionPool | None = None
    rate_limit: RateLimit | None = None
    fault: Fault | None = None
    mirror: Mirror | None = None
    routes: tuple[DestinationRoute, ...] = ()

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.namespace, self.service)

    def over(self, base: Destination) -> Destination:
        """This entry's keys over `base`'s (a port entry over its service's entry)."""
        merged = {
            name: getattr(self, name) if getattr(self, name) is not None else getattr(base, name)
            for name in _OVERRIDABLE
        }
        routes = self.routes or base.routes
        return Destination(self.service, self.namespace, self.port, routes=routes, **merged)


_OVERRIDABLE = (
    "timeout",
    "idle_timeout",
    "connect_timeout",
    "retries",
    "circuit_breakers",
    "outlier_detection",
    "connection_pool",
    "rate_limit",
    "fault",
    "mirror",
)

DEFAULT_HTTP_TIMEOUT = Duration(15 * 1000)
"""The route timeout of `http` ports: Envoy's own default. gRPC and HTTP/2 ports get none,
because a timeout would cut every long-lived stream; their idle timeout bounds a hung one."""
DEFAULT_IDLE_TIMEOUT = Duration(300 * 1000)
"""A request (stream) with no bytes either way for this long is reset: Envoy's default."""
DEFAULT_CONNECT_TIMEOUT = Duration(5 * 1000)
DEFAULT_TCP_IDLE_TIMEOUT = Duration(3_600_000)
"""A TCP connection idle this long is closed: Envoy's tcp_proxy default."""


def resolve(entries: Iterable[Destination], service: ServiceRef, port: int) -> Destination | None:
    """The settings for one service port: its port entry over its service entry, or None
    when neither exists. The first entry of each kind wins (validation reports repeats)."""
    found: dict[int | None, Destination] = {}
    for entry in entries:
        if entry.ref == service and entry.port in (None, port):
            found.setdefault(entry.port, entry)
    own, base = found.get(port), found.get(None)
    if own is not None and base is not None:
        return own.over(base)
    return own or base


def effective_timeout(destination: Destination | None, protocol: Protocol) -> Duration:
    """The route timeout: the declared one, else 15 s for HTTP/1 ports and none (0) for gRPC
    and HTTP/2 ports, whose streams may last."""
    if destination is not None and destination.timeout is not None:
        return destination.timeout
    return Duration(0) if protocol.needs_http2_upstream else DEFAULT_HTTP_TIMEOUT
