"""The bookstore mesh as a Pulumi program: OSM's demo topology, the same as examples/bookstore.

bookbuyer and bookthief call bookstore (split 50/50 between v1 and v2), bookstore calls
bookwarehouse, bookwarehouse calls mysql over TCP. Only what the policies allow gets through:
bookthief is denied. The workloads are plain Deployments; auto-injection adds their sidecars.

    pulumi config set --secret ca "$(cat ca.secret.yaml)"   # a CA file: render --new-ca makes one
    pulumi config set bookstoreV2Weight 50                  # optional, 0-100
    pulumi config set configUpdates hot-reload              # optional: rollout (default) or
                                                            # hot-reload, which also needs
    pulumi config set kubernetes:enableConfigMapMutable true  # these two provider settings
    pulumi config set kubernetes:enableSecretMutable true
    pulumi up
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mesh_components.pulumi import AccessPolicy, Mesh, MeshService, TrafficSplit

config = pulumi.Config()
v2_weight = config.get_int("bookstoreV2Weight")
v2_weight = 50 if v2_weight is None else v2_weight  # 0 is a weight: all to v1
config_updates = config.get("configUpdates") or "rollout"

NAMESPACES = ["bookbuyer", "bookthief", "bookstore", "bookwarehouse"]
BOOKSTORE_ROUTES = [
    {
        "path": {"regex": "/books-bought"},
        "methods": ["GET"],
        "headers": {"user-agent": ".*-http-client/*.*", "client-app": "bookbuyer"},
    },
    {"path": {"regex": ".*a-book.*new"}, "methods": ["GET"]},
]


def workload(mesh: Mesh, name: str, namespace: str, kind: str = "Deployment", **pod: Any) -> None:
    """A ServiceAccount and the workload that runs as it, as any application would have."""
    account = pod.pop("account", name)
    options = mesh.in_namespace(namespace)
    k8s.core.v1.ServiceAccount(
        f"{namespace}/{account}",
        metadata={"name": account, "namespace": namespace},
        opts=options,
    )
    labels = pod.pop("labels")
    container = {"name": name.removesuffix("-v1").removesuffix("-v2"), **pod}
    template = {
        "metadata": {"labels": labels},
        "spec": {"serviceAccountName": account, "containers": [container]},
    }
    spec = {"selector": {"matchLabels": labels}, "template": template}
    metadata = {"name": name, "namespace": namespace}
    if kind == "StatefulSet":
        k8s.apps.v1.StatefulSet(
            name, metadata=metadata, spec={**spec, "serviceName": name}, opts=options
        )
    else:
        k8s.apps.v1.Deployment(name, metadata=metadata, spec=spec, opts=options)


def env(**values: str) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in values.items()]


with Mesh(
    "bookstore",
    {"namespaces": NAMESPACES, "ca": config.require_secret("ca"), "config_updates": config_updates},
) as mesh:
    mesh.auto_inject()

    for name, selector in (
        ("bookstore", {"app": "bookstore"}),
        ("bookstore-v1", {"app": "bookstore", "version": "v1"}),
        ("bookstore-v2", {"app": "bookstore", "version": "v2"}),
    ):
        port = {"name": "bookstore-port", "port": 14001}
        MeshService(name, {"namespace": "bookstore", "selector": selector, "ports": [port]})
    MeshService(
        "bookwarehouse",
        {
            "namespace": "bookwarehouse",
            "selector": {"app": "bookwarehouse"},
            "ports": [{"name": "bookwarehouse-port", "port": 14001}],
        },
    )
    MeshService(
        "mysql",
        {
            "namespace": "bookwarehouse",
            "selector": {"app": "mysql"},
            "headless": True,
            "ports": [{"name": "client", "port": 3306, "target_port": 3306, "app_protocol": "tcp"}],
        },
    )

    TrafficSplit(
        "bookstore-split",
        {
            "namespace": "bookstore",
            "service": "bookstore",
            "backends": [
                {"service": "bookstore-v1", "weight": 100 - v2_weight},
                {"service": "bookstore-v2", "weight": v2_weight},
            ],
        },
    )

    buyer = [{"service_account": "bookbuyer", "namespace": "bookbuyer"}]
    for name in ("bookstore", "bookstore-v2"):
        AccessPolicy(
            name,
            {
                "namespace": "bookstore",
                "destination": {"service_account": name},
                "sources": buyer,
                "http": BOOKSTORE_ROUTES,
            },
        )
    AccessPolicy(
        "bookstore-access-bookwarehouse",
        {
            "namespace": "bookwarehouse",
            "destination": {"service_account": "bookwarehouse"},
            "sources": [{"service_account": "bookstore", "namespace": "bookstore"}],
            "http": [{"methods": ["POST"]}],
        },
    )
    AccessPolicy(
        "mysql",
        {
            "namespace": "bookwarehouse",
            "destination": {"service_account": "mysql"},
            "sources": [{"service_account": "bookwarehouse"}],
            "tcp": {"ports": [3306]},
        },
    )

    store = {"BOOKWAREHOUSE_NAMESPACE": "bookwarehouse"}
    calls_store = {"BOOKSTORE_NAMESPACE": "bookstore", "BOOKSTORE_SVC": "bookstore"}
    workload(
        mesh,
        "bookbuyer",
        "bookbuyer",
        image="openservicemesh/bookbuyer:latest-main",
        command=["/bookbuyer"],
        env=env(**calls_store),
        labels={"app": "bookbuyer", "version": "v1"},
    )
    workload(
        mesh,
        "bookthief",
        "bookthief",
        image="openservicemesh/bookthief:latest-main",
        command=["/bookthief"],
        env=env(**calls_store, BOOKTHIEF_EXPECTED_RESPONSE_CODE="503"),
        labels={"app": "bookthief", "version": "v1"},
    )
    for version, account in (("v1", "bookstore"), ("v2", "bookstore-v2")):
        workload(
            mesh,
            f"bookstore-{version}",
            "bookstore",
            account=account,
            image="openservicemesh/bookstore:latest-main",
            command=["/bookstore"],
            args=["--port", "14001"],
            env=env(**store, IDENTITY=f"bookstore-{version}"),
            labels={"app": "bookstore", "version": version},
            ports=[{"containerPort": 14001, "name": "web"}],
        )
    workload(
        mesh,
        "bookwarehouse",
        "bookwarehouse",
        image="openservicemesh/bookwarehouse:latest-main",
        command=["/bookwarehouse"],
        labels={"app": "bookwarehouse", "version": "v1"},
        ports=[{"containerPort": 14001}],
    )
    workload(
        mesh,
        "mysql",
        "bookwarehouse",
        kind="StatefulSet",
        image="mysql:5.6",
        env=env(MYSQL_ROOT_PASSWORD="mypassword", MYSQL_DATABASE="booksdemo"),  # OSM's demo
        labels={"app": "mysql"},
        ports=[{"containerPort": 3306, "name": "mysql"}],
        readinessProbe={"tcpSocket": {"port": 3306}},
    )

pulumi.export("meshName", mesh.mesh_name)
pulumi.export("identities", mesh.identities)
pulumi.export("caBundle", mesh.ca_bundle)
pulumi.export("configHashes", mesh.config_hashes)
pulumi.export("certificateExpiry", mesh.certificate_expiry)
