"""Probes as the kubelet runs them: from the node's namespace to the pod IP, with their timings.

`check` runs one attempt of an httpGet, tcpSocket, grpc or exec handler and says whether it
passed. Call it from a thread in the node namespace (`nsthread.executor`); exec handlers are
run inside the container by the caller-supplied function.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass

from mesh_components.emit.kubernetes.metadata import Json

KINDS = ("startupProbe", "readinessProbe", "livenessProbe")
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Timing:
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @staticmethod
    def of(probe: Json) -> Timing:
        return Timing(
            initial_delay=float(probe.get("initialDelaySeconds", 0)),
            period=float(probe.get("periodSeconds", 10)),
            timeout=float(probe.get("timeoutSeconds", 1)),
            success_threshold=int(probe.get("successThreshold", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
        )


def resolve_port(port: int | str, named: dict[str, int]) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    return named.get(str(port), 0)


def check(
    probe: Json, pod_ip: str, named: dict[str, int], run_exec: Callable[[list[str]], bool]
) -> bool:
    """One attempt of `probe` against the pod; any error is a failure, as for the kubelet."""
    timeout = Timing.of(probe).timeout
    try:
        if "httpGet" in probe:
            return _http(probe["httpGet"], pod_ip, named, timeout)
        if "tcpSocket" in probe:
            port = resolve_port(probe["tcpSocket"]["port"], named)
            with socket.create_connection((probe["tcpSocket"].get("host", pod_ip), port), timeout):
                return True
        if "grpc" in probe:
            grpc = probe["grpc"]
            return _grpc(pod_ip, int(grpc["port"]), str(grpc.get("service", "")), timeout)
        if "exec" in probe:
            return run_exec(list(probe["exec"]["command"]))
    except (OSError, http.client.HTTPException, ValueError, struct.error):
        return False
    return False


def _http(action: Json, pod_ip: str, named: dict[str, int], timeout: float) -> bool:
    host = action.get("host") or pod_ip
    port = resolve_port(action["port"], named)
    conn: http.client.HTTPConnection
    if str(action.get("scheme", "HTTP")).upper() == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # As the kubelet.
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "kube-probe/1.31", "Accept": "*/*"}
    headers.update({h["name"]: h["value"] for h in action.get("httpHeaders", [])})
    try:
        conn.request("GET", action.get("path", "/"), headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    return 200 <= status < 400


def _grpc(pod_ip: str, port: int, service: str, timeout: float) -> bool:
    """grpc.health.v1.Health/Check over h2c: SERVING (1) passes, anything else fails."""
    with socket.create_connection((pod_ip, port), timeout) as conn:
        conn.sendall(_PREFACE + _frame(4, 0, 0, b"") + _grpc_request(pod_ip, port, service))
        reader = conn.makefile("rb")
        while True:
            head = reader.read(9)
            if len(head) < 9:
                return False
            length = int.from_bytes(head[:3], "big")
            kind, flags, stream = head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            body = reader.read(length)
            if kind == 4 and not flags & 1:
                conn.sendall(_frame(4, 1, 0, b""))  # SETTINGS ack
            elif kind in (3, 7) or (kind == 1 and stream == 1 and flags & 1):
                return False  # RST_STREAM, GOAWAY, or a trailers-only (error) answer
            elif kind == 0 and stream == 1 and len(body) >= 5:
                message = body[5 : 5 + int.from_bytes(body[1:5], "big")]
                return message[:2] == b"\x08\x01"


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def _literal(index: int, value: str) -> bytes:
    """An HPACK literal without indexing, name from the static table (index < 15)."""
    data = value.encode()
    return bytes([index]) + _length(data) + data


def _length(data: bytes) -> bytes:
    if len(data) < 127:
        return bytes([len(data)])
    rest, out = len(data) - 127, bytearray([127])
    while rest >= 128:
        out.append(rest % 128 + 128)
        rest //= 128
    return bytes(out) + bytes([rest])


def _grpc_request(pod_ip: str, port: int, service: str) -> bytes:
    headers = (
        b"\x83\x86"  # :method POST, :scheme http
        + _literal(4, "/grpc.health.v1.Health/Check")
        + _literal(1, f"{pod_ip}:{port}")
        + b"\x0f\x10" + _length(b"application/grpc") + b"application/grpc"  # content-type
        + b"\x00\x02te" + _length(b"trailers") + b"trailers"
    )  # fmt: skip
    request = b"\x0a" + _length(service.encode()) + service.encode() if service else b""
    data = b"\x00" + len(request).to_bytes(4, "big") + request
    return _frame(1, 4, 1, headers) + _frame(0, 1, 1, data)
