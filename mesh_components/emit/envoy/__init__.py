"""Envoy v3 configuration for one workload's sidecar, as plain dicts and YAML files.

One module per xDS type (listeners, routes, clusters, secrets, bootstrap); every output is
checked by `consistency.check` before it is returned.
"""

from __future__ import annotations

from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.envoy import bootstrap, clusters, listeners, secrets
from mesh_components.emit.envoy.config import EnvoyConfig
from mesh_components.emit.envoy.consistency import InconsistentConfigError, check
from mesh_components.model import MeshSettings
from mesh_components.names import VolumePaths

__all__ = ["EnvoyConfig", "InconsistentConfigError", "emit_workload"]

_POD_PATHS = VolumePaths()


def emit_workload(
    plan: WorkloadPlan, settings: MeshSettings, *, paths: VolumePaths = _POD_PATHS
) -> EnvoyConfig:
    """The sidecar config for `plan`. `paths` moves the volumes, for tests only."""
    listener_list = listeners.listeners(plan, settings, paths)
    cluster_list = clusters.clusters(plan, settings, paths)
    secret_list = secrets.secrets(paths)
    config = EnvoyConfig(
        listeners=listener_list,
        route_configs=listeners.embedded_route_configs(listener_list),
        clusters=cluster_list,
        secrets=secret_list,
        bootstrap=bootstrap.bootstrap(plan, settings, paths),
    )
    check(config)
    return config
