"""The input's objects as `kubectl apply` would apply them: the namespaced ones that name no
namespace go to the one `-n/--namespace` names (`default` without it), and each object is one
object.

`kubectl apply -n NS` refuses an object that names another namespace; so does this. An object
given twice (the same API group, kind, namespace and name) is applied twice by kubectl, the
last one winning: given identically it is kept once, with a note; given two ways it is a
problem naming both places, whatever its kind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import Problem
from mesh_components.kinds import is_cluster_scoped
from mesh_components.names import DEFAULT_NAMESPACE

DUPLICATE = "manifest-duplicate"
NAMESPACE_MISMATCH = "manifest-namespace-mismatch"


@dataclass(frozen=True, slots=True)
class Placed:
    """An object and where it came from (`file.yaml#2`, `document[2]`)."""

    origin: str
    body: Json


@dataclass(frozen=True, slots=True)
class Applied:
    """The objects once each, in input order; notes on identical repeats; problems."""

    objects: tuple[Placed, ...]
    notes: tuple[tuple[str, str], ...]
    """(path, message) for each object given again, identically."""
    problems: tuple[Problem, ...]


def as_applied(objects: Sequence[Placed], namespace: str | None = None) -> Applied:
    """The objects in `namespace` (when given), each once."""
    problems: list[Problem] = []
    placed = [_placed(item, namespace, problems) for item in objects]
    first: dict[tuple[str, ...], Placed] = {}
    notes: list[tuple[str, str]] = []
    for item in placed:
        key = _key(item.body)
        earlier = first.setdefault(key, item)
        if earlier is item:
            continue
        if _same(earlier.body, item.body):
            message = f"given again, identically, at {item.origin}: applied once"
            notes.append((object_name(item.body), message))
        else:
            problems.append(_duplicate(earlier, item))
    return Applied(tuple(first.values()), tuple(notes), tuple(problems))


def object_name(body: Json) -> str:
    """`Kind[namespace/name]`, or `Kind[name]` for a cluster-scoped kind (`default` and no name
    for metadata that is no mapping: its problems are reported elsewhere)."""
    meta = _metadata(body)
    name = str(meta.get("name", ""))
    if is_cluster_scoped(body):
        return f"{body.get('kind')}[{name}]"
    return f"{body.get('kind')}[{meta.get('namespace', DEFAULT_NAMESPACE)}/{name}]"


def _placed(item: Placed, namespace: str | None, problems: list[Problem]) -> Placed:
    meta = item.body.get("metadata")
    if namespace is None or is_cluster_scoped(item.body) or not isinstance(meta, dict):
        return item
    given = meta.get("namespace")
    if given is None:
        return Placed(item.origin, {**item.body, "metadata": {**meta, "namespace": namespace}})
    if given != namespace:
        problems.append(_mismatch(item, given, namespace))
    return item


def _metadata(body: Json) -> Json:
    meta = body.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _key(body: Json) -> tuple[str, ...]:
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    meta = _metadata(body)
    scope = "" if is_cluster_scoped(body) else str(meta.get("namespace", DEFAULT_NAMESPACE))
    return group, str(body.get("kind")), scope, str(meta.get("name", ""))


def _same(a: Json, b: Json) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _duplicate(earlier: Placed, later: Placed) -> Problem:
    return Problem(
        f"{object_name(later.body)} at {later.origin}",
        DUPLICATE,
        "each object once (kubectl would apply both, and the last one would win)",
        f"a second, different {later.body.get('kind')} of that name (the first is at "
        f"{earlier.origin})",
        "keep the one you mean and remove the other",
    )


def _mismatch(item: Placed, given: object, namespace: str) -> Problem:
    return Problem(
        f"{object_name(item.body)} at {item.origin}.metadata.namespace",
        NAMESPACE_MISMATCH,
        f"no namespace, or {namespace!r} (the one --namespace names)",
        repr(given),
        f"drop --namespace to keep each object's own, or remove metadata.namespace from it "
        f"(kubectl apply -n {namespace} refuses it too)",
    )
