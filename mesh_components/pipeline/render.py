"""Every Kubernetes object of a mesh, from a spec: what `render` writes and `pulumi up` creates.

Namespaces, ServiceAccounts, Services and their headless companions, one proxy ConfigMap per
workload, one identity Secret (or cert-manager Certificate) per ServiceAccount, and the
workloads with their sidecars.
Objects come out sorted, so the same spec, CA and clock give byte-identical manifests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from mesh_components import names
from mesh_components.compiler import MeshIndex
from mesh_components.emit.kubernetes import accounts, config_maps, services
from mesh_components.emit.kubernetes.inject import ProxyBinding, inject_manifest
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.emit.kubernetes.workloads import workload_manifest
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSpec, Service, Workload, WorkloadKind, WorkloadRef
from mesh_components.pipeline.budget import ConfigTooLargeError, build_within_budget
from mesh_components.pipeline.build import CompiledMesh
from mesh_components.pipeline.identities import (
    Authority,
    certified_identities,
    identity_object,
    issuing_trust,
)
from mesh_components.pipeline.progress import ProgressHook, silent
from mesh_components.pki import MeshTrust

KIND_ORDER = ("Namespace", "ServiceAccount", "Secret", "Certificate", "ConfigMap", "Service")
"""Objects a workload depends on come first, so `kubectl apply` in file order works."""


@dataclass(frozen=True, slots=True)
class RenderedMesh:
    """The compiled mesh and every object to apply, in apply order."""

    compiled: CompiledMesh
    objects: tuple[Json, ...]


def render(
    spec: MeshSpec,
    ca: Authority | None,
    now: datetime,
    *,
    budget_bytes: int = config_maps.DEFAULT_BUDGET_BYTES,
    progress: ProgressHook = silent,
) -> RenderedMesh:
    """Validate, compile and emit every object, or raise MeshValidationError listing all.

    `ca` signs the identity Secrets; it may be None when cert-manager issues them. `progress`
    hears about each workload's config as it is emitted and written out. Each config is
    measured against `budget_bytes` as soon as it is written, so a mesh far over the budget is
    refused after a few workloads, not after building them all (`budget`).
    """
    problems = [p for w in spec.workloads for p in _render_problems(w)]
    try:
        built = build_within_budget(spec, budget_bytes, progress=progress)
    except ConfigTooLargeError as too_large:
        raise MeshValidationError([*problems, *too_large.problems]) from None
    if problems:
        raise MeshValidationError(problems)
    trust = issuing_trust(spec.settings, ca)
    files = built.files
    mesh = spec.settings.name
    objects = [
        *(accounts.namespace(mesh, ns) for ns in sorted({w.namespace for w in spec.workloads})),
        *_identities(spec, trust, now),
        *_services(mesh, spec.services),
        *_workloads(spec, files),
    ]
    return RenderedMesh(built.compiled, tuple(sorted(objects, key=_apply_order)))


def _identities(spec: MeshSpec, trust: MeshTrust | None, now: datetime) -> Iterator[Json]:
    """A ServiceAccount per workload identity; an ingress controller's own install makes its
    ServiceAccount (and namespace), so it only gets its certificate here."""
    workloads = {w.identity for w in spec.workloads}
    for identity in certified_identities(spec):
        if identity in workloads and accounts.mesh_owns(identity):
            yield accounts.service_account(spec.settings.name, identity)
        yield identity_object(spec.settings, identity, trust, now)


def _services(mesh: str, declared: Iterable[Service]) -> Iterator[Json]:
    for service in declared:
        yield services.service(mesh, service)
        if not service.headless:
            yield services.companion(mesh, service)


def proxy_binding(workload: Workload, files: dict[str, str]) -> ProxyBinding:
    """Which ConfigMap and Secret a workload's sidecar mounts, and its config's hash."""
    return ProxyBinding(
        config_map=names.proxy_config_map(workload.name),
        secret=names.identity_secret(workload.service_account),
        config_hash=config_maps.config_hash(files),
    )


def _workloads(spec: MeshSpec, files_of: dict[WorkloadRef, dict[str, str]]) -> Iterator[Json]:
    index = MeshIndex.of(spec)
    for workload in spec.workloads:
        files = files_of[workload.ref]
        yield config_maps.proxy_config_map(spec.settings.name, workload.ref, files)
        manifest = workload_manifest(workload, _governing(index, workload), spec.settings.name)
        yield inject_manifest(manifest, spec.settings, proxy_binding(workload, files))


def _governing(index: MeshIndex, workload: Workload) -> Service | None:
    """A StatefulSet's governing Service: a headless one that selects it, else the first."""
    selecting = [index.services[ref] for ref in index.services_of_workload.get(workload.ref, ())]
    headless = [s for s in selecting if s.headless]
    candidates = headless or selecting
    return candidates[0] if candidates else None


def _render_problems(workload: Workload) -> Iterator[Problem]:
    path = f"workloads[{workload.ref}]"
    if not workload.app.image:
        fix = "add `image:` to the workload (render writes its manifest)"
        yield Problem(f"{path}.image", "render-image-missing", "a container image", "none", fix)
    if workload.kind is WorkloadKind.CRON_JOB and not workload.app.schedule:
        fix = "add `schedule:` (a cron expression) to the workload"
        yield Problem(f"{path}.schedule", "render-schedule-missing", "a cron schedule", "none", fix)
    containers = sorted({p.container for p in workload.probes})
    if len(containers) > 1:
        expected = "probes of the one app container render writes"
        fix = f"name one container in every probe, e.g. {containers[0]!r}"
        found = f"probes of {', '.join(containers)}"
        yield Problem(f"{path}.probes", "render-probe-containers", expected, found, fix)


def _apply_order(obj: Json) -> tuple[int, str, str, str]:
    kind = obj["kind"]
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    meta = obj["metadata"]
    return rank, meta.get("namespace", ""), kind, meta["name"]
