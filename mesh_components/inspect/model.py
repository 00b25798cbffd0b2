"""What the inspect tools read: each workload's sidecar config, as Envoy would load it.

The same shape comes from a spec (compiled now) or a render directory (read back from its
ConfigMaps and Secrets), so every tool has one input type whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mesh_components.emit.envoy.types import Json
from mesh_components.model import WorkloadRef


@dataclass(frozen=True, slots=True)
class Certificate:
    """An identity certificate as deployed (render directories only; never the key)."""

    secret: str
    sans: tuple[str, ...]
    serial: int
    not_after: datetime
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Proxy:
    """One workload's sidecar: its identity (the URI SAN its certificate carries) and its
    listeners (route configs inline), clusters, secrets and bootstrap, as plain Envoy dicts."""

    workload: WorkloadRef
    spiffe_id: str
    listeners: tuple[Json, ...]
    clusters: tuple[Json, ...]
    secrets: tuple[Json, ...]
    bootstrap: Json
    certificate: Certificate | None = None

    def raw(self) -> Json:
        """Everything, as one document (`-o json|yaml`)."""
        return {
            "bootstrap": self.bootstrap,
            "listeners": list(self.listeners),
            "clusters": list(self.clusters),
            "secrets": list(self.secrets),
        }


@dataclass(frozen=True, slots=True)
class InspectedMesh:
    """Every sidecar of a mesh, sorted by workload. `source` says where it was read from;
    `from_files` that it was read from files anyone could have edited (a render directory),
    not compiled here."""

    source: str
    proxies: tuple[Proxy, ...]
    ca_fingerprints: tuple[str, ...] = field(default=())
    from_files: bool = False

    def proxy(self, workload: WorkloadRef) -> Proxy | None:
        return next((p for p in self.proxies if p.workload == workload), None)

    def workloads(self) -> tuple[WorkloadRef, ...]:
        return tuple(p.workload for p in self.proxies)
