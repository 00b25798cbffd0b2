"""The app every non-proxy container runs locally: it serves each containerPort and says who it is.

Standalone (standard library only), because it runs as an unprivileged UID from a copy in the
cluster's state dir: `python3 -I stub_app.py '<json config>'`.

- HTTP ports answer any method and path with JSON: the pod, workload, container, labels, port,
  request line, the identity the sidecar vouched for (the URI of `x-forwarded-client-cert`) and
  `served`, the number of HTTP requests this process has received (1, 2, ...).
- A fault mode, for resilience tests, fails HTTP requests with a 5xx (the same JSON body, so
  the failing pod is named): `STUB_FAIL_EVERY=N` in the container's environment fails every Nth
  request (`served` a multiple of N; 1 fails them all), with status `STUB_FAIL_STATUS` (503 by
  default); a request header `x-stub-fail: <status>` fails that one request. Deterministic: no
  randomness, so a test knows which attempt fails.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHUTDOWN_DELAY = 8.0
FAIL_HEADER = "x-stub-fail"


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
        """This request's number and the status to answer with."""
        with self._lock:
            served = next(self._counter)
        if forced:
            return served, int(forced)
        failing = self.every > 0 and served % self.every == 0
        return served, self.status if failing else 200


def identity(xfcc: str) -> str:
    """The client's URI SAN from the last element of an XFCC header, or ''."""
    last = xfcc.rsplit(",", maxsplit=1)[-1] if xfcc else ""
    for part in last.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "uri":
            return value.strip().strip('"')
    return ""


def http_handler(config: dict[str, Any], port: int, faults: Faults) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # Headers and body are two writes: no 40 ms stall.

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            xfcc = self.headers.get("x-forwarded-client-cert", "")
            served, status = faults.next(self.headers.get(FAIL_HEADER, ""))
            body = json.dumps({
                "pod": config["pod"], "namespace": config["namespace"],
                "workload": config["workload"], "container": config["container"],
                "labels": config["labels"], "port": port, "method": self.command,
                "path": self.path, "identity": identity(xfcc), "xfcc": xfcc,
                "served": served,
            }).encode() + b"\n"  # fmt: skip
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        setattr(Handler, f"do_{method}", Handler._answer)
    return Handler


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
        else:
            servers.append(HttpServer(("0.0.0.0", port), http_handler(config, port, faults)))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print(f"stub app {config['namespace']}/{config['pod']}: serving {config['ports']}", flush=True)
    while not stopping.wait(0.5):
        pass
    time.sleep(float(config.get("shutdown_delay", SHUTDOWN_DELAY)))


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
