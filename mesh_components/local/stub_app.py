"""The app every non-proxy container runs locally: it serves each containerPort and says who it is.

Standalone, because it runs as an unprivileged UID from a copy in the cluster's state dir:
`python3 -I stub_app.py '<json config>'`. HTTP and TCP ports need the standard library only;
gRPC ports import grpcio, from the directories the config's `grpc_path` names (added to
sys.path only when a gRPC port is served).

- HTTP ports answer any method and path with JSON: the pod, workload, container, labels, port,
  request line, the identity the sidecar vouched for (the URI of `x-forwarded-client-cert`) and
  `served`, the number of requests this process has received (1, 2, ...). A HEAD answer has no
  body. `GET /metrics` is the app's own metrics instead, in Prometheus' text format (uncounted),
  as an instrumented app serves them.
- gRPC ports (a Service port of protocol grpc, http2 or h2c: HTTP/2 without TLS, as Envoy
  speaks it to the app) answer any unary method `/pkg.Service/Method`, whatever the request
  bytes, with the same JSON facts as the response message (raw bytes, no protobuf), plus `rpc`
  (the method) and the call's `metadata`. `/grpc.health.v1.Health/Check` answers SERVING (a
  real HealthCheckResponse), uncounted, so gRPC probes pass.
- A fault mode, for resilience tests, fails requests (with the same JSON, so the failing pod is
  named: the body of an HTTP answer, the details of a gRPC status): `STUB_FAIL_EVERY=N` in the
  container's environment fails every Nth request (`served` a multiple of N; 1 fails them all),
  with status `STUB_FAIL_STATUS` (503 by default); a header (gRPC: metadata)
  `x-stub-fail: <status>` fails that one request. A gRPC status is a name (`UNAVAILABLE`) or a
  code (`14`); an HTTP status there is mapped as gRPC's spec maps them (503: UNAVAILABLE).
  Deterministic: no randomness, so a test knows which attempt fails.
- A header (gRPC: metadata) `x-stub-delay: <seconds>` holds that request before answering (a
  gRPC call that its caller or a sidecar cancels stops waiting), to provoke timeouts.
- TCP ports send a greeting line first (server-first, like MySQL), then echo what they get.

On SIGTERM it keeps serving for SHUTDOWN_DELAY seconds, as a well-behaved app does while its
pod leaves the endpoints (Envoy re-resolves after the DNS TTL of 1 s; measured, a deleted pod
gets its last request within a second), then exits.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc

SHUTDOWN_DELAY = 8.0
FAIL_HEADER = "x-stub-fail"
DELAY_HEADER = "x-stub-delay"
METRICS_PATH = "/metrics"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}
# gRPC's "HTTP to gRPC Status Code Mapping" (doc/http-grpc-status-mapping.md); others: UNKNOWN.
GRPC_BY_HTTP = {
    400: "INTERNAL", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "UNIMPLEMENTED",
    429: "UNAVAILABLE", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "UNAVAILABLE",
}  # fmt: skip
GRPC_WORKERS = 32  # calls in progress per gRPC port (a delayed call holds one)


class Faults:
    """Which requests fail: every `every`th one (0: none) with `status`. Thread-safe."""

    def __init__(self, every: int, status: int) -> None:
        self.every, self.status = every, status
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Faults:
        return cls(
            int(environ.get("STUB_FAIL_EVERY") or 0), int(environ.get("STUB_FAIL_STATUS") or 503)
        )

    def next(self, forced: str) -> tuple[int, int]:
        """This HTTP request's number and the status to answer with."""
        served, failure = self.take(forced)
        return served, int(failure) if failure else 200

    def take(self, forced: str) -> tuple[int, str]:
        """This request's number and the failure to answer with ('' for none): `forced` (the
        request's `x-stub-fail`), else STUB_FAIL_STATUS on every `every`th request."""
        with self._lock:
            served = next(self._counter)
        if forced:
            return served, forced
        failing = self.every > 0 and served % self.every == 0
        return served, str(self.status) if failing else ""


def identity(xfcc: str) -> str:
    """The client's URI SAN from the last element of an XFCC header, or ''."""
    last = xfcc.rsplit(",", maxsplit=1)[-1] if xfcc else ""
    for part in last.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "uri":
            return value.strip().strip('"')
    return ""


def facts(config: dict[str, Any], port: int, xfcc: str, served: int) -> dict[str, Any]:
    """What every answer says: who answered, on which port, to whom, and how many so far."""
    return {
        "pod": config["pod"], "namespace": config["namespace"], "workload": config["workload"],
        "container": config["container"], "labels": config["labels"], "port": port,
        "identity": identity(xfcc), "xfcc": xfcc, "served": served,
    }  # fmt: skip


def metrics_text(config: dict[str, Any], port: int) -> bytes:
    """The app's own metrics, in Prometheus' text format, as an instrumented app serves them."""
    labels = f'pod="{config["pod"]}",namespace="{config["namespace"]}",port="{port}"'
    return (
        "# HELP stub_app_info The stub app that answers on this port.\n"
        "# TYPE stub_app_info gauge\n"
        f"stub_app_info{{{labels}}} 1\n"
    ).encode()


def delay_seconds(value: str) -> float:
    """The delay a request asks for (`x-stub-delay`), in seconds; 0 when none or malformed."""
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


def http_handler(config: dict[str, Any], port: int, faults: Faults) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # Headers and body are two writes: no 40 ms stall.

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            if self.command == "GET" and self.path.partition("?")[0] == METRICS_PATH:
                self._send(200, PROMETHEUS_TEXT, metrics_text(config, port))
                return
            time.sleep(delay_seconds(self.headers.get(DELAY_HEADER, "")))
            served, status = faults.next(self.headers.get(FAIL_HEADER, ""))
            answer = facts(config, port, self.headers.get("x-forwarded-client-cert", ""), served)
            answer.update(method=self.command, path=self.path)
            self._send(status, "application/json", json.dumps(answer).encode() + b"\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has the headers of a GET, no body
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        setattr(Handler, f"do_{method}", Handler._answer)
    return Handler


def grpc_status_name(failure: str) -> str:
    """The gRPC status a fault names: a name (`UNAVAILABLE`), a code (`14`) or an HTTP status
    (`503`, mapped as gRPC's spec maps it)."""
    if failure.isdigit() and int(failure) >= 100:
        return GRPC_BY_HTTP.get(int(failure), "UNKNOWN")
    return failure.upper()


def grpc_handler(config: dict[str, Any], port: int, faults: Faults) -> grpc.GenericRpcHandler:
    import grpc  # noqa: PLC0415 (only gRPC ports need grpcio)

    codes = {c.name: c for c in grpc.StatusCode} | {str(c.value[0]): c for c in grpc.StatusCode}

    def answer(method: str, context: grpc.ServicerContext) -> bytes:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        wait_unless_cancelled(context, delay_seconds(metadata.get(DELAY_HEADER, "")))
        if method == HEALTH_CHECK:
            return SERVING
        served, failure = faults.take(metadata.get(FAIL_HEADER, ""))
        xfcc = metadata.get("x-forwarded-client-cert", "")
        found = {**facts(config, port, xfcc, served), "rpc": method, "metadata": metadata}
        found["deadline_s"] = context.time_remaining()  # the caller's, if it reached the app
        text = json.dumps(found)
        if failure:
            context.abort(codes.get(grpc_status_name(failure), grpc.StatusCode.UNKNOWN), text)
        return text.encode() + b"\n"

    class Handler(grpc.GenericRpcHandler):
        def service(
            self, details: grpc.HandlerCallDetails
        ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
            method = details.method
            return grpc.unary_unary_rpc_method_handler(lambda _, ctx: answer(method, ctx))

    return Handler()


def wait_unless_cancelled(context: grpc.ServicerContext, seconds: float) -> None:
    if seconds > 0:
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait(seconds)


def import_grpc(path: list[str]) -> None:
    """Make grpcio importable from `path` (appended: the standard library stays first)."""
    sys.path.extend(p for p in path if p not in sys.path)
    try:
        import grpc  # noqa: F401, PLC0415 (only gRPC ports need grpcio)
    except ImportError as error:
        raise SystemExit(
            f"stub app: gRPC ports need grpcio, which {sys.executable} "
            f"{sys.version_info.major}.{sys.version_info.minor} cannot import from {path}: "
            f"{error}. Install grpcio for this interpreter, readable by every UID "
            "(pip install grpcio), in the environment that runs the local runner"
        ) from error


def grpc_server(config: dict[str, Any], port: int, faults: Faults) -> grpc.Server:
    import grpc  # noqa: PLC0415 (only gRPC ports need grpcio)

    pool = futures.ThreadPoolExecutor(GRPC_WORKERS, thread_name_prefix=f"grpc-{port}")
    server = grpc.server(
        pool, handlers=[grpc_handler(config, port, faults)], options=[("grpc.so_reuseport", 0)]
    )
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    return server


def tcp_handler(config: dict[str, Any], port: int) -> type[socketserver.BaseRequestHandler]:
    greeting = f"hello from {config['namespace']}/{config['pod']} {config['workload']} {port}\n"

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(greeting.encode())
            while data := conn.recv(65536):
                conn.sendall(data)

    return Handler


class TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class HttpServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(config: dict[str, Any]) -> None:
    servers: list[socketserver.BaseServer] = []
    faults = Faults.from_environment(dict(os.environ))
    for port, kind in config["ports"]:
        if kind == "tcp":
            servers.append(TcpServer(("0.0.0.0", port), tcp_handler(config, port)))
        elif kind == "http":
            servers.append(HttpServer(("0.0.0.0", port), http_handler(config, port, faults)))
    grpc_ports = [port for port, kind in config["ports"] if kind == "grpc"]
    if grpc_ports:
        import_grpc(config.get("grpc_path", []))
    rpc = [grpc_server(config, port, faults) for port in grpc_ports]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print(f"stub app {config['namespace']}/{config['pod']}: serving {config['ports']}", flush=True)
    while not stopping.wait(0.5):
        pass
    time.sleep(float(config.get("shutdown_delay", SHUTDOWN_DELAY)))
    for stopped in [server.stop(None) for server in rpc]:
        stopped.wait()


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
