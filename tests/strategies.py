"""Hypothesis strategies: random mesh specs in the YAML format, valid by construction.

Valid meshes keep TCP port numbers unique (no outbound port conflicts) and give every service a
workload. `mutated_specs` then breaks a valid spec at random places, with random values.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

NAMESPACES = ("alpha", "beta", "gamma")
HTTP_FAMILY = ("http", "http2", "grpc")
HTTP_PORTS = (80, 8080, 9090)
PATHS = (
    {"prefix": "/"},
    {"prefix": "/api/"},
    {"exact": "/health"},
    {"regex": "/items/[0-9]+"},
    {"regex": ".*a-book.*new"},
)
EGRESS_HOSTS = ("api.example.com", "*.example.org", "httpbin.org")
EGRESS_CIDRS = ("203.0.113.0/24", "198.51.100.7/32")
Spec = dict[str, Any]


@st.composite
def service_ports(draw: st.DrawFn, index: int) -> list[dict[str, Any]]:
    """1-3 ports; TCP port numbers are unique across the mesh, HTTP ones may be shared."""
    count = draw(st.integers(1, 3))
    ports = []
    for j in range(count):
        protocol = draw(st.sampled_from((*HTTP_FAMILY, "tcp")))
        number = 5000 + index * 10 + j if protocol == "tcp" else HTTP_PORTS[j]
        port: dict[str, Any] = {"name": f"{protocol}-{j}", "port": number, "protocol": protocol}
        if draw(st.booleans()):
            port["targetPort"] = number + 1000
        ports.append(port)
    return ports


@st.composite
def service_groups(draw: st.DrawFn, index: int) -> tuple[list[Spec], list[Spec], list[Spec]]:
    """A plain service with its workload, or a root with 2-3 versions and a split."""
    namespace = draw(st.sampled_from(NAMESPACES))
    name = f"svc{index}"
    ports = draw(service_ports(index))
    account = draw(st.sampled_from(("sa-a", "sa-b")))
    if not draw(st.booleans()):
        headless = draw(st.booleans())
        service = {"name": name, "namespace": namespace, "selector": {"app": name}, "ports": ports}
        if headless:
            service["headless"] = True
        workload = _workload(name, namespace, account, {"app": name}, ports)
        return [service], [workload], []
    versions = [f"v{n}" for n in range(1, draw(st.integers(2, 3)) + 1)]
    services = [{"name": name, "namespace": namespace, "selector": {"app": name}, "ports": ports}]
    workloads = []
    for version in versions:
        selector = {"app": name, "version": version}
        services.append(
            {
                "name": f"{name}-{version}",
                "namespace": namespace,
                "selector": selector,
                "ports": ports,
            }
        )
        workloads.append(_workload(f"{name}-{version}", namespace, account, selector, ports))
    weights = draw(
        st.lists(st.integers(0, 100), min_size=len(versions), max_size=len(versions)).filter(any)
    )
    backends = [
        {"service": f"{name}-{v}", "weight": w} for v, w in zip(versions, weights, strict=True)
    ]
    split = {"name": f"{name}-split", "namespace": namespace, "service": name, "backends": backends}
    return services, workloads, [split]


def _workload(
    name: str, namespace: str, account: str, pod_labels: dict[str, str], ports: list[dict[str, Any]]
) -> Spec:
    container_ports = sorted({p.get("targetPort", p["port"]) for p in ports})
    return {
        "name": name,
        "namespace": namespace,
        "serviceAccount": account,
        "labels": pod_labels,
        "ports": [{"containerPort": n} for n in container_ports],
    }


@st.composite
def policies(draw: st.DrawFn, services: list[Spec], workloads: list[Spec]) -> list[Spec]:
    """0-4 policies from random workload identities to random services, some with rules.

    Split backends are never targets on their own: a client allowed one TCP backend but not
    its siblings is a real (reported) conflict, since no chain can tell them apart.
    """
    targets = [s for s in services if "-v" not in s["name"]]
    result = []
    for k in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(targets))
        sources = draw(st.lists(st.sampled_from(workloads), min_size=1, max_size=3))
        policy: Spec = {
            "name": f"policy{k}",
            "namespace": target["namespace"],
            "destination": {"service": target["name"]},
            "sources": [
                {"serviceAccount": w["serviceAccount"], "namespace": w["namespace"]}
                for w in sources
            ],
        }
        has_http = any(p["protocol"] != "tcp" for p in target["ports"])
        if has_http and draw(st.booleans()):
            policy["http"] = [
                {
                    "path": draw(st.sampled_from(PATHS)),
                    "methods": draw(st.lists(st.sampled_from(("GET", "POST")), max_size=2)),
                }
            ]
        result.append(policy)
    return result


@st.composite
def valid_specs(draw: st.DrawFn) -> Spec:
    """A whole mesh in the YAML format that validation accepts (by construction)."""
    services: list[Spec] = []
    workloads: list[Spec] = []
    splits: list[Spec] = []
    for index in range(draw(st.integers(1, 4))):
        group = draw(service_groups(index))
        services += group[0]
        workloads += group[1]
        splits += group[2]
    for k in range(draw(st.integers(0, 2))):
        namespace = draw(st.sampled_from(NAMESPACES))
        workloads.append(
            _workload(f"client{k}", namespace, f"client{k}", {"app": f"client{k}"}, [])
        )
    access = draw(st.sampled_from(("open", "policy")))
    mesh = {
        "name": "random",
        "access": access,
        "mtls": draw(st.sampled_from(("strict", "permissive"))),
    }
    spec: Spec = {"mesh": mesh, "services": services, "workloads": workloads, "splits": splits}
    if access == "policy":
        spec["policies"] = draw(policies(services, workloads))
    ingress = draw(ingress_entries(services))
    if ingress:
        spec["ingress"] = ingress
    if draw(st.booleans()):
        mesh["egress"] = draw(st.sampled_from(("deny", "passthrough")))
    rules = draw(egress_rules(workloads))
    if rules:
        spec["egress"] = rules
    return spec


@st.composite
def ingress_entries(draw: st.DrawFn, services: list[Spec]) -> list[Spec]:
    """0-2 ingress entries: an outside controller's identity and/or a plaintext IP range."""
    result = []
    for k in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(services))
        ports = draw(st.sets(st.sampled_from([p["port"] for p in target["ports"]]), min_size=1))
        sources: Spec = {}
        if draw(st.booleans()):
            sources["identities"] = [{"serviceAccount": "edge", "namespace": "ingress"}]
        if not sources or draw(st.booleans()):
            sources["ipRanges"] = draw(
                st.sampled_from((["10.0.0.0/8"], ["192.168.1.0/24", "fd00::/8"]))
            )
            sources["plaintext"] = True
        result.append(
            {
                "name": f"ingress{k}",
                "namespace": target["namespace"],
                "service": target["name"],
                "ports": sorted(ports),
                "sources": sources,
            }
        )
    return result


@st.composite
def egress_rules(draw: st.DrawFn, workloads: list[Spec]) -> list[Spec]:
    """0-2 egress rules, each picking a workload (or its whole namespace), on ports no mesh
    service uses (443, 7432) or that only HTTP services use (80)."""
    rules = []
    for k in range(draw(st.integers(0, 2))):
        workload = draw(st.sampled_from(workloads))
        rule: Spec = {"name": f"egress{k}", "namespace": workload["namespace"]}
        if draw(st.booleans()):
            rule["selector"] = workload["labels"]
        kinds = draw(st.lists(st.sampled_from(("http", "tls", "tcp")), min_size=1, unique=True))
        hosts = st.lists(st.sampled_from(EGRESS_HOSTS), min_size=1, max_size=3, unique=True)
        if "http" in kinds:
            rule["http"] = {"hosts": draw(hosts)}
        if "tls" in kinds:
            rule["tls"] = {"hosts": draw(hosts), "ports": [443]}
        if "tcp" in kinds:
            cidrs = st.lists(st.sampled_from(EGRESS_CIDRS), min_size=1, max_size=2, unique=True)
            rule["tcp"] = {"cidrs": draw(cidrs), "ports": [7432]}
        rules.append(rule)
    return rules


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-70000, 70000),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


@st.composite
def mutated_specs(draw: st.DrawFn) -> Spec:
    """A valid spec with 1-4 values replaced, keys dropped or junk keys added, anywhere."""
    spec = copy.deepcopy(draw(valid_specs()))
    for _ in range(draw(st.integers(1, 4))):
        container, key = draw(_places(spec))
        action = draw(st.sampled_from(("replace", "delete", "add")))
        if action == "replace":
            container[key] = draw(JUNK)
        elif action == "delete" and isinstance(container, dict):
            container.pop(key, None)
        elif isinstance(container, dict):
            container[draw(st.text(min_size=1, max_size=8))] = draw(JUNK)
    return spec


@st.composite
def _places(draw: st.DrawFn, spec: Spec) -> tuple[Any, Any]:
    """A random (container, key) inside `spec`, at any depth."""
    places: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, value in items:
            places.append((node, key))
            walk(value)

    walk(spec)
    return draw(st.sampled_from(places))
