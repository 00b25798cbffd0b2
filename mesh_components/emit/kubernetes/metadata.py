"""Object metadata shared by everything the mesh creates: names, namespaces and standard labels.

Every object carries `app.kubernetes.io/managed-by`, `part-of` and the mesh label, so
`kubectl get all -l mesh-components.io/mesh=<mesh>` finds exactly what a mesh owns.
"""

from __future__ import annotations

from typing import Any

from mesh_components import names

Json = dict[str, Any]

MANAGED_BY = "mesh-components"


def mesh_labels(mesh: str, component: str, name: str | None = None) -> dict[str, str]:
    """The standard labels of an object the mesh owns."""
    found = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": mesh,
        "app.kubernetes.io/component": component,
        names.MESH_LABEL: mesh,
    }
    if name is not None:
        found["app.kubernetes.io/name"] = name
    return found


def metadata(
    name: str,
    namespace: str | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> Json:
    """`metadata` with keys in a fixed order; empty annotations are left out."""
    found: Json = {"name": name}
    if namespace is not None:
        found["namespace"] = namespace
    found["labels"] = dict(sorted(labels.items()))
    if annotations:
        found["annotations"] = dict(sorted(annotations.items()))
    return found
