"""`inject`: existing Kubernetes manifests in, the same manifests with sidecars out, plus the
mesh objects they need (proxy ConfigMaps, identity Secrets, headless companions).

The manifests are the truth for the workloads they contain: labels, ServiceAccount, ports and
probes are read from each pod template and replace any workload of that name in the spec.
The spec contributes the mesh settings, services, splits and policies.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime

from mesh_components import names
from mesh_components.emit.kubernetes import accounts, config_maps, services
from mesh_components.emit.kubernetes.inject import (
    TEMPLATE_PATHS,
    as_json,
    inject_manifest,
    metadata_problems,
    opted_out,
    template_path_problems,
    template_problems,
    uninjected,
)
from mesh_components.emit.kubernetes.metadata import MANAGED_BY, Json
from mesh_components.emit.kubernetes.probes import read_probes
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.kinds import is_cluster_scoped
from mesh_components.model import (
    ContainerPort,
    MeshSpec,
    Workload,
    WorkloadKind,
    WorkloadRef,
    labels,
)
from mesh_components.pipeline.budget import build_within_budget
from mesh_components.pipeline.identities import Authority, identity_object, issuing_trust
from mesh_components.pipeline.objects import Placed, as_applied
from mesh_components.pipeline.render import proxy_binding
from mesh_components.pki import MeshTrust
from mesh_components.validate import MeshNote

DEFAULT_NAMESPACE = names.DEFAULT_NAMESPACE


def inject_all(
    manifests: list[Json],
    spec: MeshSpec,
    ca: Authority | None,
    now: datetime,
    *,
    budget_bytes: int = config_maps.DEFAULT_BUDGET_BYTES,
    namespace: str | None = None,
) -> list[Json]:
    """Every manifest (workloads injected, others untouched), then the mesh objects.

    Mesh objects in the input (from an earlier `inject`) are dropped and made anew, so
    injecting an injected file gives the same file. `ca` may be None in cert-manager mode.
    `namespace` is where the objects that name none go, as `kubectl apply -n` (default:
    `default`); an object given twice is applied once, or refused when given two ways.
    """
    manifests = [with_namespace(m) for m in _applied(as_sent(manifests), namespace)]
    problems = [p for m in manifests if m["kind"] in TEMPLATE_PATHS for p in shape_problems(m)]
    if problems:
        raise MeshValidationError(problems)
    found = {i: workload_of(m) for i, m in enumerate(manifests) if m["kind"] in TEMPLATE_PATHS}
    workloads = {i: w for i, w in found.items() if w is not None}
    merged = _merged(spec, list(workloads.values()))
    injected = {w.ref for w in workloads.values()}
    files = build_within_budget(merged, budget_bytes, checked=injected).files
    trust = issuing_trust(merged.settings, ca)  # once the settings are validated
    out = [_injected(m, workloads.get(i), merged, files) for i, m in enumerate(manifests)]
    return out + list(_mesh_objects(merged, list(workloads.values()), files, trust, now))


def _applied(manifests: list[Json], namespace: str | None) -> list[Json]:
    """The input's own objects (not the mesh's) in `namespace`, each once; a repeat given
    identically is a note."""
    given = [Placed(f"document[{i}]", m) for i, m in enumerate(manifests) if not _ours(m)]
    applied = as_applied(given, namespace)
    if applied.problems:
        raise MeshValidationError(applied.problems)
    for path, message in applied.notes:
        warnings.warn(f"{path}: {message}", MeshNote, stacklevel=3)
    return [placed.body for placed in applied.objects]


def as_sent(manifests: list[Json]) -> list[Json]:
    """The manifests as `kubectl apply` sends them, YAML read as JSON (a timestamp becomes its
    text), with their metadata checked as the API server decodes it: names and namespaces
    are strings, labels and annotations map strings to strings."""
    sent: list[Json] = []
    problems: list[Problem] = []
    for manifest in manifests:
        body, unsendable = as_json(manifest)
        problems += under(object_path(body), unsendable)
        problems += under(object_path(body), metadata_problems(body.get("metadata"), "metadata"))
        sent.append(body)
    if problems:
        raise MeshValidationError(problems)
    return sent


def object_path(manifest: Json) -> str:
    """How problems name an object: `Kind[namespace/name]` (`?` for one that is no string)."""
    meta = manifest.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    namespace, name = meta.get("namespace", DEFAULT_NAMESPACE), meta.get("name", "")
    parts = [part if isinstance(part, str) else "?" for part in (namespace, name)]
    return f"{manifest.get('kind')}[{parts[0]}/{parts[1]}]"


def under(prefix: str, problems: Iterable[Problem]) -> list[Problem]:
    """`problems`, whose paths are relative to `prefix`, with their full paths."""
    return [dataclasses.replace(p, path=f"{prefix}.{p.path}") for p in problems]


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
    trust: MeshTrust | None,
    now: datetime,
) -> Iterator[Json]:
    mesh = spec.settings.name
    for workload in workloads:
        yield config_maps.proxy_config_map(mesh, workload.ref, files[workload.ref])
    ingress = {s for i in spec.ingress for s in i.sources.identities}
    for identity in sorted({w.identity for w in workloads} | ingress):
        yield identity_object(spec.settings, identity, trust, now)
    for service in spec.services:
        if not service.headless:
            yield services.companion(mesh, service)


def _merged(spec: MeshSpec, from_manifests: list[Workload]) -> MeshSpec:
    """The spec with each manifest's workload in place of the declared one of that name."""
    replaced = {w.ref for w in from_manifests}
    kept = tuple(w for w in spec.workloads if w.ref not in replaced)
    return dataclasses.replace(spec, workloads=(*kept, *from_manifests))


def workload_of(manifest: Json) -> Workload | None:
    """The mesh's view of a workload manifest; None when it opts out (inject leaves it).
    Only for a manifest without `shape_problems`."""
    kind, meta = str(manifest["kind"]), manifest.get("metadata") or {}
    template = uninjected(
        _template(manifest, TEMPLATE_PATHS[kind])
    )  # probes as the user wrote them
    pod_meta, pod_spec = template.get("metadata") or {}, template.get("spec") or {}
    if opted_out(meta) or opted_out(pod_meta):
        return None
    probes, _, problems = read_probes(pod_spec)
    if problems:
        raise MeshValidationError(problems)
    return Workload(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", DEFAULT_NAMESPACE)),
        service_account=accounts.pod_account(pod_spec),
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
    """A problem when a document of the input is not a Kubernetes object at all. It names
    what the document is, never what it holds (it may be a secret put there by mistake)."""
    if isinstance(manifest, dict) and isinstance(manifest.get("kind"), str):
        return None
    expected = "a Kubernetes object (a mapping with apiVersion and kind)"
    fix = "give it apiVersion and kind, or leave it out"
    return Problem(f"document[{index}]", "manifest-invalid", expected, kind_of(manifest), fix)


def kind_of(document: object) -> str:
    """What a document that is no Kubernetes object is, without quoting any of it."""
    if isinstance(document, dict):
        given = [key for key in ("apiVersion", "kind") if _is_text(document.get(key))]
        missing = [key for key in ("apiVersion", "kind") if key not in given]
        return f"a mapping without {' and '.join(missing)}" if missing else "a mapping"
    return _KINDS.get(type(document), f"a {type(document).__name__}")


_KINDS: dict[type, str] = {
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "nothing",
}


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _ours(manifest: Json) -> bool:
    labels_ = (manifest.get("metadata") or {}).get("labels") or {}
    return labels_.get("app.kubernetes.io/managed-by") == MANAGED_BY and manifest["kind"] in (
        "Certificate",
        "ConfigMap",
        "Secret",
        "Service",
    )


def with_namespace(manifest: Json) -> Json:
    """The namespace made explicit: the mesh objects and the certificate name it, so applying
    the output with another `-n` must fail loudly rather than split the pod from its config."""
    meta = manifest.get("metadata")
    if not isinstance(meta, dict) or "namespace" in meta or is_cluster_scoped(manifest):
        return manifest
    return {**manifest, "metadata": {**meta, "namespace": DEFAULT_NAMESPACE}}


def shape_problems(manifest: Json) -> list[Problem]:
    """The fields `workload_of` and injection read, checked before they are read: no
    traceback for a typo. The owner's metadata is read for its name, namespace and opt-out
    annotation only; the pod template's whole, as injection would leave it."""
    kind, at = manifest["kind"], object_path(manifest)
    path = TEMPLATE_PATHS[kind]
    found = _owner_problems(manifest) + template_path_problems(manifest, path)
    if found:
        return under(at, found)
    template = _template(manifest, path)
    found = template_problems(template) or template_problems(uninjected(template))
    return under(".".join((at, *path)), found)


def _owner_problems(manifest: Json) -> list[Problem]:
    """Of a workload's own metadata, injection reads the name, the namespace and the opt-out
    annotation (as text); a Pod's is its template's, checked whole."""
    meta = manifest.get("metadata")
    if manifest["kind"] == "Pod":
        return []
    if not isinstance(meta, dict):
        return metadata_problems(meta, "metadata")
    read = {key: meta[key] for key in ("name", "namespace", "annotations") if key in meta}
    if isinstance(read.get("annotations"), dict):
        read["annotations"] = {}
    return metadata_problems(read, "metadata")
