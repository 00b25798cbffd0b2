"""The compiler's output: one frozen, fully resolved plan per workload.

Every decision is already made here (which destinations, which ports, which weights, which
identities may call what). The emitters only translate these shapes into Envoy and Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.model import (
    HttpRule,
    Identity,
    MeshSettings,
    Probe,
    Protocol,
    ServiceRef,
    WorkloadRef,
)


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

    @property
    def keeps_original_destination(self) -> bool:
        return not self.address


@dataclass(frozen=True, slots=True)
class WeightedUpstream:
    """An upstream and its share of a destination's traffic."""

    upstream: Upstream
    weight: int


@dataclass(frozen=True, slots=True)
class Destination:
    """A service a client may call on one port, with the backends its traffic goes to.

    `domains` are the HTTP Host values that select it (empty for TCP).
    """

    service: ServiceRef
    domains: tuple[str, ...]
    backends: tuple[WeightedUpstream, ...]


@dataclass(frozen=True, slots=True)
class OutboundPort:
    """Everything a client may reach on one destination port: HTTP by Host, or one TCP service."""

    port: int
    protocol: Protocol
    destinations: tuple[Destination, ...]


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One allowed (sources, request shape) pair. `http` is None when any request is allowed."""

    name: str
    principals: tuple[str, ...]
    http: HttpRule | None = None


@dataclass(frozen=True, slots=True)
class InboundPort:
    """A local service port, accepted by SNI and forwarded to the app on `target_port`.

    `access` is None when any mesh identity may call it; otherwise only the rules listed
    allow (an empty tuple denies everything).
    """

    service: ServiceRef
    port: int
    target_port: int
    protocol: Protocol
    sni: str
    access: tuple[AccessRule, ...] | None


@dataclass(frozen=True, slots=True)
class WorkloadPlan:
    """Everything one workload's sidecar needs."""

    workload: WorkloadRef
    identity: Identity
    spiffe_id: str
    inbound: tuple[InboundPort, ...]
    outbound: tuple[OutboundPort, ...]
    probes: tuple[Probe, ...]

    def upstreams(self) -> tuple[Upstream, ...]:
        """Every distinct upstream the outbound side uses, sorted."""
        return tuple(
            sorted(
                {
                    weighted.upstream
                    for port in self.outbound
                    for destination in port.destinations
                    for weighted in destination.backends
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
