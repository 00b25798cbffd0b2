"""`inject`: existing Kubernetes manifests in, the same manifests with sidecars out, plus the
mesh objects they need (proxy ConfigMaps, identity Secrets, headless companions).

The manifests are the truth for the workloads they contain: labels, ServiceAccount, ports and
probes are read from each pod template and replace any workload of that name in the spec.
The spec contributes the mesh settings, services, splits and policies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime

from mesh_components import names
from mesh_components.emit.kubernetes import config_maps, services
from mesh_components.emit.kubernetes.inject import TEMPLATE_PATHS, inject_manifest, uninjected
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.emit.kubernetes.probes import read_probes
from mesh_components.emit.kubernetes.secrets import identity_secret
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import (
    ContainerPort,
    MeshSpec,
    Workload,
    WorkloadKind,
    WorkloadRef,
    labels,
)
from mesh_components.pipeline import build
from mesh_components.pki import MeshCA
from mesh_components.render import budget_problems, proxy_binding

DEFAULT_NAMESPACE = "default"


def inject_all(
    manifests: list[Json],
    spec: MeshSpec,
    ca: MeshCA,
    now: datetime,
    *,
    budget_bytes: int = config_maps.DEFAULT_BUDGET_BYTES,
) -> list[Json]:
    """Every manifest (workloads injected, others untouched), then the mesh objects."""
    found = {i: _workload(m) for i, m in enumerate(manifests) if m.get("kind") in TEMPLATE_PATHS}
    workloads = {i: w for i, w in found.items() if w is not None}
    merged = _merged(spec, list(workloads.values()))
    compiled = build(merged)
    files = {w.plan.workload: w.envoy.files() for w in compiled.workloads}
    problems = budget_problems({w.ref: files[w.ref] for w in workloads.values()}, budget_bytes)
    if problems:
        raise MeshValidationError(problems)
    out = [_injected(m, workloads.get(i), merged, files) for i, m in enumerate(manifests)]
    return out + list(_mesh_objects(merged, list(workloads.values()), files, ca, now))


def _injected(
    manifest: Json,
    workload: Workload | None,
    spec: MeshSpec,
    files: dict[WorkloadRef, dict[str, str]],
) -> Json:
    if workload is None:
        return manifest
    return inject_manifest(manifest, spec.settings, proxy_binding(workload, files[workload.ref]))


def _mesh_objects(
    spec: MeshSpec,
    workloads: list[Workload],
    files: dict[WorkloadRef, dict[str, str]],
    ca: MeshCA,
    now: datetime,
) -> Iterator[Json]:
    mesh = spec.settings.name
    for workload in workloads:
        yield config_maps.proxy_config_map(mesh, workload.ref, files[workload.ref])
    for identity in sorted({w.identity for w in workloads}):
        yield identity_secret(mesh, identity, ca.issue(identity, now).files())
    for service in spec.services:
        if not service.headless:
            yield services.companion(mesh, service)


def _merged(spec: MeshSpec, from_manifests: list[Workload]) -> MeshSpec:
    """The spec with each manifest's workload in place of the declared one of that name."""
    replaced = {w.ref for w in from_manifests}
    kept = tuple(w for w in spec.workloads if w.ref not in replaced)
    return dataclasses.replace(spec, workloads=(*kept, *from_manifests))


def _workload(manifest: Json) -> Workload | None:
    """The mesh's view of a workload manifest; None when it opts out (inject leaves it)."""
    kind, meta = str(manifest["kind"]), manifest.get("metadata") or {}
    template = uninjected(
        _template(manifest, TEMPLATE_PATHS[kind])
    )  # probes as the user wrote them
    pod_meta, pod_spec = template.get("metadata") or {}, template.get("spec") or {}
    annotations = {**(meta.get("annotations") or {}), **(pod_meta.get("annotations") or {})}
    if annotations.get(names.INJECT_ANNOTATION) == "false":
        return None
    probes, _, problems = read_probes(pod_spec)
    if problems:
        raise MeshValidationError(problems)
    return Workload(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", DEFAULT_NAMESPACE)),
        service_account=str(pod_spec.get("serviceAccountName", "")),
        kind=WorkloadKind(kind),
        labels=labels(pod_meta.get("labels") or {}),
        ports=tuple(_container_ports(pod_spec)),
        probes=probes,
        annotations=labels(pod_meta.get("annotations") or {}),
    )


def _template(manifest: Json, path: tuple[str, ...]) -> Json:
    node: Json = manifest
    for key in path:
        node = node.get(key) or {}
    return node


def _container_ports(pod_spec: Json) -> Iterator[ContainerPort]:
    for container in pod_spec.get("containers") or []:
        for port in container.get("ports") or []:
            number, name = port.get("containerPort"), port.get("name")
            if isinstance(number, int) and not isinstance(number, bool):
                yield ContainerPort(number, name if isinstance(name, str) else None)


def unsupported(manifest: object, index: int) -> Problem | None:
    """A problem when a document of the input is not a Kubernetes object at all."""
    if isinstance(manifest, dict) and isinstance(manifest.get("kind"), str):
        return None
    expected = "a Kubernetes object (a mapping with apiVersion and kind)"
    return Problem(f"document[{index}]", "manifest-invalid", expected, repr(manifest)[:60])
