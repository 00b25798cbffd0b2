"""Ingress run locally with real Envoys: a client outside the mesh reaches `shop/web` with the
ingress identity's certificate (mounted from the Secret the mesh issued) or in plaintext from a
declared range, and everything else is refused.

The outside client is an un-meshed pod. It holds two source addresses: its own pod IP, outside
the declared range, and a second one inside it (10.244.255.10/32 on its eth0, answered by ARP
like any local address), so one pod shows both sides of the range check. It dials the backend's
pod IP, as ingress controllers do: a ClusterIP would be masqueraded to the node's address.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import LocalCluster, cleanup
from mesh_components.local.pod import Pod
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.render import render
from mesh_components.pki import ca_file
from tests.local_bookstore import outsider, why_not

pytestmark = [pytest.mark.root, pytest.mark.envoy]

IN_RANGE = "10.244.255.10"
DECLARED = "10.244.255.0/24"
CERTS = "/etc/mesh-ingress"  # where the outside pod mounts the ingress identity's Secret
EDGE = "spiffe://cluster.local/ns/outside/sa/edge"
SNI = "web.shop.svc.cluster.local"
WEB = "spiffe://cluster.local/ns/shop/sa/web"

SPEC: Json = {
    "mesh": {"name": "ingress-e2e", "access": "policy"},
    "services": [
        {
            "name": "web",
            "namespace": "shop",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "http-admin", "port": 9090},
            ],
        }
    ],
    "workloads": [
        {
            "name": "web",
            "namespace": "shop",
            "serviceAccount": "web",
            "labels": {"app": "web"},
            "image": "registry.example/web:1",
            "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090}],
        }
    ],
    "ingress": [
        {
            "name": "edge",
            "namespace": "shop",
            "service": "web",
            "ports": [80],
            "sources": {
                "identities": [{"serviceAccount": "edge", "namespace": "outside"}],
                "ipRanges": [DECLARED],
                "plaintext": True,
            },
            "http": [{"path": {"prefix": "/shop/"}}],
        }
    ],
}

# Run inside the outside pod by its own python3: one request, the outcome as JSON.
CLIENT = textwrap.dedent(
    """
    import json, socket, ssl, sys
    job = json.loads(sys.argv[1])
    out = {}
    try:
        sock = socket.create_connection(
            (job["host"], job["port"]), timeout=5, source_address=(job["source"], 0)
        )
        if job["tls"]:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False  # the server's name is a SPIFFE URI, checked below
            context.load_verify_locations(job["ca"])
            if job["cert"]:
                context.load_cert_chain(job["cert"], job["key"])
            sock = context.wrap_socket(sock, server_hostname=job["sni"])
            out["peer"] = [v for k, v in sock.getpeercert()["subjectAltName"] if k == "URI"]
        request = f"GET {job['path']} HTTP/1.1\\r\\nhost: web\\r\\nconnection: close\\r\\n\\r\\n"
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        head, _, body = data.partition(b"\\r\\n\\r\\n")
        out["status"] = int(head.split()[1]) if head else 0
        out["body"] = body.decode(errors="replace")
    except (OSError, ssl.SSLError) as error:
        out["error"] = f"{type(error).__name__}: {error}"
    print(json.dumps(out))
    """
)


@dataclass
class Outcome:
    status: int = 0
    body: str = ""
    error: str = ""
    peer: tuple[str, ...] = ()

    @property
    def identity(self) -> str:
        answer: dict[str, Any] = json.loads(self.body)
        return str(answer["identity"])

    @property
    def refused(self) -> bool:
        """No HTTP answer at all: the connection was reset, closed or the handshake failed."""
        return self.status == 0 and bool(self.error)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    reason = why_not()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the local-runner tests)")
        pytest.skip(reason)
    now = datetime.now(UTC)
    trust = ca_file.CaFile(current=ca_file.new_seed(now)).trust("cluster.local")
    objects = [*render(load_spec(SPEC), trust, now).objects, *_outside_with_certificate()]
    with LocalCluster.up(objects, name=f"i{os.getpid() % 10**6}") as running:
        pod = _outside(running)
        assert pod.link is not None
        subprocess.run(
            ["ip", "-n", pod.link.netns, "addr", "add", f"{IN_RANGE}/32", "dev", "eth0"],
            check=True,
        )
        yield running
    assert cleanup.leftovers(running.layout) == []


def _outside_with_certificate() -> list[Json]:
    """The un-meshed `outside/outsider` pod, mounting the ingress identity's Secret as a
    controller would (its ServiceAccount is the ingress identity)."""
    found = outsider()
    for obj in found:
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            pod["serviceAccountName"] = "edge"
            secret = {"secretName": names.identity_secret("edge")}
            pod["volumes"] = [{"name": "mesh-ingress", "secret": secret}]
            mount = {"name": "mesh-ingress", "mountPath": CERTS, "readOnly": True}
            pod["containers"][0]["volumeMounts"] = [mount]
    return found


def _outside(cluster: LocalCluster) -> Pod:
    (pod,) = [p for p in cluster.pods("outside/outsider") if p.ready]
    return pod


def _web_ip(cluster: LocalCluster) -> str:
    (pod,) = [p for p in cluster.pods("shop/web") if p.ready]
    return pod.ip


def call(
    cluster: LocalCluster,
    *,
    port: int = 8080,
    path: str = "/shop/books",
    tls: bool = True,
    cert: bool = True,
    source: str = IN_RANGE,
) -> Outcome:
    """One request from the outside pod, as root (to bind any source address)."""
    pod = _outside(cluster)
    source_ip = pod.ip if source == "pod" else source
    job = {
        "host": _web_ip(cluster),
        "port": port,
        "path": path,
        "tls": tls,
        "sni": SNI,
        "ca": f"{CERTS}/ca.crt",
        "cert": f"{CERTS}/tls.crt" if cert else "",
        "key": f"{CERTS}/tls.key",
        "source": source_ip,
    }
    argv = cluster.exec_target(pod, uid=0).argv(["python3", "-I", "-c", CLIENT, json.dumps(job)])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    answer = json.loads(done.stdout)
    return Outcome(
        answer.get("status", 0),
        answer.get("body", ""),
        answer.get("error", ""),
        tuple(answer.get("peer", ())),
    )


def test_the_outside_pod_mounts_the_issued_secret_with_its_documented_keys(
    cluster: LocalCluster,
) -> None:
    pod = _outside(cluster)
    argv = cluster.exec_target(pod, uid=0).argv(["ls", CERTS])
    listed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    assert {"ca.crt", "tls.crt", "tls.key"} <= set(listed)


def test_the_ingress_identity_reaches_the_backend_over_mtls(cluster: LocalCluster) -> None:
    outcome = call(cluster)
    assert outcome.status == 200, outcome
    assert outcome.identity == EDGE  # the backend's sidecar vouched for it in XFCC
    assert outcome.peer == (WEB,)  # and the client verified the backend's identity


def test_the_ingress_identity_is_held_to_the_entry_http_rules(cluster: LocalCluster) -> None:
    outcome = call(cluster, path="/admin")
    assert outcome.status == 403, outcome


def test_the_ingress_identity_is_refused_on_an_undeclared_port(cluster: LocalCluster) -> None:
    outcome = call(cluster, port=9090)
    assert outcome.status == 403, outcome


def test_a_client_without_a_certificate_is_refused_in_the_handshake(
    cluster: LocalCluster,
) -> None:
    outcome = call(cluster, cert=False)
    assert outcome.refused, outcome


def test_plaintext_from_the_declared_range_reaches_the_backend(cluster: LocalCluster) -> None:
    outcome = call(cluster, tls=False)
    assert outcome.status == 200, outcome
    assert outcome.identity == ""  # no client certificate, and a forged XFCC would be dropped


def test_plaintext_from_the_declared_range_is_held_to_the_http_rules(
    cluster: LocalCluster,
) -> None:
    assert call(cluster, tls=False, path="/admin").status == 403


def test_plaintext_from_another_address_is_refused(cluster: LocalCluster) -> None:
    outcome = call(cluster, tls=False, source="pod")
    assert outcome.refused, outcome  # intercepted (else the app would answer), and no chain


def test_plaintext_from_the_range_on_an_undeclared_port_is_refused(
    cluster: LocalCluster,
) -> None:
    outcome = call(cluster, tls=False, port=9090)
    assert outcome.refused, outcome
