"""Plain Kubernetes manifests plus SMI resources in, a validated mesh and the manifests out.

    imported = read_manifest_dir("osm-demo/", namespaces=["bookstore", "bookbuyer"])
    imported.spec                # the MeshSpec: what `import` writes as mesh.yaml
    imported.meshed_manifests    # the workloads to inject, as they were written
    imported.other_manifests     # everything else, to apply as it is

Every problem of the whole input is reported at once, in one `MeshValidationError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    Destination,
    EgressRule,
    Ingress,
    MeshSettings,
    MeshSpec,
    Service,
    TrafficSplit,
    labels,
)
from mesh_components.pipeline.objects import Placed, as_applied
from mesh_components.smi import egress, ingress, meshconfig, routes, splits, targets, upstream
from mesh_components.smi.documents import Document, read_input
from mesh_components.smi.imported import ImportedMesh, Note
from mesh_components.smi.membership import MONITORED_BY, Membership, membership, metadata_problems
from mesh_components.smi.services import service_of
from mesh_components.smi.workloads import ReadWorkload, is_workload, pod_template, read_workload
from mesh_components.validate import validate

DEFAULT_MESH_NAME = "osm"
"""OSM's default mesh name (`osm install --mesh-name`)."""

_SMI = {
    ("split.smi-spec.io", "TrafficSplit"): splits.VERSIONS,
    ("access.smi-spec.io", "TrafficTarget"): targets.VERSIONS,
    ("specs.smi-spec.io", "HTTPRouteGroup"): routes.VERSIONS,
    ("specs.smi-spec.io", "TCPRoute"): routes.VERSIONS,
    ("config.openservicemesh.io", "MeshConfig"): meshconfig.VERSIONS,
    ("policy.openservicemesh.io", "UpstreamTrafficSetting"): upstream.VERSIONS,
    ("policy.openservicemesh.io", "IngressBackend"): ingress.VERSIONS,
    ("policy.openservicemesh.io", "Egress"): egress.VERSIONS,
}


@dataclass
class _Input:
    """The input's objects, sorted by what the import does with them."""

    manifests: list[Document] = field(default_factory=list)
    smi: dict[str, list[Document]] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Document]:
        return [doc for doc in self.manifests if doc.kind == kind and doc.api_group == ""]


def read_manifest_dir(
    path: str | Path,
    namespaces: Iterable[str] | None = None,
    *,
    mesh_name: str | None = None,
    access: AccessMode | None = None,
    namespace: str | None = None,
) -> ImportedMesh:
    """Import a directory (recursively), a file, or `-` (stdin). See `import_documents`."""
    documents, problems = read_input(path)
    options = _Options(namespaces, mesh_name, access, namespace)
    return _import(documents, problems, options)


def import_documents(
    documents: Sequence[Document],
    namespaces: Iterable[str] | None = None,
    *,
    mesh_name: str | None = None,
    access: AccessMode | None = None,
    namespace: str | None = None,
) -> ImportedMesh:
    """The mesh the documents describe.

    `namespaces`: the namespaces in the mesh, instead of reading the Namespace objects' OSM
    annotations. `mesh_name`: default, the Namespaces' `openservicemesh.io/monitored-by`, else
    `osm`. `access`: overrides the MeshConfig's permissive mode, as `kubectl patch meshconfig`
    would. `namespace`: where the namespaced objects that name none go, as `kubectl apply -n`
    (default: `default`).
    """
    return _import(documents, [], _Options(namespaces, mesh_name, access, namespace))


@dataclass(frozen=True, slots=True)
class _Options:
    namespaces: Iterable[str] | None
    mesh_name: str | None
    access: AccessMode | None
    namespace: str | None


def _import(
    documents: Sequence[Document], problems: list[Problem], options: _Options
) -> ImportedMesh:
    """The mesh; `problems` (those of the input files) are listed with the import's own."""
    notes: list[Note] = []
    found = _sorted(_as_applied(documents, options.namespace, problems, notes), problems)
    members = membership(found.of_kind("Namespace"), options.namespaces)
    for namespace in found.of_kind("Namespace"):
        problems.extend(
            metadata_problems(f"{namespace.path}.metadata", namespace.metadata, pod=True)
        )
    settings, access_set = _settings(found, options.mesh_name, problems, notes)
    read = [read_workload(d, members, problems, notes) for d in found.manifests if is_workload(d)]
    workloads = tuple(r.workload for r in read if r.workload is not None)
    services = _services(found, members, read, problems, notes)
    meshed_splits = _splits(found.smi.get("TrafficSplit", []), members, problems, notes)
    policies = _policies(found, members, problems, notes)
    destinations = _destinations(
        found.smi.get("UpstreamTrafficSetting", []), members, problems, notes
    )
    egress_rules = _egress(found.smi.get("Egress", []), members, problems, notes)
    settings, policies = _access(
        settings,
        policies=policies,
        access=options.access,
        access_set=access_set,
        problems=problems,
        notes=notes,
    )
    entries = _ingress(found, members, services, settings, problems=problems, notes=notes)
    if not members.namespaces:
        problems.append(_no_namespaces(found))
    if problems:
        raise MeshValidationError(problems)
    spec = validate(
        MeshSpec(
            settings,
            services,
            workloads,
            meshed_splits,
            policies,
            destinations,
            ingress=entries,
            egress=egress_rules,
        )
    )
    meshed = {r.doc.origin for r in read if r.workload is not None}
    return _imported(spec, found, meshed, members, notes)


def _as_applied(
    documents: Sequence[Document], namespace: str | None, problems: list[Problem], notes: list[Note]
) -> list[Document]:
    """The documents in `namespace` (when given), each object once."""
    applied = as_applied([Placed(d.origin, d.body) for d in documents], namespace)
    problems.extend(applied.problems)
    notes.extend(Note(path, message) for path, message in applied.notes)
    return [Document(placed.origin, placed.body) for placed in applied.objects]


def _sorted(documents: Sequence[Document], problems: list[Problem]) -> _Input:
    found = _Input()
    for doc in documents:
        versions = _SMI.get((doc.api_group, doc.kind))
        if versions is not None:
            if doc.api_version in versions:
                found.smi.setdefault(doc.kind, []).append(doc)
            else:
                problems.append(_version_problem(doc, versions))
        elif doc.api_group.endswith(("smi-spec.io", "openservicemesh.io")):
            problems.append(_kind_problem(doc))
        else:
            found.manifests.append(doc)
    return found


def _settings(
    found: _Input, mesh_name: str | None, problems: list[Problem], notes: list[Note]
) -> tuple[MeshSettings, bool]:
    settings = MeshSettings(name=mesh_name or _monitored_by(found, problems))
    configs = found.smi.get("MeshConfig", [])
    for extra in configs[1:]:
        fix = "keep the MeshConfig the mesh used, and remove the others"
        found_ = f"a second one ({configs[0].path} came first)"
        problems.append(
            Problem(extra.path, "smi-meshconfig-several", "one MeshConfig", found_, fix)
        )
    if not configs:
        return settings, False
    applied = meshconfig.apply_meshconfig(configs[0], settings, problems, notes)
    return applied.settings, applied.access_set


def _monitored_by(found: _Input, problems: list[Problem]) -> str:
    """The mesh name the Namespaces are labelled with; OSM's default when none is."""
    names = sorted(
        {
            str((ns.metadata.get("labels") or {}).get(MONITORED_BY))
            for ns in found.of_kind("Namespace")
        }
        - {"None"}
    )
    if len(names) > 1:
        fix = "import one mesh at a time: pass --mesh-name and the namespaces of that mesh"
        expected = "one mesh name"
        problems.append(
            Problem(f"labels[{MONITORED_BY}]", "smi-several-meshes", expected, str(names), fix)
        )
    return names[0] if names else DEFAULT_MESH_NAME


def _services(
    found: _Input,
    members: Membership,
    read: list[ReadWorkload],
    problems: list[Problem],
    notes: list[Note],
) -> tuple[Service, ...]:
    """The Services of the mesh's namespaces, except those that select only pods outside it."""
    meshed = {r.workload.labels for r in read if r.workload is not None}
    others = {
        labels((pod_template(r.doc.body).get("metadata") or {}).get("labels") or {})
        for r in read
        if r.readable and r.doc.namespace in members.namespaces
    } - meshed
    kept: list[Service] = []
    for doc in found.of_kind("Service"):
        if doc.namespace not in members.namespaces:
            continue
        service = service_of(doc, problems, notes)
        if service is None:
            continue
        if not any(map(service.selects, meshed)) and any(map(service.selects, others)):
            notes.append(Note(doc.path, "selects only pods without a sidecar: not a mesh service"))
            continue
        kept.append(service)
    return tuple(kept)


def _splits(
    documents: list[Document], members: Membership, problems: list[Problem], notes: list[Note]
) -> tuple[TrafficSplit, ...]:
    meshed = _in_mesh(documents, members, notes)
    built = [splits.split_of(doc, problems) for doc in meshed]
    return tuple(split for split in built if split is not None)


def _destinations(
    documents: list[Document], members: Membership, problems: list[Problem], notes: list[Note]
) -> tuple[Destination, ...]:
    built = [upstream.destination_of(doc, problems) for doc in _in_mesh(documents, members, notes)]
    return tuple(destination for destination in built if destination is not None)


def _policies(
    found: _Input, members: Membership, problems: list[Problem], notes: list[Note]
) -> tuple[AccessPolicy, ...]:
    index = routes.Routes()
    for doc in found.smi.get("HTTPRouteGroup", []):
        routes.add_route_group(doc, index, problems)
    for doc in found.smi.get("TCPRoute", []):
        routes.add_tcp_route(doc, index, problems)
    meshed = _in_mesh(found.smi.get("TrafficTarget", []), members, notes)
    built = [targets.policy_of(doc, index, problems) for doc in meshed]
    return tuple(policy for policy in built if policy is not None)


def _ingress(
    found: _Input,
    members: Membership,
    services: tuple[Service, ...],
    settings: MeshSettings,
    *,
    problems: list[Problem],
    notes: list[Note],
) -> tuple[Ingress, ...]:
    known = ingress.Known({(s.namespace, s.name): s for s in services}, settings, notes)
    meshed = _in_mesh(found.smi.get("IngressBackend", []), members, notes)
    built = [ingress.ingress_of(doc, known, problems) for doc in meshed]
    return tuple(entry for entries in built for entry in entries)


def _egress(
    documents: list[Document], members: Membership, problems: list[Problem], notes: list[Note]
) -> tuple[EgressRule, ...]:
    """OSM applied an Egress to its sources' pods; sources outside the mesh have no sidecar."""
    found = []
    for doc in _in_mesh(documents, members, notes):
        for rule in egress.egress_rules_of(doc, problems, notes):
            if rule.namespace in members.namespaces:
                found.append(rule)
            else:
                source = f"{rule.namespace}/{rule.service_account}"
                notes.append(Note(doc.path, f"not imported for {source}: not in the mesh"))
    return tuple(found)


def _in_mesh(documents: list[Document], members: Membership, notes: list[Note]) -> list[Document]:
    """OSM ignored SMI resources outside the namespaces it monitored."""
    for doc in documents:
        if doc.namespace not in members.namespaces:
            notes.append(Note(doc.path, "not imported: its namespace is not in the mesh"))
    return [doc for doc in documents if doc.namespace in members.namespaces]


def _access(
    settings: MeshSettings,
    *,
    policies: tuple[AccessPolicy, ...],
    access: AccessMode | None,
    access_set: bool,
    problems: list[Problem],
    notes: list[Note],
) -> tuple[MeshSettings, tuple[AccessPolicy, ...]]:
    """The access mode, from the caller, else the MeshConfig, else OSM's default."""
    if access is None and not access_set:
        access = AccessMode.POLICY if policies else AccessMode.OPEN
        if not policies:
            notes.append(Note("mesh.access", _OPEN_BY_DEFAULT))
    chosen = replace(settings, access=access or settings.access)
    if chosen.access is AccessMode.POLICY or not policies:
        return chosen, policies
    if access is None:
        problems.append(_permissive_with_targets(len(policies)))
        return chosen, policies
    for policy in policies:
        at = f"TrafficTarget[{policy.namespace}/{policy.name}]"
        notes.append(Note(at, "not imported: in permissive mode (access: open) OSM ignores it"))
    return chosen, ()


_OPEN_BY_DEFAULT = (
    "open: no MeshConfig and no TrafficTarget, and OSM's default is permissive traffic policy "
    "mode (pass --access policy to deny everything no policy allows)"
)


def _permissive_with_targets(count: int) -> Problem:
    return Problem(
        "MeshConfig.spec.traffic.enablePermissiveTrafficPolicyMode",
        "smi-permissive-with-targets",
        "one access mode for the whole mesh",
        f"true (permissive), with {count} TrafficTargets that OSM ignores in that mode",
        "pass --access policy to enforce the TrafficTargets (what OSM's guide does next), or "
        "--access open to keep permissive mode without them",
    )


def _no_namespaces(found: _Input) -> Problem:
    seen = sorted({doc.namespace for doc in found.manifests if is_workload(doc)})
    return Problem(
        "namespaces",
        "smi-no-mesh-namespaces",
        "at least one namespace in the mesh",
        "none",
        f"pass --namespaces {','.join(seen) or 'NAME'} (what `osm namespace add` did), or "
        "mark the Namespace objects as OSM, Istio or Linkerd did (the annotation "
        "openservicemesh.io/sidecar-injection: enabled, the label istio-injection: enabled, or "
        "the annotation linkerd.io/inject: enabled)",
    )


def _version_problem(doc: Document, versions: tuple[str, ...]) -> Problem:
    expected = f"one of {', '.join(f'{doc.api_group}/{v}' for v in versions)}"
    fix = "write it in a supported version"
    found = repr(doc.body.get("apiVersion"))
    return Problem(f"{doc.path}.apiVersion", "smi-version-unsupported", expected, found, fix)


def _kind_problem(doc: Document) -> Problem:
    supported = ", ".join(sorted(kind for _, kind in _SMI))
    fix = "remove it: this mesh cannot honour it (docs/migrating-from-osm.md says what to do)"
    found = f"{doc.body.get('apiVersion')} {doc.kind}"
    return Problem(doc.path, "smi-kind-unsupported", f"one of {supported}", found, fix)


def _imported(
    spec: MeshSpec,
    found: _Input,
    meshed: set[str],
    members: Membership,
    notes: list[Note],
) -> ImportedMesh:
    manifests = tuple(doc.body for doc in found.manifests)
    indices = frozenset(i for i, doc in enumerate(found.manifests) if doc.origin in meshed)
    namespaces = tuple(sorted(members.namespaces))
    return ImportedMesh(spec, manifests, indices, namespaces, tuple(sorted(set(notes))))
