"""Services: each mesh service as declared, and its headless companion that Envoy resolves.

The companion has the same selector and ports (names and appProtocol copied) but no ClusterIP, so
DNS answers with the IPs of ready pods only and Envoy balances over them itself.
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.model import Service, ServicePort

# The sidecar listens on IPv4 only and meshed pods refuse IPv6, so Services stay IPv4: on a
# dual-stack cluster an IPv6 ClusterIP or AAAA answer would lead clients to a closed door.
_IPV4_ONLY = {"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}


def service(mesh: str, declared: Service) -> Json:
    """The Service clients call, as the spec declares it (headless when declared so)."""
    spec: Json = {
        "selector": dict(declared.selector),
        "ports": [_port(p) for p in declared.ports],
        **_IPV4_ONLY,
    }
    if declared.headless:
        spec["clusterIP"] = "None"
    labels = mesh_labels(mesh, "service", declared.name)
    return _service(metadata(declared.name, declared.namespace, labels), spec)


def companion(mesh: str, declared: Service) -> Json:
    """The headless companion of a ClusterIP service: ready pod IPs for Envoy's DNS cluster
    (`publishNotReadyAddresses` stays at its default, false; the provider drops an explicit
    false, so writing it would make `render` differ from what `pulumi up` applies)."""
    spec: Json = {
        "clusterIP": "None",
        "selector": dict(declared.selector),
        "ports": [_port(p) for p in declared.ports],
        **_IPV4_ONLY,
    }
    name = names.companion_service(declared.name)
    labels = mesh_labels(mesh, "endpoints", declared.name)
    return _service(metadata(name, declared.namespace, labels), spec)


def _service(meta: Json, spec: Json) -> Json:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def _port(port: ServicePort) -> Json:
    found: Json = {
        "name": port.name,
        "port": port.port,
        "targetPort": port.target,
        "protocol": "TCP",
        "appProtocol": port.protocol.app_protocol,
    }
    return found
