"""Data-plane cost, measured with real Envoys in the local runner (as root).

One local cluster holds three client/server pairs that run the same stub app and are called by
the same traffic client, round after round, interleaved, so load from elsewhere on the machine
falls on all three alike:
- `direct`: two pods without sidecars, the client calling the server's pod IP;
- `minimal`: two meshed pods (the same iptables rules and certificates) whose sidecars run the
  hand-written configs in bench/minimal/, the physical reference for what Envoy itself costs;
- `generated`: two meshed pods whose sidecars run the config mesh_components generates.

Each request opens a new connection from the app (as the runner's client does), so the
sidecars' own pooled mTLS connection carries it. Also read: each sidecar's resident memory.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import LocalCluster, Request, missing_requirements
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.render import render
from mesh_components.pki import ca_file

MINIMAL = Path(__file__).parent / "minimal"
NAMESPACE = "bench"
DIRECT_NAMESPACE = "bench-direct"
PORT = 8080

# The meshed pairs: (client, server, whose sidecar config).
PAIRS = (("client", "server", "generated"), ("minclient", "minserver", "minimal"))


def spec_document(access_logs: bool = True) -> dict[str, Any]:
    """Two meshed pairs, each client allowed to call its server's HTTP port."""
    workloads = [name for pair in PAIRS for name in pair[:2]]
    return {
        "mesh": {
            "name": "bench",
            "access": "policy",
            "observability": {"accessLogs": access_logs},
        },
        "services": [_service(server) for _, server, _ in PAIRS],
        "workloads": [_workload(name) for name in workloads],
        "policies": [
            {
                "name": f"to-{server}",
                "namespace": NAMESPACE,
                "destination": {"service": server},
                "sources": [{"serviceAccount": client, "namespace": NAMESPACE}],
            }
            for client, server, _ in PAIRS
        ],
    }


def _service(name: str) -> Json:
    port = {"name": "http", "port": PORT}
    return {"name": name, "namespace": NAMESPACE, "selector": {"app": name}, "ports": [port]}


def _workload(name: str) -> Json:
    return {
        "name": name,
        "namespace": NAMESPACE,
        "serviceAccount": name,
        "labels": {"app": name},
        "image": "example.invalid/stub:1",
        "ports": [{"containerPort": PORT}],
    }


def objects(access_logs: bool = True) -> list[Json]:
    """The rendered mesh, the minimal pair's proxy ConfigMaps replaced by the hand-written
    configs, and the direct pair."""
    spec = load_spec(spec_document(access_logs))
    now = datetime.now(UTC)
    trust = ca_file.CaFile(current=ca_file.new_seed(now)).trust(spec.settings.trust_domain)
    rendered = [_minimal_config(obj) for obj in render(spec, trust, now).objects]
    return rendered + direct_pair()


def _minimal_config(obj: Json) -> Json:
    if obj.get("kind") != "ConfigMap":
        return obj
    for workload, hand_written in (("minclient", "client.yaml"), ("minserver", "server.yaml")):
        if obj["metadata"]["name"].startswith(names.proxy_config_map(workload)):
            data = {names.BOOTSTRAP_FILE: (MINIMAL / hand_written).read_text()}
            return {**obj, "data": data}
    return obj


def direct_pair() -> list[Json]:
    """An un-meshed namespace with a client and a server Deployment (the stub app)."""
    found: list[Json] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DIRECT_NAMESPACE}}
    ]
    for name in ("directclient", "directserver"):
        labels = {"app": name}
        container = {
            "name": name,
            "image": "example.invalid/stub:1",
            "ports": [{"containerPort": PORT, "name": "http"}],
        }
        template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
        spec = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
        meta = {"name": name, "namespace": DIRECT_NAMESPACE}
        found.append(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
        )
    return found


def why_not() -> str | None:
    """Why the data-plane benchmark cannot run here, or None."""
    return missing_requirements(())


WARM_UP = 20


def measure(rounds: int = 10, per_round: int = 200, access_logs: bool = True) -> dict[str, Any]:
    """Latency samples of each variant and each sidecar's memory, from one local cluster.
    Each variant first sends WARM_UP requests, not counted (the sidecars' first upstream
    connection and TLS handshake, the stub app's first request)."""
    # The minimal client keeps Envoy's default DNS refresh (5 s, not the mesh's 500 ms): it
    # may have asked before its server was Ready, so wait until it has asked again.
    with LocalCluster.up(objects(access_logs), name="bench", settle=6.0) as cluster:
        targets = _targets(cluster)
        samples: dict[str, list[float]] = {variant: [] for variant in targets}
        for source, request in targets.values():
            cluster.send(source, Request(request.url, count=WARM_UP, headers=request.headers))
        for _ in range(rounds):
            for variant, (source, target) in targets.items():
                request = Request(target.url, count=per_round, headers=target.headers)
                traffic = cluster.send(source, request)
                if traffic.failures():
                    raise RuntimeError(f"{variant}: {traffic.failures()[:3]}")
                samples[variant] += [float(r["latency_ms"]) for r in traffic.results]
        memory = {variant: _sidecar_memory(cluster, server) for server, variant in _SERVERS}
        memory |= {f"{v} client": _sidecar_memory(cluster, c) for c, v in _CLIENTS}
    return {"latency_ms": samples, "memory_kib": memory}


_SERVERS = ((f"{NAMESPACE}/server", "generated"), (f"{NAMESPACE}/minserver", "minimal"))
_CLIENTS = ((f"{NAMESPACE}/client", "generated"), (f"{NAMESPACE}/minclient", "minimal"))


def _targets(cluster: LocalCluster) -> dict[str, tuple[str, Request]]:
    """Every variant dials an IP on the server port: no DNS lookup per request. The meshed
    clients' iptables hand the connection to their sidecar whatever the IP; the generated
    config then picks the destination by Host."""
    direct_ip = cluster.pods(f"{DIRECT_NAMESPACE}/directserver")[0].ip
    server_ip = cluster.pods(f"{NAMESPACE}/server")[0].ip
    minimal_ip = cluster.pods(f"{NAMESPACE}/minserver")[0].ip
    return {
        "direct": (f"{DIRECT_NAMESPACE}/directclient", Request(f"http://{direct_ip}:{PORT}/")),
        "minimal": (f"{NAMESPACE}/minclient", Request(f"http://{minimal_ip}:{PORT}/")),
        "generated": (
            f"{NAMESPACE}/client",
            Request(f"http://{server_ip}:{PORT}/", headers={"host": f"server.{NAMESPACE}"}),
        ),
    }


def _sidecar_memory(cluster: LocalCluster, workload: str) -> dict[str, int]:
    """VmRSS (which counts the mapped Envoy binary's pages) and RssAnon (Envoy's own heap),
    in KiB, of the workload's sidecar."""
    [pod] = cluster.pods(workload)
    [proxy] = [c for c in pod.sidecars + pod.containers if c.name == names.PROXY_CONTAINER]
    status = Path(f"/proc/{proxy.pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "RssAnon", "RssFile")}


def percentiles(samples: Iterable[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "count": len(ordered),
    }
