"""A recording's Kubernetes objects as manifests: what `pulumi up` would send to the API server.

Each `kubernetes:<group>/<version>:<Kind>` resource becomes one object: apiVersion and kind from
the type token, then the provider's view of its inputs (named and namespaced). Components, the
provider and other packages' resources are not objects. Files are laid out by
`mesh_components.pipeline.manifests` (Secrets marked there); other objects holding a Pulumi
secret get a header naming those fields, and cluster-scoped objects go to `01-cluster/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pipeline.manifests import (
    CLUSTER_FOLDER,
    manifest_files,
    name_problems,
    to_yaml,
)
from mesh_components.recording import kubernetes
from mesh_components.recording.properties import PropertyPath, dotted, plain
from mesh_components.recording.recording import RecordedResource, Recording
from mesh_components.recording.stack_outputs import UNKNOWN_PLACEHOLDER

# Helm's install order: what a later object needs exists first.
APPLY_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
    "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
    "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)  # fmt: skip


@dataclass(frozen=True)
class KubernetesObject:
    """One object to apply, with the paths that came from Pulumi secrets or are unknown."""

    urn: str
    object: Json
    secrets: frozenset[PropertyPath]
    unknowns: frozenset[PropertyPath]

    @property
    def kind(self) -> str:
        return str(self.object["kind"])

    @property
    def namespace(self) -> str | None:
        found = self.object["metadata"].get("namespace")
        return found if isinstance(found, str) else None

    @property
    def name(self) -> str:
        return str(self.object["metadata"]["name"])


def kubernetes_objects(recording: Recording) -> tuple[KubernetesObject, ...]:
    """Every Kubernetes object of the recording, in apply order."""
    found = []
    problems = []
    for resource in recording.resources:
        kind = kubernetes.object_kind(resource.type)
        if kind is None or not resource.custom or resource.applied is None:
            continue
        obj = _object(resource, *kind)
        if not isinstance(obj.object["metadata"].get("name"), str):
            problems.append(_unnamed(resource))
            continue
        found.append(obj)
    if problems:
        raise MeshValidationError(problems)
    return tuple(sorted(found, key=_apply_rank))


def _object(resource: RecordedResource, api_version: str, kind: str) -> KubernetesObject:
    assert resource.applied is not None
    values = resource.applied.values
    rest = {k: v for k, v in sorted(values.items()) if k not in ("apiVersion", "kind", "metadata")}
    metadata = dict(sorted(values["metadata"].items()))
    obj: Json = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **rest}
    return KubernetesObject(resource.urn, obj, resource.applied.secrets, resource.applied.unknowns)


def _apply_rank(obj: KubernetesObject) -> tuple[int, str, str, str]:
    rank = APPLY_ORDER.index(obj.kind) if obj.kind in APPLY_ORDER else len(APPLY_ORDER)
    return rank, obj.namespace or "", obj.kind, obj.name


def _unnamed(resource: RecordedResource) -> Problem:
    return Problem(
        resource.urn,
        "object-unnamed",
        "metadata.name, or none (render then auto-names it)",
        "metadata.generateName, or a name unknown during a preview",
        "set metadata.name: kubectl apply cannot create an object from generateName",
    )


def manifest_tree(objects: Iterable[KubernetesObject]) -> dict[str, str]:
    """{relative path: YAML} for `objects`, in apply order. A preview's unknown values are
    written as "[unknown]"."""
    objects = tuple(objects)
    scoped = [o for o in objects if o.namespace is not None or o.kind == "Namespace"]
    cluster = [o for o in objects if o.namespace is None and o.kind != "Namespace"]
    problems = [p for o in cluster for p in name_problems(o.object, ("name",))]
    try:
        files = manifest_files(plain(o.object, UNKNOWN_PLACEHOLDER) for o in scoped)
    except MeshValidationError as error:
        raise MeshValidationError([*error.problems, *problems]) from None
    if problems:
        raise MeshValidationError(problems)
    for obj in scoped:
        if obj.kind != "Secret" and obj.secrets:
            _mark(files, obj)
    for rank, obj in enumerate(cluster):
        text = to_yaml(plain(obj.object, UNKNOWN_PLACEHOLDER))
        header = _secret_header(obj) if obj.secrets else ""
        files[f"{CLUSTER_FOLDER}/{rank:03d}-{obj.kind.lower()}-{obj.name}.yaml"] = header + text
    return files


def _mark(files: dict[str, str], obj: KubernetesObject) -> None:
    text = to_yaml(plain(obj.object, UNKNOWN_PLACEHOLDER))
    path = next(p for p, t in files.items() if t == text)
    files[path] = _secret_header(obj) + text


def _secret_header(obj: KubernetesObject) -> str:
    fields = ", ".join(sorted(dotted(path) for path in obj.secrets))
    return f"# SECRET: {fields} came from Pulumi secrets. Keep this file out of git and logs.\n"


def unknown_fields(objects: Iterable[KubernetesObject]) -> list[str]:
    """`Kind namespace/name: field` for every value a preview does not know."""
    return [
        f"{o.kind} {o.namespace + '/' if o.namespace else ''}{o.name}: {dotted(path)}"
        for o in objects
        for path in sorted(o.unknowns, key=str)
    ]


def plain_object(obj: KubernetesObject) -> dict[str, Any]:
    """The object as plain JSON (a preview's unknowns as "[unknown]")."""
    result: dict[str, Any] = plain(obj.object, UNKNOWN_PLACEHOLDER)
    return result
