"""Checks of traffic splits: root and backends exist in the split's namespace, differ and agree.

Two splits on one root are an error, not a merge (two weight sets have no single right merge).
A root may select its backends' pods (OSM's demo does; clients dial backend clusters, so weights
stay exact), but not a pod no backend selects (OSM #4296): that pod would silently get no traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mesh_components.compiler.index import Selection
from mesh_components.errors import Problem
from mesh_components.model import MeshSpec, Service, ServiceRef, TrafficSplit
from mesh_components.validate._common import (
    Check,
    duplicates,
    listed,
    namespaced_names,
    object_path,
    repeated,
    selected,
    service_path,
    services_by_ref,
)

MAX_TOTAL_WEIGHT = 2**32 - 1  # Envoy sums weighted-cluster weights in a uint32


def split_path(split: TrafficSplit) -> str:
    return object_path("splits", split.namespace, split.name)


def _backend_path(split: TrafficSplit, index: int) -> str:
    return f"{split_path(split)}.backends[{index}]"


def split_names(spec: MeshSpec) -> Iterator[Problem]:
    yield from namespaced_names("splits", ((s.namespace, s.name) for s in spec.splits))


def split_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    yield from duplicates("splits", "split", ((s.namespace, s.name) for s in spec.splits))


def roots_exist(spec: MeshSpec) -> Iterator[Problem]:
    services = services_by_ref(spec)
    for split in spec.splits:
        if split.root_ref not in services:
            path = f"{split_path(split)}.service"
            yield _missing(path, "split-unknown-service", split, split.root, services)


def backends_exist(spec: MeshSpec) -> Iterator[Problem]:
    services = services_by_ref(spec)
    for split in spec.splits:
        for index, backend in enumerate(split.backends):
            if ServiceRef(split.namespace, backend.service) not in services:
                path = f"{_backend_path(split, index)}.service"
                yield _missing(path, "split-backend-unknown", split, backend.service, services)


def _missing(
    path: str, code: str, split: TrafficSplit, name: str, services: dict[ServiceRef, Service]
) -> Problem:
    """`code`, or `split-cross-namespace` for `name.namespace` or `namespace/name` elsewhere."""
    written, bare = _written_namespace(name), name.rsplit("/", 1)[-1].split(".", 1)[0]
    if written is not None and written != split.namespace:
        expected = f"a service in the split's namespace {split.namespace!r} (SMI requires it)"
        fix = f"declare the split in namespace {written!r}, with its root and backends there"
        return Problem(path, "split-cross-namespace", expected, f"{name!r}, in {written!r}", fix)
    expected = f"the name of a service in namespace {split.namespace!r}"
    if bare != name and ServiceRef(split.namespace, bare) in services:
        return Problem(path, code, expected, repr(name), f"write the bare service name {bare!r}")
    fix = f"declare {service_path(ServiceRef(split.namespace, bare))}, or name an existing service"
    return Problem(path, code, expected, f"{name!r}, which is not declared", fix)


def _written_namespace(name: str) -> str | None:
    """The namespace in `namespace/name` or `name.namespace[.svc...]`, None in a bare name."""
    if "/" in name:
        return name.split("/", 1)[0]
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] else None


def backends_present(spec: MeshSpec) -> Iterator[Problem]:
    for split in spec.splits:
        if not split.backends:
            path, fix = f"{split_path(split)}.backends", "list the backend services and weights"
            yield Problem(path, "split-no-backends", "at least one backend", "none", fix)


def weights_non_negative(spec: MeshSpec) -> Iterator[Problem]:
    for split in spec.splits:
        for index, backend in enumerate(split.backends):
            if backend.weight < 0:
                path = f"{_backend_path(split, index)}.weight"
                fix = "set it to 0 to keep the backend idle, or to its positive share"
                yield Problem(path, "split-weight-negative", "0 or more", str(backend.weight), fix)


def weight_totals(spec: MeshSpec) -> Iterator[Problem]:
    """Envoy rejects weighted clusters whose weights sum to 0 or overflow a uint32."""
    for split in spec.splits:
        total, path = sum(max(b.weight, 0) for b in split.backends), f"{split_path(split)}.backends"
        if split.backends and total == 0:
            fix = "give the backend that should serve traffic a positive weight"
            code, expected = "split-weights-zero", "at least one positive weight"
            yield Problem(path, code, expected, "every weight is 0", fix)
        if total > MAX_TOTAL_WEIGHT:
            fix = "scale the weights down, e.g. to percentages"
            code, expected = (
                "split-weights-overflow",
                f"weights summing to at most {MAX_TOTAL_WEIGHT}",
            )
            yield Problem(path, code, expected, f"a sum of {total}", fix)


def backend_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    for split in spec.splits:
        for index, name in repeated(backend.service for backend in split.backends):
            path = f"{_backend_path(split, index)}.service"
            expected, fix = "each backend once", f"merge the weights of {name!r} into one entry"
            yield Problem(path, "split-backend-duplicate", expected, repr(name), fix)


def root_not_backend(spec: MeshSpec) -> Iterator[Problem]:
    for split in spec.splits:
        for index, backend in enumerate(split.backends):
            if backend.service == split.root:
                path = f"{_backend_path(split, index)}.service"
                expected = "backends other than the root (usually one service per version)"
                fix = f"replace {split.root!r} with a service that selects only one version"
                yield Problem(path, "split-root-is-backend", expected, repr(split.root), fix)


def one_split_per_root(spec: MeshSpec) -> Iterator[Problem]:
    by_root: dict[ServiceRef, set[str]] = defaultdict(set)
    for split in spec.splits:
        by_root[split.root_ref].add(split.name)
    for split in spec.splits:
        others = sorted(by_root[split.root_ref] - {split.name})
        if others:
            expected = f"one split on {service_path(split.root_ref)} (two weight sets cannot merge)"
            found = f"also split by {', '.join(repr(name) for name in others)}"
            fix = "combine them into one split with one list of backends and weights"
            yield Problem(
                f"{split_path(split)}.service", "split-duplicate-root", expected, found, fix
            )


def no_nested_splits(spec: MeshSpec) -> Iterator[Problem]:
    roots = {split.root_ref: split for split in spec.splits}
    for split in spec.splits:
        for index, ref in enumerate(split.backend_refs()):
            inner = roots.get(ref)
            if inner is not None and ref != split.root_ref:
                expected = "a backend that is not itself split (nested splits are unsupported)"
                fix = f"list the backends of {split_path(inner)} here, with weights multiplied out"
                found = f"{ref.name!r}, the root of {split_path(inner)}"
                yield Problem(
                    f"{_backend_path(split, index)}.service", "split-nested", expected, found, fix
                )


def no_headless(spec: MeshSpec) -> Iterator[Problem]:
    """Clients dial a headless service's pod IPs themselves, so there is nothing to split."""
    services = services_by_ref(spec)
    expected = "a service with a cluster IP (a headless service cannot be split)"
    fix = "give the service a cluster IP (headless: false), or remove it from the split"
    for split in spec.splits:
        root = services.get(split.root_ref)
        if root is not None and root.headless:
            yield Problem(
                f"{split_path(split)}.service", "split-root-headless", expected, "headless", fix
            )
        for index, ref in enumerate(split.backend_refs()):
            backend = services.get(ref)
            if backend is not None and backend.headless:
                path = f"{_backend_path(split, index)}.service"
                yield Problem(path, "split-backend-headless", expected, "headless", fix)


def backend_ports(spec: MeshSpec) -> Iterator[Problem]:
    """Clients call the root's ports, so every backend serves each of them, same protocol."""
    services = services_by_ref(spec)
    for split in spec.splits:
        root = services.get(split.root_ref)
        for index, ref in enumerate(split.backend_refs()):
            backend = services.get(ref)
            if root is not None and backend is not None:
                yield from _compare_ports(f"{_backend_path(split, index)}.service", root, backend)


def _compare_ports(path: str, root: Service, backend: Service) -> Iterator[Problem]:
    ports = {port.port: port for port in reversed(backend.ports)}
    for want in root.ports:
        have = ports.get(want.port)
        expected = f"port {want.port} ({want.protocol}), as the root {service_path(root)} serves"
        if have is None:
            found = f"{service_path(backend)} serving {sorted(ports) or 'no ports'}"
            fix = f"add port {want.port} ({want.protocol}) to {service_path(backend)}"
            yield Problem(path, "split-backend-port-missing", expected, found, fix)
        elif have.protocol != want.protocol:
            found = f"port {want.port} as {have.protocol} on {service_path(backend)}"
            fix = f"declare port {want.port} as {want.protocol} on both services"
            yield Problem(path, "split-backend-protocol-mismatch", expected, found, fix)


def root_selects_only_backend_pods(spec: MeshSpec) -> Iterator[Problem]:
    """OSM #4296: a pod the root selects but no backend does gets no traffic behind the split."""
    services, selection = services_by_ref(spec), Selection(spec.workloads)
    for split in spec.splits:
        root = services.get(split.root_ref)
        backends = [
            services[r] for r in split.backend_refs() if r in services and r != split.root_ref
        ]
        if root is None or not backends:
            continue
        covered = {w.ref for backend in backends for w in selected(backend, selection)}
        stray = [w for w in selected(root, selection) if w.ref not in covered]
        if stray:
            yield _stray_pods(split_path(split), root, listed(stray))


def _stray_pods(at: str, root: Service, stray: str) -> Problem:
    expected = f"{service_path(root)} to select only pods that some backend selects"
    fix = f"narrow the selector of {service_path(root)}, or add a backend for {stray}"
    code, found = "split-root-selector-overlap", f"it also selects {stray}"
    return Problem(f"{at}.service", code, expected, found, fix)


CODES = (
    "name-invalid",
    "split-backend-duplicate",
    "split-backend-headless",
    "split-backend-port-missing",
    "split-backend-protocol-mismatch",
    "split-backend-unknown",
    "split-cross-namespace",
    "split-duplicate",
    "split-duplicate-root",
    "split-nested",
    "split-no-backends",
    "split-root-headless",
    "split-root-is-backend",
    "split-root-selector-overlap",
    "split-unknown-service",
    "split-weight-negative",
    "split-weights-overflow",
    "split-weights-zero",
)

CHECKS: tuple[Check, ...] = (
    split_names,
    split_duplicates,
    roots_exist,
    backends_exist,
    backends_present,
    weights_non_negative,
    weight_totals,
    backend_duplicates,
    root_not_backend,
    one_split_per_root,
    no_nested_splits,
    no_headless,
    backend_ports,
    root_selects_only_backend_pods,
)
