"""A real Kubernetes control plane for a local cluster: etcd, kube-apiserver, the controller
manager and the scheduler, built from one Kubernetes release by `make tools` (docs/local.md).

    plane = start(Layout("demo"))      # serving, controllers running
    plane.kubeconfig                   # the admin's kubeconfig, for kubectl and Pulumi
    stop(Layout("demo"))
"""

from mesh_components.local.control_plane.api import Api, ApiError
from mesh_components.local.control_plane.plane import ControlPlane, find_binary, start, stop

__all__ = ["Api", "ApiError", "ControlPlane", "find_binary", "start", "stop"]
