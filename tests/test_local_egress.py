"""Egress run locally with real Envoys: a meshed client reaches the hosts, SNI names and address
ranges its rules allow, outside the mesh, and is refused everything else; a workload the rules
do not pick is refused all of it; passthrough then lets everything out.

The outside is a network namespace routed from the node (tests/local_egress.py), its servers
name the address each connection reached, and the cluster DNS answers its names. Port 80 is
also the mesh's web service port, so mesh HTTP and egress HTTP share one chain. Needs root,
iproute2, iptables, util-linux and Envoy: in CI their absence fails the module, elsewhere it
skips with the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import Request, cleanup
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.render import render
from mesh_components.pki import ca_file
from tests.local_bookstore import why_not
from tests.local_egress import (
    ALLOWED_IP,
    OTHER_IP,
    ExternalDnsCluster,
    Outside,
    in_pod,
)

pytestmark = [pytest.mark.root, pytest.mark.envoy]

SPEC = """
mesh: {name: egress}
services:
  - name: web
    namespace: shop
    selector: {app: web}
    ports: [{name: http, port: 80, targetPort: 8080}]
workloads:
  - {name: web, namespace: shop, serviceAccount: web, labels: {app: web}, image: x.invalid/web,
     ports: [{containerPort: 8080}]}
  - {name: client, namespace: shop, serviceAccount: client, labels: {app: client},
     image: x.invalid/client}
  - {name: stranger, namespace: shop, serviceAccount: stranger, labels: {app: stranger},
     image: x.invalid/stranger}
policies:
  - name: client-calls-web
    namespace: shop
    destination: {service: web}
    sources: [{serviceAccount: client}]
egress:
  - name: client-out
    namespace: shop
    selector: {app: client}
    http: {hosts: [allowed.example.test]}
    tls: {hosts: [secure.example.test]}
    tcp: {cidrs: [198.51.100.20/32], ports: [9000]}
"""
HOSTS = {
    "allowed.example.test": ALLOWED_IP,
    "denied.example.test": ALLOWED_IP,
    "secure.example.test": ALLOWED_IP,
    "other.example.test": ALLOWED_IP,
}
WHEN = datetime.now(UTC)


def objects(trust: object, *, egress: str = "deny") -> list[Json]:
    raw = yaml.safe_load(SPEC)
    raw["mesh"]["egress"] = egress
    return list(render(load_spec(raw), trust, WHEN).objects)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trust() -> object:
    reason = why_not()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the local-runner tests)")
        pytest.skip(reason)
    return ca_file.CaFile(current=ca_file.new_seed(WHEN)).trust("cluster.local")


@pytest.fixture(scope="module")
def cluster(
    trust: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExternalDnsCluster]:
    running = ExternalDnsCluster(f"e{os.getpid() % 10**6}", HOSTS)
    running.start(objects(trust))
    outside = Outside(running, Path(tmp_path_factory.mktemp("outside")))
    try:
        outside.start()
        yield running
    finally:
        outside.stop()
        running.down()
    assert cleanup.leftovers(running.layout) == []


def http(cluster: ExternalDnsCluster, source: str, host: str, name: str) -> tuple[int, object]:
    answer = in_pod(cluster, source, f"http://{host}:80", name)
    assert "error" not in answer, answer
    status, body = answer["status"], answer["body"]
    return status, json.loads(body) if status == 200 else body


def test_the_mesh_service_on_the_shared_port_still_answers_over_mtls(
    cluster: ExternalDnsCluster,
) -> None:
    traffic = cluster.send("shop/client", Request("http://web.shop/", count=5))
    assert traffic.statuses() == {"200": 5}
    assert traffic.identities() == {"spiffe://cluster.local/ns/shop/sa/client": 5}


def test_an_allowed_host_is_reached(cluster: ExternalDnsCluster) -> None:
    status, body = http(cluster, "shop/client", "allowed.example.test", "allowed.example.test")
    assert status == 200
    assert body == {"server": "external", "local": ALLOWED_IP, "host": "allowed.example.test"}


def test_another_host_on_the_same_address_is_denied(cluster: ExternalDnsCluster) -> None:
    status, body = http(cluster, "shop/client", "denied.example.test", "denied.example.test")
    assert status == 403
    assert "not a mesh destination" in str(body)


def test_a_forged_host_header_reaches_the_allowed_host_not_the_dialled_address(
    cluster: ExternalDnsCluster,
) -> None:
    """Envoy resolves the Host itself (dynamic forward proxy): dialling another address with an
    allowed Host does not get the app there."""
    status, body = http(cluster, "shop/client", OTHER_IP, "allowed.example.test")
    assert status == 200
    assert body["local"] == ALLOWED_IP  # type: ignore[index]


def test_an_allowed_sni_completes_its_handshake_with_the_outside(
    cluster: ExternalDnsCluster,
) -> None:
    answer = in_pod(cluster, "shop/client", "tls://secure.example.test:443", "secure.example.test")
    assert answer == {"line": f"tls {ALLOWED_IP} secure.example.test\n"}


def test_another_sni_is_refused(cluster: ExternalDnsCluster) -> None:
    answer = in_pod(cluster, "shop/client", "tls://other.example.test:443", "other.example.test")
    assert "error" in answer, answer


def test_an_allowed_address_and_port_is_reached_and_another_address_is_not(
    cluster: ExternalDnsCluster,
) -> None:
    assert in_pod(cluster, "shop/client", f"tcp://{OTHER_IP}:9000") == {"line": f"tcp {OTHER_IP}\n"}
    refused = in_pod(cluster, "shop/client", f"tcp://{ALLOWED_IP}:9000")
    assert refused.get("line", "") == "" or "error" in refused, refused


def test_a_workload_the_rule_does_not_pick_reaches_nothing_outside(
    cluster: ExternalDnsCluster,
) -> None:
    for url, name in (
        ("http://allowed.example.test:80", "allowed.example.test"),
        ("tls://secure.example.test:443", "secure.example.test"),
        (f"tcp://{OTHER_IP}:9000", "-"),
    ):
        answer = in_pod(cluster, "shop/stranger", url, name)
        assert "error" in answer or answer.get("line") == "", (url, answer)


def test_passthrough_lets_every_destination_outside_the_mesh_through(
    cluster: ExternalDnsCluster, trust: object
) -> None:
    """Last: it changes the mesh. The unknown Host on the mesh's HTTP port, an SNI no rule names,
    a range no rule names and a workload without rules all reach where the app dialled."""
    cluster.update(objects(trust, egress="passthrough"))
    status, body = http(cluster, "shop/client", "denied.example.test", "denied.example.test")
    assert (status, body) == (
        200,
        {"server": "external", "local": ALLOWED_IP, "host": "denied.example.test"},
    )
    answer = in_pod(cluster, "shop/client", "tls://other.example.test:443", "other.example.test")
    assert answer == {"line": f"tls {ALLOWED_IP} other.example.test\n"}
    assert in_pod(cluster, "shop/client", f"tcp://{ALLOWED_IP}:9000") == {
        "line": f"tcp {ALLOWED_IP}\n"
    }
    stranger = in_pod(cluster, "shop/stranger", f"tcp://{OTHER_IP}:9000")
    assert stranger == {"line": f"tcp {OTHER_IP}\n"}
    traffic = cluster.send("shop/client", Request("http://web.shop/", count=5))
    assert traffic.statuses() == {"200": 5}
