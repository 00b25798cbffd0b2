"""A TCP service in the mesh: Redis as a headless StatefulSet, called by one worker.

The port is declared `tcp`, so the sidecars proxy bytes (an HTTP proxy in front of Redis would
break it), and the allowed client identity is checked in the mTLS handshake itself.

    pulumi config set --secret ca "$(cat ca.secret.yaml)"
    pulumi up
"""

import pulumi
import pulumi_kubernetes as k8s

from mesh_components.pulumi import AccessPolicy, Mesh, MeshService

config = pulumi.Config()
NAMESPACE = "cache"

with Mesh("cache", {"namespaces": [NAMESPACE], "ca": config.require_secret("ca")}) as mesh:
    mesh.auto_inject()
    options = mesh.in_namespace(NAMESPACE)
    MeshService(
        "redis",
        {
            "namespace": NAMESPACE,
            "selector": {"app": "redis"},
            "headless": True,
            "ports": [{"name": "redis", "port": 6379, "protocol": "tcp"}],
        },
    )
    AccessPolicy(
        "worker-to-redis",
        {
            "namespace": NAMESPACE,
            "destination": {"service": "redis"},
            "sources": [{"service_account": "worker"}],
            "tcp": {"ports": [6379]},
        },
    )
    for account in ("redis", "worker"):
        k8s.core.v1.ServiceAccount(
            f"{NAMESPACE}/{account}",
            metadata={"name": account, "namespace": NAMESPACE},
            opts=options,
        )
    redis = {
        "name": "redis",
        "image": "redis:7",
        "ports": [{"containerPort": 6379, "name": "redis"}],
        "readinessProbe": {"tcpSocket": {"port": 6379}},
    }
    k8s.apps.v1.StatefulSet(
        "redis",
        metadata={"name": "redis", "namespace": NAMESPACE},
        spec={
            "serviceName": "redis",
            "selector": {"matchLabels": {"app": "redis"}},
            "template": {
                "metadata": {"labels": {"app": "redis"}},
                "spec": {"serviceAccountName": "redis", "containers": [redis]},
            },
        },
        opts=options,
    )
    worker = {"name": "worker", "image": "redis:7", "command": ["sh", "-c"]}
    worker["args"] = ["while true; do redis-cli -h redis-0.redis ping; sleep 5; done"]
    k8s.apps.v1.Deployment(
        "worker",
        metadata={"name": "worker", "namespace": NAMESPACE},
        spec={
            "selector": {"matchLabels": {"app": "worker"}},
            "template": {
                "metadata": {"labels": {"app": "worker"}},
                "spec": {"serviceAccountName": "worker", "containers": [worker]},
            },
        },
        opts=options,
    )

pulumi.export("configHashes", mesh.config_hashes)
