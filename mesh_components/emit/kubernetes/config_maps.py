"""The per-workload ConfigMap that holds the sidecar's bootstrap, LDS, CDS and SDS files.

A ConfigMap holds at most 1 MiB. Past the budget (900 KiB by default) we refuse rather than
split: a config that large means the workload reaches too much of the mesh, and the fix is to
scope it with access policies, which also saves the proxy tens of MB of memory (FACTS.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.errors import Problem
from mesh_components.model import WorkloadRef

DEFAULT_BUDGET_BYTES = 900 * 1024


def proxy_config_map(mesh: str, workload: WorkloadRef, files: Mapping[str, str]) -> Json:
    """The ConfigMap mounted at the sidecar's config directory, keys sorted."""
    name = names.proxy_config_map(workload.name)
    labels = mesh_labels(mesh, "proxy-config", workload.name)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, workload.namespace, labels),
        "data": dict(sorted(files.items())),
    }


def size_of(files: Mapping[str, str]) -> int:
    """What the API server counts against the 1 MiB limit: keys and values, in bytes."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in files.items())


def config_hash(files: Mapping[str, str]) -> str:
    """A short digest of the config, put on the pod template so a changed config is visible."""
    digest = hashlib.sha256()
    for key, value in sorted(files.items()):
        digest.update(key.encode() + b"\0" + value.encode() + b"\0")
    return digest.hexdigest()[:16]


def over_budget(workload: WorkloadRef, files: Mapping[str, str], budget: int) -> Problem | None:
    """A problem when this workload's config would not fit its ConfigMap budget."""
    size = size_of(files)
    return None if size <= budget else too_large(workload, f"{size} bytes", budget)


def too_large(workload: WorkloadRef, found: str, budget: int) -> Problem:
    """The problem of a workload whose config does not fit: `found` says how large it is."""
    return Problem(
        path=f"workloads[{workload}]",
        code="config-too-large",
        expected=f"a proxy config of at most {budget} bytes (a ConfigMap holds 1 MiB)",
        found=found,
        fix="scope this workload's dependencies with access policies (mesh.access: policy), "
        "so its proxy only gets the services it calls",
    )
