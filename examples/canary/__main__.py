"""A canary release by config: `canaryWeight` is the share of traffic api-v2 gets.

    pulumi config set --secret ca "$(cat ca.secret.yaml)"
    pulumi config set canaryWeight 10 && pulumi preview --diff && pulumi up   # 90/10
    pulumi config set canaryWeight 50 && pulumi up                            # 50/50
    pulumi config set canaryWeight 100 && pulumi up                           # 0/100

Each step changes one route's weights in the frontend's proxy config, and nothing else.
"""

import pulumi
import pulumi_kubernetes as k8s

from mesh_components.pulumi import AccessPolicy, Mesh, MeshService, TrafficSplit

config = pulumi.Config()
canary = config.get_int("canaryWeight") or 0
NAMESPACE = "shop"


def app(name: str, labels: dict[str, str], account: str, mesh: Mesh) -> None:
    options = mesh.in_namespace(NAMESPACE)
    container = {
        "name": "app",
        "image": "ghcr.io/example/shop:1.0",
        "ports": [{"containerPort": 8080}],
    }
    k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": NAMESPACE},
        spec={
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"serviceAccountName": account, "containers": [container]},
            },
        },
        opts=options,
    )


with Mesh("shop", {"namespaces": [NAMESPACE], "ca": config.require_secret("ca")}) as mesh:
    mesh.auto_inject()
    for account in ("api", "frontend"):  # both api versions run as one identity
        k8s.core.v1.ServiceAccount(
            f"{NAMESPACE}/{account}",
            metadata={"name": account, "namespace": NAMESPACE},
            opts=mesh.in_namespace(NAMESPACE),
        )
    http = [{"name": "http", "port": 80, "target_port": 8080}]
    MeshService("api", {"namespace": NAMESPACE, "selector": {"app": "api"}, "ports": http})
    for version in ("v1", "v2"):
        selector = {"app": "api", "version": version}
        MeshService(f"api-{version}", {"namespace": NAMESPACE, "selector": selector, "ports": http})
        app(f"api-{version}", selector, "api", mesh)
    app("frontend", {"app": "frontend"}, "frontend", mesh)
    TrafficSplit(
        "api-canary",
        {
            "namespace": NAMESPACE,
            "service": "api",
            "backends": [
                {"service": "api-v1", "weight": 100 - canary},
                {"service": "api-v2", "weight": canary},
            ],
        },
    )
    AccessPolicy(
        "frontend-to-api",
        {
            "namespace": NAMESPACE,
            "destination": {"service_account": "api"},
            "sources": [{"service_account": "frontend"}],
        },
    )

pulumi.export("configHashes", mesh.config_hashes)
