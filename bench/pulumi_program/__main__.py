"""The benchmark's synthetic mesh declared with the components, as a user's program would be.

Config: `services` (default 10), `mode` (policy or open) and `ca` (the mesh CA file's text). The
mesh is the one `bench/synthetic.py` describes: a ServiceAccount, two Deployments and a
MeshService per service, and in policy mode one AccessPolicy per service.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from bench.synthetic import NAMESPACES, synthetic_spec
from mesh_components.pulumi import AccessPolicy, Mesh, MeshService

config = pulumi.Config()
document = synthetic_spec(config.get_int("services") or 10, mode=config.get("mode") or "policy")
namespaces = [f"ns-{i}" for i in range(NAMESPACES)]
access = document["mesh"]["access"]


def deployment(mesh: Mesh, workload: dict[str, Any]) -> None:
    name, namespace, labels = workload["name"], workload["namespace"], workload["labels"]
    container = {"name": "app", "image": "example.invalid/app:1", "ports": workload["ports"]}
    template = {
        "metadata": {"labels": labels},
        "spec": {"serviceAccountName": workload["serviceAccount"], "containers": [container]},
    }
    k8s.apps.v1.Deployment(
        f"{namespace}/{name}",
        metadata={"name": name, "namespace": namespace},
        spec={"selector": {"matchLabels": labels}, "template": template},
        opts=mesh.in_namespace(namespace),
    )


with Mesh(
    "bench", {"namespaces": namespaces, "access": access, "ca": config.require_secret("ca")}
) as mesh:
    mesh.auto_inject()
    for service in document["services"]:
        namespace, name = service["namespace"], service["name"]
        k8s.core.v1.ServiceAccount(
            f"{namespace}/{name}",
            metadata={"name": name, "namespace": namespace},
            opts=mesh.in_namespace(namespace),
        )
        ports = [{"name": p["name"], "port": p["port"]} for p in service["ports"]]
        MeshService(
            f"{namespace}/{name}",
            {"namespace": namespace, "name": name, "selector": service["selector"], "ports": ports},
        )
    for workload in document["workloads"]:
        deployment(mesh, workload)
    for policy in document.get("policies", []):
        sources = [
            {"service_account": s["serviceAccount"], "namespace": s["namespace"]}
            for s in policy["sources"]
        ]
        AccessPolicy(
            f"{policy['namespace']}/{policy['name']}",
            {
                "namespace": policy["namespace"],
                "name": policy["name"],
                "destination": {"service": policy["destination"]["service"]},
                "sources": sources,
            },
        )
