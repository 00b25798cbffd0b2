"""Workload manifests (Deployments, StatefulSets, ..., Pods) read the way `inject` reads them,
with OSM's membership rules deciding which of them get a sidecar."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mesh_components import names
from mesh_components.emit.kubernetes.inject import TEMPLATE_PATHS
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import Workload
from mesh_components.pipeline.injection import shape_problems, workload_of
from mesh_components.smi.documents import Document, Json
from mesh_components.smi.imported import Note
from mesh_components.smi.membership import Membership, metadata_problems

_GROUPS = ("", "apps", "batch", "extensions")


@dataclass(frozen=True, slots=True)
class ReadWorkload:
    """A workload manifest and, when it gets a sidecar, its mesh view."""

    doc: Document
    workload: Workload | None
    readable: bool = True
    """Whether its pod template has the shape injection reads (else its problems say why)."""


def is_workload(doc: Document) -> bool:
    return doc.kind in TEMPLATE_PATHS and doc.api_group in _GROUPS


def read_workload(
    doc: Document, members: Membership, problems: list[Problem], notes: list[Note]
) -> ReadWorkload:
    """The workload, meshed when OSM would have injected its pods."""
    found = shape_problems(doc.body)
    if found:  # nothing more is read of a workload of the wrong shape
        problems.extend(found)
        return ReadWorkload(doc, None, readable=False)
    pod = pod_template(doc.body)
    pod_meta, pod_spec = pod.get("metadata") or {}, pod.get("spec") or {}
    found += metadata_problems(_pod_path(doc), pod_meta, pod=True)
    if doc.kind != "Pod":
        found += metadata_problems(f"{doc.path}.metadata", doc.metadata, pod=False)
    problems.extend(found)
    if found or not members.meshes(doc.namespace, pod_meta):
        return ReadWorkload(doc, None)
    if pod_spec.get("hostNetwork") is True:
        notes.append(Note(doc.path, "on the host network: no sidecar (OSM never injects these)"))
        return ReadWorkload(doc, None)
    return ReadWorkload(doc, _workload(doc, problems))


def _workload(doc: Document, problems: list[Problem]) -> Workload | None:
    """The mesh's view; a pod that names no ServiceAccount runs as `default`, as in OSM."""
    try:
        return workload_of(doc.body)
    except MeshValidationError as error:
        problems.extend(error.problems)
        return None


def pod_template(manifest: Json) -> Json:
    """The pod template of a workload manifest (a Pod is its own)."""
    node: object = manifest
    for key in TEMPLATE_PATHS[str(manifest["kind"])]:
        node = (node.get(key) if isinstance(node, dict) else None) or {}
    return node if isinstance(node, dict) else {}


def opted_out(manifest: Json) -> Json:
    """A copy of a workload with the mesh's opt-out annotation on its pod template, so that
    `inject` and auto-injection leave it as OSM did."""
    copied: Json = json.loads(json.dumps(manifest))
    node = copied
    for key in TEMPLATE_PATHS[str(copied["kind"])]:
        node = node.setdefault(key, {})
    metadata = node.setdefault("metadata", {})
    metadata.setdefault("annotations", {})[names.INJECT_ANNOTATION] = "false"
    return copied


def _pod_path(doc: Document) -> str:
    return ".".join((doc.path, *TEMPLATE_PATHS[doc.kind], "metadata"))
