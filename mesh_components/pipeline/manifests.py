"""Kubernetes objects as YAML files on disk: one file per object, in apply order.

`00-namespaces.yaml` first, then cluster-scoped objects in `01-cluster/`, then
`<namespace>/<NN>-<kind>-<name>.yaml`, so `kubectl apply -R -f` (which walks files in lexical
order) creates what a pod needs before the pod. Secret files start
with a comment that says they hold private keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mesh_components import yamltext
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.kinds import is_cluster_scoped

CLUSTER_FOLDER = "01-cluster"
SECRET_HEADER = "# SECRET: secret data (an identity Secret: a private key). Keep it out of git.\n"


def manifest_files(objects: Iterable[Json]) -> dict[str, str]:
    """{relative path: YAML} for `objects`, given in apply order. Names that cannot be path
    parts are problems, all of them listed at once."""
    files: dict[str, str] = {}
    namespaces = []
    problems: list[Problem] = []
    for rank, obj in enumerate(objects):
        if obj["kind"] == "Namespace":
            problems.extend(name_problems(obj, ("name",)))
            namespaces.append(obj)
            continue
        fields = ("name",) if is_cluster_scoped(obj) else ("namespace", "name")
        found = name_problems(obj, fields)
        problems.extend(found)
        if found:
            continue
        if not _KIND.fullmatch(str(obj["kind"])):  # it becomes part of the file's name
            expected = "a kind of letters and digits"
            problems.append(Problem("kind", "object-kind-invalid", expected, repr(obj["kind"])))
            continue
        meta = obj["metadata"]
        folder = CLUSTER_FOLDER if is_cluster_scoped(obj) else meta["namespace"]
        path = f"{folder}/{rank:03d}-{obj['kind'].lower()}-{meta['name']}.yaml"
        header = SECRET_HEADER if obj["kind"] == "Secret" else ""
        files[path] = header + to_yaml(obj)
    if problems:
        raise MeshValidationError(problems)
    if namespaces:
        files["00-namespaces.yaml"] = "---\n".join(to_yaml(ns) for ns in namespaces)
    return files


def to_yaml(obj: Json) -> str:
    """Block-style YAML with keys in the order the emitters wrote them (apiVersion, kind, ...)."""
    return yamltext.dump(obj, sort_keys=False)


# A DNS subdomain (RFC 1123), what Kubernetes requires of most names and of every namespace
# (a namespace is also at most 63 characters): never "..", never a "/".
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def name_problems(obj: Json, fields: Iterable[str]) -> list[Problem]:
    """`metadata.<field>` of `obj`, for each field, checked as a Kubernetes name before it
    becomes part of a file's path: `../../x` or `/etc` would otherwise write outside the
    output directory."""
    kind = obj.get("kind", "object")
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return [
        Problem(
            f"{kind}.metadata.{field}",
            "object-name-invalid",
            "a Kubernetes name: lower-case letters, digits, '-' and '.', starting and "
            "ending with a letter or digit, at most 253 characters",
            repr(value),
            f"fix metadata.{field} of that {kind}: Kubernetes would refuse it too",
        )
        for field in fields
        if not _is_name(value := meta.get(field))
    ]


def _is_name(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 253 and bool(_SUBDOMAIN.fullmatch(value))
