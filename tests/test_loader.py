"""The strict spec loader and the spec file reader: shapes, types, defaults and problem codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.model import (
    AccessMode,
    HeaderMatch,
    Identity,
    LogLevel,
    MeshSpec,
    MtlsMode,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
    ProbeAction,
    ProbeKind,
    Protocol,
    ProxyPorts,
    ServiceRef,
    SplitBackend,
    WorkloadKind,
)
from mesh_components.model.loader import load_spec
from mesh_components.pipeline import specfile
from mesh_components.pipeline.specfile import read_spec

BOOKSTORE = Path(__file__).resolve().parent.parent / "examples" / "bookstore"


def spec(**sections: Any) -> dict[str, Any]:
    """A minimal valid spec, plus the given top-level sections."""
    return {"mesh": {"name": "test"}, **sections}


def service(**fields: Any) -> dict[str, Any]:
    port = {"name": "web", "port": 80}
    return {"name": "web", "namespace": "ns", "ports": [port], **fields}


def workload(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "namespace": "ns", "serviceAccount": "web", **fields}


def policy(**fields: Any) -> dict[str, Any]:
    return {
        "name": "p",
        "namespace": "ns",
        "destination": {"serviceAccount": "web"},
        "sources": [{"serviceAccount": "client"}],
        **fields,
    }


def problems(data: object) -> set[tuple[str, str]]:
    """The (path, code) pairs the loader reports for `data`."""
    with pytest.raises(MeshValidationError) as raised:
        load_spec(data)
    return {(p.path, p.code) for p in raised.value.problems}


@pytest.fixture(scope="module")
def bookstore() -> MeshSpec:
    return read_spec(BOOKSTORE / "mesh.yaml")


# The bookstore example.


def test_bookstore_example_declares_osm_demo_services_and_workloads(bookstore: MeshSpec) -> None:
    assert bookstore.settings.name == "bookstore"
    assert bookstore.settings.access is AccessMode.POLICY
    assert {s.ref for s in bookstore.services} == {
        ServiceRef("bookstore", "bookstore"),
        ServiceRef("bookstore", "bookstore-v1"),
        ServiceRef("bookstore", "bookstore-v2"),
        ServiceRef("bookwarehouse", "bookwarehouse"),
        ServiceRef("bookwarehouse", "mysql"),
    }
    assert {str(w.identity) for w in bookstore.workloads} == {
        "bookbuyer/bookbuyer",
        "bookthief/bookthief",
        "bookstore/bookstore",
        "bookstore/bookstore-v2",
        "bookwarehouse/bookwarehouse",
        "bookwarehouse/mysql",
    }


def test_bookstore_ports_default_to_http_as_in_osm(bookstore: MeshSpec) -> None:
    root = next(s for s in bookstore.services if s.name == "bookstore")
    assert root.selector == (("app", "bookstore"),)
    assert [(p.name, p.port, p.protocol) for p in root.ports] == [
        ("bookstore-port", 14001, Protocol.HTTP)
    ]


def test_mysql_is_a_headless_tcp_service_behind_a_probed_stateful_set(bookstore: MeshSpec) -> None:
    mysql = next(s for s in bookstore.services if s.name == "mysql")
    assert mysql.headless
    assert [(p.name, p.port, p.protocol, p.target_port) for p in mysql.ports] == [
        ("client", 3306, Protocol.TCP, 3306)
    ]
    pods = next(w for w in bookstore.workloads if w.name == "mysql")
    assert pods.kind is WorkloadKind.STATEFUL_SET
    assert [(p.kind, p.action, p.port) for p in pods.probes] == [
        (ProbeKind.READINESS, ProbeAction.TCP, 3306)
    ]


def test_bookstore_split_shares_the_root_fifty_fifty(bookstore: MeshSpec) -> None:
    (split,) = bookstore.splits
    assert split.root_ref == ServiceRef("bookstore", "bookstore")
    assert split.backends == (SplitBackend("bookstore-v1", 50), SplitBackend("bookstore-v2", 50))


def test_bookbuyer_may_get_both_bookstore_identities_on_two_routes(bookstore: MeshSpec) -> None:
    policies = {p.name: p for p in bookstore.policies}
    v1, v2 = policies["bookstore"], policies["bookstore-v2"]
    assert v1.destination == PolicyDestination(identity=Identity("bookstore", "bookstore"))
    assert v2.destination == PolicyDestination(identity=Identity("bookstore", "bookstore-v2"))
    assert v1.sources == v2.sources == (Identity("bookbuyer", "bookbuyer"),)
    assert v1.http_rules == v2.http_rules
    books_bought, buy_a_book = v1.http_rules
    assert books_bought.path == PathMatch(PathMatchKind.REGEX, "/books-bought")
    assert books_bought.methods == ("GET",)
    assert books_bought.headers == (
        HeaderMatch("client-app", "bookbuyer"),
        HeaderMatch("user-agent", ".*-http-client/*.*"),
    )
    assert buy_a_book.path == PathMatch(PathMatchKind.REGEX, ".*a-book.*new")
    assert not v1.tcp


def test_bookwarehouse_and_mysql_open_only_post_and_tcp_3306(bookstore: MeshSpec) -> None:
    policies = {p.name: p for p in bookstore.policies}
    restock = policies["bookstore-access-bookwarehouse"]
    assert restock.sources == (Identity("bookstore", "bookstore"),)
    assert [(r.path, r.methods) for r in restock.http_rules] == [(None, ("POST",))]
    mysql = policies["mysql"]
    assert mysql.sources == (Identity("bookwarehouse", "bookwarehouse"),)
    assert (mysql.tcp, mysql.tcp_ports, mysql.http_rules) == (True, (3306,), ())
    assert mysql.applies_to_tcp(3306)
    assert not mysql.applies_to_http()


def test_bookthief_is_a_source_of_no_policy(bookstore: MeshSpec) -> None:
    sources = {source for p in bookstore.policies for source in p.sources}
    assert Identity("bookthief", "bookthief") not in sources


# Defaults and mapping to the model.


def test_a_minimal_spec_gets_osm_defaults() -> None:
    loaded = load_spec(spec())
    assert loaded.settings.mtls is MtlsMode.STRICT
    assert loaded.settings.access is AccessMode.POLICY
    assert loaded.settings.proxy.uid == 1500
    assert loaded.settings.proxy.ports == ProxyPorts()
    assert loaded.settings.proxy.dns_refresh.millis == 500
    assert (loaded.services, loaded.workloads, loaded.splits, loaded.policies) == ((),) * 4


def test_mesh_and_proxy_settings_are_read() -> None:
    mesh = {
        "name": "m",
        "trustDomain": "example.org",
        "mtls": "permissive",
        "access": "open",
        "proxy": {
            "uid": 1337,
            "logLevel": "debug",
            "ports": {"admin": 9901},
            "dnsRefresh": "250ms",
        },
    }
    settings = load_spec({"mesh": mesh}).settings
    assert settings.proxy.dns_refresh.millis == 250
    assert settings.trust_domain == "example.org"
    assert (settings.mtls, settings.access) == (MtlsMode.PERMISSIVE, AccessMode.OPEN)
    assert (settings.proxy.uid, settings.proxy.log_level) == (1337, LogLevel.DEBUG)
    assert settings.proxy.ports == ProxyPorts(admin=9901)


@pytest.mark.parametrize(
    ("port", "protocol"),
    [
        ({"name": "grpc-api", "protocol": "tcp", "appProtocol": "http2"}, Protocol.TCP),
        ({"name": "tcp-db", "appProtocol": "kubernetes.io/http2"}, Protocol.HTTP2),
        ({"name": "grpc-api", "appProtocol": "mysql"}, Protocol.GRPC),
        ({"name": "tcp-db"}, Protocol.TCP),
        ({"name": "db"}, Protocol.HTTP),
    ],
    ids=["protocol-wins", "app-protocol", "unknown-app-protocol", "name-prefix", "default"],
)
def test_a_port_protocol_is_declared_then_hinted_then_http(
    port: dict[str, Any], protocol: Protocol
) -> None:
    loaded = load_spec(spec(services=[service(ports=[{"port": 80, **port}])]))
    assert loaded.services[0].ports[0].protocol is protocol


def test_a_target_port_may_be_a_number_or_a_container_port_name() -> None:
    ports = [
        {"name": "a", "port": 80, "targetPort": 8080},
        {"name": "b", "port": 81, "targetPort": "web"},
    ]
    loaded = load_spec(spec(services=[service(ports=ports)]))
    assert [p.target for p in loaded.services[0].ports] == [8080, "web"]


def test_methods_are_upper_cased_in_order_and_headers_sorted_by_name() -> None:
    rule = {"methods": ["post", "Get"], "headers": {"x-b": "2", "x-a": "1"}}
    (loaded,) = load_spec(spec(policies=[policy(http=[rule])])).policies
    assert loaded.http_rules[0].methods == ("POST", "GET")
    assert loaded.http_rules[0].headers == (HeaderMatch("x-a", "1"), HeaderMatch("x-b", "2"))


def test_an_empty_tcp_mapping_opens_every_tcp_port() -> None:
    (loaded,) = load_spec(spec(policies=[policy(tcp={})])).policies
    assert (loaded.tcp, loaded.tcp_ports) == (True, ())
    assert loaded.applies_to_tcp(5432)


def test_a_service_destination_and_a_source_namespace_default_to_the_policy_namespace() -> None:
    data = policy(destination={"service": "web"}, sources=[{"serviceAccount": "client"}])
    (loaded,) = load_spec(spec(policies=[data])).policies
    assert loaded.destination == PolicyDestination(service=ServiceRef("ns", "web"))
    assert loaded.sources == (Identity("ns", "client"),)


def test_workload_kind_defaults_to_deployment_and_labels_are_frozen() -> None:
    (loaded,) = load_spec(spec(workloads=[workload(labels={"b": "2", "a": "1"})])).workloads
    assert loaded.kind is WorkloadKind.DEPLOYMENT
    assert loaded.labels == (("a", "1"), ("b", "2"))
    assert loaded.proxy_log_level is None


def test_a_workload_may_set_its_own_proxy_log_level() -> None:
    (loaded,) = load_spec(spec(workloads=[workload(proxyLogLevel="debug")])).workloads
    assert loaded.proxy_log_level is LogLevel.DEBUG


# Problem codes.


def test_an_unknown_key_is_reported_and_the_closest_valid_key_suggested() -> None:
    with pytest.raises(MeshValidationError) as raised:
        load_spec(spec(services=[service(namespce="ns")]))
    (problem,) = raised.value.problems
    assert (problem.path, problem.code) == ("services[web].namespce", "spec-unknown-key")
    assert "'namespace'" in problem.fix


def test_an_unknown_top_level_key_is_reported() -> None:
    assert problems(spec(servics=[])) == {("servics", "spec-unknown-key")}


def test_a_missing_required_field_is_reported() -> None:
    assert problems({"mesh": {}}) == {("mesh.name", "spec-missing-field")}
    assert problems({}) == {("mesh", "spec-missing-field")}


def with_port(**fields: Any) -> dict[str, Any]:
    """A spec whose one service has one port, `services[web].ports[web]`."""
    return spec(services=[service(ports=[{"name": "web", "port": 80, **fields}])])


def with_probe(**fields: Any) -> dict[str, Any]:
    """A spec whose one workload has one probe, `workloads[web].probes[0]`."""
    probe = {"kind": "readiness", "container": "c", "action": "tcp", "port": 1, **fields}
    return spec(workloads=[workload(probes=[probe])])


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param(with_port(port="80"), "services[web].ports[web].port", id="string-for-int"),
        pytest.param(with_port(port=True), "services[web].ports[web].port", id="bool-for-int"),
        pytest.param(
            with_port(targetPort=8.5), "services[web].ports[web].targetPort", id="float-port"
        ),
        pytest.param(with_probe(https="no"), "workloads[web].probes[0].https", id="str-for-bool"),
        pytest.param(
            spec(services=[service(selector=["app"])]), "services[web].selector", id="list-for-map"
        ),
        pytest.param(spec(services={"web": {}}), "services", id="mapping-for-list"),
        pytest.param(
            spec(services=[service(selector={"version": 1.0})]),
            "services[web].selector.version",
            id="float-label",
        ),
        pytest.param(
            spec(workloads=[workload(labels={"on": True})]),
            "workloads[web].labels.on",
            id="bool-label",
        ),
        pytest.param(spec(policies=[policy(tcp=None)]), "policies[p].tcp", id="null"),
        pytest.param(
            spec(policies=[policy(tcp={"ports": ["3306"]})]),
            "policies[p].tcp.ports[0]",
            id="string-in-port-list",
        ),
        pytest.param(spec(services=["web"]), "services[0]", id="string-entry"),
        pytest.param([], "(top level)", id="top-level-list"),
    ],
)
def test_a_value_of_the_wrong_type_is_reported(data: object, path: str) -> None:
    assert problems(data) == {(path, "spec-wrong-type")}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param({"mesh": {"name": "m", "mtls": "STRICT"}}, "mesh.mtls", id="mtls"),
        pytest.param({"mesh": {"name": "m", "access": "deny"}}, "mesh.access", id="access"),
        pytest.param(
            {"mesh": {"name": "m", "proxy": {"logLevel": "verbose"}}},
            "mesh.proxy.logLevel",
            id="log-level",
        ),
        pytest.param(with_port(protocol="udp"), "services[web].ports[web].protocol", id="protocol"),
        pytest.param(
            spec(workloads=[workload(kind="Statefulset")]), "workloads[web].kind", id="kind"
        ),
        pytest.param(with_probe(kind="ready"), "workloads[web].probes[0].kind", id="probe-kind"),
        pytest.param(
            with_probe(action="exec"), "workloads[web].probes[0].action", id="probe-action"
        ),
        pytest.param(
            spec(workloads=[workload(proxyLogLevel="verbose")]),
            "workloads[web].proxyLogLevel",
            id="proxy-log-level",
        ),
        pytest.param(
            spec(policies=[policy(http=[{"path": {"exact": "/", "prefix": "/"}}])]),
            "policies[p].http[0].path",
            id="two-path-matches",
        ),
        pytest.param(
            spec(policies=[policy(http=[{"path": {}}])]),
            "policies[p].http[0].path",
            id="no-path-match",
        ),
        pytest.param(
            spec(policies=[policy(destination={"service": "a", "serviceAccount": "b"})]),
            "policies[p].destination",
            id="two-destinations",
        ),
        pytest.param(
            spec(policies=[policy(destination={})]), "policies[p].destination", id="no-destination"
        ),
    ],
)
def test_a_value_outside_its_enum_is_reported(data: object, path: str) -> None:
    assert problems(data) == {(path, "spec-invalid-value")}


def test_a_workload_without_a_service_account_is_reported() -> None:
    data = spec(workloads=[{"name": "web", "namespace": "ns"}])
    assert problems(data) == {("workloads[web].serviceAccount", "workload-no-service-account")}


def test_every_problem_in_one_input_is_reported_at_once() -> None:
    data = {
        "mesh": {"name": "m", "mtls": "strct"},
        "services": [
            service(ports=[{"name": "web", "port": "80"}]),
            {"namespace": "ns", "ports": []},
        ],
        "workloads": [{"name": "w", "namespace": "ns", "kind": "Deploymnet"}],
        "splits": [
            {"name": "s", "namespace": "ns", "service": "web", "backends": [{"service": "a"}]}
        ],
        "policies": [policy(sources=[{"namespace": "ns"}], colour="red")],
    }
    assert problems(data) == {
        ("mesh.mtls", "spec-invalid-value"),
        ("services[web].ports[web].port", "spec-wrong-type"),
        ("services[1].name", "spec-missing-field"),
        ("workloads[w].kind", "spec-invalid-value"),
        ("workloads[w].serviceAccount", "workload-no-service-account"),
        ("splits[s].backends[0].weight", "spec-missing-field"),
        ("policies[p].sources[0].serviceAccount", "spec-missing-field"),
        ("policies[p].colour", "spec-unknown-key"),
    }


def test_an_entry_with_a_broken_required_field_still_has_its_other_fields_checked() -> None:
    data = spec(services=[{"namespace": "ns", "headless": "yes", "ports": [{"name": "web"}]}])
    assert problems(data) == {
        ("services[0].name", "spec-missing-field"),
        ("services[0].headless", "spec-wrong-type"),
        ("services[0].ports[web].port", "spec-missing-field"),
    }


# Reading spec files.


def test_read_spec_on_a_directory_finds_mesh_yaml(bookstore: MeshSpec) -> None:
    assert read_spec(BOOKSTORE) == bookstore
    assert read_spec(str(BOOKSTORE)) == bookstore


def test_yaml_anchors_do_not_alias_the_loaded_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mesh.yaml").write_text(
        """
mesh: {name: m}
services:
  - {name: web, namespace: ns, selector: &web {app: web}, ports: [{name: http, port: 80}]}
workloads:
  - {name: web, namespace: ns, serviceAccount: web, labels: *web}
"""
    )
    seen: list[Any] = []

    def spy(data: Any) -> MeshSpec:
        seen.append(data)
        return load_spec(data)

    monkeypatch.setattr(specfile, "load_spec", spy)
    loaded = read_spec(tmp_path)
    (data,) = seen
    assert data["services"][0]["selector"] is not data["workloads"][0]["labels"]
    assert loaded.services[0].selector == loaded.workloads[0].labels == (("app", "web"),)


def test_yaml_that_does_not_parse_is_unreadable_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "mesh.yaml"
    file.write_text("mesh:\n  name: [m\n")
    with pytest.raises(MeshValidationError) as raised:
        read_spec(file)
    (problem,) = raised.value.problems
    assert (problem.path, problem.code) == (str(file), "file-malformed")
    assert "line 2" in problem.found


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(MeshValidationError) as raised:
        read_spec(tmp_path)
    assert [(p.path, p.code) for p in raised.value.problems] == [
        (str(tmp_path / "mesh.yaml"), "file-unreadable")
    ]


def test_a_recursive_alias_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text("mesh: &loop {name: m, proxy: *loop}\n")
    with pytest.raises(MeshValidationError) as raised:
        read_spec(tmp_path)
    assert raised.value.codes == ("file-malformed",)


@pytest.mark.parametrize("text", ["", "# nothing\n", "- mesh\n", "just text\n"])
def test_an_empty_or_non_mapping_file_is_the_wrong_type(tmp_path: Path, text: str) -> None:
    (tmp_path / "mesh.yaml").write_text(text)
    with pytest.raises(MeshValidationError) as raised:
        read_spec(tmp_path)
    assert [(p.path, p.code) for p in raised.value.problems] == [
        (str(tmp_path / "mesh.yaml"), "spec-wrong-type")
    ]


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ({"http": []}, "policies[p].http"),
        ({"tcp": {"ports": []}}, "policies[p].tcp.ports"),
    ],
)
def test_an_empty_rule_list_is_refused_because_absence_would_allow_everything(
    rules: dict[str, Any], path: str
) -> None:
    data = spec(policies=[policy(name="p", **rules)])
    assert (path, "spec-invalid-value") in problems(data)


def test_a_yaml_integer_label_key_stays_an_error_after_unaliasing(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(
        "mesh: {name: m}\nworkloads:\n"
        "  - {name: w, namespace: n, serviceAccount: w, labels: {1: x}}\n"
    )
    with pytest.raises(MeshValidationError) as excinfo:
        read_spec(tmp_path)
    assert "spec-wrong-type" in excinfo.value.codes


def test_a_key_given_twice_in_a_spec_file_is_a_problem_not_the_last_one_silently(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text("mesh:\n  name: shop\n  mtls: strict\n  mtls: permissive\n")
    with pytest.raises(MeshValidationError) as raised:
        read_spec(spec)
    (problem,) = raised.value.problems
    assert problem.code == "file-duplicate-key"
    assert "'mtls' twice, on lines 3 and 4" in problem.found


def test_a_key_merged_in_with_yaml_merge_may_still_be_overridden(tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(
        "services:\n"
        "  - &api {name: api, namespace: shop, selector: {app: api},\n"
        "          ports: [{name: http, port: 80}]}\n"
        "  - <<: *api\n"
        "    name: api-v2\n"
        "mesh: {name: shop}\n"
    )
    assert [s.name for s in read_spec(spec).services] == ["api", "api-v2"]
