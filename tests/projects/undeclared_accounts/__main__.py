"""Two workloads run as ServiceAccounts that this program never declares, as a program written
from docs/pulumi.md would: the Mesh creates them (tests/test_cluster_e2e.py applies this to a
real API server, whose ServiceAccount admission refuses a pod whose account does not exist).
"""

import pulumi
import pulumi_kubernetes as k8s

from mesh_components.pulumi import AccessPolicy, Mesh, MeshService

NAMESPACE = "accounts"


def deployment(name: str, mesh: Mesh) -> None:
    labels = {"app": name}
    container = {"name": name, "image": "example/app:1", "ports": [{"containerPort": 8080}]}
    template = {
        "metadata": {"labels": labels},
        "spec": {"serviceAccountName": name, "containers": [container]},
    }
    k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": NAMESPACE},
        spec={"selector": {"matchLabels": labels}, "template": template},
        opts=mesh.in_namespace(NAMESPACE),
    )


config = pulumi.Config()
with Mesh("accounts", {"namespaces": [NAMESPACE], "ca": config.require_secret("ca")}) as mesh:
    mesh.auto_inject()
    http = [{"name": "http", "port": 80, "target_port": 8080}]
    MeshService("web", {"namespace": NAMESPACE, "selector": {"app": "web"}, "ports": http})
    deployment("web", mesh)
    deployment("caller", mesh)
    AccessPolicy(
        "caller-to-web",
        {
            "namespace": NAMESPACE,
            "destination": {"service_account": "web"},
            "sources": [{"service_account": "caller"}],
        },
    )
