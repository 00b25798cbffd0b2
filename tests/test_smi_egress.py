"""OSM egress imported: MeshConfig's `enableEgress` as the egress mode, and `Egress` policies as
egress rules per source ServiceAccount, with a clear problem for what cannot be carried over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.model import EgressAddresses, EgressHosts, EgressMode, EgressRule
from mesh_components.smi.program import program_files
from tests.test_smi_pulumi import CONFIG_MAP, rendered, run_imported
from tests.test_smi_resources import imported, meshconfig, meta

Json = dict[str, Any]


def egress(name: str = "out", **spec: Any) -> Json:
    body = {
        "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
        **spec,
    }
    return {
        "apiVersion": "policy.openservicemesh.io/v1alpha1",
        "kind": "Egress",
        "metadata": meta(name),
        "spec": body,
    }


def rules(*extra: Json) -> tuple[EgressRule, ...]:
    return imported(*extra).spec.egress


@pytest.mark.parametrize(("enabled", "mode"), [(True, "passthrough"), (False, "deny")])
def test_enable_egress_is_the_egress_mode(enabled: bool, mode: str) -> None:
    found = imported(meshconfig(traffic={"enableEgress": enabled}))
    assert found.spec.settings.egress is EgressMode(mode)


def test_without_a_meshconfig_egress_is_denied() -> None:
    assert imported().spec.settings.egress is EgressMode.DENY


def test_http_hosts_are_matched_by_host_and_https_hosts_by_sni() -> None:
    ports = [{"number": 80, "protocol": "http"}, {"number": 443, "protocol": "https"}]
    (rule,) = rules(egress(hosts=["httpbin.org"], ports=ports))
    assert rule == EgressRule(
        "out",
        "shop",
        service_account="web",
        http=EgressHosts(("httpbin.org",), (80,)),
        tls=EgressHosts(("httpbin.org",), (443,)),
    )


def test_tcp_ports_take_the_ip_ranges_or_any_address_as_osm_did() -> None:
    tcp = [{"number": 6432, "protocol": "tcp"}]
    (ranged,) = rules(egress(ipAddresses=["203.0.113.0/24"], ports=tcp))
    assert ranged.tcp == EgressAddresses(("203.0.113.0/24",), (6432,))
    (anywhere,) = rules(egress(ports=tcp))
    assert anywhere.tcp == EgressAddresses(("0.0.0.0/0",), (6432,))


def test_https_without_hosts_is_forwarded_by_address() -> None:
    ports = [{"number": 443, "protocol": "https"}]
    (rule,) = rules(egress(ipAddresses=["198.51.100.7/32"], ports=ports))
    assert rule.tls is None
    assert rule.tcp == EgressAddresses(("198.51.100.7/32",), (443,))


def test_one_rule_per_source_named_apart_when_they_share_a_namespace() -> None:
    policy = egress(hosts=["httpbin.org"], ports=[{"number": 80, "protocol": "http"}])
    policy["spec"]["sources"].append({"kind": "ServiceAccount", "name": "api", "namespace": "shop"})
    found = rules(policy)
    assert sorted((r.name, r.service_account) for r in found) == [
        ("out-api", "api"),
        ("out-web", "web"),
    ]


def test_hosts_on_tcp_ports_are_ignored_with_a_note() -> None:
    policy = egress(hosts=["db.example.com"], ports=[{"number": 6432, "protocol": "tcp"}])
    found = imported(policy)
    assert any("ignored on tcp ports" in note.message for note in found.notes)
    assert found.spec.egress[0].tcp == EgressAddresses(("0.0.0.0/0",), (6432,))


@pytest.mark.parametrize(
    ("spec", "code", "path"),
    [
        (
            {"hosts": ["a.example.com"], "ports": [{"number": 80, "protocol": "http"}],
             "matches": [{"apiGroup": "specs.smi-spec.io", "kind": "HTTPRouteGroup", "name": "r"}]},
            "smi-field-unsupported",
            "Egress[shop/out].spec.matches",
        ),
        (
            {"ipAddresses": ["10.0.0.0/8"], "ports": [{"number": 80, "protocol": "http"}]},
            "smi-invalid-value",
            "Egress[shop/out].spec.hosts",
        ),
        (
            {"hosts": ["a.example.com"], "ports": [{"number": 80, "protocol": "grpc"}]},
            "smi-invalid-value",
            "Egress[shop/out].spec.ports[0].protocol",
        ),
        (
            {"hosts": ["a.example.com"]},
            "smi-missing-field",
            "Egress[shop/out].spec.ports",
        ),
        (
            {"hosts": ["*"], "ports": [{"number": 443, "protocol": "https"}]},
            "egress-host-wildcard-all",
            "egress[shop/out].tls.hosts[0]",
        ),
    ],
)  # fmt: skip
def test_what_cannot_be_carried_over_is_a_problem_naming_the_field(
    spec: Json, code: str, path: str
) -> None:
    with pytest.raises(MeshValidationError) as raised:
        imported(egress(**spec))
    assert (code, path) in {(p.code, p.path) for p in raised.value.problems}


def test_a_source_that_is_not_a_service_account_is_a_problem() -> None:
    policy = egress(hosts=["a.example.com"], ports=[{"number": 80, "protocol": "http"}])
    policy["spec"]["sources"][0]["kind"] = "Group"
    with pytest.raises(MeshValidationError) as raised:
        imported(policy)
    assert ("smi-invalid-value", "Egress[shop/out].spec.sources[0].kind") in {
        (p.code, p.path) for p in raised.value.problems
    }


def test_a_source_outside_the_mesh_is_left_out_with_a_note() -> None:
    policy = egress(hosts=["a.example.com"], ports=[{"number": 80, "protocol": "http"}])
    policy["spec"]["sources"][0]["namespace"] = "elsewhere"
    found = imported(policy)
    assert found.spec.egress == ()
    assert any("not in the mesh" in note.message for note in found.notes)


def test_the_imported_pulumi_program_gives_the_same_egress_config(tmp_path: Path) -> None:
    """The program `import` writes declares the mesh's egress mode and an EgressRule per rule,
    and compiles to the proxy ConfigMaps that injecting with the imported spec gives."""
    ports = [{"number": 443, "protocol": "https"}, {"number": 6432, "protocol": "tcp"}]
    policy = egress(hosts=["api.example.com"], ipAddresses=["203.0.113.0/24"], ports=ports)
    found = imported(meshconfig(traffic={"enableEgress": True}), policy)
    files, _ = program_files(found)
    assert "EgressRule(" in files["__main__.py"]
    assert '"egress": "passthrough"' in files["__main__.py"]
    programmed = {
        name: resource.inputs["data"]
        for name, resource in run_imported(found, tmp_path).of_type(CONFIG_MAP).items()
    }
    expected = {name: o["data"] for name, o in rendered(found, "ConfigMap").items()}
    assert programmed == expected
    web = "\n".join(
        data for name, config in expected.items() if "/web" in name for data in config.values()
    )
    assert "egress|tls" in web
    assert "egress|passthrough" in web
