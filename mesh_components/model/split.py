"""Traffic splits: a root service whose traffic is shared among backend services by weight."""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.model.refs import ServiceRef


@dataclass(frozen=True, slots=True)
class SplitBackend:
    """One backend service of a split, in the split's namespace. Weight 0 keeps it idle."""

    service: str
    weight: int


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    """Clients that call `root` reach the backends in proportion to their weights."""

    name: str
    namespace: str
    root: str
    backends: tuple[SplitBackend, ...]

    @property
    def root_ref(self) -> ServiceRef:
        return ServiceRef(self.namespace, self.root)

    def backend_refs(self) -> tuple[ServiceRef, ...]:
        return tuple(ServiceRef(self.namespace, b.service) for b in self.backends)
