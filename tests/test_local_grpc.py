"""gRPC through the mesh, with real Envoys and grpcio at both ends (issue 19).

A port named for gRPC makes the sidecar speak HTTP/2 to the app; the stub app serves grpcio
there and the traffic client calls with grpcio, so every call below crossed two real sidecars
over mTLS. One cluster (tests/local_grpc/mesh.yaml) serves the module. The statuses asserted
are the ones Envoy 1.40 was measured to give, listed in docs/resilience.md. Needs root,
iproute2, iptables, util-linux and Envoy: in CI their absence fails the module, elsewhere it
skips with the reason. The first test needs grpcio only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mesh_components.local import LocalCluster, Request, Traffic, cleanup, services, stub_app
from mesh_components.local.containers import grpc_import_path
from mesh_components.local.pod import Pod
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import read_spec
from mesh_components.pki import ca_file
from tests.local_bookstore import require_local_runner

SPEC = Path(__file__).with_name("local_grpc")
LOCAL = Path(stub_app.__file__).parent
CALLER, LIMITED, OUTSIDER = "front/caller", "front/limited", "front/outsider"
IDENTITY = "spiffe://cluster.local/ns/front/sa/{}"
HELLO = "grpc://greeter.rpc:9090/demo.Greeter/Hello"
OTHER = "grpc://greeter.rpc:9090/demo.Greeter/Other"
GREETER_CLUSTER = "rpc/greeter|9090"  # names.upstream_cluster: the caller's sidecar's
APP_CLUSTER = "local|9090"  # names.local_cluster: the greeter's sidecar to its app

F = TypeVar("F", bound=Callable[..., None])


def e2e(test: F) -> F:
    """Marks a test that runs the mesh: it needs root and the real Envoy."""
    marked: F = pytest.mark.root(pytest.mark.envoy(test))
    return marked


# -- the stub app and the client, without a mesh (grpcio only) ---------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def bare_stub() -> Iterator[Callable[..., dict[str, Any]]]:
    """A stub app serving gRPC on a free loopback port (every 3rd call fails), and a function
    that makes one call to it with the traffic client."""
    port = free_port()
    config = {
        "pod": "p", "namespace": "n", "workload": "w", "container": "c", "labels": {},
        "ports": [[port, "grpc"]], "grpc_path": grpc_import_path(), "shutdown_delay": 0,
    }  # fmt: skip
    stub = subprocess.Popen(
        [sys.executable, "-I", str(LOCAL / "stub_app.py"), json.dumps(config)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "STUB_FAIL_EVERY": "3"},
    )  # fmt: skip
    with stub:
        assert stub.stdout is not None
        assert "serving" in stub.stdout.readline()
        yield lambda method="/demo.Greeter/Hello", **job: one_call(port, method, job)
        stub.send_signal(signal.SIGTERM)
        assert stub.wait(10) == 0


def one_call(port: int, method: str, job: dict[str, Any]) -> dict[str, Any]:
    """One gRPC call to a loopback port by the traffic client (options as `Request`'s)."""
    full = Request(f"grpc://127.0.0.1:{port}{method}", **job).job()
    done = subprocess.run(
        [sys.executable, "-I", str(LOCAL / "client.py"), json.dumps(full)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)[0]
    return result


def test_the_stub_answers_grpc_with_its_facts_faults_delays_and_health(
    bare_stub: Callable[..., dict[str, Any]],
) -> None:
    xfcc = "By=spiffe://td/ns/n/sa/w;URI=spiffe://td/ns/front/sa/caller"
    first = bare_stub(headers={"x-forwarded-client-cert": xfcc}, body="any bytes")
    assert first["status"] == "OK", first
    assert first["answer"]["identity"] == "spiffe://td/ns/front/sa/caller"
    assert (first["answer"]["rpc"], first["answer"]["served"]) == ("/demo.Greeter/Hello", 1)
    named = bare_stub(headers={"x-stub-fail": "resource_exhausted"})
    assert (named["status"], named["answer"]["served"]) == ("RESOURCE_EXHAUSTED", 2)
    every_third = bare_stub()  # STUB_FAIL_STATUS 503, as gRPC maps it
    assert (every_third["status"], every_third["answer"]["served"]) == ("UNAVAILABLE", 3)
    by_code = bare_stub(headers={"x-stub-fail": "7"})
    assert by_code["status"] == "PERMISSION_DENIED", by_code
    late = bare_stub(headers={"x-stub-delay": "2"}, timeout=0.3)
    assert (late["status"], late["details"]) == ("DEADLINE_EXCEEDED", "Deadline Exceeded")
    health = bare_stub("/grpc.health.v1.Health/Check")
    assert (health["status"], health["answer"]) == ("OK", {"text": "\x08\x01"})  # SERVING
    assert bare_stub()["answer"]["served"] == 6  # the health check is not counted


@pytest.mark.parametrize(
    ("name", "app_protocol", "served"),
    [
        ("grpc", "", "grpc"), ("grpc-api", "", "grpc"), ("api", "grpc", "grpc"),
        ("h2c", "", "grpc"), ("api", "kubernetes.io/h2c", "grpc"), ("http2-web", "", "grpc"),
        ("http", "", "http"), ("web", "", "http"), ("tcp-db", "", "tcp"), ("db", "mysql", "tcp"),
    ],
)  # fmt: skip
def test_ports_the_sidecar_speaks_http2_to_get_the_grpc_stub(
    name: str, app_protocol: str, served: str
) -> None:
    port = services.ServicePort(name, 9090, "TCP", 9090, app_protocol)
    assert services.stub_protocol(port) == served


# -- through the mesh ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    require_local_runner()
    spec = read_spec(SPEC)
    now = datetime.now(UTC)
    trust = ca_file.CaFile(current=ca_file.new_seed(now)).trust(spec.settings.trust_domain)
    with LocalCluster.up(render(spec, trust, now).objects, name=f"g{os.getpid() % 10**6}") as up:
        yield up
    assert cleanup.leftovers(up.layout) == []


def call(cluster: LocalCluster, source: str, url: str, **options: Any) -> Traffic:
    return cluster.send(source, Request(url, **options))


def one(traffic: Traffic) -> dict[str, Any]:
    assert len(traffic.results) == 1, traffic.results
    return traffic.results[0]


def stat(cluster: LocalCluster, source: str | Pod, name: str) -> int:
    """One counter of a pod's Envoy, asked on its admin port from inside the pod."""
    query = urllib.parse.quote(f"^{re.escape(name)}$")
    url = f"http://127.0.0.1:15000/stats?format=json&filter={query}"
    answer = one(cluster.send(source, Request(url)))
    assert answer["status"] == 200, answer
    found = [s for s in answer["answer"]["stats"] if s.get("name") == name]
    assert found, f"{name} is not among the sidecar's stats"  # a 0 must be Envoy's, not absence
    return sum(int(s["value"]) for s in found)


@e2e
def test_unary_calls_succeed_and_the_app_sees_the_callers_identity(
    cluster: LocalCluster,
) -> None:
    traffic = call(cluster, CALLER, HELLO, count=20, body="hello")
    assert traffic.statuses() == {"OK": 20}, traffic.summary()
    assert traffic.identities() == {IDENTITY.format("caller"): 20}
    assert traffic.workloads() == {"greeter": 20}
    assert "status OK: 20" in traffic.summary()  # what `local curl` prints
    answer = traffic.results[0]["answer"]
    assert answer["rpc"] == "/demo.Greeter/Hello"
    # The grpcio client's own metadata crossed both sidecars, and so did its 5 s deadline.
    assert answer["metadata"]["user-agent"].startswith("grpc-python/"), answer
    assert 4 < answer["deadline_s"] <= 5, answer


@e2e
def test_the_sidecar_speaks_http2_to_the_app(cluster: LocalCluster) -> None:
    greeter = cluster.pods("rpc/greeter")[0]
    before = stat(cluster, greeter, f"cluster.{APP_CLUSTER}.upstream_rq_total")
    assert call(cluster, CALLER, HELLO, count=5).statuses() == {"OK": 5}
    assert stat(cluster, greeter, f"cluster.{APP_CLUSTER}.upstream_rq_total") - before == 5
    assert stat(cluster, greeter, f"cluster.{APP_CLUSTER}.upstream_cx_http2_total") >= 1
    assert stat(cluster, greeter, f"cluster.{APP_CLUSTER}.upstream_cx_http1_total") == 0
    assert stat(cluster, CALLER, f"cluster.{GREETER_CLUSTER}.upstream_cx_http2_total") >= 1
    # The pod is Ready by the kubelet's gRPC health check, which its sidecar passes to the app.
    app = greeter.app_container()
    assert app is not None and "grpc" in app.spec["readinessProbe"], app and app.spec
    assert app.probes["readinessProbe"].passed


@e2e
def test_a_method_the_policy_does_not_allow_is_permission_denied(cluster: LocalCluster) -> None:
    allowed = one(call(cluster, LIMITED, HELLO))
    assert (allowed["status"], allowed["answer"]["identity"]) == ("OK", IDENTITY.format("limited"))
    denied = one(call(cluster, LIMITED, OTHER))
    # The greeter's sidecar's RBAC filter answers 403 locally; Envoy maps it for a gRPC caller.
    assert (denied["status"], denied["details"]) == ("PERMISSION_DENIED", "RBAC: access denied")
    after = one(call(cluster, LIMITED, HELLO))
    assert after["answer"]["served"] == allowed["answer"]["served"] + 1  # the app never saw it


@e2e
def test_a_workload_no_policy_allows_is_refused_by_its_own_sidecar(
    cluster: LocalCluster,
) -> None:
    refused = one(call(cluster, OUTSIDER, HELLO))
    # It may reach nothing, so its sidecar has no outbound listener: the redirected connection
    # is refused, and grpcio reports that itself.
    assert refused["status"] == "UNAVAILABLE", refused
    assert "failed to connect to all addresses" in refused["details"], refused
    assert "Connection refused" in refused["details"], refused


@e2e
def test_a_call_slower_than_the_route_timeout_is_unavailable(cluster: LocalCluster) -> None:
    timeouts = f"cluster.{GREETER_CLUSTER}.upstream_rq_timeout"
    before = stat(cluster, CALLER, timeouts)
    slow = one(call(cluster, CALLER, HELLO, headers={"x-stub-delay": "3"}))
    # The destination's 1 s timeout fires in the caller's sidecar: a 504 mapped to UNAVAILABLE
    # (not DEADLINE_EXCEEDED, which only the client's own deadline gives), though the call's
    # 5 s deadline (grpc-timeout) reached the sidecar: it does not replace the route timeout.
    assert (slow["status"], slow["details"]) == ("UNAVAILABLE", "upstream request timeout")
    assert 1000 <= slow["latency_ms"] < 2500, slow
    assert stat(cluster, CALLER, timeouts) - before == 1
    quick = one(call(cluster, CALLER, HELLO, headers={"x-stub-delay": "0.3"}))
    assert quick["status"] == "OK", quick
    # A client deadline shorter than the route timeout ends the call in grpcio itself.
    hasty = one(call(cluster, CALLER, HELLO, headers={"x-stub-delay": "3"}, timeout=0.5))
    assert (hasty["status"], hasty["details"]) == ("DEADLINE_EXCEEDED", "Deadline Exceeded")


@e2e
@pytest.mark.parametrize("status", ["RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", "NOT_FOUND"])
def test_the_apps_own_grpc_status_passes_through_unchanged(
    cluster: LocalCluster, status: str
) -> None:
    failed = one(call(cluster, CALLER, HELLO, headers={"x-stub-fail": status}))
    assert failed["status"] == status, failed
    # The details are the app's: its facts, naming the pod that failed and who called.
    assert failed["answer"]["workload"] == "greeter", failed
    assert failed["answer"]["identity"] == IDENTITY.format("caller"), failed


@e2e
def test_a_service_with_no_ready_pod_is_unavailable(cluster: LocalCluster) -> None:
    empty = one(call(cluster, CALLER, "grpc://idle.rpc:9090/demo.Idle/Ping"))
    assert (empty["status"], empty["details"]) == ("UNAVAILABLE", "no healthy upstream")
