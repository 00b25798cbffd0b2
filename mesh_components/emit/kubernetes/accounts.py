"""Namespaces and ServiceAccounts the mesh owns: one ServiceAccount per identity.

Namespaces are labelled with the mesh, which is how a meshed namespace is recognised.
"""

from __future__ import annotations

from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.model import Identity


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
