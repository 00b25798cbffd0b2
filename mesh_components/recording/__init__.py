"""The recording engine: run a Pulumi Python program against a mock engine that behaves like
the real one where it matters, and keep every resource, the stack's exports and the log.

    recording = record(Path("examples/canary"), stack="dev", config={"ca": ca})
    files = manifest_tree(kubernetes_objects(recording))   # {path: YAML}

This is the layer `render PATH` uses for Pulumi projects. See docs/recording.md for what it
emulates and what it does not.
"""

from mesh_components.recording.engine import record
from mesh_components.recording.errors import ProgramError
from mesh_components.recording.manifests import KubernetesObject, kubernetes_objects, manifest_tree
from mesh_components.recording.properties import Properties, PropertyPath, Unknown
from mesh_components.recording.recording import LogMessage, RecordedResource, Recording, Severity

__all__ = [
    "KubernetesObject",
    "LogMessage",
    "ProgramError",
    "Properties",
    "PropertyPath",
    "RecordedResource",
    "Recording",
    "Severity",
    "Unknown",
    "kubernetes_objects",
    "manifest_tree",
    "record",
]
