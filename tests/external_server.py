"""Servers outside the mesh, for tests/test_local_egress.py: run as a script in its own network
namespace, standard library only. Every answer names the address it was reached on, so a
test sees where a connection really went.

    HTTP on 80        {"server": "external", "local": <ip>, "host": <Host header>}
    TLS on 443        "tls <ip> <SNI>\\n" after the handshake (certificate argv[1], key argv[2])
    TCP on 9000       "tcp <ip>\\n", then an echo
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTTP_PORT, TLS_PORT, TCP_PORT = 80, 443, 9000


class _Http(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        local = self.connection.getsockname()[0]
        body = json.dumps({"server": "external", "local": local, "host": self.headers["host"]})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Tcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.sendall(f"tcp {conn.getsockname()[0]}\n".encode())
        while data := conn.recv(4096):
            conn.sendall(data)


class _Tls(socketserver.BaseRequestHandler):
    cert_and_key: tuple[str, str]

    def handle(self) -> None:
        names: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.cert_and_key)
        context.sni_callback = lambda _sock, name, _ctx: names.append(name or "")
        try:
            with context.wrap_socket(self.request, server_side=True) as tls:
                local = tls.getsockname()[0]
                tls.sendall(f"tls {local} {names[0] if names else '-'}\n".encode())
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(cert: str, key: str) -> None:
    _Tls.cert_and_key = (cert, key)
    servers: list[socketserver.BaseServer] = [
        ThreadingHTTPServer(("0.0.0.0", HTTP_PORT), _Http),
        _Server(("0.0.0.0", TLS_PORT), _Tls),
        _Server(("0.0.0.0", TCP_PORT), _Tcp),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
