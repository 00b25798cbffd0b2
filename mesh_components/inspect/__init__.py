"""Operator tools that read a mesh's proxy config: `proxy-config`, `explain`, `diff`, `graph`.

Every tool works on the emitted Envoy config (`InspectedMesh`), whether it was compiled from a
spec just now or read back from a render directory, so what it shows is what Envoy runs.
"""

from __future__ import annotations

from mesh_components.inspect.model import InspectedMesh, Proxy
from mesh_components.inspect.sources import load_mesh

__all__ = ["InspectedMesh", "Proxy", "load_mesh"]
