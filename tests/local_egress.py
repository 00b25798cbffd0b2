"""The world outside the mesh, for tests/test_local_egress.py.

- `Outside`: a network namespace on the node (`mlc-<cluster>-outside`, so `down` removes it
  too) with two addresses from TEST-NET-2, both served by tests/external_server.py;
- `ExternalDnsCluster`: a local cluster whose DNS also answers the outside's names, as CoreDNS
  forwarding to the Internet would;
- `in_pod`: one HTTP request, TLS handshake or TCP greeting from inside a pod, as its app's UID,
  so the pod's iptables rules send it through its sidecar.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mesh_components.local import LocalCluster
from mesh_components.local.containers import python_for_everyone

NODE_SIDE = "198.51.100.1"
ALLOWED_IP = "198.51.100.10"
OTHER_IP = "198.51.100.20"
PREFIX = 24
SERVER = Path(__file__).with_name("external_server.py")
TLS_NAMES = ("secure.example.test", "other.example.test")

_CLIENT = r"""
import http.client, json, socket, ssl, sys, urllib.parse
url, name = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
mode, host, port = url.scheme, url.hostname, url.port
try:
    if mode == "http":
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/", headers={"Host": name})
        answer = conn.getresponse()
        print(json.dumps({"status": answer.status, "body": answer.read().decode()}))
    elif mode == "tls":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                print(json.dumps({"line": tls.recv(200).decode()}))
    else:
        with socket.create_connection((host, port), timeout=5) as conn:
            print(json.dumps({"line": conn.recv(200).decode()}))
except Exception as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
"""


class ExternalDnsCluster(LocalCluster):
    """The cluster DNS, plus fixed answers for names outside the cluster."""

    def __init__(self, name: str, hosts: dict[str, str]) -> None:
        super().__init__(name)
        self.external_hosts = hosts

    def lookup(self, name: str) -> list[str] | None:
        if name in self.external_hosts:
            return [self.external_hosts[name]]
        return super().lookup(name)


def in_pod(cluster: LocalCluster, source: str, url: str, name: str = "-") -> Any:
    """From the app of a Ready pod of `source`: `http://host:port` (GET / with Host `name`),
    `tls://host:port` (a handshake with SNI `name`, then the first line) or `tcp://host:port`
    (the first line). A JSON answer: status and body, the line, or the error."""
    target = cluster.exec_target(source)
    command = [python_for_everyone(), "-I", "-c", _CLIENT, url, name]
    done = subprocess.run(
        target.argv(command), capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


class Outside:
    """Servers on two addresses in their own namespace, routed from the node."""

    def __init__(self, cluster: LocalCluster, directory: Path) -> None:
        self.netns = f"{cluster.layout.netns_prefix}outside"
        self.node_netns = cluster.layout.node_netns
        self.directory = directory
        self.server: subprocess.Popen[str] | None = None

    def start(self) -> None:
        _run("ip", "netns", "add", self.netns)
        _run("ip", "-n", self.node_netns, "link", "add", "vout", "type", "veth",
             "peer", "name", "eth0", "netns", self.netns)  # fmt: skip
        _run("ip", "-n", self.node_netns, "addr", "add", f"{NODE_SIDE}/{PREFIX}", "dev", "vout")
        _run("ip", "-n", self.node_netns, "link", "set", "vout", "up")
        for address in (ALLOWED_IP, OTHER_IP):
            _run("ip", "-n", self.netns, "addr", "add", f"{address}/{PREFIX}", "dev", "eth0")
        _run("ip", "-n", self.netns, "link", "set", "lo", "up")
        _run("ip", "-n", self.netns, "link", "set", "eth0", "up")
        _run("ip", "-n", self.netns, "route", "add", "default", "via", NODE_SIDE)
        cert, key = self._certificate()
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "python3", str(SERVER), str(cert), str(key)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.server.stdout is not None
        assert self.server.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
            if self.server.stdout is not None:
                self.server.stdout.close()
        subprocess.run(["ip", "netns", "delete", self.netns], check=False, capture_output=True)

    def _certificate(self) -> tuple[Path, Path]:
        """A self-signed certificate for the TLS names (the clients do not verify it: what is
        tested is where the handshake goes)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAMES[0])])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in TLS_NAMES]), False)
            .sign(key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / "outside.crt", self.directory / "outside.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)
