"""Bootstraps: the file-based one a sidecar runs with, and an inlined equivalent for checking.

The file-based bootstrap loads listeners and clusters from files in the config volume and
reloads them when the kubelet swaps the volume. `envoy --mode validate` never opens those
files, so the static bootstrap inlines the same resources in `static_resources`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mesh_components import names
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.envoy.types import (
    DOWNSTREAM_CONNECTIONS_MONITOR,
    FILE_ACCESS_LOG,
    Json,
    socket_address,
)
from mesh_components.limits import RE2_MAX_PROGRAM_SIZE
from mesh_components.model import MeshSettings
from mesh_components.names import VolumePaths

# Without a global limit Envoy warns at start-up; OSM-sized sidecars stay far below this.
MAX_DOWNSTREAM_CONNECTIONS = 50_000

# RE2 rejects a regex whose compiled program exceeds 100 by default: about 97 literal
# characters, or `[a-z]{1,50}`. Policy path and header regexes are often longer.
_RUNTIME = {"re2.max_program_size.error_level": RE2_MAX_PROGRAM_SIZE}


def bootstrap(plan: WorkloadPlan, settings: MeshSettings, paths: VolumePaths) -> Json:
    """Node, admin and overload manager, with LDS and CDS from the config volume."""
    dynamic = {
        "lds_config": file_config_source(names.LDS_FILE, paths),
        "cds_config": file_config_source(names.CDS_FILE, paths),
    }
    return {**_common(plan, settings), "dynamic_resources": dynamic}


def static_bootstrap(
    bootstrap: Json,
    *,
    listeners: Sequence[Json],
    clusters: Sequence[Json],
    secrets: Sequence[Json],
) -> Json:
    """`bootstrap`'s node and admin, with the resources inlined instead of its file-based
    subscriptions. Static secrets are referenced by name alone: an `sds_config` would make
    Envoy subscribe to the file instead."""
    static = {
        "listeners": [_secrets_by_name(listener) for listener in listeners],
        "clusters": [_secrets_by_name(cluster) for cluster in clusters],
        "secrets": list(secrets),
    }
    common = {key: value for key, value in bootstrap.items() if key != "dynamic_resources"}
    return {**common, "static_resources": static}


def file_config_source(filename: str, paths: VolumePaths) -> Json:
    """A file in the config volume, reloaded when the kubelet swaps the volume's `..data`
    link (the watched directory must be the volume root; an in-place edit is never seen)."""
    source = {
        "path": paths.config_file(filename),
        "watched_directory": {"path": paths.config_dir},
    }
    return {"path_config_source": source, "resource_api_version": "V3"}


def _common(plan: WorkloadPlan, settings: MeshSettings) -> Json:
    node = {"id": names.node_id(plan.workload), "cluster": names.node_cluster(plan.identity)}
    admin = {
        "address": socket_address("127.0.0.1", settings.proxy.ports.admin),
        "access_log": [FILE_ACCESS_LOG.config(path="/dev/null")],
    }
    monitor = DOWNSTREAM_CONNECTIONS_MONITOR.config(
        max_active_downstream_connections=MAX_DOWNSTREAM_CONNECTIONS
    )
    return {
        "node": node,
        "admin": admin,
        "overload_manager": {"resource_monitors": [monitor]},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": dict(_RUNTIME)}]},
    }


def _secrets_by_name(resource: Any) -> Any:
    """A copy of `resource` without any `sds_config`."""
    if isinstance(resource, dict):
        return {k: _secrets_by_name(v) for k, v in resource.items() if k != "sds_config"}
    if isinstance(resource, list):
        return [_secrets_by_name(item) for item in resource]
    return resource
