"""Mesh-wide settings: identity, mTLS, access and egress modes, certificates, and the proxy.

Defaults are Open Service Mesh's, so a migration keeps the same ports and UID.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mesh_components.model.destination import Duration


class MtlsMode(enum.StrEnum):
    """Whether a sidecar also accepts plaintext from clients outside the mesh."""

    STRICT = "strict"
    PERMISSIVE = "permissive"


class AccessMode(enum.StrEnum):
    """`open`: any mesh identity may call any mesh service. `policy`: deny unless allowed."""

    OPEN = "open"
    POLICY = "policy"


class EgressMode(enum.StrEnum):
    """What happens to traffic for a destination outside the mesh that no rule allows.

    `deny` (default): the sidecar refuses it. `passthrough`: the sidecar forwards it, unchanged
    and without mTLS, to the address the app dialled (OSM's `enableEgress: true`).
    """

    DENY = "deny"
    PASSTHROUGH = "passthrough"


class LogLevel(enum.StrEnum):
    """Envoy's log levels."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class ProxyPorts:
    """The ports the sidecar owns inside every pod."""

    admin: int = 15000
    outbound: int = 15001
    inbound: int = 15003
    prometheus: int = 15010
    liveness_probe: int = 15901
    readiness_probe: int = 15902
    startup_probe: int = 15903
    health_check: int = 15904

    def all(self) -> tuple[tuple[str, int], ...]:
        """Every (role, port) pair, in declaration order."""
        return (
            ("admin", self.admin),
            ("outbound", self.outbound),
            ("inbound", self.inbound),
            ("prometheus", self.prometheus),
            ("livenessProbe", self.liveness_probe),
            ("readinessProbe", self.readiness_probe),
            ("startupProbe", self.startup_probe),
            ("healthCheck", self.health_check),
        )

    def reserved(self) -> frozenset[int]:
        """Ports that an application port may not use."""
        return frozenset(port for _, port in self.all())


class SidecarMode(enum.StrEnum):
    """How the sidecar joins the pod.

    `native`: an init container with `restartPolicy: Always` (Kubernetes 1.29+), started and
    Ready before the app, and stopped after it, so Jobs complete. `classic`: a regular container.
    """

    NATIVE = "native"
    CLASSIC = "classic"


@dataclass(frozen=True, slots=True)
class Resources:
    """The sidecar's requests and limits, in Kubernetes quantities ("" leaves one unset)."""

    cpu_request: str = "100m"
    memory_request: str = "128Mi"
    cpu_limit: str = ""
    memory_limit: str = "512Mi"


@dataclass(frozen=True, slots=True)
class Interception:
    """Which traffic the init container redirects through the sidecar.

    Exclusions bypass the mesh entirely, so they are explicit and empty by default. An empty
    inclusion list means every outbound address is redirected. IPv6 is never left open: it is
    dropped, except on loopback, because the sidecar listens on IPv4 only.
    """

    outbound_port_exclusions: tuple[int, ...] = ()
    inbound_port_exclusions: tuple[int, ...] = ()
    outbound_ip_range_exclusions: tuple[str, ...] = ()
    outbound_ip_range_inclusions: tuple[str, ...] = ()


DNS_REFRESH = Duration(500)
DNS_REFRESH_RANGE = (Duration(50), Duration.seconds(60))


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """How every sidecar runs."""

    image: str = "envoyproxy/envoy:v1.40.0"
    # Needs sh, iptables-restore and ip6tables-restore. Istio's proxy image ships all three for
    # its own init container; OSM's init image (Alpine 3.17) lacks ip6tables-restore.
    init_image: str = "docker.io/istio/proxyv2:1.24.2"
    uid: int = 1500
    log_level: LogLevel = LogLevel.INFO
    concurrency: int = 2
    ports: ProxyPorts = field(default_factory=ProxyPorts)
    sidecar_mode: SidecarMode = SidecarMode.NATIVE
    resources: Resources = field(default_factory=Resources)
    drain_seconds: int = 10
    interception: Interception = field(default_factory=Interception)
    # How often a sidecar asks DNS for a destination's pods, whatever the answer's TTL: the
    # bound on how long a new pod waits for traffic, and a gone one keeps getting it
    # (docs/performance.md). Each sidecar asks once per refresh per destination port.
    dns_refresh: Duration = DNS_REFRESH


class KeyType(enum.StrEnum):
    """The key algorithms of the mesh's certificates."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"

    @property
    def is_rsa(self) -> bool:
        return self is not KeyType.ECDSA_P256


class CertificateIssuer(enum.StrEnum):
    """Who issues identity certificates.

    `builtin`: the mesh's own CA, at render time (deterministic, rotated on each run once the
    renewal window opens). `cert-manager`: a cert-manager Certificate per identity, issued and
    rotated in the cluster by a user-named Issuer or ClusterIssuer.
    """

    BUILTIN = "builtin"
    CERT_MANAGER = "cert-manager"


class IssuerKind(enum.StrEnum):
    """cert-manager's two issuer kinds."""

    ISSUER = "Issuer"
    CLUSTER_ISSUER = "ClusterIssuer"


@dataclass(frozen=True, slots=True)
class CertManagerIssuer:
    """The cert-manager issuer that signs the mesh's certificates.

    An `Issuer` is namespaced: one of this name must exist in every meshed namespace.
    """

    name: str
    kind: IssuerKind = IssuerKind.CLUSTER_ISSUER
    group: str = "cert-manager.io"


@dataclass(frozen=True, slots=True)
class CertificateSettings:
    """Identity certificates: who issues them, how long they live, when they are renewed.

    The defaults, 90 days renewed in the last 30, re-issue every certificate every 60 days.
    """

    issuer: CertificateIssuer = CertificateIssuer.BUILTIN
    validity_hours: int = 90 * 24
    renew_before_hours: int = 30 * 24
    key_type: KeyType = KeyType.ECDSA_P256
    issuer_ref: CertManagerIssuer | None = None


class TracingProtocol(enum.StrEnum):
    """How spans reach the collector: OTLP over gRPC, or Zipkin's JSON over HTTP."""

    OTLP = "otlp"
    ZIPKIN = "zipkin"


@dataclass(frozen=True, slots=True)
class Tracing:
    """Spans to a collector at `address` (`host:port`, a DNS name), for `sampling_percent`
    of the requests that start a trace."""

    address: str
    protocol: TracingProtocol = TracingProtocol.OTLP
    sampling_percent: float = 1


@dataclass(frozen=True, slots=True)
class Observability:
    """JSON access logs on the sidecar's stdout (on by default), and optional tracing."""

    access_logs: bool = True
    tracing: Tracing | None = None


@dataclass(frozen=True, slots=True)
class MeshSettings:
    """The mesh as a whole."""

    name: str
    trust_domain: str = "cluster.local"
    cluster_domain: str = "cluster.local"
    mtls: MtlsMode = MtlsMode.STRICT
    access: AccessMode = AccessMode.POLICY
    proxy: ProxySettings = field(default_factory=ProxySettings)
    certificates: CertificateSettings = field(default_factory=CertificateSettings)
    observability: Observability = field(default_factory=Observability)
    egress: EgressMode = EgressMode.DENY
