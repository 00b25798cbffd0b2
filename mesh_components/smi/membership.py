"""Which namespaces and pods are in the mesh, read as OSM's injector reads them.

A namespace is in the mesh when it is listed explicitly (what `osm namespace add` did), or when
its Namespace object carries the annotation `openservicemesh.io/sidecar-injection: enabled` or
the label `openservicemesh.io/monitored-by`, and not the label `openservicemesh.io/ignore`.
A pod in such a namespace gets a sidecar when its own annotation says `enabled`, or when the
namespace's does and the pod's does not say `disabled` (OSM's `mustInject`). Pods on the host
network never do. OSM reads the injection setting as an annotation only: as a label, or on a
workload's own metadata rather than its pod template, it did nothing, so it is a problem here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from mesh_components.errors import Problem
from mesh_components.smi.documents import Document, Json

INJECTION = "openservicemesh.io/sidecar-injection"
MONITORED_BY = "openservicemesh.io/monitored-by"
IGNORE = "openservicemesh.io/ignore"
_ENABLED = ("enabled", "yes", "true")
_DISABLED = ("disabled", "no", "false")


@dataclass(frozen=True, slots=True)
class Membership:
    """The namespaces in the mesh, and those whose pods get a sidecar unless they opt out."""

    namespaces: frozenset[str]
    injecting: frozenset[str]

    def meshes(self, namespace: str, pod_metadata: Json) -> bool:
        """Whether a pod of `namespace` with this metadata gets a sidecar."""
        if namespace not in self.namespaces:
            return False
        setting = injection_setting(pod_metadata)
        return setting is True or (setting is None and namespace in self.injecting)


def injection_setting(metadata: Json) -> bool | None:
    """The injection annotation: True (enabled), False (disabled), or None when absent or
    invalid (`problems` reports an invalid value)."""
    value = str((metadata.get("annotations") or {}).get(INJECTION, "")).strip().lower()
    return True if value in _ENABLED else False if value in _DISABLED else None


def membership(namespaces: Sequence[Document], explicit: Iterable[str] | None) -> Membership:
    """From an explicit list (every listed namespace injects), else from Namespace objects."""
    if explicit is not None:
        listed = frozenset(explicit)
        return Membership(listed, listed)
    kept = [ns for ns in namespaces if IGNORE not in _labels(ns.metadata)]
    injecting = frozenset(ns.name for ns in kept if injection_setting(ns.metadata) is True)
    monitored = frozenset(ns.name for ns in kept if MONITORED_BY in _labels(ns.metadata))
    return Membership(injecting | monitored, injecting)


def metadata_problems(path: str, metadata: Json, *, pod: bool) -> Iterator[Problem]:
    """An invalid annotation value, the setting as a label, or (`pod=False`) on an owner."""
    value = (metadata.get("annotations") or {}).get(INJECTION)
    if value is not None and str(value).strip().lower() not in (*_ENABLED, *_DISABLED):
        expected = f"one of {', '.join((*_ENABLED, *_DISABLED))}"
        found = repr(value)
        fix = "write enabled or disabled (OSM refused to admit the pod with this value)"
        at = f"{path}.annotations[{INJECTION}]"
        yield Problem(at, "smi-injection-invalid", expected, found, fix)
        return
    if INJECTION in _labels(metadata):
        at = f"{path}.labels[{INJECTION}]"
        fix = "make it an annotation (OSM reads only the annotation, so this label did nothing)"
        yield Problem(at, "smi-injection-label", "an annotation", "a label", fix)
    if value is not None and not pod:
        at = f"{path}.annotations[{INJECTION}]"
        fix = "move it to spec.template.metadata.annotations (OSM reads it on pods only)"
        yield Problem(at, "smi-injection-misplaced", "on the pod template", "on the owner", fix)


def _labels(metadata: Json) -> Json:
    labels = metadata.get("labels")
    return labels if isinstance(labels, dict) else {}
