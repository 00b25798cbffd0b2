"""Which namespaces and pods are in the mesh, read as OSM's injector reads them, and with the
markers Istio's and Linkerd's injectors read, so that their users' manifests mesh as written.

A namespace is in the mesh when it is listed explicitly (what `osm namespace add` did), or when
its Namespace object carries the annotation `openservicemesh.io/sidecar-injection: enabled` or
the label `openservicemesh.io/monitored-by` (OSM), the label `istio-injection: enabled` or
`istio.io/rev` (Istio), or the annotation `linkerd.io/inject: enabled` (Linkerd), and not the
label `openservicemesh.io/ignore` nor `istio-injection: disabled`.
A pod in such a namespace gets a sidecar unless its own marker opts it out: OSM's annotation
(`disabled`, and `enabled` opts a pod in where the namespace is only monitored: OSM's
`mustInject`), Istio's `sidecar.istio.io/inject: "false"` (a label, or the older annotation) or
Linkerd's `linkerd.io/inject: disabled`. Where markers disagree, an opt-out wins. Pods on the
host network never get a sidecar. OSM reads its setting as an annotation only: as a label, or on
a workload's own metadata rather than its pod template, it did nothing, so it is a problem here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from mesh_components.emit.kubernetes import markers
from mesh_components.errors import Problem
from mesh_components.smi.documents import Document, Json

INJECTION = markers.OSM
MONITORED_BY = "openservicemesh.io/monitored-by"
IGNORE = "openservicemesh.io/ignore"
_ENABLED, _DISABLED = markers.ENABLED, markers.DISABLED
ISTIO_NAMESPACE = "istio-injection"
ISTIO_REVISION = "istio.io/rev"
LINKERD = markers.LINKERD


@dataclass(frozen=True, slots=True)
class Membership:
    """The namespaces in the mesh, and those whose pods get a sidecar unless they opt out."""

    namespaces: frozenset[str]
    injecting: frozenset[str]

    def meshes(self, namespace: str, pod_metadata: Json) -> bool:
        """Whether a pod of `namespace` with this metadata gets a sidecar."""
        settings = (injection_setting(pod_metadata), markers.other_mesh_setting(pod_metadata))
        if namespace not in self.namespaces or False in settings:
            return False
        return True in settings or namespace in self.injecting


def injection_setting(metadata: Json) -> bool | None:
    """The injection annotation: True (enabled), False (disabled), or None when absent or
    invalid (`problems` reports an invalid value)."""
    return markers.word(markers.annotations_of(metadata).get(INJECTION))


def membership(namespaces: Sequence[Document], explicit: Iterable[str] | None) -> Membership:
    """From an explicit list (every listed namespace injects), else from Namespace objects."""
    if explicit is not None:
        listed = frozenset(explicit)
        return Membership(listed, listed)
    kept = [ns for ns in namespaces if not _left_out(ns.metadata)]
    injecting = frozenset(ns.name for ns in kept if _injects(ns.metadata))
    monitored = frozenset(ns.name for ns in kept if MONITORED_BY in markers.labels_of(ns.metadata))
    return Membership(injecting | monitored, injecting)


def _injects(metadata: Json) -> bool:
    """OSM's annotation, Istio's namespace label or revision, or Linkerd's annotation."""
    labels = markers.labels_of(metadata)
    return (
        injection_setting(metadata) is True
        or markers.word(labels.get(ISTIO_NAMESPACE)) is True
        or bool(labels.get(ISTIO_REVISION))
        or markers.word(markers.annotations_of(metadata).get(LINKERD)) is True
    )


def _left_out(metadata: Json) -> bool:
    """OSM's ignore label, or Istio's `istio-injection: disabled` (it wins over a revision)."""
    labels = markers.labels_of(metadata)
    return IGNORE in labels or markers.word(labels.get(ISTIO_NAMESPACE)) is False


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
    if INJECTION in markers.labels_of(metadata):
        at = f"{path}.labels[{INJECTION}]"
        fix = "make it an annotation (OSM reads only the annotation, so this label did nothing)"
        yield Problem(at, "smi-injection-label", "an annotation", "a label", fix)
    if value is not None and not pod:
        at = f"{path}.annotations[{INJECTION}]"
        fix = "move it to spec.template.metadata.annotations (OSM reads it on pods only)"
        yield Problem(at, "smi-injection-misplaced", "on the pod template", "on the owner", fix)
