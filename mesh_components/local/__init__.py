"""The local runner: rendered manifests run as a kubelet would, with real Envoys (docs/local.md).

    with LocalCluster.up(objects, name="demo") as cluster:
        traffic = cluster.send("bookbuyer/bookbuyer", Request("http://bookstore.bookstore:14001/"))

Linux and root only: pods are network and mount namespaces on a bridge in a node namespace.
"""

from mesh_components.local.cluster import LocalCluster
from mesh_components.local.controller import UpdateReport
from mesh_components.local.system import LocalRunnerError, missing_requirements
from mesh_components.local.traffic import Request, Traffic

__all__ = [
    "LocalCluster",
    "LocalRunnerError",
    "Request",
    "Traffic",
    "UpdateReport",
    "missing_requirements",
]
