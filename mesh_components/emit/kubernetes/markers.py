"""The injection markers a pod may carry for other meshes, read as their injectors read them, so
that manifests written for OSM, Istio or Linkerd keep out of the mesh what those kept out.

    OSM      annotation openservicemesh.io/sidecar-injection: enabled | disabled
    Istio    label (or the older annotation) sidecar.istio.io/inject: "true" | "false"
    Linkerd  annotation linkerd.io/inject: enabled | disabled

Each reads `yes`/`no`, `true`/`false` and `enabled`/`disabled` alike, in any case; any other
value says nothing. Where a pod's markers disagree, an opt-out wins.
"""

from __future__ import annotations

from mesh_components.emit.kubernetes.metadata import Json

OSM = "openservicemesh.io/sidecar-injection"
ISTIO = "sidecar.istio.io/inject"
LINKERD = "linkerd.io/inject"
ENABLED = ("enabled", "yes", "true")
DISABLED = ("disabled", "no", "false")


def word(value: object) -> bool | None:
    """True for an opt-in word, False for an opt-out one, None for anything else."""
    text = str(value or "").strip().lower()
    return True if text in ENABLED else False if text in DISABLED else None


def other_mesh_setting(metadata: Json) -> bool | None:
    """A pod's Istio or Linkerd marker: False when either opts it out, True when one opts it
    in, None when it carries neither (or a value those injectors do not read)."""
    found = [word(labels_of(metadata).get(ISTIO) or annotations_of(metadata).get(ISTIO))]
    found.append(word(annotations_of(metadata).get(LINKERD)))
    return False if False in found else True if True in found else None


def opted_out_elsewhere(metadata: Json) -> bool:
    """Whether OSM's, Istio's or Linkerd's marker keeps this pod out of a mesh."""
    return word(annotations_of(metadata).get(OSM)) is False or other_mesh_setting(metadata) is False


def labels_of(metadata: Json) -> Json:
    """Object metadata's labels ({} when absent or not a mapping)."""
    found = metadata.get("labels")
    return found if isinstance(found, dict) else {}


def annotations_of(metadata: Json) -> Json:
    """Object metadata's annotations ({} when absent or not a mapping)."""
    found = metadata.get("annotations")
    return found if isinstance(found, dict) else {}
