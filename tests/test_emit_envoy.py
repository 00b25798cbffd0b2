"""emit/envoy: hand-built plans in, Envoy dicts out. Key facts are asserted on the dicts, every
static bootstrap passes the real `envoy --mode validate`, and one file-based config runs for
real from a kubelet-style volume.
"""

from __future__ import annotations

import dataclasses
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh_components import names
from mesh_components.compiler.plan import (
    AccessRule,
    Destination,
    InboundPort,
    OutboundPort,
    RoutePolicy,
    Upstream,
    WeightedUpstream,
    WorkloadPlan,
)
from mesh_components.compiler.resilience import cluster_policy
from mesh_components.emit.envoy import EnvoyConfig, InconsistentConfigError, emit_workload, routes
from mesh_components.emit.envoy import types as t
from mesh_components.emit.envoy.consistency import check
from mesh_components.model import (
    HeaderMatch,
    HttpRule,
    Identity,
    MeshSettings,
    MtlsMode,
    PathMatch,
    PathMatchKind,
    Probe,
    ProbeAction,
    ProbeKind,
    Protocol,
    ProxyPorts,
    ProxySettings,
    Retries,
    ServicePort,
    ServiceRef,
    WorkloadRef,
)
from mesh_components.model.destination import effective_timeout
from mesh_components.names import VolumePaths
from tests.envoy_tool import (
    admin_json,
    free_ports,
    http_get,
    make_certificates,
    running_envoy,
    validate_config,
    write_volume,
)

Json = dict[str, Any]
TRUST_DOMAIN = "cluster.local"
SETTINGS = MeshSettings(name="test")
PERMISSIVE = dataclasses.replace(SETTINGS, mtls=MtlsMode.PERMISSIVE)
BUYER = Identity("bookbuyer", "bookbuyer")
THIEF = Identity("bookthief", "bookthief")
STORE = Identity("bookstore", "bookstore")


# Plans, built by hand.


def spiffe(identity: Identity) -> str:
    return identity.spiffe_id(TRUST_DOMAIN)


def fqdn(service: ServiceRef) -> str:
    return names.service_fqdn(service, TRUST_DOMAIN)


def upstream(
    name: str,
    port: int = 8080,
    *,
    protocol: Protocol = Protocol.HTTP,
    headless: bool = False,
    target_port: int = 14001,
    namespace: str = "bookstore",
) -> Upstream:
    service = ServiceRef(namespace, name)
    return Upstream(
        service=service,
        port=port,
        target_port=target_port,
        protocol=protocol,
        address="" if headless else names.companion_address(service, TRUST_DOMAIN),
        sni=fqdn(service),
        peer_identities=(spiffe(Identity(namespace, name)),),
        policy=cluster_policy((), service, ServicePort("p", port, protocol)),
    )


def destination(root: str, *backends: tuple[Upstream, int], http: bool = True) -> Destination:
    service = ServiceRef(backends[0][0].service.namespace, root)
    domains = (root, fqdn(service), f"{fqdn(service)}:8080") if http else ()
    weighted = tuple(WeightedUpstream(u, w) for u, w in backends)
    protocol = Protocol.HTTP if http else Protocol.TCP
    policy = RoutePolicy(effective_timeout(None, protocol), None, Retries())
    return Destination(service=service, domains=domains, backends=weighted, policy=policy)


SPLIT = OutboundPort(
    port=8080,
    protocol=Protocol.HTTP,
    destinations=(
        destination(
            "bookstore",
            (upstream("bookstore-v1"), 50),
            (upstream("bookstore-v2"), 50),
            (upstream("bookstore-v3"), 0),
        ),
        destination("bookwarehouse", (upstream("bookwarehouse", namespace="bookwarehouse"), 1)),
    ),
)
MYSQL = upstream("mysql", 3306, protocol=Protocol.TCP, headless=True, target_port=3306)
HEADLESS_TCP = OutboundPort(3306, Protocol.TCP, (destination("mysql", (MYSQL, 1), http=False),))
REDIS = upstream("redis", 6379, protocol=Protocol.TCP, target_port=6379)
TCP = OutboundPort(6379, Protocol.TCP, (destination("redis", (REDIS, 1), http=False),))
GRPC_UPSTREAM = upstream("orders", 9090, protocol=Protocol.GRPC, target_port=9091)
GRPC = OutboundPort(9090, Protocol.HTTP, (destination("orders", (GRPC_UPSTREAM, 1)),))

RULES = (
    AccessRule(
        name="buyer-reads-books",
        principals=(spiffe(BUYER),),
        http=HttpRule(
            path=PathMatch(PathMatchKind.PREFIX, "/books"),
            methods=("GET", "HEAD"),
            headers=(HeaderMatch("x-tenant", "acme|globex"),),
        ),
    ),
    AccessRule(
        name="anyone-buys",
        principals=(spiffe(BUYER), spiffe(THIEF)),
        http=HttpRule(path=PathMatch(PathMatchKind.EXACT, "/buy"), methods=("POST",)),
    ),
    AccessRule(
        name="health",
        principals=(spiffe(THIEF),),
        http=HttpRule(path=PathMatch(PathMatchKind.REGEX, "/health(z)?")),
    ),
    AccessRule(name="admins", principals=(spiffe(STORE),)),
)


def inbound(
    name: str = "bookstore",
    port: int = 8080,
    *,
    target_port: int = 14001,
    protocol: Protocol = Protocol.HTTP,
    access: tuple[AccessRule, ...] | None = None,
) -> InboundPort:
    service = ServiceRef("bookstore", name)
    return InboundPort(service, port, target_port, protocol, fqdn(service), access)


def plan(
    *,
    outbound: tuple[OutboundPort, ...] = (),
    inbound_ports: tuple[InboundPort, ...] = (),
    probes: tuple[Probe, ...] = (),
    identity: Identity = BUYER,
) -> WorkloadPlan:
    return WorkloadPlan(
        workload=WorkloadRef(identity.namespace, identity.service_account),
        identity=identity,
        spiffe_id=spiffe(identity),
        inbound=inbound_ports,
        outbound=outbound,
        probes=probes,
    )


CLIENT = plan(outbound=(SPLIT, TCP, HEADLESS_TCP, GRPC))
SERVER = plan(
    identity=STORE,
    inbound_ports=(
        inbound(access=RULES),
        inbound("bookstore-v1", access=RULES),
        inbound("bookstore-db", 5432, target_port=5432, protocol=Protocol.TCP, access=RULES[3:]),
        inbound("orders", 9090, target_port=9091, protocol=Protocol.GRPC),
    ),
    probes=(Probe(ProbeKind.READINESS, "app", ProbeAction.HTTP, 14001, "/ready"),),
)
OPEN_SERVER = plan(identity=STORE, inbound_ports=(inbound(), inbound("bookstore-v1")))
DENY_ALL_SERVER = plan(identity=STORE, inbound_ports=(inbound(access=()),))
PROBED = plan(
    identity=STORE,
    probes=(
        Probe(ProbeKind.LIVENESS, "app", ProbeAction.HTTP, 14001, "/healthz"),
        Probe(ProbeKind.LIVENESS, "sidecar-app", ProbeAction.HTTP, 14002, "/live?deep=1"),
        Probe(ProbeKind.LIVENESS, "db", ProbeAction.TCP, 5432),
        Probe(ProbeKind.READINESS, "app", ProbeAction.HTTP, 14001, "/ready"),
        Probe(ProbeKind.READINESS, "grpc-app", ProbeAction.GRPC, 14003),
        Probe(ProbeKind.READINESS, "db", ProbeAction.TCP, 5432),
        Probe(ProbeKind.STARTUP, "tls-app", ProbeAction.HTTP, 14004, "/started", https=True),
        Probe(ProbeKind.STARTUP, "app", ProbeAction.TCP, 14001),
    ),
)
ISOLATED = plan()
PLANS = {
    "client": (CLIENT, SETTINGS),
    "server": (SERVER, SETTINGS),
    "server-permissive": (SERVER, PERMISSIVE),
    "open-server-permissive": (OPEN_SERVER, PERMISSIVE),
    "deny-all-server": (DENY_ALL_SERVER, SETTINGS),
    "probed": (PROBED, SETTINGS),
    "isolated": (ISOLATED, SETTINGS),
}


# Lookups in emitted config.


def by_name(resources: tuple[Json, ...] | list[Json], name: str) -> Json:
    matches = [r for r in resources if r["name"] == name]
    assert len(matches) == 1, f"{name!r} in {[r['name'] for r in resources]}"
    return matches[0]


def listener(config: EnvoyConfig, name: str) -> Json:
    return by_name(config.listeners, name)


def cluster(config: EnvoyConfig, name: str) -> Json:
    return by_name(config.clusters, name)


def chain(config: EnvoyConfig, listener_name: str, chain_name: str) -> Json:
    return by_name(listener(config, listener_name)["filter_chains"], chain_name)


def typed_config(filters: list[Json], name: str) -> Json:
    config: Json = by_name(filters, name)["typed_config"]
    return config


def http_filters(chain_: Json) -> list[Json]:
    hcm = typed_config(chain_["filters"], t.HTTP_CONNECTION_MANAGER.name)
    return list(hcm["http_filters"])


def route_config(config: EnvoyConfig, name: str) -> Json:
    return by_name(config.route_configs, name)


def emit(key: str) -> EnvoyConfig:
    return emit_workload(*PLANS[key])


# Outbound.


def test_outbound_listener_has_original_dst_and_no_inspector() -> None:
    outbound = listener(emit("client"), names.OUTBOUND_LISTENER)
    assert [f["name"] for f in outbound["listener_filters"]] == [t.ORIGINAL_DST.name]
    assert "use_original_dst" not in outbound
    assert outbound["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 15001}


def test_outbound_chains_match_the_destination_port_only() -> None:
    outbound = listener(emit("client"), names.OUTBOUND_LISTENER)
    matches = {c["name"]: c["filter_chain_match"] for c in outbound["filter_chains"]}
    assert matches == {
        names.outbound_chain(port): {"destination_port": port} for port in (8080, 6379, 3306, 9090)
    }


def test_http_split_keeps_the_declared_weights_including_zero() -> None:
    routes = route_config(emit("client"), names.outbound_route_config(8080))
    host = by_name(routes["virtual_hosts"], "bookstore/bookstore")
    assert host["domains"] == [
        "bookstore",
        fqdn(ServiceRef("bookstore", "bookstore")),
        "bookstore.bookstore.svc.cluster.local:8080",
    ]
    [route] = host["routes"]
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "bookstore/bookstore-v1|8080", "weight": 50},
        {"name": "bookstore/bookstore-v2|8080", "weight": 50},
        {"name": "bookstore/bookstore-v3|8080", "weight": 0},
    ]


def test_a_single_backend_is_routed_to_its_cluster_directly() -> None:
    routes = route_config(emit("client"), names.outbound_route_config(8080))
    host = by_name(routes["virtual_hosts"], "bookwarehouse/bookwarehouse")
    route = host["routes"][0]["route"]
    assert route["cluster"] == "bookwarehouse/bookwarehouse|8080"
    assert "weighted_clusters" not in route


def test_an_http_route_gets_the_default_timeout_and_safe_retries_to_another_pod() -> None:
    routes = route_config(emit("client"), names.outbound_route_config(8080))
    route = by_name(routes["virtual_hosts"], "bookwarehouse/bookwarehouse")["routes"][0]["route"]
    assert route["timeout"] == "15s"
    retry = route["retry_policy"]
    assert retry["retry_on"] == "connect-failure,refused-stream,reset-before-request"
    assert retry["num_retries"] == 2
    assert retry["retry_host_predicate"][0]["name"] == t.PREVIOUS_HOSTS.name


def test_unknown_hosts_get_an_explicit_403() -> None:
    routes = route_config(emit("client"), names.outbound_route_config(8080))
    catch_all = routes["virtual_hosts"][-1]
    assert catch_all["domains"] == ["*"]
    response = catch_all["routes"][0]["direct_response"]
    assert response["status"] == 403
    assert "not a mesh destination" in response["body"]["inline_string"]


def test_route_configs_are_inline_and_listed() -> None:
    config = emit("client")
    http_chain = chain(config, names.OUTBOUND_LISTENER, names.outbound_chain(8080))
    hcm = typed_config(http_chain["filters"], t.HTTP_CONNECTION_MANAGER.name)
    assert hcm["route_config"] == route_config(config, names.outbound_route_config(8080))
    assert hcm["codec_type"] == "AUTO"
    assert "rds" not in hcm
    assert [f["name"] for f in hcm["http_filters"]] == [t.ROUTER.name]


def test_tcp_destination_is_proxied_to_its_cluster() -> None:
    tcp_chain = chain(emit("client"), names.OUTBOUND_LISTENER, names.outbound_chain(6379))
    proxy = typed_config(tcp_chain["filters"], t.TCP_PROXY.name)
    assert proxy["cluster"] == "bookstore/redis|6379"
    assert proxy["stat_prefix"] == "outbound_6379"


def test_everything_else_is_denied_by_rbac_on_the_default_chain() -> None:
    config = emit("client")
    default = listener(config, names.OUTBOUND_LISTENER)["default_filter_chain"]
    assert [f["name"] for f in default["filters"]] == [t.NETWORK_RBAC.name, t.TCP_PROXY.name]
    assert typed_config(default["filters"], t.NETWORK_RBAC.name)["rules"] == {"action": "ALLOW"}
    assert typed_config(default["filters"], t.TCP_PROXY.name)["cluster"] == names.DENY_CLUSTER
    deny = cluster(config, names.DENY_CLUSTER)
    assert deny["type"] == "STATIC"
    assert "endpoints" not in deny["load_assignment"]


def test_a_workload_that_may_reach_nothing_has_no_outbound_listener() -> None:
    listeners = [listener_["name"] for listener_ in emit("isolated").listeners]
    assert listeners == [names.PROMETHEUS_LISTENER]


# Clusters and upstream TLS.


def test_clusterip_upstream_resolves_the_companion_by_strict_dns() -> None:
    redis = cluster(emit("client"), "bookstore/redis|6379")
    assert "type" not in redis  # the DNS cluster extension replaces STRICT_DNS's deprecated fields
    dns = redis["cluster_type"]
    assert dns["name"] == t.DNS_CLUSTER.name
    # Every 500 ms (plus up to 100 ms), whatever the TTL or an empty answer: issue 18.
    assert dns["typed_config"]["respect_dns_ttl"] is False
    assert dns["typed_config"]["dns_refresh_rate"] == "0.500s"
    assert dns["typed_config"]["dns_jitter"] == "0.100s"
    assert dns["typed_config"]["dns_lookup_family"] == "V4_PREFERRED"
    [endpoint] = redis["load_assignment"]["endpoints"][0]["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    assert address == {"address": "redis-mesh.bookstore.svc.cluster.local.", "port_value": 6379}
    assert redis["connect_timeout"] == "5s"


def test_headless_upstream_keeps_the_original_destination() -> None:
    mysql = cluster(emit("client"), "bookstore/mysql|3306")
    assert mysql["type"] == "ORIGINAL_DST"
    assert mysql["lb_policy"] == "CLUSTER_PROVIDED"
    assert "load_assignment" not in mysql


def test_upstream_tls_sends_the_sni_and_checks_the_peer_san() -> None:
    mysql = cluster(emit("client"), "bookstore/mysql|3306")
    tls = mysql["transport_socket"]["typed_config"]
    assert tls["@type"] == t.UPSTREAM_TLS.url
    assert tls["sni"] == "mysql.bookstore.svc.cluster.local"
    common = tls["common_tls_context"]
    assert [s["name"] for s in common["tls_certificate_sds_secret_configs"]] == [
        names.IDENTITY_CERT_SECRET
    ]
    validation = common["combined_validation_context"]
    assert validation["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"exact": "spiffe://cluster.local/ns/bookstore/sa/mysql"}}
    ]
    assert validation["validation_context_sds_secret_config"]["name"] == names.MESH_CA_SECRET


def test_grpc_upstream_and_grpc_local_port_speak_http2() -> None:
    client = emit("client")
    options = cluster(client, "bookstore/orders|9090")["typed_extension_protocol_options"]
    http = options[t.HTTP_PROTOCOL_OPTIONS_KEY]
    assert http == {
        "@type": t.HTTP_PROTOCOL_OPTIONS,
        "common_http_protocol_options": {"idle_timeout": "3600s"},
        "explicit_http_config": {"http2_protocol_options": {}},
    }
    assert "typed_extension_protocol_options" not in cluster(client, "bookstore/redis|6379")
    server = emit("server")
    assert "typed_extension_protocol_options" in cluster(server, names.local_cluster(9091))
    assert "typed_extension_protocol_options" not in cluster(server, names.local_cluster(14001))


def test_local_clusters_point_at_the_app_on_loopback() -> None:
    server = emit("server")
    local = cluster(server, names.local_cluster(5432))
    assert local["type"] == "STATIC"
    endpoint = local["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 5432}
    expected = {names.local_cluster(p) for p in (5432, 9091, 14001)}
    assert expected <= {c["name"] for c in server.clusters}


# Inbound.


def test_inbound_chains_require_mtls_for_the_service_sni() -> None:
    config = emit("server")
    inbound_listener = listener(config, names.INBOUND_LISTENER)
    assert [f["name"] for f in inbound_listener["listener_filters"]] == [
        t.ORIGINAL_DST.name,
        t.TLS_INSPECTOR.name,
    ]
    v1 = chain(config, names.INBOUND_LISTENER, "inbound|bookstore/bookstore-v1|8080")
    assert v1["filter_chain_match"] == {
        "destination_port": 14001,
        "transport_protocol": "tls",
        "server_names": ["bookstore-v1.bookstore.svc.cluster.local"],
    }
    tls = v1["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True
    validation = tls["common_tls_context"]["combined_validation_context"]
    assert validation["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}
    ]


def test_inbound_http_forwards_the_client_identity_to_the_local_app() -> None:
    config = emit("server")
    http_chain = chain(config, names.INBOUND_LISTENER, "inbound|bookstore/bookstore|8080")
    hcm = typed_config(http_chain["filters"], t.HTTP_CONNECTION_MANAGER.name)
    assert hcm["forward_client_cert_details"] == "SANITIZE_SET"
    assert hcm["set_current_client_cert_details"] == {"uri": True}
    [host] = hcm["route_config"]["virtual_hosts"]
    assert host["domains"] == ["*"]
    assert host["routes"][0]["route"] == {"cluster": names.local_cluster(14001), "timeout": "0s"}


def test_rbac_has_one_policy_per_access_rule() -> None:
    http_chain = chain(emit("server"), names.INBOUND_LISTENER, "inbound|bookstore/bookstore|8080")
    filters = http_filters(http_chain)
    assert [f["name"] for f in filters] == [t.HTTP_RBAC.name, t.ROUTER.name]
    rules = filters[0]["typed_config"]["rules"]
    assert rules["action"] == "ALLOW"
    assert list(rules["policies"]) == ["admins", "anyone-buys", "buyer-reads-books", "health"]
    anyone = rules["policies"]["anyone-buys"]
    assert anyone["principals"] == [
        {"authenticated": {"principal_name": {"exact": spiffe(BUYER)}}},
        {"authenticated": {"principal_name": {"exact": spiffe(THIEF)}}},
    ]
    assert rules["policies"]["admins"]["permissions"] == [{"any": True}]


def test_rbac_permissions_follow_the_http_rule() -> None:
    http_chain = chain(emit("server"), names.INBOUND_LISTENER, "inbound|bookstore/bookstore|8080")
    policies = http_filters(http_chain)[0]["typed_config"]["rules"]["policies"]
    [reads] = policies["buyer-reads-books"]["permissions"]
    assert reads["and_rules"]["rules"] == [
        {"url_path": {"path": {"prefix": "/books"}}},
        {
            "or_rules": {
                "rules": [
                    {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                    {"header": {"name": ":method", "string_match": {"exact": "HEAD"}}},
                ]
            }
        },
        {"header": {"name": "x-tenant", "string_match": {"safe_regex": {"regex": "acme|globex"}}}},
    ]
    [buys] = policies["anyone-buys"]["permissions"]
    assert buys["and_rules"]["rules"] == [
        {"url_path": {"path": {"exact": "/buy"}}},
        {"header": {"name": ":method", "string_match": {"exact": "POST"}}},
    ]
    [health] = policies["health"]["permissions"]
    assert health["and_rules"]["rules"] == [
        {"url_path": {"path": {"safe_regex": {"regex": "/health(z)?"}}}}
    ]


def test_empty_access_denies_everything_and_no_access_list_allows_everyone() -> None:
    denied = chain(
        emit("deny-all-server"), names.INBOUND_LISTENER, "inbound|bookstore/bookstore|8080"
    )
    assert http_filters(denied)[0]["typed_config"]["rules"] == {"action": "ALLOW"}
    opened = chain(
        emit("open-server-permissive"), names.INBOUND_LISTENER, "inbound|bookstore/bookstore|8080"
    )
    assert [f["name"] for f in http_filters(opened)] == [t.ROUTER.name]


def test_inbound_tcp_checks_rbac_then_proxies_to_the_app() -> None:
    tcp_chain = chain(emit("server"), names.INBOUND_LISTENER, "inbound|bookstore/bookstore-db|5432")
    assert [f["name"] for f in tcp_chain["filters"]] == [t.NETWORK_RBAC.name, t.TCP_PROXY.name]
    rbac = typed_config(tcp_chain["filters"], t.NETWORK_RBAC.name)
    assert list(rbac["rules"]["policies"]) == ["admins"]
    assert rbac["stat_prefix"] == "inbound_bookstore_bookstore-db_5432"
    proxy = typed_config(tcp_chain["filters"], t.TCP_PROXY.name)
    assert proxy["cluster"] == names.local_cluster(5432)


def test_plaintext_chains_exist_only_in_permissive_mode() -> None:
    def plaintext(config: EnvoyConfig) -> list[str]:
        chains = listener(config, names.INBOUND_LISTENER)["filter_chains"]
        return [
            c["name"]
            for c in chains
            if c["filter_chain_match"].get("transport_protocol") == "raw_buffer"
        ]

    assert plaintext(emit("server")) == []
    # bookstore and bookstore-v1 share target port 14001: one plaintext chain for both.
    # bookstore-db is TCP with access rules: plaintext could not be refused before a
    # server-first app speaks, so it gets no plaintext chain.
    assert plaintext(emit("server-permissive")) == [
        "inbound|bookstore/orders|9090|plaintext",
        "inbound|bookstore/bookstore|8080|plaintext",
    ]


def test_plaintext_chain_keeps_rbac_so_policy_mode_denies_it() -> None:
    config = emit("server-permissive")
    plain = chain(config, names.INBOUND_LISTENER, "inbound|bookstore/bookstore|8080|plaintext")
    assert plain["filter_chain_match"] == {
        "destination_port": 14001,
        "transport_protocol": "raw_buffer",
    }
    assert "transport_socket" not in plain
    assert [f["name"] for f in http_filters(plain)] == [t.HTTP_RBAC.name, t.ROUTER.name]


def test_a_workload_with_no_inbound_ports_has_no_inbound_listener() -> None:
    assert names.INBOUND_LISTENER not in {
        listener_["name"] for listener_ in emit("client").listeners
    }


# Probes and metrics.


def _probe_route(path: str, port: int, rewrite: str) -> Json:
    exact = {"name": ":path", "string_match": {"exact": path}}
    route = {"cluster": names.local_cluster(port), "prefix_rewrite": rewrite}
    return {"match": {"path": path, "headers": [exact]}, "route": route}


def test_an_http_probe_is_reached_at_its_container_path_even_when_alone() -> None:
    config = emit("server")
    routes = route_config(config, names.probe_route_config("readiness"))
    route, other = routes["virtual_hosts"][0]["routes"]
    assert route == _probe_route("/app", 14001, "/ready")
    assert other["match"] == {"prefix": "/"}
    assert other["direct_response"]["status"] == 404
    port = listener(config, names.probe_listener("readiness"))["address"]
    assert port["socket_address"] == {"address": "0.0.0.0", "port_value": 15902}


def test_several_probes_of_a_kind_are_told_apart_by_container() -> None:
    routes = route_config(emit("probed"), names.probe_route_config("liveness"))
    assert routes["virtual_hosts"][0]["routes"][:-1] == [
        _probe_route("/app", 14001, "/healthz"),
        _probe_route("/sidecar-app", 14002, "/live?deep=1"),
    ]


def test_a_grpc_probe_reaches_the_health_service_over_http2() -> None:
    config = emit("probed")
    routes = route_config(config, names.probe_route_config("readiness"))["virtual_hosts"][0]
    grpc = {"match": {"prefix": "/grpc.health.v1.Health/"}, "route": {"cluster": "local|14003"}}
    assert routes["routes"][:-1] == [_probe_route("/app", 14001, "/ready"), grpc]
    options = cluster(config, "local|14003")["typed_extension_protocol_options"]
    http2 = options[t.HTTP_PROTOCOL_OPTIONS_KEY]["explicit_http_config"]
    assert http2 == {"http2_protocol_options": {}}


def test_an_https_probe_is_answered_at_its_container_path_and_sent_on_over_tls() -> None:
    """No tcp_proxy: the probe port is outside mTLS, so only the probe's own request passes."""
    config = emit("probed")
    startup = listener(config, names.probe_listener("startup"))
    assert startup["address"]["socket_address"]["port_value"] == 15903
    [chain_] = startup["filter_chains"]
    assert [f["name"] for f in chain_["filters"]] == [t.HTTP_CONNECTION_MANAGER.name]
    [host] = route_config(config, names.probe_route_config("startup"))["virtual_hosts"]
    route, other = host["routes"]
    exact = {"name": ":path", "string_match": {"exact": "/tls-app"}}
    assert route == {
        "match": {"path": "/tls-app", "headers": [exact]},
        "route": {"cluster": names.local_tls_cluster(14004), "prefix_rewrite": "/started"},
    }
    assert other["direct_response"]["status"] == 404
    tls = cluster(config, "local-tls|14004")
    endpoint = tls["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 14004}
    socket_ = tls["transport_socket"]
    assert socket_["typed_config"]["@type"] == t.UPSTREAM_TLS.url
    # Like the kubelet's own HTTPS probe: no certificate of ours, none checked, no SNI.
    assert "sni" not in socket_["typed_config"]
    assert socket_["typed_config"]["common_tls_context"] == {
        "tls_params": {
            "tls_minimum_protocol_version": "TLSv1_2",
            "tls_maximum_protocol_version": "TLSv1_3",
        }
    }
    assert names.local_cluster(14004) not in {c["name"] for c in config.clusters}


def test_tcp_probes_are_answered_by_health_check_filters_on_the_health_port() -> None:
    config = emit("probed")
    health = listener(config, names.probe_listener(names.HEALTH_CHECK_PROBES))
    assert health["address"]["socket_address"]["port_value"] == 15904
    [chain_] = health["filter_chains"]
    filters = http_filters(chain_)
    assert [f["name"] for f in filters] == [t.HEALTH_CHECK.name] * 2 + [t.ROUTER.name]
    checks = [f["typed_config"] for f in filters[:2]]
    assert [c["headers"][0]["string_match"]["exact"] for c in checks] == ["/app", "/db"]
    assert [list(c["cluster_min_healthy_percentages"]) for c in checks] == [
        ["health|14001"],
        ["health|5432"],
    ]
    assert all(c["pass_through_mode"] is False for c in checks)
    [check] = cluster(config, "health|5432")["health_checks"]
    assert check["no_traffic_interval"] == check["interval"] == "1s"
    assert check["tcp_health_check"] == {}
    assert check["unhealthy_threshold"] == check["healthy_threshold"] == 1


@pytest.mark.parametrize(
    ("probes", "reason"),
    [
        (
            (
                Probe(ProbeKind.STARTUP, "a", ProbeAction.GRPC, 14001),
                Probe(ProbeKind.STARTUP, "b", ProbeAction.GRPC, 14002),
            ),
            "several gRPC probes",
        ),
        (
            (
                Probe(ProbeKind.STARTUP, "a", ProbeAction.TCP, 14001),
                Probe(ProbeKind.LIVENESS, "a", ProbeAction.TCP, 14002),
            ),
            "TCP probes on several ports",
        ),
    ],
)
def test_probes_one_listener_cannot_tell_apart_are_a_bug(
    probes: tuple[Probe, ...], reason: str
) -> None:
    with pytest.raises(InconsistentConfigError, match=reason):
        emit_workload(plan(probes=probes), SETTINGS)


def test_prometheus_listener_exposes_only_the_stats_and_readiness_pages() -> None:
    config = emit("isolated")
    [host] = route_config(config, names.PROMETHEUS_ROUTE_CONFIG)["virtual_hosts"]
    scrape, ready, other = host["routes"]
    assert scrape == {
        "match": {"path": "/stats/prometheus"},
        "route": {"cluster": names.ADMIN_CLUSTER},
    }
    assert ready == {"match": {"path": "/ready"}, "route": {"cluster": names.ADMIN_CLUSTER}}
    assert other["direct_response"]["status"] == 404
    admin = cluster(config, names.ADMIN_CLUSTER)
    endpoint = admin["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 15000}


# Bootstrap, secrets and files.


def test_bootstrap_loads_lds_and_cds_from_the_watched_config_volume() -> None:
    bootstrap = emit("client").bootstrap
    assert bootstrap["node"] == {"id": "bookbuyer/bookbuyer", "cluster": "bookbuyer.bookbuyer"}
    assert bootstrap["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    lds = bootstrap["dynamic_resources"]["lds_config"]
    assert lds == {
        "path_config_source": {
            "path": "/etc/mesh/config/lds.yaml",
            "watched_directory": {"path": "/etc/mesh/config"},
        },
        "resource_api_version": "V3",
    }
    assert "static_resources" not in bootstrap
    monitor = bootstrap["overload_manager"]["resource_monitors"][0]
    assert monitor["name"] == t.DOWNSTREAM_CONNECTIONS_MONITOR.name


def test_static_bootstrap_inlines_everything_and_names_secrets_without_sds() -> None:
    config = emit("server")
    static = config.static_bootstrap
    assert "dynamic_resources" not in static
    assert static["node"] == config.bootstrap["node"]
    assert [s["name"] for s in static["static_resources"]["secrets"]] == [
        names.IDENTITY_CERT_SECRET,
        names.MESH_CA_SECRET,
    ]
    assert "sds_config" not in str(static["static_resources"])
    assert "sds_config" in str(config.listeners)


def test_files_are_discovery_responses_with_one_secret_per_sds_file() -> None:
    files = emit("server").files()
    assert sorted(files) == sorted(
        [
            names.BOOTSTRAP_FILE,
            names.LDS_FILE,
            names.CDS_FILE,
            names.CERT_SDS_FILE,
            names.CA_SDS_FILE,
        ]
    )
    lds = yaml.safe_load(files[names.LDS_FILE])
    assert {r["@type"] for r in lds["resources"]} == {t.LISTENER}
    cert = yaml.safe_load(files[names.CERT_SDS_FILE])
    [secret] = cert["resources"]
    assert secret["@type"] == t.SECRET
    assert secret["tls_certificate"]["certificate_chain"] == {"filename": "/etc/mesh/certs/tls.crt"}
    assert secret["tls_certificate"]["watched_directory"] == {"path": "/etc/mesh/certs"}


def test_files_have_no_yaml_aliases() -> None:
    for key in PLANS:
        for name, text in emit(key).files().items():
            assert "&id0" not in text, f"{key}/{name}"


def test_one_object_in_two_places_is_inconsistent() -> None:
    config = emit("client")
    shared = {"cluster_name": "x"}
    clusters = tuple({**c, "load_assignment": shared} for c in config.clusters[:2])
    [problem] = problems_of(broken(config, clusters=(*clusters, *config.clusters[2:])))
    assert problem.startswith("the clusters use one object in several places")


def test_files_are_byte_identical_across_runs() -> None:
    assert emit("server-permissive").files() == emit("server-permissive").files()
    assert emit("client").files() == emit("client").files()


# The real Envoy.


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    for name, content in make_certificates(spiffe(STORE)).items():
        (directory / name).write_bytes(content)
    return directory


@pytest.mark.envoy
@pytest.mark.parametrize("key", sorted(PLANS))
def test_static_bootstrap_passes_envoy_validate(key: str, certs_dir: Path) -> None:
    yaml_text = emit(key).static_bootstrap_yaml(str(certs_dir))
    accepted, output = validate_config(yaml_text, log_level="warning")
    assert accepted, output
    assert "eprecated" not in output, output


@pytest.mark.envoy
def test_envoy_reads_static_secrets_even_in_validate_mode() -> None:
    accepted, output = validate_config(emit("server").static_bootstrap_yaml())
    assert not accepted
    assert "/etc/mesh/certs/" in output


# Consistency.


def broken(config: EnvoyConfig, **changes: Any) -> EnvoyConfig:
    return dataclasses.replace(config, **changes)


def problems_of(config: EnvoyConfig) -> tuple[str, ...]:
    with pytest.raises(InconsistentConfigError) as caught:
        check(config)
    return caught.value.problems


def test_every_emitted_config_is_consistent() -> None:
    for key in PLANS:
        check(emit(key))


def test_route_to_missing_cluster_is_inconsistent() -> None:
    config = emit("client")
    clusters = tuple(c for c in config.clusters if c["name"] != "bookstore/bookstore-v3|8080")
    [problem] = problems_of(broken(config, clusters=clusters))
    assert (
        problem
        == "route config 'outbound|8080' routes to missing cluster 'bookstore/bookstore-v3|8080'"
    )


def test_tcp_proxy_to_missing_cluster_is_inconsistent() -> None:
    config = emit("client")
    clusters = tuple(c for c in config.clusters if c["name"] != names.DENY_CLUSTER)
    [problem] = problems_of(broken(config, clusters=clusters))
    assert problem == "listener 'outbound' routes to missing cluster 'deny'"


def test_duplicate_filter_chain_match_is_inconsistent() -> None:
    config = emit("server")
    [inbound_listener] = [x for x in config.listeners if x["name"] == names.INBOUND_LISTENER]
    first = inbound_listener["filter_chains"][0]
    copy = {**deepcopy(first), "name": "copy"}
    changed = {**inbound_listener, "filter_chains": [*inbound_listener["filter_chains"], copy]}
    listeners = tuple(changed if x is inbound_listener else x for x in config.listeners)
    [problem] = problems_of(broken(config, listeners=listeners))
    assert "the same match" in problem


def test_duplicate_cluster_name_is_inconsistent() -> None:
    config = emit("client")
    [problem] = problems_of(
        broken(config, clusters=(*config.clusters, deepcopy(config.clusters[0])))
    )
    assert problem == "duplicate cluster name 'bookstore/bookstore-v1|8080'"


def test_secret_that_is_not_emitted_is_inconsistent() -> None:
    config = emit("client")
    problems = problems_of(broken(config, secrets=config.secrets[:1]))
    assert "cluster 'bookstore/redis|6379' uses missing secret 'mesh-ca'" in problems
    assert (
        f"a subscription reads '/etc/mesh/config/{names.CA_SDS_FILE}', which is not among the files"
        in problems
    )


def test_listener_without_filter_chains_is_inconsistent() -> None:
    config = emit("isolated")
    empty = {**config.listeners[0], "filter_chains": []}
    problems = problems_of(broken(config, listeners=(empty,), route_configs=()))
    assert "listener 'prometheus' has no filter chains" in problems


def test_listed_route_config_that_no_listener_embeds_is_inconsistent() -> None:
    config = emit("isolated")
    extra = {"name": "orphan", "virtual_hosts": []}
    [problem] = problems_of(broken(config, route_configs=(*config.route_configs, extra)))
    assert "'orphan' is listed but no listener embeds it" in problem


def test_every_problem_is_listed_at_once() -> None:
    config = emit("client")
    problems = problems_of(broken(config, clusters=(), secrets=()))
    assert len(problems) > 5


def test_split_whose_weights_sum_to_zero_is_rejected_by_the_check() -> None:
    zero = dataclasses.replace(
        SPLIT.destinations[0],
        backends=tuple(dataclasses.replace(b, weight=0) for b in SPLIT.destinations[0].backends),
    )
    port = dataclasses.replace(SPLIT, destinations=(zero,))
    with pytest.raises(InconsistentConfigError, match="sum to 0"):
        emit_workload(plan(outbound=(port,)), SETTINGS)


def test_upstream_without_peer_identities_is_rejected_by_the_check() -> None:
    anyone = dataclasses.replace(REDIS, peer_identities=())
    port = OutboundPort(6379, Protocol.TCP, (destination("redis", (anyone, 1), http=False),))
    with pytest.raises(InconsistentConfigError, match="accepts any peer identity"):
        emit_workload(plan(outbound=(port,)), SETTINGS)


def test_a_local_tls_cluster_showing_our_identity_is_a_bug() -> None:
    config = emit("probed")
    tls = cluster(config, "local-tls|14004")["transport_socket"]["typed_config"]
    tls["common_tls_context"]["tls_certificate_sds_secret_configs"] = [{"name": "identity-cert"}]
    with pytest.raises(InconsistentConfigError, match="shows our identity"):
        check(config)


def test_tcp_port_with_two_destinations_is_rejected() -> None:
    port = dataclasses.replace(TCP, destinations=TCP.destinations * 2)
    with pytest.raises(InconsistentConfigError, match="2 destinations"):
        emit_workload(plan(outbound=(port,)), SETTINGS)


# One file-based config, run for real.


class _App(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"app saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_app() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def live_settings() -> MeshSettings:
    admin, outbound, inbound_, prometheus, liveness, readiness, startup, health = free_ports(8)
    ports = ProxyPorts(admin, outbound, inbound_, prometheus, liveness, readiness, startup, health)
    return dataclasses.replace(SETTINGS, proxy=ProxySettings(ports=ports))


def live_plan(settings: MeshSettings, app_port: int) -> WorkloadPlan:
    """A server that is also a client. Its one outbound port is the outbound listener's own
    port, so a direct connection (no iptables here) lands on that HTTP chain.

    The upstream resolves `localhost` without the trailing dot: Envoy's c-ares resolver does
    not match /etc/hosts entries for absolute names (cluster DNS answers them in a pod).
    """
    outbound_port = settings.proxy.ports.outbound
    local = dataclasses.replace(upstream("bookstore", outbound_port), address="localhost")
    http_port = OutboundPort(outbound_port, Protocol.HTTP, (destination("bookstore", (local, 1)),))
    return dataclasses.replace(
        SERVER,
        outbound=(http_port, HEADLESS_TCP),
        probes=(Probe(ProbeKind.READINESS, "app", ProbeAction.HTTP, app_port, "/ready"),),
    )


@contextmanager
def live_envoy(
    tmp_path: Path, plan_: WorkloadPlan, settings: MeshSettings
) -> Iterator[EnvoyConfig]:
    """Emit `plan_` into kubelet-style volumes under `tmp_path` and run Envoy on them."""
    paths = VolumePaths(config_dir=str(tmp_path / "config"), certs_dir=str(tmp_path / "certs"))
    config = emit_workload(plan_, settings, paths=paths)
    write_volume(Path(paths.config_dir), config.files())
    write_volume(Path(paths.certs_dir), make_certificates(plan_.spiffe_id))
    bootstrap = Path(paths.config_file(names.BOOTSTRAP_FILE))
    with running_envoy(bootstrap, settings.proxy.ports.admin, tmp_path / "envoy.log"):
        yield config


@pytest.mark.envoy
def test_file_based_config_loads_from_a_kubelet_volume(tmp_path: Path) -> None:
    settings = live_settings()
    ports = settings.proxy.ports
    with (
        running_app() as app_port,
        live_envoy(tmp_path, live_plan(settings, app_port), settings) as config,
    ):
        dump = admin_json(ports.admin, "/config_dump")
        assert _active_listeners(dump) == sorted(x["name"] for x in config.listeners)
        assert _dynamic_clusters(dump) == sorted(c["name"] for c in config.clusters)
        stats = http_get(ports.admin, "/stats?filter=update_(rejected|success)$")[1]
        for subscription in ("lds", "cds", "sds.identity-cert", "sds.mesh-ca"):
            # A rejected SDS file still lets listeners go active, with no certificate.
            assert f"{subscription}.update_rejected: 0" in stats, stats
            assert f"{subscription}.update_success: 1" in stats, stats
        dns_cluster = names.upstream_cluster(ServiceRef("bookstore", "bookstore"), ports.outbound)
        assert f"{dns_cluster}::127.0.0.1:14001::" in _eventually_resolved(ports.admin)


@pytest.mark.envoy
def test_running_sidecar_answers_probes_metrics_and_unknown_hosts(tmp_path: Path) -> None:
    settings = live_settings()
    ports = settings.proxy.ports
    with running_app() as app_port, live_envoy(tmp_path, live_plan(settings, app_port), settings):
        assert http_get(ports.prometheus, "/stats/prometheus")[0] == 200
        assert http_get(ports.prometheus, "/")[0] == 404
        assert http_get(ports.prometheus, "/ready") == (200, "LIVE\n")
        assert http_get(ports.readiness_probe, "/app") == (200, "app saw /ready")
        assert http_get(ports.readiness_probe, "/ready")[0] == 404
        status, body = http_get(ports.outbound, "/", host="somewhere.else")
        assert (status, body) == (403, routes.NOT_A_DESTINATION)


@pytest.mark.envoy
def test_outbound_connection_to_an_unknown_port_is_closed_at_once(tmp_path: Path) -> None:
    settings = live_settings()
    ports = settings.proxy.ports
    with live_envoy(tmp_path, CLIENT, settings):
        # No chain matches the listener's own port: the deny chain takes the connection.
        with socket.create_connection(("127.0.0.1", ports.outbound), timeout=3) as connection:
            assert connection.recv(100) == b""  # closed before the client sends anything
        stats = http_get(ports.admin, "/stats?filter=deny")[1]
        # tcp_proxy closes it (no endpoint in the deny cluster) before RBAC sees any byte.
        assert "cluster.deny.upstream_cx_none_healthy: 1" in stats, stats


def _eventually_resolved(admin_port: int) -> str:
    """/clusters once strict DNS has resolved (it is asynchronous), or after a second."""
    for _ in range(20):
        clusters = http_get(admin_port, "/clusters")[1]
        if "::127.0.0.1:14001::" in clusters:
            break
        time.sleep(0.05)
    return clusters


def _active_listeners(dump: Json) -> list[str]:
    [listeners] = [c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump")]
    dynamic = listeners.get("dynamic_listeners", [])
    assert all("warming_state" not in x for x in dynamic), dynamic
    return sorted(x["name"] for x in dynamic if "active_state" in x)


def _dynamic_clusters(dump: Json) -> list[str]:
    [clusters] = [c for c in dump["configs"] if c["@type"].endswith("ClustersConfigDump")]
    return sorted(c["cluster"]["name"] for c in clusters.get("dynamic_active_clusters", []))


def test_a_tcp_port_with_access_rules_refuses_unlisted_identities_in_the_handshake() -> None:
    """tcp_proxy connects to the app at once, so RBAC alone would let a server-first app's
    banner reach a denied client: the allowed SANs go in the chain's TLS context."""
    tls_chain = chain(emit("server"), names.INBOUND_LISTENER, "inbound|bookstore/bookstore-db|5432")
    context = tls_chain["transport_socket"]["typed_config"]["common_tls_context"]
    matchers = context["combined_validation_context"]["default_validation_context"]
    sans = matchers["match_typed_subject_alt_names"]
    assert sans and all("exact" in san["matcher"] for san in sans)


def test_a_tcp_port_nobody_may_call_gets_no_chain_at_all() -> None:
    """An empty SAN list would mean 'no SAN check'; no chain closes the connection instead."""
    db = inbound("bookstore-db", 5432, target_port=5432, protocol=Protocol.TCP, access=())
    config = emit_workload(plan(identity=STORE, inbound_ports=(inbound(), db)), SETTINGS)
    names_ = {c["name"] for c in listener(config, names.INBOUND_LISTENER)["filter_chains"]}
    assert "inbound|bookstore/bookstore-db|5432" not in names_
