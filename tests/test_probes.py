"""Probe rewriting: probes read from a pod spec, rewritten to the sidecar by the one rule the
Envoy side follows too, and answered for real by an Envoy running the emitted config (HTTP,
TCP through the health-check filter, HTTPS asked in HTTP and sent on over TLS, gRPC over h2c,
several containers at once).
"""

from __future__ import annotations

import dataclasses
import http.server
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mesh_components import names
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.envoy import emit_workload
from mesh_components.emit.kubernetes.probes import probes_of, rewrite_probes
from mesh_components.errors import MeshValidationError
from mesh_components.model import (
    Identity,
    MeshSettings,
    Probe,
    ProbeAction,
    ProbeKind,
    ProxyPorts,
    ProxySettings,
    WorkloadRef,
)
from mesh_components.pipeline.envoy_check import throwaway_certificates
from tests.envoy_tool import free_ports, http_get, make_certificates, running_envoy

Json = dict[str, Any]
SETTINGS = MeshSettings(name="test")
IDENTITY = Identity("shop", "web")

POD: Json = {
    "serviceAccountName": "web",
    "containers": [
        {
            "name": "web",
            "image": "web",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {
                "httpGet": {
                    "path": "/ready?deep=1",
                    "port": "http",
                    "httpHeaders": [{"name": "X-Probe", "value": "1"}],
                },
                "periodSeconds": 3,
                "timeoutSeconds": 2,
            },
            "livenessProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 5},
            "startupProbe": {"exec": {"command": ["true"]}},
        },
        {
            "name": "admin",
            "image": "admin",
            "readinessProbe": {"httpGet": {"path": "healthz", "port": 9000}},
            "livenessProbe": {"httpGet": {"host": "example.com", "port": 80}},
        },
        {"name": "grpc", "image": "grpc", "startupProbe": {"grpc": {"port": 9090}}},
        {
            "name": "tls",
            "image": "tls",
            "livenessProbe": {"httpGet": {"path": "/live", "port": 8443, "scheme": "HTTPS"}},
        },
    ],
}


# Reading probes from a pod spec.


def test_probes_are_read_with_named_ports_resolved_and_timing_kept() -> None:
    assert probes_of(POD) == (
        Probe(ProbeKind.LIVENESS, "web", ProbeAction.TCP, 8080, failure_threshold=5),
        Probe(
            ProbeKind.READINESS, "web", ProbeAction.HTTP, 8080, "/ready?deep=1", period_seconds=3
        ),
        Probe(ProbeKind.READINESS, "admin", ProbeAction.HTTP, 9000, "/healthz"),
        Probe(ProbeKind.STARTUP, "grpc", ProbeAction.GRPC, 9090),
        Probe(ProbeKind.LIVENESS, "tls", ProbeAction.HTTP, 8443, "/live", https=True),
    )


def test_exec_probes_and_probes_of_another_host_are_left_alone() -> None:
    rewritten = rewrite_probes(POD, SETTINGS)
    assert rewritten["containers"][0]["startupProbe"] == POD["containers"][0]["startupProbe"]
    assert rewritten["containers"][1]["livenessProbe"] == POD["containers"][1]["livenessProbe"]


def test_a_port_name_the_container_lacks_is_reported_at_its_path() -> None:
    pod = {"containers": [{"name": "web", "readinessProbe": {"httpGet": {"port": "http"}}}]}
    with pytest.raises(MeshValidationError) as excinfo:
        probes_of(pod)
    [problem] = excinfo.value.problems
    assert (problem.code, problem.path) == (
        "probe-port-unknown",
        "spec.containers[0].readinessProbe.httpGet.port",
    )


# Rewriting.


def _probe(pod: Json, container: int, field: str) -> Json:
    probe: Json = pod["containers"][container][field]
    return probe


def test_an_http_probe_asks_its_kind_listener_at_the_container_path() -> None:
    rewritten = rewrite_probes(POD, SETTINGS)
    assert _probe(rewritten, 0, "readinessProbe") == {
        "httpGet": {
            "path": "/web",
            "port": 15902,
            "scheme": "HTTP",
            "httpHeaders": [{"name": "X-Probe", "value": "1"}],
        },
        "periodSeconds": 3,
        "timeoutSeconds": 2,
    }
    assert _probe(rewritten, 1, "readinessProbe")["httpGet"]["path"] == "/admin"


def test_a_tcp_probe_becomes_an_http_probe_of_the_health_check_listener() -> None:
    assert _probe(rewrite_probes(POD, SETTINGS), 0, "livenessProbe") == {
        "httpGet": {"path": "/web", "port": 15904, "scheme": "HTTP"},
        "failureThreshold": 5,
    }


def test_a_grpc_probe_keeps_its_shape_on_the_kind_listener() -> None:
    assert _probe(rewrite_probes(POD, SETTINGS), 2, "startupProbe") == {"grpc": {"port": 15903}}


def test_an_https_probe_becomes_an_http_probe_of_its_kind_listener_at_the_container_path() -> None:
    """The sidecar speaks TLS to the app; the kubelet asks it in plain HTTP, like any probe."""
    assert _probe(rewrite_probes(POD, SETTINGS), 3, "livenessProbe") == {
        "httpGet": {"path": "/tls", "port": 15901, "scheme": "HTTP"}
    }


def test_rewriting_does_not_touch_its_input() -> None:
    before = repr(POD)
    rewrite_probes(POD, SETTINGS)
    assert repr(POD) == before


def test_every_rewritten_probe_lands_on_a_route_or_check_of_the_emitted_config() -> None:
    """Both sides follow `routes.probe_target`: what the kubelet asks for, Envoy answers."""
    config = emit_workload(plan(probes_of(POD)), SETTINGS)
    by_port = {x["address"]["socket_address"]["port_value"]: x for x in config.listeners}
    for container in rewrite_probes(POD, SETTINGS)["containers"]:
        for field in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(field, {})
            if "httpGet" in probe and "host" not in probe["httpGet"]:
                text = repr(by_port[probe["httpGet"]["port"]])
                assert repr(probe["httpGet"]["path"]) in text
                assert "tcp_proxy" not in text  # no probe port passes bytes through
            elif "grpc" in probe:
                assert names.GRPC_HEALTH_PREFIX in repr(by_port[probe["grpc"]["port"]])


# Run for real.


def plan(probes: tuple[Probe, ...]) -> WorkloadPlan:
    return WorkloadPlan(
        workload=WorkloadRef(IDENTITY.namespace, "web"),
        identity=IDENTITY,
        spiffe_id=IDENTITY.spiffe_id("cluster.local"),
        inbound=(),
        outbound=(),
        probes=probes,
    )


def live_settings(**proxy: Any) -> MeshSettings:
    ports = ProxyPorts(*free_ports(8))
    return dataclasses.replace(SETTINGS, proxy=ProxySettings(ports=ports, **proxy))


@contextmanager
def static_envoy(
    tmp_path: Path, plan_: WorkloadPlan, settings: MeshSettings
) -> Iterator[subprocess.Popen[bytes]]:
    """Envoy (its process) running the workload's static bootstrap (everything inlined), on
    `settings`' ports, with throwaway certificates."""
    certs = tmp_path / "certs"
    certs.mkdir()
    for name, content in make_certificates(plan_.spiffe_id).items():
        (certs / name).write_bytes(content)
    config = emit_workload(plan_, settings)
    bootstrap = tmp_path / "bootstrap.yaml"
    bootstrap.write_text(config.static_bootstrap_yaml(str(certs)))
    with running_envoy(bootstrap, settings.proxy.ports.admin, tmp_path / "envoy.log") as envoy:
        yield envoy


class _Server(http.server.ThreadingHTTPServer):
    seen: list[str]


class _App(http.server.BaseHTTPRequestHandler):
    """Answers every GET and POST with 200 and the path it saw, and records `METHOD path`."""

    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        body = f"{self.server.server_port} saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_app(tls: ssl.SSLContext | None = None, seen: list[str] | None = None) -> Iterator[int]:
    """An HTTP app on 127.0.0.1 (HTTPS given `tls`), recording its requests into `seen`."""
    server = _Server(("127.0.0.1", 0), _App)
    server.seen = [] if seen is None else seen
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.envoy
def test_readiness_probes_of_two_containers_both_reach_their_own_app(tmp_path: Path) -> None:
    """OSM bug #4948: only one container's probe worked."""
    settings = live_settings()
    ready = settings.proxy.ports.readiness_probe
    with http_app() as web, http_app() as admin:
        probes = (
            Probe(ProbeKind.READINESS, "web", ProbeAction.HTTP, web, "/ready?deep=1"),
            Probe(ProbeKind.READINESS, "admin", ProbeAction.HTTP, admin, "/healthz"),
        )
        with static_envoy(tmp_path, plan(probes), settings):
            assert http_get(ready, "/web") == (200, f"{web} saw /ready?deep=1")
            assert http_get(ready, "/admin") == (200, f"{admin} saw /healthz")
            assert http_get(ready, "/ready?deep=1")[0] == 404  # only the probe, nothing else
            assert http_get(ready, "/web?more=1")[0] == 404
            assert http_get(ready, "/web/more")[0] == 404


@pytest.mark.envoy
def test_a_tcp_probe_fails_within_seconds_of_the_app_going_away(tmp_path: Path) -> None:
    settings = live_settings()
    health = settings.proxy.ports.health_check
    app = socket.create_server(("127.0.0.1", 0))
    port = app.getsockname()[1]
    probe = Probe(ProbeKind.LIVENESS, "db", ProbeAction.TCP, port)
    try:
        with static_envoy(tmp_path, plan((probe,)), settings):
            assert _eventually(health, "/db", 200)
            assert http_get(health, "/other")[0] == 404
            app.close()
            assert _eventually(health, "/db", 503)
            app = socket.create_server(("127.0.0.1", port))
            assert _eventually(health, "/db", 200)
    finally:
        app.close()


def _eventually(port: int, path: str, status: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if http_get(port, path)[0] == status:
            return True
        time.sleep(0.1)
    return False


def _post(port: int, path: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"x", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


@pytest.mark.envoy
def test_an_https_probe_is_asked_in_http_at_its_path_and_sent_on_over_tls(
    tmp_path: Path, envoy_binary: Path
) -> None:
    """The security review's case: the probe port is outside the mTLS redirect, so it must
    reach the HTTPS app with the probe's own request and nothing else (it was a raw
    tcp_proxy: any path, any method, reached the app without mTLS or policy)."""
    settings = live_settings()
    for name, content in throwaway_certificates("spiffe://cluster.local/ns/shop/sa/web").items():
        (tmp_path / name).write_bytes(content)
    app_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    app_tls.load_cert_chain(tmp_path / names.CERT_CHAIN_FILE, tmp_path / names.PRIVATE_KEY_FILE)
    app_tls.minimum_version = ssl.TLSVersion.TLSv1_3  # the kubelet (Go) would speak 1.3 too
    server_names: list[str | None] = []
    app_tls.sni_callback = lambda _socket, name, _context: server_names.append(name)
    seen: list[str] = []
    with http_app(app_tls, seen) as app, http_app() as api:
        probes = (  # an HTTPS probe shares its kind's listener like any other
            Probe(ProbeKind.STARTUP, "web", ProbeAction.HTTP, app, "/started?x=1", https=True),
            Probe(ProbeKind.STARTUP, "api", ProbeAction.HTTP, api, "/up"),
        )
        (tmp_path / "envoy").mkdir()
        with static_envoy(tmp_path / "envoy", plan(probes), settings):
            port = settings.proxy.ports.startup_probe
            assert http_get(port, "/web") == (200, f"{app} saw /started?x=1")
            assert http_get(port, "/api") == (200, f"{api} saw /up")
            for other in ("/started?x=1", "/internal/anything", "/web?more=1", "/web/more", "/"):
                assert http_get(port, other)[0] == 404, other
            assert _post(port, "/internal/anything") == 404
            kubelet_of_old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            kubelet_of_old.check_hostname, kubelet_of_old.verify_mode = False, ssl.CERT_NONE
            with (
                pytest.raises(OSError),  # ssl.SSLError too: the listener speaks no TLS
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                kubelet_of_old.wrap_socket(raw) as tls,
            ):
                tls.sendall(b"GET /internal/anything HTTP/1.1\r\nHost: x\r\n\r\n")
                tls.recv(4096)
    assert seen == ["GET /started?x=1"]  # the probe, once; nothing else reached the app
    assert set(server_names) == {None}  # no SNI, as the kubelet sends none to a pod IP


_SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}


@contextmanager
def grpc_health_app() -> Iterator[int]:
    """A gRPC server whose health service answers SERVING (raw bytes: no generated code)."""
    grpc = pytest.importorskip("grpc")
    check = grpc.unary_unary_rpc_method_handler(lambda request, context: _SERVING)
    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": check})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait()


@pytest.mark.envoy
def test_a_grpc_probe_reaches_the_health_service_over_h2c(tmp_path: Path) -> None:
    grpc = pytest.importorskip("grpc")
    settings = live_settings()
    with grpc_health_app() as app:
        probe = Probe(ProbeKind.READINESS, "api", ProbeAction.GRPC, app)
        with static_envoy(tmp_path, plan((probe,)), settings):
            target = f"127.0.0.1:{settings.proxy.ports.readiness_probe}"
            options = [("grpc.enable_http_proxy", 0)]
            with grpc.insecure_channel(target, options=options) as channel:
                check = channel.unary_unary("/grpc.health.v1.Health/Check")
                assert check(b"", timeout=5) == _SERVING
                other = channel.unary_unary("/shop.Orders/List")
                with pytest.raises(grpc.RpcError) as excinfo:
                    other(b"", timeout=5)
                assert excinfo.value.code() == grpc.StatusCode.UNIMPLEMENTED  # Envoy's 404
