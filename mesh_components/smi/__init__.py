"""Import from Open Service Mesh: plain Kubernetes manifests and SMI resources to a mesh.

    from mesh_components.smi import read_manifest_dir

    imported = read_manifest_dir("manifests/", namespaces=["bookstore", "bookbuyer"])
    imported.spec               # the MeshSpec, validated
    imported.meshed_manifests   # the workloads that get a sidecar, as written

`docs/migrating-from-osm.md` maps OSM's concepts onto the mesh and lists what is not supported.
"""

from mesh_components.smi.documents import Document, read_documents
from mesh_components.smi.imported import ImportedMesh, Note
from mesh_components.smi.importer import import_documents, read_manifest_dir

__all__ = [
    "Document",
    "ImportedMesh",
    "Note",
    "import_documents",
    "read_documents",
    "read_manifest_dir",
]
