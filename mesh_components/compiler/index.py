"""Lookups over one MeshSpec that every compiler pass needs, computed once.

Which workloads a service selects, which identities stand behind it, which split a service
belongs to. Built from a validated spec; a lookup miss here is a compiler bug, not user error.

Validation's graph checks and the compiler resolve the same mesh, so `MeshIndex.of` returns the
index it built last when asked again for the very same spec object (specs are immutable), and
the index keeps what the compiler resolved from it (`resolved`): each destination is resolved
once per mesh, not once per check and per caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar, cast

from mesh_components import names
from mesh_components.model import (
    AccessPolicy,
    Identity,
    MeshSpec,
    Service,
    ServicePort,
    ServiceRef,
    TrafficSplit,
    Workload,
    WorkloadRef,
)

_K = TypeVar("_K")
_V = TypeVar("_V")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class MeshIndex:
    """Precomputed joins over a spec. Build it with `MeshIndex.of(spec)`."""

    spec: MeshSpec
    services: dict[ServiceRef, Service]
    selected: dict[ServiceRef, tuple[Workload, ...]]
    services_of_identity: dict[Identity, tuple[ServiceRef, ...]]
    services_of_workload: dict[WorkloadRef, tuple[ServiceRef, ...]]
    split_of_root: dict[ServiceRef, TrafficSplit]
    roots_of_backend: dict[ServiceRef, tuple[ServiceRef, ...]]
    policies_of_source: dict[Identity, tuple[AccessPolicy, ...]]
    policies_of_service: dict[ServiceRef, tuple[AccessPolicy, ...]]
    policies_of_identity: dict[Identity, tuple[AccessPolicy, ...]]
    identities_of_service: dict[ServiceRef, tuple[Identity, ...]]
    resolved: dict[tuple[object, ...], object] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Memo of pure functions of this index (the compiler's resolutions), keyed by the
    function's name and arguments. Frozen values only: callers share them."""

    _last: ClassVar[list[MeshIndex]] = []

    @classmethod
    def of(cls, spec: MeshSpec) -> MeshIndex:
        """The index of `spec`: the one built last if it was for this same object."""
        if cls._last and cls._last[0].spec is spec:
            return cls._last[0]
        index = cls._build(spec)
        cls._last[:] = [index]
        return index

    @classmethod
    def _build(cls, spec: MeshSpec) -> MeshIndex:
        services = {s.ref: s for s in spec.services}
        selected = _selected_workloads(spec)
        return cls(
            spec=spec,
            services=services,
            selected=selected,
            services_of_identity=_group(
                (w.identity, ref) for ref, ws in sorted(selected.items()) for w in ws
            ),
            services_of_workload=_group(
                (w.ref, ref) for ref, ws in sorted(selected.items()) for w in ws
            ),
            split_of_root={split.root_ref: split for split in spec.splits},
            roots_of_backend=_roots_of_backend(spec.splits),
            policies_of_source=_policies_of_source(spec.policies),
            policies_of_service=_group(
                (p.destination.service, p) for p in spec.policies if p.destination.service
            ),
            policies_of_identity=_group(
                (p.destination.identity, p) for p in spec.policies if p.destination.identity
            ),
            identities_of_service={
                ref: tuple(sorted({w.identity for w in ws})) for ref, ws in selected.items()
            },
        )

    def memo(self, key: tuple[object, ...], compute: Callable[[], _V]) -> _V:
        """`compute()`, once per key for this index: the compiler's resolutions, shared."""
        found = self.resolved.get(key, _MISSING)
        if found is _MISSING:
            found = self.resolved[key] = compute()
        return cast(_V, found)

    def identities(self, service: ServiceRef) -> tuple[Identity, ...]:
        """The identities of the pods behind `service`, sorted."""
        return self.identities_of_service.get(service, ())

    def target_port(self, service: ServiceRef, port: ServicePort) -> int:
        """The pod port behind a service port, resolving a named target port."""
        target = port.target
        if isinstance(target, int):
            return target
        for workload in self.selected.get(service, ()):
            resolved = workload.resolve_port(target)
            if resolved is not None:
                return resolved
        raise LookupError(f"unresolved target port {target!r} of {service} (validation missed it)")

    def fqdn(self, service: ServiceRef) -> str:
        return names.service_fqdn(service, self.spec.settings.cluster_domain)


class Selection:
    """Which workloads a service selects (`Service.selects`, in declaration order), looked up
    by label instead of scanning the service's namespace: a scan per service made selection
    quadratic in a namespace's size (500 services of 5,000 in one namespace)."""

    def __init__(self, workloads: Iterable[Workload]) -> None:
        self._by_label: dict[tuple[str, tuple[str, str]], list[Workload]] = defaultdict(list)
        for workload in workloads:
            for pair in workload.labels:
                self._by_label[(workload.namespace, pair)].append(workload)

    def of(self, service: Service) -> list[Workload]:
        """The workloads of `service`'s namespace carrying every pair of its selector."""
        if not service.selector:
            return []
        candidates = min(
            (self._by_label.get((service.namespace, pair), []) for pair in service.selector),
            key=len,
        )
        return [w for w in candidates if service.selects(w.labels)]


def _selected_workloads(spec: MeshSpec) -> dict[ServiceRef, tuple[Workload, ...]]:
    selection = Selection(spec.workloads)
    return {
        service.ref: tuple(sorted(selection.of(service), key=lambda w: w.name))
        for service in spec.services
    }


def _roots_of_backend(splits: tuple[TrafficSplit, ...]) -> dict[ServiceRef, tuple[ServiceRef, ...]]:
    result: dict[ServiceRef, set[ServiceRef]] = defaultdict(set)
    for split in splits:
        for backend in split.backend_refs():
            result[backend].add(split.root_ref)
    return {backend: tuple(sorted(roots)) for backend, roots in result.items()}


def _policies_of_source(
    policies: tuple[AccessPolicy, ...],
) -> dict[Identity, tuple[AccessPolicy, ...]]:
    return _group((source, p) for p in policies for source in sorted(set(p.sources)))


def _group(pairs: Iterable[tuple[_K, _V]]) -> dict[_K, tuple[_V, ...]]:
    result: dict[_K, list[_V]] = defaultdict(list)
    for key, value in pairs:
        result[key].append(value)
    return {key: tuple(values) for key, values in result.items()}
