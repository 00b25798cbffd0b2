"""Synthetic meshes for the benchmark: N services with two workloads each (v1 and v2).

Policy mode gives every workload about `dependencies` destinations (a deterministic ring, so
every service is called); open mode lets every identity call every service (a full mesh).
Service i in namespace `ns-<i % 10>` has one HTTP port; its two workloads run as one identity.
"""

from __future__ import annotations

from typing import Any

NAMESPACES = 10


def synthetic_spec(
    services: int, *, mode: str = "policy", dependencies: int = 10, v2_weight: int | None = None
) -> dict[str, Any]:
    """The spec document of a synthetic mesh (the YAML format's plain data). With `v2_weight`,
    svc-0 is split between its v1 and v2 workloads (version services svc-0-v1, svc-0-v2)."""
    names = [(f"ns-{i % NAMESPACES}", f"svc-{i}") for i in range(services)]
    document: dict[str, Any] = {
        "mesh": {"name": "bench", "access": "open" if mode == "open" else "policy"},
        "services": [_service(ns, name) for ns, name in names],
        "workloads": [w for ns, name in names for w in _workloads(ns, name)],
    }
    if mode == "policy":
        document["policies"] = [
            _policy(names, i, dependencies) for i in range(services) if services > 1
        ]
    if v2_weight is not None:
        _split_first(document, v2_weight)
    return document


def _split_first(document: dict[str, Any], v2_weight: int) -> None:
    root = document["services"][0]
    backends = []
    for version, weight in (("v1", 100 - v2_weight), ("v2", v2_weight)):
        service = _service(root["namespace"], f"{root['name']}-{version}")
        service["selector"] = {"app": root["name"], "version": version}
        document["services"].append(service)
        backends.append({"service": service["name"], "weight": weight})
    split = {"name": "canary", "namespace": root["namespace"], "service": root["name"]}
    document["splits"] = [{**split, "backends": backends}]
    for policy in document.get("policies", []):
        if policy["destination"] == {"service": root["name"]}:  # the backends too
            policy["destination"] = {"serviceAccount": root["name"]}


def _service(namespace: str, name: str) -> dict[str, Any]:
    port = {"name": "http", "port": 8080}
    return {"name": name, "namespace": namespace, "selector": {"app": name}, "ports": [port]}


def _workloads(namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{name}-{version}",
            "namespace": namespace,
            "serviceAccount": name,
            "labels": {"app": name, "version": version},
            "ports": [{"containerPort": 8080}],
        }
        for version in ("v1", "v2")
    ]


def _policy(names: list[tuple[str, str]], index: int, dependencies: int) -> dict[str, Any]:
    """Service `index` may be called by the `dependencies` services before it on the ring, so
    each workload calls about `dependencies` services."""
    namespace, name = names[index]
    count = len(names)
    callers = [names[(index - k) % count] for k in range(1, min(dependencies, count - 1) + 1)]
    return {
        "name": f"to-{name}",
        "namespace": namespace,
        "destination": {"service": name},
        "sources": [{"serviceAccount": n, "namespace": ns} for ns, n in callers],
    }
