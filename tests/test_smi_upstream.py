"""OSM's UpstreamTrafficSetting imports as destination settings; what it cannot honour (global
and connection rate limits, per-minute buckets, other status codes) is a problem naming it; the
Pulumi program `import` writes declares the same settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.model import (
    AccessMode,
    CircuitBreakers,
    ConnectionPool,
    Destination,
    DestinationRoute,
    Duration,
    HttpRule,
    PathMatch,
    PathMatchKind,
    RateLimit,
)
from mesh_components.smi import import_documents
from tests.test_smi_import import docs
from tests.test_smi_pulumi import CONFIG_MAP, rendered, run_imported
from tests.test_smi_resources import imported, meta, shop

Json = dict[str, Any]


def setting(spec: Json, name: str = "api") -> Json:
    return {
        "apiVersion": "policy.openservicemesh.io/v1alpha1",
        "kind": "UpstreamTrafficSetting",
        "metadata": meta(name),
        "spec": spec,
    }


FULL = setting(
    {
        "host": "api.shop.svc.cluster.local",
        "connectionSettings": {
            "tcp": {"maxConnections": 100, "connectTimeout": "2s"},
            "http": {
                "maxRequests": 200,
                "maxPendingRequests": 50,
                "maxRetries": 3,
                "maxRequestsPerConnection": 10,
            },
        },
        "rateLimit": {"local": {"http": {"requests": 100, "unit": "second", "burst": 20}}},
        "httpRoutes": [
            {
                "path": "/search.*",
                "rateLimit": {"local": {"requests": 5, "unit": "second", "burst": 0}},
            }
        ],
    }
)


def test_an_upstream_traffic_setting_becomes_the_services_destination_settings() -> None:
    (destination,) = imported(FULL).spec.destinations
    search = HttpRule(path=PathMatch(PathMatchKind.REGEX, "/search.*"))
    assert destination == Destination(
        "api",
        "shop",
        connect_timeout=Duration(2000),
        circuit_breakers=CircuitBreakers(
            max_connections=100, max_pending_requests=50, max_requests=200, max_retries=3
        ),
        connection_pool=ConnectionPool(max_requests_per_connection=10),
        rate_limit=RateLimit(100, burst=120),
        routes=(DestinationRoute(match=search, rate_limit=RateLimit(5)),),
    )


def test_unset_limits_take_the_meshs_defaults_and_a_short_host_names_the_service() -> None:
    partial = setting({"host": "api", "connectionSettings": {"http": {"maxRequests": 7}}})
    (destination,) = imported(partial).spec.destinations
    assert destination.circuit_breakers == CircuitBreakers(max_requests=7)
    assert destination.rate_limit is None and destination.routes == ()


@pytest.mark.parametrize(
    ("spec", "path", "code"),
    [
        (
            {"rateLimit": {"global": {"http": {}}}},
            "spec.rateLimit.global",
            "smi-field-unsupported",
        ),
        (
            {"rateLimit": {"local": {"tcp": {"connections": 5, "unit": "second"}}}},
            "spec.rateLimit.local.tcp",
            "smi-field-unsupported",
        ),
        (
            {"rateLimit": {"local": {"http": {"requests": 60, "unit": "minute"}}}},
            "spec.rateLimit.local.http.unit",
            "smi-invalid-value",
        ),
        (
            {
                "rateLimit": {
                    "local": {"http": {"requests": 5, "unit": "second", "responseStatusCode": 503}}
                }
            },
            "spec.rateLimit.local.http.responseStatusCode",
            "smi-invalid-value",
        ),
        (
            {
                "rateLimit": {
                    "local": {
                        "http": {
                            "requests": 5,
                            "unit": "second",
                            "responseHeadersToAdd": [{"name": "x", "value": "y"}],
                        }
                    }
                }
            },
            "spec.rateLimit.local.http.responseHeadersToAdd",
            "smi-field-unsupported",
        ),
        (
            {"connectionSettings": {"tcp": {"connectTimeout": "1m30s"}}},
            "spec.connectionSettings.tcp.connectTimeout",
            "smi-invalid-value",
        ),
        ({"host": "api.other.svc.cluster.local"}, "spec.host", "smi-invalid-value"),
    ],
)
def test_what_cannot_be_honoured_is_a_problem_naming_it(spec: Json, path: str, code: str) -> None:
    with pytest.raises(MeshValidationError) as error:
        imported(setting({"host": "api", **spec}))
    (problem,) = error.value.problems
    assert (problem.path, problem.code) == (f"UpstreamTrafficSetting[shop/api].{path}", code)
    assert problem.fix


def test_a_setting_for_an_unknown_service_is_reported_by_validation() -> None:
    with pytest.raises(MeshValidationError) as error:
        imported(setting({"host": "nope", "connectionSettings": {"http": {"maxRequests": 7}}}))
    assert error.value.codes == ("destination-unknown-service",)


def test_the_program_declares_the_same_settings(tmp_path: Path) -> None:
    mesh = import_documents(docs(*shop(), FULL), access=AccessMode.OPEN)
    recorded = run_imported(mesh, tmp_path)
    programmed = {n: r.inputs["data"] for n, r in recorded.of_type(CONFIG_MAP).items()}
    expected = {n: o["data"] for n, o in rendered(mesh, "ConfigMap").items()}
    assert programmed == expected
    assert "max_requests: 200" in programmed["shop/web-mesh-proxy"]["cds.yaml"]
