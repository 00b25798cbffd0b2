"""Kubernetes objects as YAML files on disk: one file per object, in apply order.

`00-namespaces.yaml` first, then cluster-scoped objects in `01-cluster/`, then
`<namespace>/<NN>-<kind>-<name>.yaml`, so `kubectl apply -R -f` (which walks files in lexical
order) creates what a pod needs before the pod. Secret files start
with a comment that says they hold private keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh_components import yamltext
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.kinds import is_cluster_scoped

CLUSTER_FOLDER = "01-cluster"
SECRET_HEADER = "# SECRET: secret data (an identity Secret: a private key). Keep it out of git.\n"


def manifest_files(objects: Iterable[Json]) -> dict[str, str]:
    """{relative path: YAML} for `objects`, given in apply order."""
    files: dict[str, str] = {}
    namespaces = []
    for rank, obj in enumerate(objects):
        if obj["kind"] == "Namespace":
            namespaces.append(obj)
            continue
        meta = obj["metadata"]
        folder = CLUSTER_FOLDER if is_cluster_scoped(obj) else meta["namespace"]
        path = f"{folder}/{rank:03d}-{obj['kind'].lower()}-{meta['name']}.yaml"
        header = SECRET_HEADER if obj["kind"] == "Secret" else ""
        files[path] = header + to_yaml(obj)
    if namespaces:
        files["00-namespaces.yaml"] = "---\n".join(to_yaml(ns) for ns in namespaces)
    return files


def to_yaml(obj: Json) -> str:
    """Block-style YAML with keys in the order the emitters wrote them (apiVersion, kind, ...)."""
    return yamltext.dump(obj, sort_keys=False)
