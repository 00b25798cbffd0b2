"""What an import gives: the mesh model, the input's Kubernetes objects as they are, and notes.

A note reports something the import deliberately did not carry over and why (an OSM component
setting that has no meaning here, a workload OSM would not have injected), so nothing is lost
without a word. Problems, which stop the import, are `MeshValidationError`s instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.model import MeshSpec


@dataclass(frozen=True, order=True, slots=True)
class Note:
    """Something not carried over, and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportedMesh:
    """A validated mesh and the input's non-mesh objects.

    `manifests` are every Kubernetes object of the input except SMI resources and MeshConfigs,
    unchanged and in input order. `meshed` holds the indices (into `manifests`) of the
    workloads that get a sidecar; the other workloads stay as they are. `namespaces` are the
    namespaces in the mesh.
    """

    spec: MeshSpec
    manifests: tuple[Json, ...]
    meshed: frozenset[int]
    namespaces: tuple[str, ...]
    notes: tuple[Note, ...] = ()

    @property
    def meshed_manifests(self) -> tuple[Json, ...]:
        """The workloads that get a sidecar: what `inject` should be given."""
        return tuple(m for i, m in enumerate(self.manifests) if i in self.meshed)

    @property
    def other_manifests(self) -> tuple[Json, ...]:
        """Everything else, to apply as it is."""
        return tuple(m for i, m in enumerate(self.manifests) if i not in self.meshed)
