"""The cluster DNS: A records for Services and StatefulSet pods, over UDP, from the node.

    <svc>.<ns>.svc.<domain>              the ClusterIP, or a headless Service's Ready pod IPs
    <hostname>.<svc>.<ns>.svc.<domain>   a pod with that hostname and subdomain (StatefulSets)

Any other name is NXDOMAIN (nothing is forwarded: pods have no way out anyway). A known name
asked for another type (AAAA) gets an empty NOERROR answer, so resolvers do not walk on.
Answers carry CoreDNS's 5 s TTL; the sidecars re-resolve on their own refresh, not the TTL
(docs/performance.md).
"""

from __future__ import annotations

import socket
import struct
import threading
import traceback
from collections.abc import Callable

TTL_SECONDS = 5  # CoreDNS's kubernetes plugin answers with 5 s (its `ttl` default)
_A, _IN = 1, 1
_NXDOMAIN = 3
_FORMERR = 1

Lookup = Callable[[str], list[str] | None]
"""A lower-case name without the trailing dot → its addresses, or None when it does not exist."""


def answer(query: bytes, lookup: Lookup) -> bytes | None:
    """The response to one DNS query message (None for garbage too short to answer)."""
    if len(query) < 12:
        return None
    ident, flags, questions = struct.unpack("!HHH", query[:6])
    try:
        name, end = _read_name(query, 12)
        qtype, qclass = struct.unpack("!HH", query[end : end + 4])
    except (ValueError, struct.error):
        return _header(ident, flags, _FORMERR, 0, 0)
    if questions != 1:
        return _header(ident, flags, _FORMERR, 0, 0)
    question = query[12 : end + 4]
    found = lookup(name.lower())
    if found is None:
        return _header(ident, flags, _NXDOMAIN, 1, 0) + question
    records = [ip for ip in found if qtype == _A and qclass == _IN]
    body = b"".join(_record(ip) for ip in records)
    return _header(ident, flags, 0, 1, len(records)) + question + body


def _header(ident: int, flags: int, rcode: int, questions: int, answers: int) -> bytes:
    opcode_rd = flags & 0x7900  # keep the opcode and "recursion desired"
    response = 0x8000 | 0x0400 | 0x0080 | opcode_rd | rcode  # QR, AA, RA
    return struct.pack("!HHHHHH", ident, response, questions, answers, 0, 0)


def _record(ip: str) -> bytes:
    pointer = 0xC00C  # the question's name
    return struct.pack("!HHHIH", pointer, _A, _IN, TTL_SECONDS, 4) + socket.inet_aton(ip)


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    while True:
        length = message[offset]
        if length == 0:
            return ".".join(labels), offset + 1
        if length & 0xC0:
            raise ValueError("compressed names in questions are not expected")
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


class DnsServer:
    """Serves `lookup` on a UDP socket made by the caller (in the node's namespace)."""

    def __init__(self, sock: socket.socket, lookup: Lookup) -> None:
        self._sock = sock
        self._lookup = lookup
        self._thread = threading.Thread(target=self._serve, name="cluster-dns", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        self._sock.settimeout(0.2)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                query, client = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                response = answer(query, self._lookup)
                if response is not None:
                    self._sock.sendto(response, client)
            except Exception:  # One bad query must never stop the cluster's DNS.
                traceback.print_exc()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self._sock.close()


def bind_udp(address: str, port: int = 53) -> socket.socket:
    """A UDP socket on `address`: call it from a thread inside the node namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    return sock


def resolv_conf(namespace: str, domain: str, nameserver: str) -> str:
    """The pod's /etc/resolv.conf, as the kubelet writes it for dnsPolicy ClusterFirst."""
    search = f"{namespace}.svc.{domain} svc.{domain} {domain}"
    return f"search {search}\nnameserver {nameserver}\noptions ndots:5\n"
