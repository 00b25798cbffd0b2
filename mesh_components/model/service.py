"""Services: a selector over workload labels, and ports with a declared protocol.

A protocol is declared, never sniffed. When it is missing it follows Kubernetes' `appProtocol`,
then the port name's prefix, then OSM's default (HTTP).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mesh_components.model.refs import ServiceRef

Labels = tuple[tuple[str, str], ...]
"""A label map as sorted (key, value) pairs, so it is hashable and ordered."""


def labels(mapping: dict[str, str] | None = None) -> Labels:
    """Freeze a label mapping."""
    return tuple(sorted((mapping or {}).items()))


class Protocol(enum.StrEnum):
    """What a port speaks. HTTP-family ports get HTTP routing; TCP ports are proxied as bytes."""

    HTTP = "http"
    HTTP2 = "http2"
    GRPC = "grpc"
    TCP = "tcp"

    @property
    def is_http(self) -> bool:
        return self is not Protocol.TCP

    @property
    def needs_http2_upstream(self) -> bool:
        return self in (Protocol.HTTP2, Protocol.GRPC)

    @property
    def app_protocol(self) -> str:
        """Kubernetes' `appProtocol` for this protocol (IANA name, or `kubernetes.io/h2c`)."""
        return "kubernetes.io/h2c" if self is Protocol.HTTP2 else self.value


PROTOCOL_HINTS: tuple[tuple[str, Protocol], ...] = (
    ("h2c", Protocol.HTTP2),
    ("http2", Protocol.HTTP2),
    ("grpc", Protocol.GRPC),
    ("http", Protocol.HTTP),
    ("tcp", Protocol.TCP),
)
"""The words that name a protocol, as an `appProtocol` or as a port name's prefix."""


def infer_protocol(name: str, app_protocol: str | None) -> Protocol:
    """OSM's rule: `appProtocol` first, then a `<protocol>-` name prefix, then HTTP."""
    found = app_protocol_hint(app_protocol) or name_protocol(name)
    return Protocol.HTTP if found is None else found


def app_protocol_hint(app_protocol: str | None) -> Protocol | None:
    """The protocol an `appProtocol` names (`grpc`, `kubernetes.io/h2c`), or None: Kubernetes
    allows any other value, which then says nothing here."""
    hint = (app_protocol or "").lower()
    for prefix, protocol in PROTOCOL_HINTS:
        if hint in (prefix, f"kubernetes.io/{prefix}"):
            return protocol
    return None


def name_protocol(name: str) -> Protocol | None:
    """The protocol a port name declares by its prefix (`grpc-api`, `tcp`), or None."""
    for prefix, protocol in PROTOCOL_HINTS:
        if name == prefix or name.startswith(f"{prefix}-"):
            return protocol
    return None


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a Service. `target_port` is a number or a container port's name.

    `protocol_declared`: the protocol was given (`protocol`, or an `appProtocol` that names
    one), not taken from the name; only warnings about the name read it.
    """

    name: str
    port: int
    protocol: Protocol
    target_port: int | str | None = None
    protocol_declared: bool = field(default=False, compare=False, repr=False)

    @property
    def target(self) -> int | str:
        """The port on the pod: `target_port`, or `port` when none is set (Kubernetes' rule)."""
        return self.port if self.target_port is None else self.target_port


@dataclass(frozen=True, slots=True)
class Service:
    """A mesh service. `headless` services are reached on pod IPs chosen by the client."""

    name: str
    namespace: str
    selector: Labels
    ports: tuple[ServicePort, ...]
    headless: bool = False

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.namespace, self.name)

    def selects(self, pod_labels: Labels) -> bool:
        """Kubernetes' rule: every selector pair is among the pod's labels."""
        return bool(self.selector) and set(self.selector) <= set(pod_labels)
