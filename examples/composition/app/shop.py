"""The shop's services and workloads: a frontend calling an API. Declared into any mesh, so
the same code runs in the app stack and in a single-stack deployment."""

import pulumi_kubernetes as k8s

from mesh_components.pulumi import AccessPolicy, Mesh, MeshService

NAMESPACE = "shop"


def declare(mesh: Mesh) -> None:
    http = [{"name": "http", "port": 80, "target_port": 8080}]
    MeshService("api", {"namespace": NAMESPACE, "selector": {"app": "api"}, "ports": http})
    AccessPolicy(
        "frontend-to-api",
        {
            "namespace": NAMESPACE,
            "destination": {"service": "api"},
            "sources": [{"service_account": "frontend"}],
        },
    )
    for name in ("api", "frontend"):
        _app(mesh, name)


def _app(mesh: Mesh, name: str) -> None:
    options = mesh.in_namespace(NAMESPACE)
    k8s.core.v1.ServiceAccount(
        f"{NAMESPACE}/{name}", metadata={"name": name, "namespace": NAMESPACE}, opts=options
    )
    container = {"name": name, "image": f"ghcr.io/example/{name}:1.0"}
    container["ports"] = [{"containerPort": 8080}]
    k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": NAMESPACE},
        spec={
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"serviceAccountName": name, "containers": [container]},
            },
        },
        opts=options,
    )
