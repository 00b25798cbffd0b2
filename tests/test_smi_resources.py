"""Every SMI version the importer reads gives the same model: TrafficSplit v1alpha1 (quantity
weights) to v1alpha4, TrafficTarget v1alpha1 to v1alpha3, HTTPRouteGroup and TCPRoute v1alpha1
to v1alpha4; and OSM's MeshConfig maps onto the mesh settings."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_components.model import (
    AccessMode,
    HeaderMatch,
    HttpRule,
    Identity,
    Interception,
    KeyType,
    PathMatch,
    PathMatchKind,
    Protocol,
    SplitBackend,
)
from mesh_components.smi import ImportedMesh, import_documents
from tests.test_smi_import import docs

Json = dict[str, Any]
ENABLED = {"openservicemesh.io/sidecar-injection": "enabled"}


def meta(name: str, ns: str = "shop") -> Json:
    return {"name": name, "namespace": ns}


def deployment(name: str, account: str, **labels: str) -> Json:
    template = {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": account,
            "containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 8080}]}],
        },
    }
    spec = {"selector": {"matchLabels": labels}, "template": template}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name), "spec": spec}


def service(name: str, port: Json | None = None, **selector: str) -> Json:
    port = port or {"name": "http", "port": 80, "targetPort": 8080}
    spec = {"selector": selector, "ports": [port]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name), "spec": spec}


def shop() -> list[Json]:
    """web calls api, which splits between api-v1 and api-v2; db is TCP."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "annotations": ENABLED},
        },
        deployment("web", "web", app="web"),
        deployment("api-v1", "api", app="api", version="v1"),
        deployment("api-v2", "api", app="api", version="v2"),
        deployment("db", "db", app="db"),
        service("api", app="api"),
        service("api-v1", app="api", version="v1"),
        service("api-v2", app="api", version="v2"),
        service("db", {"name": "tcp-db", "port": 5432, "targetPort": 8080}, app="db"),
    ]


def imported(*extra: Json, access: AccessMode | None = None) -> ImportedMesh:
    return import_documents(docs(*shop(), *extra), access=access)


def split(version: str, weights: tuple[Any, Any], root: str = "api") -> Json:
    backends = [
        {"service": "api-v1", "weight": weights[0]},
        {"service": "api-v2", "weight": weights[1]},
    ]
    return {
        "apiVersion": f"split.smi-spec.io/{version}",
        "kind": "TrafficSplit",
        "metadata": meta("api-split"),
        "spec": {"service": root, "backends": backends},
    }


@pytest.mark.parametrize(
    ("version", "weights", "expected"),
    [
        ("v1alpha1", ("500m", "1500m"), (1, 3)),
        ("v1alpha1", (1, 3), (1, 3)),
        ("v1alpha1", ("0.25", "750m"), (1, 3)),
        ("v1alpha1", ("1k", "3k"), (1000, 3000)),
        ("v1alpha2", (10, 30), (10, 30)),
        ("v1alpha3", (10, 30), (10, 30)),
        ("v1alpha4", (10, 30), (10, 30)),
    ],
)
def test_every_traffic_split_version_gives_the_same_split(
    version: str, weights: tuple[Any, Any], expected: tuple[int, int]
) -> None:
    (found,) = imported(split(version, weights)).spec.splits
    assert found.root == "api" and found.namespace == "shop"
    assert found.backends == (
        SplitBackend("api-v1", expected[0]),
        SplitBackend("api-v2", expected[1]),
    )


@pytest.mark.parametrize("root", ["api", "api.shop", "api.shop.svc", "api.shop.svc.cluster.local"])
def test_the_split_root_may_be_written_with_its_namespace(root: str) -> None:
    (found,) = imported(split("v1alpha2", (1, 1), root)).spec.splits
    assert found.root == "api"


def route_group(version: str) -> Json:
    matches = [
        {"name": "read", "pathRegex": "/items/.*", "methods": ["GET", "HEAD"]},
        {"name": "any", "methods": ["*"]},
        {"name": "tagged", "headers": [{"X-Client": "web"}, {"x-trace": ".+"}]},
    ]
    body: Json = {"apiVersion": f"specs.smi-spec.io/{version}", "kind": "HTTPRouteGroup"}
    body["metadata"] = meta("api-routes")
    if version in ("v1alpha1", "v1alpha2"):
        return {**body, "matches": matches}
    return {**body, "spec": {"matches": matches}}


def tcp_route(version: str) -> Json:
    spec: Json = {"matches": {"ports": [5432]}} if version == "v1alpha4" else {}
    body = {
        "apiVersion": f"specs.smi-spec.io/{version}",
        "kind": "TCPRoute",
        "metadata": meta("db"),
    }
    return {**body, "spec": spec}


def target(version: str, rules: list[Json], name: str = "api", account: str = "api") -> Json:
    fields = {
        "destination": {"kind": "ServiceAccount", "name": account, "namespace": "shop"},
        "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
        "specs" if version == "v1alpha1" else "rules": rules,
    }
    body: Json = {"apiVersion": f"access.smi-spec.io/{version}", "kind": "TrafficTarget"}
    body["metadata"] = meta(name)
    return {**body, **fields} if version == "v1alpha1" else {**body, "spec": fields}


HTTP_RULE: Json = {
    "kind": "HTTPRouteGroup",
    "name": "api-routes",
    "matches": ["read", "any", "tagged"],
}
EXPECTED_RULES = (
    HttpRule(PathMatch(PathMatchKind.REGEX, "/items/.*"), ("GET", "HEAD")),
    HttpRule(),
    HttpRule(headers=(HeaderMatch("x-client", "web"), HeaderMatch("x-trace", ".+"))),
)


@pytest.mark.parametrize("routes", ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"])
@pytest.mark.parametrize("access", ["v1alpha1", "v1alpha2", "v1alpha3"])
def test_every_target_and_route_version_gives_the_same_policy(access: str, routes: str) -> None:
    (policy,) = imported(route_group(routes), target(access, [HTTP_RULE])).spec.policies
    assert policy.destination.identity == Identity("shop", "api")
    assert policy.sources == (Identity("shop", "web"),)
    assert policy.http_rules == EXPECTED_RULES
    assert not policy.tcp


@pytest.mark.parametrize("version", ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"])
def test_tcp_routes_open_their_ports_or_every_port(version: str) -> None:
    rule = {"kind": "TCPRoute", "name": "db"}
    (policy,) = imported(tcp_route(version), target("v1alpha3", [rule], "db", "db")).spec.policies
    assert policy.tcp and not policy.http_rules
    assert policy.tcp_ports == ((5432,) if version == "v1alpha4" else ())


def test_a_target_with_http_and_tcp_rules_opens_both() -> None:
    rules: list[Json] = [HTTP_RULE, {"kind": "TCPRoute", "name": "db"}]
    (policy,) = imported(
        route_group("v1alpha4"), tcp_route("v1alpha3"), target("v1alpha3", rules)
    ).spec.policies
    assert policy.http_rules == EXPECTED_RULES and policy.tcp and policy.tcp_ports == ()


def test_protocols_follow_osm_app_protocol_then_name_then_http() -> None:
    ports = [
        service("p1", {"name": "web", "port": 81, "appProtocol": "grpc"}, app="web"),
        service("p2", {"name": "client", "port": 82, "appProtocol": "tcp-server-first"}, app="web"),
        service("p3", {"port": 83}, app="web"),
    ]
    spec = imported(*ports, access=AccessMode.OPEN).spec
    found = {s.name: s.ports[0] for s in spec.services}
    assert found["p1"].protocol is Protocol.GRPC
    assert found["p2"].protocol is Protocol.TCP
    assert (found["p3"].name, found["p3"].protocol) == ("http-83", Protocol.HTTP)
    assert found["db"].protocol is Protocol.TCP


def meshconfig(**spec: Any) -> Json:
    return {
        "apiVersion": "config.openservicemesh.io/v1alpha2",
        "kind": "MeshConfig",
        "metadata": meta("osm-mesh-config", "osm-system"),
        "spec": spec,
    }


def test_meshconfig_settings_map_onto_the_mesh() -> None:
    config = meshconfig(
        traffic={
            "enablePermissiveTrafficPolicyMode": True,
            "enableEgress": False,
            "outboundPortExclusionList": [6379],
            "inboundPortExclusionList": [9090],
            "outboundIPRangeExclusionList": ["10.0.0.0/8"],
            "outboundIPRangeInclusionList": [],
        },
        sidecar={
            "logLevel": "warn",
            "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m"}},
            "envoyImage": "envoyproxy/envoy:v1.19",
        },
        certificate={"serviceCertValidityDuration": "48h", "certKeyBitSize": 3072},
    )
    found = imported(config)
    settings = found.spec.settings
    assert settings.access is AccessMode.OPEN
    assert settings.proxy.interception == Interception((6379,), (9090,), ("10.0.0.0/8",), ())
    assert settings.proxy.log_level.value == "warning"
    assert (settings.proxy.resources.memory_limit, settings.proxy.resources.cpu_request) == (
        "256Mi",
        "50m",
    )
    assert settings.proxy.image == "envoyproxy/envoy:v1.40.0"
    assert (settings.certificates.validity_hours, settings.certificates.renew_before_hours) == (
        48,
        16,
    )
    assert settings.certificates.key_type is KeyType.RSA_3072
    noted = {n.path.rpartition(".")[2] for n in found.notes}
    assert {"envoyImage", "serviceCertValidityDuration"} <= noted


def test_without_a_meshconfig_targets_mean_policy_mode_and_none_mean_osm_permissive() -> None:
    assert imported().spec.settings.access is AccessMode.OPEN
    assert any(n.path == "mesh.access" for n in imported().notes)
    policy = imported(route_group("v1alpha4"), target("v1alpha3", [HTTP_RULE]))
    assert policy.spec.settings.access is AccessMode.POLICY
