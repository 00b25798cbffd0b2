"""The compiler's output: one frozen, fully resolved plan per workload.

Every decision is already made here (which destinations, which ports, which weights, which
identities may call what). The emitters only translate these shapes into Envoy and Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh_components.model import (
    AppMetrics,
    CircuitBreakers,
    ConnectionPool,
    Duration,
    Fault,
    HttpRule,
    Identity,
    MeshSettings,
    OutlierDetection,
    Probe,
    Protocol,
    RateLimit,
    Retries,
    ServiceRef,
    WorkloadRef,
)


@dataclass(frozen=True, order=True, slots=True)
class ClusterPolicy:
    """How a client's sidecar connects to one backend service port: the backend's own
    destination settings with defaults filled in. `circuit_breakers.retry_budget` is set
    unless a fixed `max_retries` is."""

    connect_timeout: Duration
    circuit_breakers: CircuitBreakers
    outlier_detection: OutlierDetection
    connection_pool: ConnectionPool


@dataclass(frozen=True, order=True, slots=True)
class Upstream:
    """One backend service port as an Envoy upstream: where to connect and whom to expect.

    `address` is the absolute DNS name of the service's headless companion, or "" when the
    service is itself headless and the client's chosen pod IP is kept (original destination).
    """

    service: ServiceRef
    port: int
    target_port: int
    protocol: Protocol
    address: str
    sni: str
    peer_identities: tuple[str, ...]
    policy: ClusterPolicy

    @property
    def keeps_original_destination(self) -> bool:
        return not self.address


@dataclass(frozen=True, slots=True)
class WeightedUpstream:
    """An upstream and its share of a destination's traffic."""

    upstream: Upstream
    weight: int


@dataclass(frozen=True, slots=True)
class RouteRule:
    """Requests matching `match` go to `backend` instead of the weighted backends."""

    match: HttpRule
    backend: Upstream


@dataclass(frozen=True, slots=True)
class MirrorTarget:
    """A copy of `percent` of the requests goes to `upstream`; its answers are dropped."""

    upstream: Upstream
    percent: float


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """How a client's sidecar sends requests to one destination port (HTTP), or how long an
    idle connection lives (TCP: `idle_timeout` only). `timeout` 0 means none; `idle_timeout`
    None keeps Envoy's default (5 minutes for a request, 1 hour for a TCP connection)."""

    timeout: Duration
    idle_timeout: Duration | None
    retries: Retries
    rules: tuple[RouteRule, ...] = ()
    mirror: MirrorTarget | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """A service a client may call on one port, with the backends its traffic goes to.

    `domains` are the HTTP Host values that select it (empty for TCP).
    """

    service: ServiceRef
    domains: tuple[str, ...]
    backends: tuple[WeightedUpstream, ...]
    policy: RoutePolicy

    def upstreams(self) -> tuple[Upstream, ...]:
        """Every upstream this destination sends to: backends, route backends, the mirror."""
        mirror = () if self.policy.mirror is None else (self.policy.mirror.upstream,)
        rules = tuple(rule.backend for rule in self.policy.rules)
        return (*(b.upstream for b in self.backends), *rules, *mirror)


@dataclass(frozen=True, slots=True)
class OutboundPort:
    """Everything a client may reach on one destination port: HTTP by Host, or one TCP service."""

    port: int
    protocol: Protocol
    destinations: tuple[Destination, ...]


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One allowed (sources, request shape) pair. `http` is None when any request is allowed.

    Sources are identities (`principals`, URI SANs), or for plaintext ingress the client
    addresses `source_ranges` (CIDRs), which carry no identity."""

    name: str
    principals: tuple[str, ...]
    http: HttpRule | None = None
    source_ranges: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitedRoute:
    """Requests matching `match` share their own token bucket instead of the port's."""

    match: HttpRule
    rate_limit: RateLimit


@dataclass(frozen=True, slots=True)
class InboundLimits:
    """What a destination's own sidecar enforces on one HTTP port: a local rate limit (per
    port, and per route) and fault injection."""

    rate_limit: RateLimit | None = None
    routes: tuple[LimitedRoute, ...] = ()
    fault: Fault | None = None

    @property
    def rate_limited(self) -> bool:
        return self.rate_limit is not None or bool(self.routes)


@dataclass(frozen=True, slots=True)
class InboundPort:
    """A local service port, accepted by SNI and forwarded to the app on `target_port`.

    `access` is None when any mesh identity may call it; otherwise only the rules listed
    allow (an empty tuple denies everything). `plaintext` lets ingress clients in without TLS
    by their address (see `compiler.ingress`); `refused` are ingress identities that hold a
    mesh certificate but were not declared for this port (only set when `access` is None).
    """

    service: ServiceRef
    port: int
    target_port: int
    protocol: Protocol
    sni: str
    access: tuple[AccessRule, ...] | None
    limits: InboundLimits = field(default_factory=InboundLimits)
    plaintext: tuple[AccessRule, ...] = ()
    refused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EgressPort:
    """What the app may reach outside the mesh on one destination port: plaintext HTTP by
    Host, TLS by SNI (names, `*.` wildcards allowed), any TCP to IPv4 ranges. Sorted, unique."""

    port: int
    http_hosts: tuple[str, ...] = ()
    tls_hosts: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EgressPlan:
    """The workload's way out of the mesh: allowed destinations per port, and whether every
    other non-mesh destination passes through (else it is denied)."""

    passthrough: bool = False
    ports: tuple[EgressPort, ...] = ()

    @property
    def reaches_anything(self) -> bool:
        return self.passthrough or bool(self.ports)


@dataclass(frozen=True, slots=True)
class WorkloadPlan:
    """Everything one workload's sidecar needs. `app_metrics`, when set, are served after the
    sidecar's own on its Prometheus port (model/metrics.py)."""

    workload: WorkloadRef
    identity: Identity
    spiffe_id: str
    inbound: tuple[InboundPort, ...]
    outbound: tuple[OutboundPort, ...]
    probes: tuple[Probe, ...]
    egress: EgressPlan = field(default_factory=EgressPlan)
    app_metrics: AppMetrics | None = None

    def upstreams(self) -> tuple[Upstream, ...]:
        """Every distinct upstream the outbound side uses, sorted."""
        return tuple(
            sorted(
                {
                    upstream
                    for port in self.outbound
                    for destination in port.destinations
                    for upstream in destination.upstreams()
                }
            )
        )

    def local_ports(self) -> tuple[int, ...]:
        """The application ports the sidecar forwards to on 127.0.0.1."""
        ports = {p.target_port for p in self.inbound} | {p.port for p in self.probes}
        return tuple(sorted(ports))


@dataclass(frozen=True, slots=True)
class MeshPlan:
    """The compiled mesh: its settings and one plan per workload, sorted by workload."""

    settings: MeshSettings
    workloads: tuple[WorkloadPlan, ...]
