"""Namespaces and ServiceAccounts the mesh owns: one ServiceAccount per identity.

Namespaces are labelled with the mesh, which is how a meshed namespace is recognised. A pod that
names no ServiceAccount runs as its namespace's `default` one, as Kubernetes' admission makes it
(and OSM, Istio and Linkerd mesh it so). Every namespace has that account already, made by the
controller manager, so the mesh never creates it: deleting the mesh must not delete it.
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.model import Identity


def pod_account(pod_spec: Json) -> str:
    """The ServiceAccount a pod runs as: `serviceAccountName`, else the deprecated
    `serviceAccount` (which the API server copies over), else `default`."""
    for key in ("serviceAccountName", "serviceAccount"):
        name = pod_spec.get(key)
        if isinstance(name, str) and name:
            return name
    return names.DEFAULT_SERVICE_ACCOUNT


def mesh_owns(identity: Identity) -> bool:
    """Whether the mesh creates this identity's ServiceAccount (never a namespace's default)."""
    return identity.service_account != names.DEFAULT_SERVICE_ACCOUNT


def namespace(mesh: str, name: str) -> Json:
    labels = mesh_labels(mesh, "namespace", name)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name, None, labels)}


def service_account(mesh: str, identity: Identity) -> Json:
    """The workload identity: certificates are issued to it, and policies name it."""
    labels = mesh_labels(mesh, "identity", identity.service_account)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(identity.service_account, identity.namespace, labels),
    }
