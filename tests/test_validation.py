"""Validation: each mistake gives its stable code at the path of the offending field, all at once.

The table breaks a valid base spec (tests/specs.py) in one place per row. Tests assert codes and
paths, never wording. Regex verdicts are checked against a real Envoy where one is installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    AppContainer,
    CertificateIssuer,
    CertificateSettings,
    CertManagerIssuer,
    CircuitBreakers,
    ConnectionPool,
    ContainerPort,
    Destination,
    DestinationRoute,
    Duration,
    EgressAddresses,
    EgressHosts,
    EgressRule,
    Fault,
    FaultAbort,
    HeaderMatch,
    HttpRule,
    Identity,
    Ingress,
    IngressSources,
    Interception,
    MeshSettings,
    MeshSpec,
    Mirror,
    MtlsMode,
    Observability,
    OutlierDetection,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
    Probe,
    ProbeAction,
    ProbeKind,
    Protocol,
    ProxyPorts,
    ProxySettings,
    RateLimit,
    Resources,
    Retries,
    RetryBudget,
    Service,
    ServicePort,
    ServiceRef,
    SplitBackend,
    TcpKeepalive,
    Tracing,
    TrafficSplit,
    Workload,
    WorkloadKind,
    labels,
)
from mesh_components.pipeline import envoy_check
from mesh_components.validate import CHECKS, CODES, find_problems, validate
from tests.specs import (
    DB_PORT,
    HTTP_PORT,
    add,
    base_spec,
    change_backend,
    change_policy,
    change_proxy,
    change_proxy_ports,
    change_rule,
    change_service,
    change_service_port,
    change_settings,
    change_split,
    change_workload,
)

Mutation = Callable[[MeshSpec], MeshSpec]

WEB, DB, BUYER = "shop/web", "shop/db", "client/buyer"
SPLIT, TO_WEB, TO_DB = "shop/web-split", "shop/buyer-to-web", "shop/web-to-db"
SPLIT_AT, TO_WEB_AT, TO_DB_AT = (
    "splits[shop/web-split]",
    "policies[shop/buyer-to-web]",
    "policies[shop/web-to-db]",
)


def _header(name: str = "x-client", regex: str = "buyer-.*") -> Mutation:
    return lambda s: change_rule(s, TO_WEB, headers=(HeaderMatch(name, regex),))


def _path(kind: PathMatchKind, value: str) -> Mutation:
    return lambda s: change_rule(s, TO_WEB, path=PathMatch(kind, value))


def row(case: str, mutate: Mutation, code: str, path: str) -> object:
    """One table row: `case` (the test id) breaks the base spec, giving `code` at `path`."""
    return pytest.param(mutate, code, path, id=case)


def _certificates(**changes: object) -> Mutation:
    return lambda s: change_settings(s, certificates=CertificateSettings(**changes))  # type: ignore[arg-type]


CERT_MANAGER = CertificateIssuer.CERT_MANAGER

SETTINGS_ROWS = [
    row(
        "certificates valid for zero hours",
        _certificates(validity_hours=0, renew_before_hours=0),
        "certificates-duration-invalid",
        "mesh.certificates.validityHours",
    ),
    row(
        "a renewal window as long as the validity",
        _certificates(validity_hours=24, renew_before_hours=24),
        "certificates-renewal-window-too-long",
        "mesh.certificates.renewBeforeHours",
    ),
    row(
        "cert-manager mode without an issuer",
        _certificates(issuer=CERT_MANAGER),
        "certificates-issuer-ref-missing",
        "mesh.certificates.issuerRef",
    ),
    row(
        "an issuer the built-in CA would ignore",
        _certificates(issuer_ref=CertManagerIssuer("mesh-ca")),
        "certificates-issuer-ref-unused",
        "mesh.certificates.issuerRef",
    ),
    row(
        "a cert-manager issuer name that is not a DNS name",
        _certificates(issuer=CERT_MANAGER, issuer_ref=CertManagerIssuer("Mesh CA")),
        "name-invalid",
        "mesh.certificates.issuerRef.name",
    ),
    row(
        "a negative drain time",
        lambda s: change_proxy(s, drain_seconds=-1),
        "proxy-drain-invalid",
        "mesh.proxy.drainSeconds",
    ),
    row(
        "a DNS refresh too fast for any DNS server",
        lambda s: change_proxy(s, dns_refresh=Duration(10)),
        "proxy-dns-refresh-invalid",
        "mesh.proxy.dnsRefresh",
    ),
    row(
        "a DNS refresh slower than a minute",
        lambda s: change_proxy(s, dns_refresh=Duration.seconds(61)),
        "proxy-dns-refresh-invalid",
        "mesh.proxy.dnsRefresh",
    ),
    row(
        "a memory limit that is not a quantity",
        lambda s: change_proxy(s, resources=Resources(memory_limit="lots")),
        "proxy-resources-invalid",
        "mesh.proxy.resources.memoryLimit",
    ),
    row(
        "an exclusion range with host bits set",
        lambda s: change_proxy(
            s, interception=Interception(outbound_ip_range_exclusions=("10.1.2.3/8",))
        ),
        "cidr-invalid",
        "mesh.proxy.interception.outboundIPRangeExclusions[0]",
    ),
    row(
        "an empty init image",
        lambda s: change_proxy(s, init_image=""),
        "proxy-image-invalid",
        "mesh.proxy.initImage",
    ),
    row(
        "a mesh name with a space",
        lambda s: change_settings(s, name="My Mesh"),
        "name-invalid",
        "mesh.name",
    ),
    row(
        "a trust domain with a scheme",
        lambda s: change_settings(s, trust_domain="spiffe://cluster.local"),
        "trust-domain-invalid",
        "mesh.trustDomain",
    ),
    row(
        "a trust domain in capitals",
        lambda s: change_settings(s, trust_domain="Cluster.Local"),
        "trust-domain-invalid",
        "mesh.trustDomain",
    ),
    row(
        "a cluster domain with a final dot",
        lambda s: change_settings(s, cluster_domain="cluster.local."),
        "cluster-domain-invalid",
        "mesh.clusterDomain",
    ),
    row(
        "an empty proxy image",
        lambda s: change_proxy(s, image=""),
        "proxy-image-invalid",
        "mesh.proxy.image",
    ),
    row(
        "a proxy running as root",
        lambda s: change_proxy(s, uid=0),
        "proxy-uid-invalid",
        "mesh.proxy.uid",
    ),
    row(
        "a proxy with no worker threads",
        lambda s: change_proxy(s, concurrency=0),
        "proxy-concurrency-invalid",
        "mesh.proxy.concurrency",
    ),
    row(
        "a proxy port above 65535",
        lambda s: change_proxy_ports(s, admin=70000),
        "port-out-of-range",
        "mesh.proxy.ports.admin",
    ),
    row(
        "two proxy roles on one port",
        lambda s: change_proxy_ports(s, prometheus=15000),
        "proxy-port-duplicate",
        "mesh.proxy.ports.prometheus",
    ),
]

SERVICE_ROWS = [
    row(
        "a service name in capitals",
        lambda s: change_service(s, DB, name="DB"),
        "name-invalid",
        "services[shop/DB].name",
    ),
    row(
        "a service namespace with an underscore",
        lambda s: change_service(s, DB, namespace="shop_1"),
        "name-invalid",
        "services[shop_1/db].namespace",
    ),
    row(
        "a service name with a dot",
        lambda s: change_service(s, DB, name="db.main"),
        "name-invalid",
        "services[shop/db.main].name",
    ),
    row(
        "a service declared twice",
        lambda s: add(s, Service("db", "shop", labels({"app": "db"}), (DB_PORT,))),
        "service-duplicate",
        "services[shop/db]",
    ),
    row(
        "a service named like a generated companion",
        lambda s: add(s, Service("web-mesh", "shop", labels({"app": "web"}), (HTTP_PORT,))),
        "service-name-collision",
        "services[shop/web-mesh].name",
    ),
    row(
        "a service with no ports",
        lambda s: change_service(s, DB, ports=()),
        "service-no-ports",
        "services[shop/db].ports",
    ),
    row(
        "a port name in capitals",
        lambda s: change_service_port(s, WEB, 0, name="HTTP_Port"),
        "port-name-invalid",
        "services[shop/web].ports[0].name",
    ),
    row(
        "a target port name over 15 characters",
        lambda s: change_service_port(s, DB, 0, target_port="postgres-primary"),
        "port-name-invalid",
        "services[shop/db].ports[0].targetPort",
    ),
    row(
        "an unnamed port among several",
        lambda s: change_service(s, DB, ports=(DB_PORT, ServicePort("", 5433, Protocol.TCP))),
        "port-name-invalid",
        "services[shop/db].ports[1].name",
    ),
    row(
        "a target port name with a double dash",
        lambda s: change_service_port(s, DB, 0, target_port="pg--main"),
        "port-name-invalid",
        "services[shop/db].ports[0].targetPort",
    ),
    row(
        "a service port of 0",
        lambda s: change_service_port(s, DB, 0, port=0),
        "port-out-of-range",
        "services[shop/db].ports[0].port",
    ),
    row(
        "a target port above 65535",
        lambda s: change_service_port(s, DB, 0, target_port=70000),
        "port-out-of-range",
        "services[shop/db].ports[0].targetPort",
    ),
    row(
        "a service port on the proxy's outbound port",
        lambda s: change_service_port(s, DB, 0, port=15001),
        "port-reserved",
        "services[shop/db].ports[0].port",
    ),
    row(
        "a target port on the proxy's admin port",
        lambda s: change_service_port(s, DB, 0, target_port=15000),
        "port-reserved",
        "services[shop/db].ports[0].targetPort",
    ),
    row(
        "two service ports with one number",
        lambda s: change_service(
            s, DB, ports=(DB_PORT, ServicePort("tcp-admin", 5432, Protocol.TCP))
        ),
        "service-port-duplicate",
        "services[shop/db].ports[1].port",
    ),
    row(
        "two service ports with one name",
        lambda s: change_service(
            s, DB, ports=(DB_PORT, ServicePort("tcp-postgres", 5433, Protocol.TCP))
        ),
        "service-port-name-duplicate",
        "services[shop/db].ports[1].name",
    ),
    row(
        "a service with an empty selector",
        lambda s: change_service(s, DB, selector=()),
        "selector-empty",
        "services[shop/db].selector",
    ),
    row(
        "a headless service with an empty selector",
        lambda s: change_service(s, DB, selector=(), headless=True),
        "selector-empty",
        "services[shop/db].selector",
    ),
    row(
        "a selector no workload matches",
        lambda s: change_service(s, DB, selector=labels({"app": "database"})),
        "service-selects-nothing",
        "services[shop/db].selector",
    ),
    row(
        "a selector matching only another namespace",
        lambda s: change_workload(s, "shop/db", namespace="data"),
        "service-selects-nothing",
        "services[shop/db].selector",
    ),
    row(
        "a selector key with a space",
        lambda s: change_service(s, DB, selector=labels({"app name": "db"})),
        "label-invalid",
        "services[shop/db].selector[app name]",
    ),
    row(
        "a target port name no container port has",
        lambda s: change_service_port(s, DB, 0, target_port="pg"),
        "target-port-unresolved",
        "services[shop/db].ports[0].targetPort",
    ),
    row(
        "a target port name with two numbers",
        lambda s: change_workload(
            change_service_port(s, WEB, 0, target_port="http"),
            "shop/web-v2",
            ports=(ContainerPort(8081, "http"),),
        ),
        "target-port-ambiguous",
        "services[shop/web].ports[0].targetPort",
    ),
]

WORKLOAD_ROWS = [
    row(
        "a workload name in capitals",
        lambda s: change_workload(s, BUYER, name="Buyer"),
        "name-invalid",
        "workloads[client/Buyer].name",
    ),
    row(
        "a workload namespace with a dot",
        lambda s: change_workload(s, BUYER, namespace="client.a"),
        "name-invalid",
        "workloads[client.a/buyer].namespace",
    ),
    row(
        "a service account with an underscore",
        lambda s: change_workload(s, BUYER, service_account="buyer_sa"),
        "name-invalid",
        "workloads[client/buyer].serviceAccount",
    ),
    row(
        "a workload declared twice",
        lambda s: add(s, Workload("buyer", "client", "buyer")),
        "workload-duplicate",
        "workloads[client/buyer]",
    ),
    row(
        "a workload with an empty service account",
        lambda s: change_workload(s, BUYER, service_account=""),
        "workload-no-service-account",
        "workloads[client/buyer].serviceAccount",
    ),
    row(
        "a workload with negative replicas",
        lambda s: change_workload(s, BUYER, app=AppContainer(image="x", replicas=-1)),
        "workload-replicas-invalid",
        "workloads[client/buyer].replicas",
    ),
    row(
        "a label value with a bang",
        lambda s: change_workload(s, BUYER, labels=labels({"app": "buyer!"})),
        "label-invalid",
        "workloads[client/buyer].labels[app]",
    ),
    row(
        "a label key with an empty name",
        lambda s: change_workload(s, BUYER, labels=labels({"example.com/": "x"})),
        "label-invalid",
        "workloads[client/buyer].labels[example.com/]",
    ),
    row(
        "a label key over 63 characters",
        lambda s: change_workload(s, BUYER, labels=labels({"a" * 64: "x"})),
        "label-invalid",
        f"workloads[client/buyer].labels[{'a' * 64}]",
    ),
    row(
        "two container ports with one number",
        lambda s: change_workload(
            s, "shop/db", ports=(ContainerPort(5432, "postgres"), ContainerPort(5432))
        ),
        "workload-port-duplicate",
        "workloads[shop/db].ports[1].containerPort",
    ),
    row(
        "two container ports with one name",
        lambda s: change_workload(
            s, "shop/db", ports=(ContainerPort(5432, "postgres"), ContainerPort(5433, "postgres"))
        ),
        "workload-port-duplicate",
        "workloads[shop/db].ports[1].name",
    ),
    row(
        "a container port name in capitals",
        lambda s: change_workload(s, "shop/db", ports=(ContainerPort(5432, "Postgres"),)),
        "port-name-invalid",
        "workloads[shop/db].ports[0].name",
    ),
    row(
        "a container port above 65535",
        lambda s: change_workload(
            s, "shop/db", ports=(ContainerPort(5432, "postgres"), ContainerPort(70000))
        ),
        "port-out-of-range",
        "workloads[shop/db].ports[1].containerPort",
    ),
    row(
        "a container port on the proxy's inbound port",
        lambda s: change_workload(
            s, "shop/db", ports=(ContainerPort(5432, "postgres"), ContainerPort(15003))
        ),
        "port-reserved",
        "workloads[shop/db].ports[1].containerPort",
    ),
    row(
        "a probe port of 0",
        lambda s: change_workload(
            s, "shop/db", probes=(Probe(ProbeKind.LIVENESS, "db", ProbeAction.TCP, 0),)
        ),
        "port-out-of-range",
        "workloads[shop/db].probes[0].port",
    ),
    row(
        "a probe on the proxy's liveness port",
        lambda s: change_workload(
            s, "shop/db", probes=(Probe(ProbeKind.LIVENESS, "db", ProbeAction.TCP, 15901),)
        ),
        "port-reserved",
        "workloads[shop/db].probes[0].port",
    ),
    row(
        "an http probe path without a slash",
        lambda s: change_workload(
            s,
            "shop/web-v1",
            probes=(Probe(ProbeKind.READINESS, "web", ProbeAction.HTTP, 8080, "healthz"),),
        ),
        "probe-path-invalid",
        "workloads[shop/web-v1].probes[0].path",
    ),
    row(
        "a metrics port annotation that is a port name",
        lambda s: change_workload(
            s,
            "shop/web-v1",
            annotations=labels({"prometheus.io/scrape": "true", "prometheus.io/port": "http"}),
        ),
        "annotation-invalid",
        "workloads[shop/web-v1].annotations[prometheus.io/port]",
    ),
    row(
        "a metrics port annotation on the sidecar's metrics port",
        lambda s: change_workload(
            s, "shop/web-v1", annotations=labels({"prometheus.io/port": "15010"})
        ),
        "port-reserved",
        "workloads[shop/web-v1].annotations[prometheus.io/port]",
    ),
]

SPLIT_ROWS = [
    row(
        "a split name with an underscore",
        lambda s: change_split(s, SPLIT, name="Web_Split"),
        "name-invalid",
        "splits[shop/Web_Split].name",
    ),
    row("a split declared twice", lambda s: add(s, s.splits[0]), "split-duplicate", SPLIT_AT),
    row(
        "a split of an undeclared root",
        lambda s: change_split(s, SPLIT, root="webshop"),
        "split-unknown-service",
        f"{SPLIT_AT}.service",
    ),
    row(
        "a root written with its own namespace",
        lambda s: change_split(s, SPLIT, root="web.shop"),
        "split-unknown-service",
        f"{SPLIT_AT}.service",
    ),
    row(
        "a root in another namespace",
        lambda s: change_split(s, SPLIT, root="web.other"),
        "split-cross-namespace",
        f"{SPLIT_AT}.service",
    ),
    row(
        "an undeclared backend",
        lambda s: change_backend(s, SPLIT, 0, service="web-v3"),
        "split-backend-unknown",
        f"{SPLIT_AT}.backends[0].service",
    ),
    row(
        "a backend written with its own namespace",
        lambda s: change_backend(s, SPLIT, 0, service="web-v1.shop"),
        "split-backend-unknown",
        f"{SPLIT_AT}.backends[0].service",
    ),
    row(
        "a backend written as name dot namespace",
        lambda s: change_backend(s, SPLIT, 0, service="web-v1.other"),
        "split-cross-namespace",
        f"{SPLIT_AT}.backends[0].service",
    ),
    row(
        "a backend written as namespace slash name",
        lambda s: change_backend(s, SPLIT, 0, service="other/web-v1"),
        "split-cross-namespace",
        f"{SPLIT_AT}.backends[0].service",
    ),
    row(
        "a negative weight",
        lambda s: change_backend(s, SPLIT, 0, weight=-1),
        "split-weight-negative",
        f"{SPLIT_AT}.backends[0].weight",
    ),
    row(
        "weights that sum to zero",
        lambda s: change_backend(change_backend(s, SPLIT, 0, weight=0), SPLIT, 1, weight=0),
        "split-weights-zero",
        f"{SPLIT_AT}.backends",
    ),
    row(
        "weights that overflow Envoy's total",
        lambda s: change_backend(change_backend(s, SPLIT, 0, weight=2**32), SPLIT, 1, weight=2**32),
        "split-weights-overflow",
        f"{SPLIT_AT}.backends",
    ),
    row(
        "a split with no backends",
        lambda s: change_split(s, SPLIT, backends=()),
        "split-no-backends",
        f"{SPLIT_AT}.backends",
    ),
    row(
        "one backend listed twice",
        lambda s: change_backend(s, SPLIT, 1, service="web-v1"),
        "split-backend-duplicate",
        f"{SPLIT_AT}.backends[1].service",
    ),
    row(
        "the root as its own backend",
        lambda s: change_backend(s, SPLIT, 1, service="web"),
        "split-root-is-backend",
        f"{SPLIT_AT}.backends[1].service",
    ),
    row(
        "two splits on one root",
        lambda s: add(s, TrafficSplit("web-canary", "shop", "web", (SplitBackend("web-v2", 1),))),
        "split-duplicate-root",
        "splits[shop/web-canary].service",
    ),
    row(
        "the first of two splits on one root",
        lambda s: add(s, TrafficSplit("web-canary", "shop", "web", (SplitBackend("web-v2", 1),))),
        "split-duplicate-root",
        f"{SPLIT_AT}.service",
    ),
    row(
        "a backend that is itself split",
        lambda s: add(s, TrafficSplit("v1-split", "shop", "web-v1", (SplitBackend("web-v2", 1),))),
        "split-nested",
        f"{SPLIT_AT}.backends[0].service",
    ),
    row(
        "a headless backend",
        lambda s: change_service(s, "shop/web-v2", headless=True),
        "split-backend-headless",
        f"{SPLIT_AT}.backends[1].service",
    ),
    row(
        "a headless root",
        lambda s: change_service(s, WEB, headless=True),
        "split-root-headless",
        f"{SPLIT_AT}.service",
    ),
    row(
        "a backend without the root's port",
        lambda s: change_service_port(s, "shop/web-v2", 0, port=8081),
        "split-backend-port-missing",
        f"{SPLIT_AT}.backends[1].service",
    ),
    row(
        "a backend speaking another protocol",
        lambda s: change_service_port(s, "shop/web-v2", 0, protocol=Protocol.GRPC),
        "split-backend-protocol-mismatch",
        f"{SPLIT_AT}.backends[1].service",
    ),
    row(
        "a root selecting a pod no backend selects",
        lambda s: add(
            s, Workload("web-legacy", "shop", "web", labels=labels({"app": "web", "version": "v0"}))
        ),
        "split-root-selector-overlap",
        f"{SPLIT_AT}.service",
    ),
]

POLICY_ROWS = [
    row(
        "a policy name in capitals",
        lambda s: change_policy(s, TO_WEB, name="Buyer"),
        "name-invalid",
        "policies[shop/Buyer].name",
    ),
    row("a policy declared twice", lambda s: add(s, s.policies[1]), "policy-duplicate", TO_DB_AT),
    row(
        "policies in open mode",
        lambda s: change_settings(s, access=AccessMode.OPEN),
        "policy-in-open-mode",
        "mesh.access",
    ),
    row(
        "a policy with no destination",
        lambda s: change_policy(s, TO_WEB, destination=PolicyDestination()),
        "policy-destination-invalid",
        f"{TO_WEB_AT}.destination",
    ),
    row(
        "a policy with two destinations",
        lambda s: change_policy(
            s,
            TO_WEB,
            destination=PolicyDestination(ServiceRef("shop", "web"), Identity("shop", "web")),
        ),
        "policy-destination-invalid",
        f"{TO_WEB_AT}.destination",
    ),
    row(
        "a policy for an undeclared service",
        lambda s: change_policy(
            s, TO_WEB, destination=PolicyDestination(service=ServiceRef("shop", "webb"))
        ),
        "policy-unknown-service",
        f"{TO_WEB_AT}.destination.service",
    ),
    row(
        "a policy for an identity no workload has",
        lambda s: change_policy(
            s, TO_DB, destination=PolicyDestination(identity=Identity("shop", "database"))
        ),
        "policy-unknown-identity",
        f"{TO_DB_AT}.destination.serviceAccount",
    ),
    row(
        "a source identity no workload has",
        lambda s: change_policy(s, TO_WEB, sources=(Identity("client", "seller"),)),
        "policy-unknown-identity",
        f"{TO_WEB_AT}.sources[0]",
    ),
    row(
        "a source in the wrong namespace",
        lambda s: change_policy(s, TO_WEB, sources=(Identity("shop", "buyer"),)),
        "policy-unknown-identity",
        f"{TO_WEB_AT}.sources[0]",
    ),
    row(
        "a policy with no sources",
        lambda s: change_policy(s, TO_WEB, sources=()),
        "policy-no-sources",
        f"{TO_WEB_AT}.sources",
    ),
    row(
        "a path regex with a lookahead",
        _path(PathMatchKind.REGEX, "/books/(?!secret)"),
        "policy-regex-invalid",
        f"{TO_WEB_AT}.http[0].path.regex",
    ),
    row(
        "a path regex Python cannot compile",
        _path(PathMatchKind.REGEX, "/books/[0-9"),
        "policy-regex-invalid",
        f"{TO_WEB_AT}.http[0].path.regex",
    ),
    row(
        "a header regex with a backreference",
        _header(regex=r"(a)\1"),
        "policy-regex-invalid",
        f"{TO_WEB_AT}.http[0].headers[x-client]",
    ),
    row(
        "a prefix without a slash",
        _path(PathMatchKind.PREFIX, "books"),
        "policy-path-invalid",
        f"{TO_WEB_AT}.http[0].path.prefix",
    ),
    row(
        "an empty exact path",
        _path(PathMatchKind.EXACT, ""),
        "policy-path-invalid",
        f"{TO_WEB_AT}.http[0].path.exact",
    ),
    row(
        "a lowercase method",
        lambda s: change_rule(s, TO_WEB, methods=("GET", "get")),
        "policy-method-invalid",
        f"{TO_WEB_AT}.http[0].methods[1]",
    ),
    row(
        "a wildcard method",
        lambda s: change_rule(s, TO_WEB, methods=("*",)),
        "policy-method-invalid",
        f"{TO_WEB_AT}.http[0].methods[0]",
    ),
    row(
        "a header name in capitals",
        _header(name="X-Client"),
        "policy-header-invalid",
        f"{TO_WEB_AT}.http[0].headers[X-Client]",
    ),
    row(
        "a header name with a space",
        _header(name="x client"),
        "policy-header-invalid",
        f"{TO_WEB_AT}.http[0].headers[x client]",
    ),
    row(
        "http rules for an identity with only tcp ports",
        lambda s: change_policy(s, TO_DB, http_rules=(HttpRule(),)),
        "policy-http-on-tcp-only",
        f"{TO_DB_AT}.http",
    ),
    row(
        "http rules for a tcp service",
        lambda s: change_policy(
            s, TO_WEB, destination=PolicyDestination(service=ServiceRef("shop", "db"))
        ),
        "policy-http-on-tcp-only",
        f"{TO_WEB_AT}.http",
    ),
    row(
        "a tcp port the destination does not serve",
        lambda s: change_policy(s, TO_DB, tcp_ports=(5433,)),
        "policy-tcp-port-unknown",
        f"{TO_DB_AT}.tcp.ports[0]",
    ),
    row(
        "a tcp port that is an http port",
        lambda s: change_policy(s, TO_WEB, http_rules=(), tcp=True, tcp_ports=(8080,)),
        "policy-tcp-port-unknown",
        f"{TO_WEB_AT}.tcp.ports[0]",
    ),
    row(
        "a policy tcp port of 0",
        lambda s: change_policy(s, TO_DB, tcp_ports=(0,)),
        "port-out-of-range",
        f"{TO_DB_AT}.tcp.ports[0]",
    ),
    row(
        "tcp ports with tcp off",
        lambda s: change_policy(s, TO_DB, tcp=False),
        "policy-tcp-ports-ignored",
        f"{TO_DB_AT}.tcp.ports",
    ),
]

# Both select the db pods: `cache` on the same service port (TCP), `db-http` on the same pod port.
CACHE = Service(
    "cache", "shop", labels({"app": "db"}), (ServicePort("tcp-cache", 5432, Protocol.TCP),)
)
DB_HTTP = Service(
    "db-http", "shop", labels({"app": "db"}), (ServicePort("http", 5432, Protocol.HTTP),)
)

GRAPH_ROWS = [
    row(
        "a client reaching two TCP services on one port",
        lambda s: change_settings(replace(add(s, CACHE), policies=()), access=AccessMode.OPEN),
        "outbound-port-conflict",
        "workloads[client/buyer]",
    ),
    row(
        "two ports of a service on one pod port",
        lambda s: change_service(
            s, DB, ports=(DB_PORT, ServicePort("tcp-alt", 6432, Protocol.TCP, "postgres"))
        ),
        "service-target-port-shared",
        "services[shop/db].ports",
    ),
    row(
        "HTTP and TCP on one pod port in permissive mode",
        lambda s: change_settings(add(s, DB_HTTP), mtls=MtlsMode.PERMISSIVE),
        "inbound-protocol-conflict",
        "workloads[shop/db]",
    ),
]


def _probes(ref: str, *probes: Probe) -> Mutation:
    return lambda s: change_workload(s, ref, probes=probes)


_READY = Probe(ProbeKind.READINESS, "web", ProbeAction.HTTP, 8080, "/healthz")

# Probes one sidecar's probe listeners could not tell apart (emit/kubernetes/probes.py).
PROBE_ROWS = [
    row(
        "two readiness probes of one container",
        _probes("shop/web-v1", _READY, replace(_READY, path="/other")),
        "probe-duplicate",
        "workloads[shop/web-v1].probes[1]",
    ),
    row(
        "two grpc readiness probes in one pod",
        _probes(
            "shop/web-v1",
            Probe(ProbeKind.READINESS, "web", ProbeAction.GRPC, 8080),
            Probe(ProbeKind.READINESS, "helper", ProbeAction.GRPC, 9090),
        ),
        "probe-grpc-conflict",
        "workloads[shop/web-v1].probes[1]",
    ),
    row(
        "tcp probes of one container on two ports",
        _probes(
            "shop/db",
            Probe(ProbeKind.LIVENESS, "db", ProbeAction.TCP, 5432),
            Probe(ProbeKind.READINESS, "db", ProbeAction.TCP, 5433),
        ),
        "probe-tcp-port-conflict",
        "workloads[shop/db].probes[1]",
    ),
    row(
        "a probe container name with an underscore",
        _probes("shop/web-v1", replace(_READY, container="web_app")),
        "name-invalid",
        "workloads[shop/web-v1].probes[0].container",
    ),
]


def _dest(name: str = "web", port: int | None = None, **changes: Any) -> Mutation:
    """Add a destination entry for `shop/<name>` (and `port`) with `changes`."""
    entry = Destination(name, "shop", port, **changes)
    return lambda s: replace(s, destinations=(*s.destinations, entry))


_HEADLESS_WEB = Service(
    "web-hl", "shop", labels({"app": "web", "version": "v1"}), (HTTP_PORT,), headless=True
)


def _route(**changes: Any) -> DestinationRoute:
    return DestinationRoute(**{"backend": "web-v2", **changes})


def _tracing(tracing: Tracing) -> Mutation:
    return lambda s: change_settings(s, observability=Observability(tracing=tracing))


DESTINATION_ROWS = [
    row(
        "a destination naming no service",
        _dest("webb", timeout=Duration(1000)),
        "destination-unknown-service",
        "destinations[shop/webb].service",
    ),
    row(
        "a destination port the service does not have",
        _dest("web", 9999, timeout=Duration(1000)),
        "destination-unknown-port",
        "destinations[shop/web:9999].port",
    ),
    row(
        "one service declared twice",
        lambda s: _dest("web-v1")(_dest("web-v1")(s)),
        "destination-duplicate",
        "destinations[shop/web-v1]",
    ),
    row(
        "retries on a TCP-only service",
        _dest("db", retries=Retries()),
        "destination-http-only",
        "destinations[shop/db].retries",
    ),
    row(
        "a connect timeout of zero",
        _dest("web-v1", connect_timeout=Duration(0)),
        "destination-duration-invalid",
        "destinations[shop/web-v1].connectTimeout",
    ),
    row(
        "a keepalive time that is not whole seconds",
        _dest("web-v1", connection_pool=ConnectionPool(tcp_keepalive=TcpKeepalive(Duration(1500)))),
        "destination-duration-invalid",
        "destinations[shop/web-v1].connectionPool.tcpKeepalive.time",
    ),
    row(
        "a per-try timeout longer than the route timeout",
        _dest(timeout=Duration(2000), retries=Retries(per_try_timeout=Duration(5000))),
        "destination-per-try-timeout-too-long",
        "destinations[shop/web].retries.perTryTimeout",
    ),
    row(
        "a per-try timeout longer than the default route timeout",
        _dest(retries=Retries(per_try_timeout=Duration(20_000))),
        "destination-per-try-timeout-too-long",
        "destinations[shop/web].retries.perTryTimeout",
    ),
    row(
        "a negative number of retries",
        _dest(retries=Retries(attempts=-1)),
        "destination-retries-negative",
        "destinations[shop/web].retries.attempts",
    ),
    row(
        "a misspelt retry condition",
        _dest(retries=Retries(retry_on=("5xxx",))),
        "destination-retry-on-unknown",
        "destinations[shop/web].retries.retryOn[0]",
    ),
    row(
        "a circuit breaker allowing no connection",
        _dest("web-v1", circuit_breakers=CircuitBreakers(max_connections=0)),
        "destination-limit-invalid",
        "destinations[shop/web-v1].circuitBreakers.maxConnections",
    ),
    row(
        "both a fixed retry cap and a retry budget",
        _dest(
            "web-v1", circuit_breakers=CircuitBreakers(max_retries=3, retry_budget=RetryBudget())
        ),
        "destination-retry-limit-conflict",
        "destinations[shop/web-v1].circuitBreakers",
    ),
    row(
        "ejecting more than every pod",
        _dest("web-v1", outlier_detection=OutlierDetection(max_ejection_percent=120)),
        "destination-percent-invalid",
        "destinations[shop/web-v1].outlierDetection.maxEjectionPercent",
    ),
    row(
        "a rate limit of zero",
        _dest("web-v1", rate_limit=RateLimit(0)),
        "destination-rate-limit-invalid",
        "destinations[shop/web-v1].rateLimit.requestsPerSecond",
    ),
    row(
        "a fault with neither delay nor abort",
        _dest("web-v1", fault=Fault()),
        "destination-fault-empty",
        "destinations[shop/web-v1].fault",
    ),
    row(
        "an abort with a status that is not HTTP",
        _dest("web-v1", fault=Fault(abort=FaultAbort(700))),
        "destination-fault-status-invalid",
        "destinations[shop/web-v1].fault.abort.status",
    ),
    row(
        "a mirror to a backend of the split",
        _dest(mirror=Mirror("web-v1")),
        "destination-mirror-same-backend",
        "destinations[shop/web].mirror.service",
    ),
    row(
        "a route to a service that does not exist",
        _dest(routes=(_route(backend="web-v9"),)),
        "destination-backend-unknown",
        "destinations[shop/web].routes[0].backend",
    ),
    row(
        "a route to a service without the port",
        _dest(routes=(_route(backend="db"),)),
        "destination-backend-port-missing",
        "destinations[shop/web].routes[0].backend",
    ),
    row(
        "a route to a headless service",
        lambda s: _dest(routes=(_route(backend="web-hl"),))(add(s, _HEADLESS_WEB)),
        "destination-backend-headless",
        "destinations[shop/web].routes[0].backend",
    ),
    row(
        "a route that neither routes nor limits",
        _dest(routes=(DestinationRoute(),)),
        "destination-route-no-effect",
        "destinations[shop/web].routes[0]",
    ),
    row(
        "routes on a headless service",
        lambda s: _dest("web-hl", routes=(_route(backend="web-v1"),))(add(s, _HEADLESS_WEB)),
        "destination-headless-routing",
        "destinations[shop/web-hl].routes",
    ),
    row(
        "a rate limit on a split root",
        _dest(rate_limit=RateLimit(10)),
        "destination-inbound-on-split-root",
        "destinations[shop/web].rateLimit",
    ),
    row(
        "a route path regex RE2 refuses",
        _dest(routes=(_route(match=HttpRule(path=PathMatch(PathMatchKind.REGEX, "(a"))),)),
        "route-regex-invalid",
        "destinations[shop/web].routes[0].match.path.regex",
    ),
    row(
        "a route path prefix without a slash",
        _dest(routes=(_route(match=HttpRule(path=PathMatch(PathMatchKind.PREFIX, "api"))),)),
        "route-path-invalid",
        "destinations[shop/web].routes[0].match.path.prefix",
    ),
    row(
        "a route method in lowercase",
        _dest(routes=(_route(match=HttpRule(methods=("get",))),)),
        "route-method-invalid",
        "destinations[shop/web].routes[0].match.methods[0]",
    ),
    row(
        "a route header name in capitals",
        _dest(routes=(_route(match=HttpRule(headers=(HeaderMatch("X-Canary", "true"),))),)),
        "route-header-invalid",
        "destinations[shop/web].routes[0].match.headers[X-Canary]",
    ),
    row(
        "a tracing collector without a port",
        _tracing(Tracing("otel-collector.observability")),
        "tracing-address-invalid",
        "mesh.observability.tracing.address",
    ),
    row(
        "tracing more than every request",
        _tracing(Tracing("otel-collector.observability:4317", sampling_percent=101)),
        "tracing-sampling-invalid",
        "mesh.observability.tracing.samplingPercent",
    ),
]

_EDGE = Identity("ingress", "edge")
_AT = "ingress[shop/edge]"


def _ingress(
    service: str = "web",
    ports: tuple[int, ...] = (8080,),
    http: tuple[HttpRule, ...] = (),
    **sources: Any,
) -> Mutation:
    """Add the ingress entry `shop/edge` for `shop/<service>` (identity `ingress/edge`)."""
    given = IngressSources(**{"identities": (_EDGE,), **sources})
    entry = Ingress("edge", "shop", service, ports, given, http)
    return lambda s: replace(s, ingress=(*s.ingress, entry))


_NO_INBOUND_8080 = Interception(inbound_port_exclusions=(8080,))

INGRESS_ROWS = [
    row(
        "an ingress to an undeclared service",
        _ingress("wbe"),
        "ingress-unknown-service",
        f"{_AT}.service",
    ),
    row(
        "an ingress port the service lacks",
        _ingress(ports=(9999,)),
        "ingress-unknown-port",
        f"{_AT}.ports[0]",
    ),
    row(
        "an ingress port twice",
        _ingress(ports=(8080, 8080)),
        "ingress-port-repeated",
        f"{_AT}.ports[1]",
    ),
    row(
        "an ingress without sources",
        _ingress(identities=()),
        "ingress-no-sources",
        f"{_AT}.sources",
    ),
    row(
        "an ingress range that is no CIDR",
        _ingress(ip_ranges=("10.0.0.0/33",), plaintext=True),
        "ingress-ip-range-invalid",
        f"{_AT}.sources.ipRanges[0]",
    ),
    row(
        "an ingress identity twice",
        _ingress(identities=(_EDGE, _EDGE)),
        "ingress-source-repeated",
        f"{_AT}.sources.identities[1]",
    ),
    row(
        "plaintext ranges not acknowledged",
        _ingress(ip_ranges=("10.0.0.0/8",)),
        "ingress-plaintext-unacknowledged",
        f"{_AT}.sources.plaintext",
    ),
    row(
        "plaintext acknowledged with no range",
        _ingress(plaintext=True),
        "ingress-plaintext-without-ranges",
        f"{_AT}.sources.plaintext",
    ),
    row(
        "plaintext from every address not acknowledged",
        _ingress(ip_ranges=("0.0.0.0/0",), plaintext=True),
        "ingress-any-address",
        f"{_AT}.sources.ipRanges",
    ),
    row(
        "anyAddress with no such range",
        _ingress(any_address=True),
        "ingress-any-address-unused",
        f"{_AT}.sources.anyAddress",
    ),
    row(
        "two ingress entries of one name",
        lambda s: _ingress()(_ingress()(s)),
        "ingress-duplicate",
        _AT,
    ),
    row(
        "ingress http rules on a TCP port",
        _ingress("db", (5432,), (HttpRule(),)),
        "ingress-http-on-tcp-only",
        f"{_AT}.http",
    ),
    row(
        "an ingress path without its slash",
        _ingress(http=(HttpRule(path=PathMatch(PathMatchKind.PREFIX, "api")),)),
        "ingress-path-invalid",
        f"{_AT}.http[0].path.prefix",
    ),
    row(
        "an ingress method in lowercase",
        _ingress(http=(HttpRule(methods=("get",)),)),
        "ingress-method-invalid",
        f"{_AT}.http[0].methods[0]",
    ),
    row(
        "an ingress header in uppercase",
        _ingress(http=(HttpRule(headers=(HeaderMatch("X-Api", "v1"),)),)),
        "ingress-header-invalid",
        f"{_AT}.http[0].headers[X-Api]",
    ),
    row(
        "an ingress regex RE2 rejects",
        _ingress(http=(HttpRule(path=PathMatch(PathMatchKind.REGEX, "/(?=a)")),)),
        "ingress-regex-invalid",
        f"{_AT}.http[0].path.regex",
    ),
    row(
        "an ingress port excluded from interception",
        lambda s: _ingress()(change_proxy(s, interception=_NO_INBOUND_8080)),
        "ingress-port-not-intercepted",
        f"{_AT}.ports[0]",
    ),
]


def _egress(*rules: EgressRule) -> Mutation:
    return lambda s: replace(s, egress=rules)


def _tls(*hosts: str, ports: tuple[int, ...] = (443,), name: str = "out") -> EgressRule:
    return EgressRule(name, "client", tls=EgressHosts(hosts, ports))


def _tcp(*cidrs: str, port: int = 5432, namespace: str = "client") -> EgressRule:
    return EgressRule("db-out", namespace, tcp=EgressAddresses(cidrs, (port,)))


EGRESS_AT = "egress[client/out]"
# The rest of the egress checks: tests/test_egress.py.
EGRESS_ROWS = [
    row("an egress CIDR with host bits", _egress(_tcp("10.0.0.1/8")), "egress-cidr-invalid",
        "egress[client/db-out].tcp.cidrs[0]"),
    row("two egress rules of one name", _egress(_tls("a.example.com"), _tls("b.example.com")),
        "egress-duplicate", EGRESS_AT),
    row("an egress host twice", _egress(_tls("a.example.com", "a.example.com")),
        "egress-duplicate-entry", f"{EGRESS_AT}.tls.hosts[1]"),
    row("an empty egress host", _egress(_tls("")), "egress-host-empty",
        f"{EGRESS_AT}.tls.hosts[0]"),
    row("a mesh service as egress host", _egress(_tls("web.shop")), "egress-host-in-mesh",
        f"{EGRESS_AT}.tls.hosts[0]"),
    row("an egress host with a space", _egress(_tls("a b.com")), "egress-host-invalid",
        f"{EGRESS_AT}.tls.hosts[0]"),
    row("every host allowed out", _egress(_tls("*")), "egress-host-wildcard-all",
        f"{EGRESS_AT}.tls.hosts[0]"),
    row("egress to port 0", _egress(_tls("a.example.com", ports=(0,))), "egress-port-invalid",
        f"{EGRESS_AT}.tls.ports[0]"),
    row("an egress rule that allows nothing", _egress(EgressRule("out", "client")),
        "egress-rule-empty", EGRESS_AT),
    row("an egress rule in a namespace without workloads",
        _egress(EgressRule("out", "nowhere", tls=EgressHosts(("a.example.com",), (443,)))),
        "egress-selects-nothing", "egress[nowhere/out]"),
    row("an egress range on a mesh TCP port the workload reaches",
        _egress(_tcp("203.0.113.0/24", namespace="shop")), "egress-port-conflict",
        "workloads[shop/web-v1]"),
]  # fmt: skip

ROWS = (
    SETTINGS_ROWS
    + SERVICE_ROWS
    + WORKLOAD_ROWS
    + SPLIT_ROWS
    + POLICY_ROWS
    + GRAPH_ROWS
    + PROBE_ROWS
    + DESTINATION_ROWS
    + INGRESS_ROWS
    + EGRESS_ROWS
)


def _codes_and_paths(problems: tuple[Problem, ...]) -> set[tuple[str, str]]:
    return {(problem.code, problem.path) for problem in problems}


def test_the_base_spec_has_no_problems() -> None:
    spec = base_spec()
    assert find_problems(spec) == ()
    assert validate(spec) is spec


def test_an_https_probe_may_share_its_kind_with_http_and_grpc_probes() -> None:
    """It is answered like an HTTP probe, at its container's path: no listener of its own."""
    tls = replace(_READY, container="tls", port=8443, https=True)
    grpc = Probe(ProbeKind.READINESS, "helper", ProbeAction.GRPC, 9090)
    assert find_problems(_probes("shop/web-v1", _READY, tls, grpc)(base_spec())) == ()


@pytest.mark.parametrize(("mutate", "code", "path"), ROWS)
def test_each_mistake_is_reported_with_its_code_at_its_path(
    mutate: Mutation, code: str, path: str
) -> None:
    with pytest.raises(MeshValidationError) as excinfo:
        validate(mutate(base_spec()))
    assert code in excinfo.value.codes
    assert (code, path) in _codes_and_paths(excinfo.value.problems)


@pytest.mark.parametrize(("mutate", "code", "path"), ROWS)
def test_every_problem_says_what_was_expected_what_was_found_and_how_to_fix_it(
    mutate: Mutation, code: str, path: str
) -> None:
    problems = find_problems(mutate(base_spec()))
    assert problems == tuple(sorted(set(problems)))
    for problem in problems:
        assert problem.code in CODES
        assert problem.path and problem.expected and problem.found and problem.fix


def test_every_code_has_a_row_in_the_table() -> None:
    assert {param.values[1] for param in ROWS} == CODES  # type: ignore[attr-defined]


def test_several_different_mistakes_are_all_reported_at_once() -> None:
    spec = base_spec()
    spec = change_proxy(spec, uid=0)
    spec = change_service(spec, DB, ports=())
    spec = change_workload(spec, BUYER, service_account="")
    spec = change_backend(spec, SPLIT, 0, weight=-5)
    spec = change_policy(spec, TO_WEB, sources=())
    with pytest.raises(MeshValidationError) as excinfo:
        validate(spec)
    assert _codes_and_paths(excinfo.value.problems) >= {
        ("proxy-uid-invalid", "mesh.proxy.uid"),
        ("service-no-ports", "services[shop/db].ports"),
        ("workload-no-service-account", "workloads[client/buyer].serviceAccount"),
        ("split-weight-negative", f"{SPLIT_AT}.backends[0].weight"),
        ("policy-no-sources", f"{TO_WEB_AT}.sources"),
    }


VALID_VARIANTS = [
    pytest.param(
        lambda s: change_workload(s, "shop/web-v1", name="web.v1"), id="a workload name with dots"
    ),
    pytest.param(lambda s: change_service_port(s, DB, 0, name=""), id="one unnamed service port"),
    pytest.param(
        lambda s: change_service_port(s, WEB, 0, name="bookwarehouse-port"),
        id="a service port name over 15 characters, as in OSM's demo",
    ),
    pytest.param(
        lambda s: change_backend(s, SPLIT, 1, weight=0), id="an idle backend with weight 0"
    ),
    pytest.param(
        lambda s: change_service(s, DB, headless=True), id="a headless service outside any split"
    ),
    pytest.param(
        lambda s: change_workload(
            s, BUYER, labels=labels({"app.kubernetes.io/name": "buyer", "tier": ""})
        ),
        id="a prefixed label key and an empty label value",
    ),
    pytest.param(
        lambda s: change_settings(s, mtls=MtlsMode.PERMISSIVE, trust_domain="mesh.example.com"),
        id="permissive mtls and a custom trust domain",
    ),
    pytest.param(
        lambda s: change_settings(replace(s, policies=()), access=AccessMode.OPEN),
        id="open mode with no policies",
    ),
    pytest.param(
        lambda s: change_policy(s, TO_DB, tcp_ports=()), id="a tcp policy for every tcp port"
    ),
    pytest.param(
        lambda s: change_policy(
            s, TO_WEB, destination=PolicyDestination(identity=Identity("shop", "web"))
        ),
        id="an identity destination behind a split",
    ),
    pytest.param(
        lambda s: change_rule(s, TO_WEB, path=None, methods=(), headers=()),
        id="an http rule that matches everything",
    ),
    pytest.param(
        lambda s: change_service(s, WEB, selector=labels({"app": "web", "version": "v1"})),
        id="a root selecting only one backend's pods",
    ),
]


@pytest.mark.parametrize("mutate", VALID_VARIANTS)
def test_unusual_but_valid_declarations_have_no_problems(mutate: Mutation) -> None:
    assert find_problems(mutate(base_spec())) == ()


# Regexes. Envoy 1.40 gives the same verdict as ours on ACCEPTED and REJECTED (checked below).
ACCEPTED = [
    ".*a-book.*new",
    "/books/[0-9]+",
    "a{2,3}?",
    "(?i)abc",
    "[]a]",
    r"[\]]",
    "[^]a]",
    "a+?",
    r"\+\+",
    "(?P<id>[0-9]+)",
    "x{}",
    "[-a]",
    "^/api$",
    "x{2,}",
    r"\d+\.\d+",
    "(?s).*",
]
REJECTED = [
    "",
    "(?=x)",
    "(?!x)",
    "(?<=x)a",
    "(?<!x)a",
    r"(a)\1",
    "(?P<n>a)(?P=n)",
    "a++",
    "a*+",
    "a{2}+",
    "(?>a)",
    "(?(1)a|b)",
    "(?#c)a",
    r"a\Z",
    "(?x)a b",
    "(?u)a",
    "(?a)a",
    "a{1001}",
    "[a--b]",
    r"\N{DIGIT ONE}",
    r"\u0041",
    "(a",
    "[a-z",
]
# Envoy accepts these, and we reject them on purpose: '{,3}' means a repeat to Python but
# literal text to RE2, Python warns that '[[' and '&&' will change meaning, and Python cannot
# compile RE2's '\pL', '\z' or '(?U)'.
REJECTED_ON_PURPOSE = ["a{,3}", "/[a-z0-9]{1,1000}"]
EXTREME = ["a{" + "9" * 5000 + "}", "(" * 5000 + ")" * 5000, "x" * 100_000]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_a_regex_both_python_and_re2_accept_is_fine(pattern: str) -> None:
    assert find_problems(_header(regex=pattern)(base_spec())) == ()
    assert find_problems(_path(PathMatchKind.REGEX, pattern)(base_spec())) == ()


@pytest.mark.parametrize("pattern", REJECTED + REJECTED_ON_PURPOSE + EXTREME[:2])
def test_a_regex_envoy_would_reject_or_read_differently_is_reported(pattern: str) -> None:
    problems = _codes_and_paths(find_problems(_header(regex=pattern)(base_spec())))
    assert problems == {("policy-regex-invalid", f"{TO_WEB_AT}.http[0].headers[x-client]")}


def test_a_huge_regex_is_refused_for_its_program_size() -> None:
    problems = find_problems(_header(regex=EXTREME[2])(base_spec()))
    assert {p.code for p in problems} == {"policy-regex-invalid"}


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="()[]{}?*+\\.^$|-&~,:=!<>#P1aZuz0x", max_size=12))
def test_scanning_any_regex_never_raises_nor_warns(pattern: str) -> None:
    find_problems(_header(regex=pattern)(base_spec()))  # warnings are errors in this suite


@pytest.mark.envoy
def test_regex_verdicts_agree_with_a_real_envoy(envoy_binary: Path) -> None:
    patterns = ACCEPTED + REJECTED
    verdicts = [envoy_check.validate_yaml(envoy_binary, p, _route_config(p)) for p in patterns]
    envoy = {verdict.name: verdict.accepted for verdict in verdicts}
    ours = {pattern: _accepted(pattern) for pattern in patterns}
    assert ours == envoy


def _accepted(pattern: str) -> bool:
    return not find_problems(_path(PathMatchKind.REGEX, pattern)(base_spec()))


def _route_config(pattern: str) -> str:
    """A bootstrap whose one route matches the path with `pattern` (JSON is valid YAML)."""
    typed = "type.googleapis.com/envoy.extensions.filters"
    router = {"name": "router", "typed_config": {"@type": f"{typed}.http.router.v3.Router"}}
    route = {"match": {"safe_regex": {"regex": pattern}}, "direct_response": {"status": 200}}
    manager = {
        "@type": f"{typed}.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "test",
        "http_filters": [router],
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
    }
    listener = {
        "name": "test",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 10000}},
        "filter_chains": [{"filters": [{"name": "hcm", "typed_config": manager}]}],
    }
    return json.dumps({"static_resources": {"listeners": [listener]}})


# Odd input: every check must cope with what other checks report.
def test_an_empty_mesh_reports_only_its_missing_name() -> None:
    problems = find_problems(MeshSpec(settings=MeshSettings(name="")))
    assert _codes_and_paths(problems) == {("name-invalid", "mesh.name")}


def test_empty_strings_and_empty_collections_everywhere_never_crash() -> None:
    proxy = ProxySettings(image="", uid=-1, concurrency=-1, ports=ProxyPorts(*[0] * 8))
    blank_labels = (("", ""),)
    workload = Workload(
        "",
        "",
        "",
        labels=blank_labels,
        ports=(ContainerPort(0, ""),),
        probes=(Probe(ProbeKind.STARTUP, "", ProbeAction.HTTP, 0, ""),),
    )
    rule = HttpRule(PathMatch(PathMatchKind.REGEX, ""), ("",), (HeaderMatch("", ""),))
    policy = AccessPolicy("", "", PolicyDestination(), (), (rule,), tcp=False, tcp_ports=(0,))
    empty = MeshSpec(
        settings=MeshSettings(name="", trust_domain="", cluster_domain="", proxy=proxy),
        services=(
            Service("", "", (), ()),
            Service("", "", blank_labels, (ServicePort("", 0, Protocol.TCP, ""),)),
        ),
        workloads=(workload, workload),
        splits=(TrafficSplit("", "", "", ()), TrafficSplit("", "", "", (SplitBackend("", 0),) * 2)),
        policies=(policy, policy),
    )
    codes = {problem.code for problem in find_problems(empty)}
    assert {"name-invalid", "proxy-uid-invalid", "service-duplicate", "workload-duplicate"} <= codes


def test_the_order_of_declarations_does_not_change_the_problems() -> None:
    spec = change_backend(change_service(base_spec(), DB, ports=()), SPLIT, 0, service="x.other")
    backwards = replace(
        spec,
        services=spec.services[::-1],
        workloads=spec.workloads[::-1],
        splits=spec.splits[::-1],
        policies=spec.policies[::-1],
    )
    assert find_problems(backwards) == find_problems(spec) != ()


def test_the_checks_are_data_and_pure() -> None:
    spec = change_proxy(base_spec(), uid=0)
    assert all(callable(check) for check in CHECKS)
    assert [list(check(spec)) for check in CHECKS] == [list(check(spec)) for check in CHECKS]


NAMES = st.sampled_from(["", "a", "web", "Web", "db", "a.b", "a/b", "-", "x" * 70, "shop", "http"])
PORTS = st.sampled_from([-1, 0, 1, 5432, 8080, 15000, 65536])
PAIRS = st.lists(st.tuples(NAMES, NAMES), max_size=3).map(tuple)
REGEXES = st.text(alphabet="()[]{}?*+\\.^$|-&~,:=!<>#P1aZ", max_size=8)


def _tuples(
    elements: st.SearchStrategy[object], size: int = 3
) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(elements, max_size=size).map(tuple)


ODD_SPECS = st.builds(
    MeshSpec,
    settings=st.builds(
        MeshSettings,
        name=NAMES,
        trust_domain=NAMES,
        cluster_domain=NAMES,
        access=st.sampled_from(AccessMode),
        proxy=st.builds(
            ProxySettings,
            image=NAMES,
            uid=st.integers(-1, 2),
            concurrency=st.integers(-1, 2),
            ports=st.builds(ProxyPorts, admin=PORTS, outbound=PORTS, inbound=PORTS),
        ),
    ),
    services=_tuples(
        st.builds(
            Service,
            name=NAMES,
            namespace=NAMES,
            selector=PAIRS,
            ports=_tuples(
                st.builds(
                    ServicePort,
                    name=NAMES,
                    port=PORTS,
                    protocol=st.sampled_from(Protocol),
                    target_port=st.one_of(st.none(), PORTS, NAMES),
                )
            ),
            headless=st.booleans(),
        ),
        4,
    ),
    workloads=_tuples(
        st.builds(
            Workload,
            name=NAMES,
            namespace=NAMES,
            service_account=NAMES,
            kind=st.sampled_from(WorkloadKind),
            labels=PAIRS,
            ports=_tuples(st.builds(ContainerPort, port=PORTS, name=st.one_of(st.none(), NAMES))),
            probes=_tuples(
                st.builds(
                    Probe,
                    kind=st.sampled_from(ProbeKind),
                    container=NAMES,
                    action=st.sampled_from(ProbeAction),
                    port=PORTS,
                    path=NAMES,
                )
            ),
        ),
        4,
    ),
    splits=_tuples(
        st.builds(
            TrafficSplit,
            name=NAMES,
            namespace=NAMES,
            root=NAMES,
            backends=_tuples(
                st.builds(SplitBackend, service=NAMES, weight=st.sampled_from([-1, 0, 1, 2**32]))
            ),
        )
    ),
    policies=_tuples(
        st.builds(
            AccessPolicy,
            name=NAMES,
            namespace=NAMES,
            destination=st.builds(
                PolicyDestination,
                service=st.one_of(st.none(), st.builds(ServiceRef, NAMES, NAMES)),
                identity=st.one_of(st.none(), st.builds(Identity, NAMES, NAMES)),
            ),
            sources=_tuples(st.builds(Identity, NAMES, NAMES)),
            http_rules=_tuples(
                st.builds(
                    HttpRule,
                    path=st.one_of(
                        st.none(),
                        st.builds(
                            PathMatch, st.sampled_from(PathMatchKind), st.one_of(NAMES, REGEXES)
                        ),
                    ),
                    methods=_tuples(st.sampled_from(["GET", "get", "*", ""])),
                    headers=_tuples(st.builds(HeaderMatch, NAMES, REGEXES)),
                ),
                2,
            ),
            tcp=st.booleans(),
            tcp_ports=_tuples(PORTS),
        )
    ),
)


@settings(max_examples=300, deadline=None)
@given(ODD_SPECS)
def test_find_problems_never_raises_on_odd_but_typed_input(spec: MeshSpec) -> None:
    problems = find_problems(spec)
    assert problems == tuple(sorted(set(problems)))
    assert {problem.code for problem in problems} <= CODES
    if problems:
        with pytest.raises(MeshValidationError):
            validate(spec)
    else:
        assert validate(spec) is spec
