"""Egress: the spec format (loader and writer), validation codes, the compiled plan per workload,
and the shape of the outbound listener and clusters (real Envoy checks them in the goldens).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from mesh_components import read_spec
from mesh_components.compiler.plan import EgressPort
from mesh_components.errors import MeshValidationError
from mesh_components.model import EgressAddresses, EgressHosts, EgressMode, EgressRule, labels
from mesh_components.model.loader import load_spec
from mesh_components.model.writer import spec_document
from mesh_components.pipeline.build import CompiledWorkload, build
from mesh_components.pipeline.render import render
from mesh_components.pulumi import MeshFromSpec
from mesh_components.validate import CODES, find_problems
from tests.pulumi_mocks import run
from tests.test_inspect_goldens import run_cli
from tests.test_pulumi_components import CA_TEXT, NOW
from tests.test_pulumi_whole_mesh import python_args
from tests.test_render import make_ca

GOLDEN = Path(__file__).parent / "goldens" / "egress" / "mesh.yaml"
Spec = dict[str, Any]


def base() -> Spec:
    """tests/goldens/egress: web (HTTP 80), client and batch in shop, three egress rules."""
    loaded: Spec = yaml.safe_load(GOLDEN.read_text())
    return loaded


def rule(spec: Spec, name: str) -> Spec:
    found: Spec = next(r for r in spec["egress"] if r["name"] == name)
    return found


def codes_at(spec: Spec) -> set[tuple[str, str]]:
    return {(p.code, p.path) for p in find_problems(load_spec(spec))}


def workload(spec: Spec, name: str) -> CompiledWorkload:
    mesh = build(load_spec(spec))
    return next(w for w in mesh.workloads if w.plan.workload.name == name)


def outbound(compiled: CompiledWorkload) -> dict[str, Any]:
    found: dict[str, Any] = next(
        listener for listener in compiled.envoy.listeners if listener["name"] == "outbound"
    )
    return found


def chain_names(listener: dict[str, Any]) -> list[str]:
    return [chain["name"] for chain in listener["filter_chains"]]


# The format.


def test_the_loader_reads_every_egress_field() -> None:
    spec = load_spec(base())
    assert spec.settings.egress is EgressMode.DENY
    by_name = {r.name: r for r in spec.egress}
    assert by_name["public-apis"] == EgressRule(
        name="public-apis",
        namespace="shop",
        selector=labels({"app": "client"}),
        http=EgressHosts(("httpbin.org", "*.example.com"), (80,)),
        tls=EgressHosts(("api.github.com", "*.githubusercontent.com"), (443,)),
    )
    assert by_name["postgres"].tcp == EgressAddresses(
        ("203.0.113.0/24", "198.51.100.7/32"), (5432,)
    )
    assert by_name["reports"].service_account == "batch"
    assert by_name["reports"].selector is None


def test_the_writer_is_the_loaders_inverse_and_leaves_default_ports_out() -> None:
    raw = base()
    raw["mesh"]["egress"] = "passthrough"
    rule(raw, "postgres")["selector"] = {}
    spec = load_spec(raw)
    written = spec_document(spec)
    assert load_spec(written) == spec
    assert written["mesh"]["egress"] == "passthrough"
    public = next(r for r in written["egress"] if r["name"] == "public-apis")
    assert public["tls"] == {"hosts": ["api.github.com", "*.githubusercontent.com"]}
    assert next(r for r in written["egress"] if r["name"] == "postgres")["selector"] == {}
    assert "egress" not in spec_document(load_spec({"mesh": {"name": "m"}}))["mesh"]


@pytest.mark.parametrize(
    ("change", "code", "path"),
    [
        (lambda s: s["mesh"].update(egress="allow"), "spec-invalid-value", "mesh.egress"),
        (lambda s: rule(s, "postgres")["tcp"].pop("ports"), "spec-missing-field",
         "egress[postgres].tcp.ports"),
        (lambda s: rule(s, "reports")["tls"].pop("hosts"), "spec-missing-field",
         "egress[reports].tls.hosts"),
        (lambda s: rule(s, "reports").update(sni={}), "spec-unknown-key", "egress[reports].sni"),
        (lambda s: rule(s, "reports")["http"].update(hosts="a.example.com"), "spec-wrong-type",
         "egress[reports].http.hosts"),
    ],
)  # fmt: skip
def test_the_loader_reports_shape_mistakes(
    change: Callable[[Spec], object], code: str, path: str
) -> None:
    raw = base()
    change(raw)
    with pytest.raises(MeshValidationError) as raised:
        load_spec(raw)
    assert (code, path) in {(p.code, p.path) for p in raised.value.problems}


# Validation.


def _set(name: str, kind: str, key: str, value: object) -> Callable[[Spec], None]:
    return lambda spec: rule(spec, name)[kind].update({key: value})


MISTAKES: list[tuple[str, Callable[[Spec], object], str, str]] = [
    ("port 0", _set("postgres", "tcp", "ports", [0]), "egress-port-invalid",
     "egress[shop/postgres].tcp.ports[0]"),
    ("port too high", _set("reports", "http", "ports", [70000]), "egress-port-invalid",
     "egress[shop/reports].http.ports[0]"),
    ("bad CIDR", _set("postgres", "tcp", "cidrs", ["10.0.0.300/8"]), "egress-cidr-invalid",
     "egress[shop/postgres].tcp.cidrs[0]"),
    ("host bits set", _set("postgres", "tcp", "cidrs", ["10.1.2.3/8"]), "egress-cidr-invalid",
     "egress[shop/postgres].tcp.cidrs[0]"),
    ("no prefix length", _set("postgres", "tcp", "cidrs", ["10.1.2.3"]), "egress-cidr-invalid",
     "egress[shop/postgres].tcp.cidrs[0]"),
    ("IPv6", _set("postgres", "tcp", "cidrs", ["2001:db8::/32"]), "egress-cidr-invalid",
     "egress[shop/postgres].tcp.cidrs[0]"),
    ("empty host", _set("reports", "tls", "hosts", [""]), "egress-host-empty",
     "egress[shop/reports].tls.hosts[0]"),
    ("every host", _set("reports", "tls", "hosts", ["*"]), "egress-host-wildcard-all",
     "egress[shop/reports].tls.hosts[0]"),
    ("a wildcard inside", _set("reports", "tls", "hosts", ["s3.*.org"]), "egress-host-invalid",
     "egress[shop/reports].tls.hosts[0]"),
    ("no dot", _set("reports", "http", "hosts", ["reports"]), "egress-host-invalid",
     "egress[shop/reports].http.hosts[0]"),
    ("uppercase", _set("reports", "http", "hosts", ["Reports.example.org"]),
     "egress-host-invalid", "egress[shop/reports].http.hosts[0]"),
    ("an IP as host", _set("reports", "http", "hosts", ["192.0.2.1"]), "egress-host-invalid",
     "egress[shop/reports].http.hosts[0]"),
    ("a mesh service", _set("reports", "http", "hosts", ["web.shop.svc"]), "egress-host-in-mesh",
     "egress[shop/reports].http.hosts[0]"),
    ("empty hosts", _set("reports", "http", "hosts", []), "egress-rule-empty",
     "egress[shop/reports].http.hosts"),
    ("empty ports", _set("reports", "tls", "ports", []), "egress-rule-empty",
     "egress[shop/reports].tls.ports"),
    ("nothing allowed", lambda s: s["egress"].append({"name": "none", "namespace": "shop"}),
     "egress-rule-empty", "egress[shop/none]"),
    ("repeated host", _set("reports", "tls", "hosts", ["s3.example.org", "s3.example.org"]),
     "egress-duplicate-entry", "egress[shop/reports].tls.hosts[1]"),
    ("repeated port", _set("reports", "tls", "ports", [443, 443]), "egress-duplicate-entry",
     "egress[shop/reports].tls.ports[1]"),
    ("repeated name", lambda s: s["egress"].append(copy.deepcopy(rule(s, "reports"))),
     "egress-duplicate", "egress[shop/reports]"),
    ("bad name", lambda s: rule(s, "reports").update(name="Reports!"), "name-invalid",
     "egress[shop/Reports!].name"),
    ("selector matches nothing", lambda s: rule(s, "public-apis").update(selector={"app": "x"}),
     "egress-selects-nothing", "egress[shop/public-apis]"),
    ("service account matches nothing", lambda s: rule(s, "reports").update(serviceAccount="x"),
     "egress-selects-nothing", "egress[shop/reports]"),
    ("namespace without workloads", lambda s: rule(s, "postgres").update(namespace="other"),
     "egress-selects-nothing", "egress[other/postgres]"),
    ("bad selector label", lambda s: rule(s, "public-apis").update(selector={"app": "a b"}),
     "label-invalid", "egress[shop/public-apis].selector[app]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code", "path"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_each_mistake_gives_its_code_at_its_path(
    change: Callable[[Spec], object], code: str, path: str
) -> None:
    spec = base()
    change(spec)
    assert (code, path) in codes_at(spec)
    assert code in CODES


def test_the_golden_spec_is_valid() -> None:
    assert find_problems(load_spec(base())) == ()


def test_an_ip_range_on_a_port_where_the_workload_reaches_a_mesh_service_is_a_conflict() -> None:
    spec = base()
    rule(spec, "postgres")["tcp"]["ports"] = [80]
    assert codes_at(spec) == {("egress-port-conflict", "workloads[shop/client]")}


def test_hosts_on_a_mesh_tcp_port_are_a_conflict_and_tls_hosts_on_an_http_port_are_not() -> None:
    spec = base()
    spec["services"][0]["ports"] = [{"name": "tcp-web", "port": 443, "targetPort": 8080}]
    assert codes_at(spec) == {("egress-port-conflict", "workloads[shop/client]")}
    spec["services"][0]["ports"] = [{"name": "http", "port": 443, "targetPort": 8080}]
    assert codes_at(spec) == set()


def test_a_conflict_needs_the_workload_to_reach_the_mesh_service() -> None:
    spec = base()
    rule(spec, "postgres")["tcp"]["ports"] = [80]  # only client may call web on 80
    problems = find_problems(load_spec(spec))
    assert [p.path for p in problems] == ["workloads[shop/client]"]


# The plan.


def test_rules_merge_per_port_for_the_workloads_they_pick() -> None:
    spec = base()
    client, batch, web = (workload(spec, n).plan.egress for n in ("client", "batch", "web"))
    postgres = EgressPort(5432, cidrs=("198.51.100.7/32", "203.0.113.0/24"))
    assert client.ports == (
        EgressPort(80, http_hosts=("*.example.com", "httpbin.org")),
        EgressPort(443, tls_hosts=("*.githubusercontent.com", "api.github.com")),
        postgres,
    )
    assert batch.ports == (
        EgressPort(443, tls_hosts=("s3.example.org",)),
        postgres,
        EgressPort(8080, http_hosts=("reports.example.org",)),
        EgressPort(8443, tls_hosts=("s3.example.org",)),
    )
    assert web.ports == (postgres,)
    assert not client.passthrough


def test_two_rules_on_one_port_merge_their_hosts_once_each() -> None:
    spec = base()
    spec["egress"].append(
        {"name": "more", "namespace": "shop", "tls": {"hosts": ["api.github.com", "x.example.io"]}}
    )
    (tls,) = [p for p in workload(spec, "client").plan.egress.ports if p.port == 443]
    assert tls.tls_hosts == ("*.githubusercontent.com", "api.github.com", "x.example.io")


# The Envoy config.


def _chain(listener: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in listener["filter_chains"] if c["name"] == name)
    return found


def test_mesh_chains_are_untouched_by_rules_on_other_ports() -> None:
    spec = base()
    without = copy.deepcopy(spec)
    del without["egress"]
    mesh_chain = _chain(outbound(workload(without, "client")), "outbound|80")
    with_egress = _chain(outbound(workload(spec, "client")), "outbound|80")
    hcm, plain = with_egress["filters"][0]["typed_config"], mesh_chain["filters"][0]["typed_config"]
    # Only the allowed hosts' virtual host and the forward proxy's filter are added.
    hosts = [h["name"] for h in hcm["route_config"]["virtual_hosts"]]
    assert hosts == ["shop/web", "egress", "not-a-mesh-destination"]
    assert [f["name"] for f in hcm["http_filters"]] == [
        "envoy.filters.http.dynamic_forward_proxy",
        "envoy.filters.http.router",
    ]
    plain_hosts = plain["route_config"]["virtual_hosts"]
    assert [h for h in hcm["route_config"]["virtual_hosts"] if h["name"] != "egress"] == plain_hosts


def test_a_mesh_without_egress_has_no_tls_inspector_and_denies_by_default() -> None:
    spec = base()
    del spec["egress"]
    listener = outbound(workload(spec, "client"))
    assert [f["name"] for f in listener["listener_filters"]] == [
        "envoy.filters.listener.original_dst"
    ]
    assert listener["default_filter_chain"]["name"] == "outbound|deny"
    assert "continue_on_listener_filters_timeout" not in listener
    assert workload(spec, "batch").envoy.listeners[0]["name"] != "outbound"


def test_tls_inspector_runs_only_on_ports_with_tls_hosts() -> None:
    listener = outbound(workload(base(), "batch"))
    inspector = listener["listener_filters"][1]
    assert inspector["name"] == "envoy.filters.listener.tls_inspector"
    assert inspector["filter_disabled"] == {
        "not_match": {
            "or_match": {
                "rules": [
                    {"destination_port_range": {"start": 443, "end": 444}},
                    {"destination_port_range": {"start": 8443, "end": 8444}},
                ]
            }
        }
    }
    assert listener["continue_on_listener_filters_timeout"] is True


def test_each_kind_of_allowance_gets_its_own_chain_and_cluster() -> None:
    batch = workload(base(), "batch")
    listener = outbound(batch)
    assert chain_names(listener) == [
        "egress|http|8080",
        "egress|tls|443",
        "egress|tcp|5432",
        "egress|tls|8443",
    ]
    tls = _chain(listener, "egress|tls|443")
    assert tls["filter_chain_match"] == {
        "destination_port": 443,
        "transport_protocol": "tls",
        "server_names": ["s3.example.org"],
    }
    tcp = _chain(listener, "egress|tcp|5432")
    assert tcp["filter_chain_match"]["prefix_ranges"] == [
        {"address_prefix": "198.51.100.7", "prefix_len": 32},
        {"address_prefix": "203.0.113.0", "prefix_len": 24},
    ]
    clusters = {c["name"]: c for c in batch.envoy.clusters}
    assert clusters["egress|passthrough"]["type"] == "ORIGINAL_DST"
    for name in ("egress|http", "egress|tls"):
        assert clusters[name]["cluster_type"]["name"] == "envoy.clusters.dynamic_forward_proxy"
        assert "transport_socket" not in clusters[name]


def test_passthrough_forwards_the_default_chain_and_unknown_hosts_on_mesh_http_ports() -> None:
    spec = base()
    spec["mesh"]["egress"] = "passthrough"
    del spec["egress"]
    client = workload(spec, "client")
    listener = outbound(client)
    default = listener["default_filter_chain"]
    assert default["name"] == "outbound|passthrough"
    assert default["filters"][0]["typed_config"]["cluster"] == "egress|passthrough"
    hosts = _chain(listener, "outbound|80")["filters"][0]["typed_config"]["route_config"]
    catch_all = hosts["virtual_hosts"][-1]
    assert catch_all["domains"] == ["*"]
    assert catch_all["routes"][0]["route"]["cluster"] == "egress|passthrough"
    # A workload that may call no mesh service still gets a listener: its default chain.
    batch = outbound(workload(spec, "batch"))
    assert batch["filter_chains"] == []
    assert batch["default_filter_chain"]["name"] == "outbound|passthrough"


# The Pulumi components.


def test_the_whole_mesh_component_deploys_the_rendered_egress_config() -> None:
    spec = read_spec(GOLDEN)
    args = python_args(spec_document(spec))

    def program() -> None:
        namespaces = ["shop"]
        args["mesh"] = {
            **args["mesh"],
            "namespaces": namespaces,
            "ca": pulumi.Output.secret(CA_TEXT),
        }
        MeshFromSpec("egress", args, now=NOW)

    recorder = run(program)
    deployed = {
        name: resource.inputs["data"]
        for name, resource in recorder.of_type("kubernetes:core/v1:ConfigMap").items()
    }
    rendered = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["data"]
        for o in render(spec, make_ca(), NOW).objects
        if o["kind"] == "ConfigMap"
    }
    assert deployed == rendered
    client = "\n".join(
        v for name, data in rendered.items() if "client" in name for v in data.values()
    )
    assert "egress|http" in client


# explain.

PASSTHROUGH = GOLDEN.parent.parent / "egress-passthrough" / "mesh.yaml"


@pytest.mark.parametrize(
    ("spec", "source", "to", "code", "says"),
    [
        (GOLDEN, "client", "httpbin.org:80", 0, "egress|http: out of the mesh"),
        (GOLDEN, "client", "evil.example.net:80", 1, "403"),
        (GOLDEN, "client", "cdn.githubusercontent.com:443", 0, "egress|tls: out of the mesh"),
        (GOLDEN, "client", "other.example.net:443", 1, "deny chain"),
        (GOLDEN, "web", "203.0.113.9:5432", 0, "addresses 198.51.100.7/32, 203.0.113.0/24"),
        (GOLDEN, "web", "10.0.0.9:5432", 1, "deny chain"),
        (PASSTHROUGH, "client", "evil.example.net:80", 0, "egress|passthrough"),
        (PASSTHROUGH, "web", "anything.example.net:9999", 0, "egress|passthrough"),
    ],
)
def test_explain_follows_a_call_out_of_the_mesh(
    spec: Path, source: str, to: str, code: int, says: str
) -> None:
    exit_code, printed = run_cli(f"explain {spec} --from shop/{source} --to {to}")
    assert (exit_code, says in printed) == (code, True), printed
