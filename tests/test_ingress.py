"""Ingress entries: the loader reads them strictly, validation names each mistake, the compiler
opens only the declared ports to the declared sources, and render issues each ingress identity
its certificate Secret.

Behaviour on the wire (mTLS with the issued certificate, plaintext by source address) is proven
in the local data plane by tests/test_local_ingress.py; goldens cover the emitted config.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509

from mesh_components import names
from mesh_components.compiler import compile_mesh
from mesh_components.compiler.plan import InboundPort
from mesh_components.errors import MeshValidationError
from mesh_components.model import MeshSpec
from mesh_components.model.loader import load_spec
from mesh_components.model.writer import spec_document
from mesh_components.pipeline.build import build
from mesh_components.pipeline.render import render
from mesh_components.validate import find_problems
from tests.test_render import NOW, make_ca

Spec = dict[str, Any]

NGINX = "spiffe://cluster.local/ns/ingress-nginx/sa/ingress-nginx"

BASE: Spec = {
    "mesh": {"name": "shop", "access": "policy"},
    "services": [
        {
            "name": "web",
            "namespace": "shop",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "http-admin", "port": 9090},
            ],
        },
        {
            "name": "db",
            "namespace": "shop",
            "selector": {"app": "db"},
            "ports": [{"name": "tcp-pg", "port": 5432}],
        },
    ],
    "workloads": [
        {"name": "web", "namespace": "shop", "serviceAccount": "web", "labels": {"app": "web"}},
        {"name": "db", "namespace": "shop", "serviceAccount": "db", "labels": {"app": "db"}},
    ],
    "ingress": [
        {
            "name": "edge",
            "namespace": "shop",
            "service": "web",
            "ports": [80],
            "sources": {
                "identities": [{"serviceAccount": "ingress-nginx", "namespace": "ingress-nginx"}],
                "ipRanges": ["10.244.0.0/16"],
                "plaintext": True,
            },
            "http": [{"path": {"prefix": "/shop/"}}],
        }
    ],
}


def spec_with(change: Callable[[Spec], object] | None = None) -> MeshSpec:
    raw = copy.deepcopy(BASE)
    if change is not None:
        change(raw)
    return load_spec(raw)


def entry(raw: Spec) -> Spec:
    entry: Spec = raw["ingress"][0]
    return entry


def sources(raw: Spec) -> Spec:
    found: Spec = entry(raw)["sources"]
    return found


def test_the_base_spec_is_valid_and_round_trips_through_the_writer() -> None:
    spec = spec_with()
    assert find_problems(spec) == ()
    assert load_spec(spec_document(spec)) == spec


INVALID: dict[str, tuple[Callable[[Spec], object], str, str]] = {
    "unknown service": (
        lambda r: entry(r).update(service="wbe"),
        "ingress[shop/edge].service",
        "ingress-unknown-service",
    ),
    "a targetPort instead of the service port": (
        lambda r: entry(r).update(ports=[8080]),
        "ingress[shop/edge].ports[0]",
        "ingress-unknown-port",
    ),
    "a port twice": (
        lambda r: entry(r).update(ports=[80, 80]),
        "ingress[shop/edge].ports[1]",
        "ingress-port-repeated",
    ),
    "no sources": (
        lambda r: entry(r).update(sources={}),
        "ingress[shop/edge].sources",
        "ingress-no-sources",
    ),
    "a malformed CIDR": (
        lambda r: sources(r).update(ipRanges=["10.244.0.0/33"]),
        "ingress[shop/edge].sources.ipRanges[0]",
        "ingress-ip-range-invalid",
    ),
    "a CIDR with host bits": (
        lambda r: sources(r).update(ipRanges=["10.244.1.7/16"]),
        "ingress[shop/edge].sources.ipRanges[0]",
        "ingress-ip-range-invalid",
    ),
    "a bare address": (
        lambda r: sources(r).update(ipRanges=["10.244.1.7"]),
        "ingress[shop/edge].sources.ipRanges[0]",
        "ingress-ip-range-invalid",
    ),
    "a range twice": (
        lambda r: sources(r).update(ipRanges=["10.0.0.0/8", "10.0.0.0/8"]),
        "ingress[shop/edge].sources.ipRanges[1]",
        "ingress-source-repeated",
    ),
    "an identity twice": (
        lambda r: sources(r)["identities"].append(copy.deepcopy(sources(r)["identities"][0])),
        "ingress[shop/edge].sources.identities[1]",
        "ingress-source-repeated",
    ),
    "ranges without the plaintext acknowledgment": (
        lambda r: sources(r).pop("plaintext"),
        "ingress[shop/edge].sources.plaintext",
        "ingress-plaintext-unacknowledged",
    ),
    "plaintext without ranges": (
        lambda r: sources(r).pop("ipRanges"),
        "ingress[shop/edge].sources.plaintext",
        "ingress-plaintext-without-ranges",
    ),
    "every IPv4 address without anyAddress": (
        lambda r: sources(r).update(ipRanges=["0.0.0.0/0"]),
        "ingress[shop/edge].sources.ipRanges",
        "ingress-any-address",
    ),
    "every IPv6 address without anyAddress": (
        lambda r: sources(r).update(ipRanges=["::/0"]),
        "ingress[shop/edge].sources.ipRanges",
        "ingress-any-address",
    ),
    "anyAddress with narrow ranges": (
        lambda r: sources(r).update(anyAddress=True),
        "ingress[shop/edge].sources.anyAddress",
        "ingress-any-address-unused",
    ),
    "an identity that cannot hold a certificate Secret": (
        lambda r: sources(r)["identities"][0].update(serviceAccount="Ingress_Nginx"),
        "ingress[shop/edge].sources.identities[0].serviceAccount",
        "name-invalid",
    ),
    "two entries of one name": (
        lambda r: r["ingress"].append(copy.deepcopy(r["ingress"][0])),
        "ingress[shop/edge]",
        "ingress-duplicate",
    ),
    "HTTP rules on TCP ports only": (
        lambda r: entry(r).update(service="db", ports=[5432]),
        "ingress[shop/edge].http",
        "ingress-http-on-tcp-only",
    ),
    "a bad path": (
        lambda r: entry(r).update(http=[{"path": {"prefix": "shop/"}}]),
        "ingress[shop/edge].http[0].path.prefix",
        "ingress-path-invalid",
    ),
    "a port the sidecar does not intercept": (
        lambda r: r["mesh"].update(proxy={"interception": {"inboundPortExclusions": [8080]}}),
        "ingress[shop/edge].ports[0]",
        "ingress-port-not-intercepted",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_mistake_is_reported_at_its_field(case: str) -> None:
    change, path, code = INVALID[case]
    problems = find_problems(spec_with(change))
    assert (path, code) in {(p.path, p.code) for p in problems}, problems


def test_every_range_that_covers_everything_is_accepted_once_acknowledged() -> None:
    def everything(raw: Spec) -> None:
        sources(raw).update(ipRanges=["0.0.0.0/0", "::/0"], anyAddress=True)

    assert find_problems(spec_with(everything)) == ()


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        (lambda r: entry(r).pop("ports"), "ingress[edge].ports", "spec-missing-field"),
        (lambda r: entry(r).update(ports=[]), "ingress[edge].ports", "spec-invalid-value"),
        (
            lambda r: sources(r).update(ipRanges=[]),
            "ingress[edge].sources.ipRanges",
            "spec-invalid-value",
        ),
        (
            lambda r: sources(r).update(plain=True),
            "ingress[edge].sources.plain",
            "spec-unknown-key",
        ),
        (
            lambda r: sources(r).update(plaintext="yes"),
            "ingress[edge].sources.plaintext",
            "spec-wrong-type",
        ),
        (lambda r: entry(r).pop("sources"), "ingress[edge].sources", "spec-missing-field"),
    ],
)
def test_the_loader_refuses_malformed_entries(
    change: Callable[[Spec], object], path: str, code: str
) -> None:
    with pytest.raises(MeshValidationError) as raised:
        spec_with(change)
    assert (path, code) in {(p.path, p.code) for p in raised.value.problems}


def _inbound(spec: MeshSpec, workload: str) -> dict[int, InboundPort]:
    (plan,) = [w for w in compile_mesh(spec).workloads if w.workload.name == workload]
    return {port.port: port for port in plan.inbound}


def test_the_identity_is_allowed_on_the_declared_port_only_with_the_entry_rules() -> None:
    ports = _inbound(spec_with(), "web")
    assert ports[80].access is not None
    (rule,) = ports[80].access
    assert rule.principals == (NGINX,)
    assert rule.http is not None and rule.http.path is not None
    assert rule.http.path.value == "/shop/"
    assert ports[9090].access == ()  # the admin port: nobody, ingress included


def test_ip_ranges_become_plaintext_rules_on_the_declared_port_only() -> None:
    ports = _inbound(spec_with(), "web")
    (rule,) = ports[80].plaintext
    assert rule.principals == () and rule.source_ranges == ("10.244.0.0/16",)
    assert ports[9090].plaintext == ()


def test_in_open_mode_an_ingress_identity_is_refused_where_it_was_not_declared() -> None:
    spec = spec_with(lambda r: r["mesh"].update(access="open"))
    ports = _inbound(spec, "web")
    assert ports[80].access is None and ports[80].refused == ()
    assert ports[9090].refused == (NGINX,)
    assert _inbound(spec, "db")[5432].refused == (NGINX,)


def test_an_ingress_identity_that_also_runs_a_workload_is_never_refused() -> None:
    def meshed(raw: Spec) -> None:
        raw["mesh"]["access"] = "open"
        raw["workloads"].append(
            {
                "name": "ingress-nginx",
                "namespace": "ingress-nginx",
                "serviceAccount": "ingress-nginx",
                "labels": {"app": "ingress-nginx"},
            }
        )

    assert _inbound(spec_with(meshed), "web")[9090].refused == ()


def test_the_emitted_plaintext_chain_matches_the_app_port_and_the_ranges() -> None:
    (web,) = [w for w in build(spec_with()).workloads if w.plan.workload.name == "web"]
    (inbound,) = [x for x in web.envoy.listeners if x["name"] == names.INBOUND_LISTENER]
    (chain,) = [c for c in inbound["filter_chains"] if c["name"].startswith("inbound|ingress")]
    assert chain["filter_chain_match"] == {
        "destination_port": 8080,
        "transport_protocol": "raw_buffer",
        "source_prefix_ranges": [{"address_prefix": "10.244.0.0", "prefix_len": 16}],
    }
    assert "transport_socket" not in chain


def test_render_issues_the_ingress_identity_a_certificate_secret_in_its_namespace() -> None:
    spec = spec_with(_with_images)
    objects = render(spec, make_ca(), NOW).objects
    found = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
    secret = ("Secret", "ingress-nginx", names.identity_secret("ingress-nginx"))
    assert secret in found
    assert ("ServiceAccount", "ingress-nginx", "ingress-nginx") not in found
    (obj,) = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == secret[2]]
    assert set(obj["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    cert = x509.load_pem_x509_certificate(base64.b64decode(obj["data"]["tls.crt"]))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [NGINX]


def test_cert_manager_mode_makes_a_certificate_for_the_ingress_identity() -> None:
    def cert_manager(raw: Spec) -> None:
        _with_images(raw)
        raw["mesh"]["certificates"] = {"issuer": "cert-manager", "issuerRef": {"name": "mesh-ca"}}

    objects = render(spec_with(cert_manager), None, NOW).objects
    (certificate,) = [
        o
        for o in objects
        if o["kind"] == "Certificate" and o["metadata"]["namespace"] == "ingress-nginx"
    ]
    assert certificate["spec"]["uris"] == [NGINX]
    assert certificate["spec"]["secretName"] == names.identity_secret("ingress-nginx")


def _with_images(raw: Spec) -> None:
    for workload in raw["workloads"]:
        workload["image"] = f"registry.example/{workload['name']}:1"
